"""``akarom alert add|list|disable|test``, as an operator runs them."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from standardwebhooks import Webhook
from typer.testing import CliRunner

from akarom.cli import app
from akarom.storage import Store
from tests.services.test_alerts import receiving

Run = Callable[..., Result]
SHOP = "中古スマホ堂"


@pytest.fixture
def run(tmp_path: Path) -> Run:
    with Store.open(None, tmp_path) as store:
        store.create_dealer(SHOP)

    def invoke(*args: str, lang: str = "", private_ok: bool = False) -> Result:
        environment = {
            "AKAROM_DATA_DIR": str(tmp_path),
            "AKAROM_DATA_KEY": base64.b64encode(bytes(32)).decode(),
            "AKAROM_LANG": lang,
            "AKAROM_WEBHOOK_PRIVATE_OK": "1" if private_ok else "",
        }
        return CliRunner().invoke(app, list(args), env=environment)

    return invoke


def test_a_webhook_is_added_its_secret_shown_once_and_a_signed_test_sent(run: Run) -> None:
    with receiving([]) as receiver:
        added = run("alert", "add", "--dealer", SHOP, "--webhook", receiver.url, private_ok=True)
        assert added.exit_code == 0, added.output
        *note, secret = added.stdout.rstrip("\n").split("\n")
        assert secret.startswith("whsec_")
        assert "通知先 1 を追加しました" in note[0]
        assert "一度だけ" in note[1]

        tested = run("alert", "test", "1", "--dealer", SHOP, "--lang", "en", private_ok=True)
        assert tested.exit_code == 0, tested.output
        assert "sent a test message to alert target 1 (HTTP 204" in tested.stdout
        [request] = receiver.requests
        payload = Webhook(secret).verify(request.body, request.headers)
    assert payload["type"] == "akarom.test"
    assert request.headers["webhook-id"].startswith("test_")
    listed = run("alert", "list", "--dealer", SHOP)
    assert receiver.url in listed.stdout
    assert secret not in listed.stdout  # never shown again


def test_targets_are_listed_disabled_and_refused_in_the_persons_language(run: Run) -> None:
    assert (
        run("alert", "list", "--dealer", SHOP).stdout.strip()
        == f"販売店「{SHOP}」の通知先はありません"
    )
    added = run("alert", "add", "--dealer", SHOP, "--email", "Shop@Example.JP", "--lang", "en")
    assert added.stdout.strip() == "added alert target 1 (e-mail: shop@example.jp)"
    listed = run("alert", "list", "--dealer", SHOP, "--lang", "en")
    assert "shop@example.jp" in listed.stdout
    assert "e-mail" in listed.stdout

    assert (
        run("alert", "disable", "1", "--dealer", SHOP).stdout.strip() == "通知先 1 を停止しました"
    )
    again = run("alert", "disable", "1", "--dealer", SHOP, "--lang", "en")
    assert again.exit_code == 2
    assert again.stderr.strip() == "akarom: alert target 1 is disabled already"
    foreign = run("alert", "disable", "7", "--dealer", SHOP, "--lang", "en")
    assert foreign.stderr.strip() == f"akarom: the dealer '{SHOP}' has no alert target 7"

    both = run("alert", "add", "--dealer", SHOP, "--lang", "en")
    assert both.exit_code == 2
    assert "either --webhook URL or --email ADDRESS" in both.stderr
    nobody = run("alert", "add", "--dealer", "誰", "--email", "a@example.jp")
    assert nobody.exit_code == 2


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("http://hooks.example.jp/a", "https:// で始まる必要があります"),
        ("https://10.0.0.8/a", "10.0.0.8 は社内・ループバック・予約済みのアドレス"),
        ("https://[::1]/a", "::1 は社内・ループバック・予約済みのアドレス"),
    ],
)
def test_a_webhook_that_would_reach_inside_is_refused(run: Run, url: str, said: str) -> None:
    refused = run("alert", "add", "--dealer", SHOP, "--webhook", url)
    assert refused.exit_code == 2
    assert said in refused.stderr
    assert "whsec_" not in refused.stdout


def test_a_test_that_is_not_delivered_says_why(run: Run) -> None:
    with receiving([410]) as receiver:
        run("alert", "add", "--dealer", SHOP, "--webhook", receiver.url, private_ok=True)
        failed = run("alert", "test", "1", "--dealer", SHOP, "--lang", "en", private_ok=True)
    assert failed.exit_code == 2
    assert "was not delivered: HTTP 410 Gone" in failed.stderr
