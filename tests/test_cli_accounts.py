"""``akarom dealer create`` and ``akarom apikey create|list|revoke``, as an operator runs them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from akarom.cli import app
from akarom.services.accounts import authenticate, key_owner
from akarom.storage import Store

PASSWORD = "correct horse battery"

Run = Callable[..., Result]


@pytest.fixture
def run(tmp_path: Path) -> Run:
    def invoke(*args: str, input: str | None = None, lang: str = "") -> Result:
        environment = {"AKAROM_DATA_DIR": str(tmp_path), "AKAROM_LANG": lang}
        return CliRunner().invoke(app, list(args), input=input, env=environment)

    return invoke


@pytest.fixture
def open_store(tmp_path: Path) -> Callable[[], Store]:
    return lambda: Store.open(None, tmp_path)


def test_a_dealer_is_created_with_the_password_from_standard_input(
    run: Run, open_store: Callable[[], Store]
) -> None:
    done = run("dealer", "create", "中古スマホ堂", "--admin", "Admin@Example.jp", input=PASSWORD)
    assert done.exit_code == 0, done.output
    assert "中古スマホ堂" in done.stdout
    assert PASSWORD not in done.output
    with open_store() as store:
        assert authenticate(store, "admin@example.jp", PASSWORD) is not None


def test_a_dealer_needs_a_usable_password_and_a_free_name(run: Run) -> None:
    short = run("dealer", "create", "A", "--admin", "a@example.jp", input="short\n")
    assert short.exit_code == 2
    assert "10文字以上" in short.stderr
    missing = run("dealer", "create", "A", "--admin", "a@example.jp", input="")
    assert missing.exit_code == 2
    assert "標準入力" in missing.stderr
    assert run("dealer", "create", "A", "--admin", "a@example.jp", input=PASSWORD).exit_code == 0
    again = run("dealer", "create", "A", "--admin", "b@example.jp", "--lang", "en", input=PASSWORD)
    assert again.exit_code == 2
    assert again.stderr.strip() == "akarom: there is already a dealer named 'A'"


def test_the_password_is_never_an_argument(run: Run) -> None:
    refused = run("dealer", "create", "A", "--admin", "a@example.jp", "--password", PASSWORD)
    assert refused.exit_code == 2  # Click: no such option


def test_a_new_key_is_alone_on_the_last_line_and_only_its_prefix_is_listed(
    run: Run, open_store: Callable[[], Store]
) -> None:
    run("dealer", "create", "A", "--admin", "a@example.jp", input=PASSWORD)
    created = run("apikey", "create", "--dealer", "A", "--label", "POS")
    assert created.exit_code == 0, created.output
    *note, secret = created.stdout.rstrip("\n").split("\n")
    assert secret.startswith("akr_")
    assert " " not in secret
    assert "今回だけ" in "\n".join(note)

    listed = run("apikey", "list", "--dealer", "A", lang="en")
    assert listed.exit_code == 0, listed.output
    assert secret[:12] in listed.stdout
    assert secret not in listed.stdout
    assert "POS" in listed.stdout
    assert "never" in listed.stdout

    with open_store() as store:
        owner = key_owner(store, secret)
        assert owner is not None
    revoked = run("apikey", "revoke", str(owner.id))
    assert revoked.exit_code == 0, revoked.output
    with open_store() as store:
        assert key_owner(store, secret) is None
    again = run("apikey", "revoke", str(owner.id))
    assert again.exit_code == 2
    assert "無効" in again.stderr


def test_keys_of_an_unknown_dealer_are_refused_in_one_line(run: Run) -> None:
    done = run("apikey", "create", "--dealer", "nobody")
    assert done.exit_code == 2
    assert done.stderr.count("\n") == 1
    assert "nobody" in done.stderr
    assert done.stdout == ""
