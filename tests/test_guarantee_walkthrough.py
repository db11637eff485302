"""The guarantee as a new user walks it, every part a real process or server.

Record an intake, sell the device with a guarantee, flip it to × in the sandbox, and
from a running ``akarom monitor run`` see the signed webhook and the e-mails arrive,
the claim open with its evidence and the intake seller's record, and the certificate
of the original check verify while a tampered copy fails (the issue's "done when").
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from aiosmtpd.controller import Controller
from standardwebhooks.webhooks import Webhook

from tests.cli_support import free_port, start_sandbox, stop

IMEI = "351756051523993"  # △ at docomo in the scenario below
SCENARIO = f"""
seed: 7
default: unregistered
devices:
  "{IMEI}": {{docomo: pending}}
"""


class _Hooks(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        self.received.append((dict(self.headers.items()), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(parsed)  # type: ignore[arg-type]
        return "250 OK"


@pytest.fixture
def hooks() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    _Hooks.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hooks)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/akarom", _Hooks.received
    server.shutdown()
    server.server_close()


@pytest.fixture
def mailbox() -> Iterator[tuple[int, _Mailbox]]:
    box = _Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, box
    controller.stop()


def test_a_new_user_walks_the_guarantee_end_to_end(
    tmp_path: Path,
    hooks: tuple[str, list[tuple[dict[str, str], bytes]]],
    mailbox: tuple[int, _Mailbox],
) -> None:
    hook_url, received = hooks
    smtp_port, box = mailbox
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    port = free_port()
    env = {
        **os.environ,
        "AKAROM_DATA_DIR": str(tmp_path / "data"),
        "AKAROM_CARRIERS_URL": f"http://127.0.0.1:{port}",
        "AKAROM_RATE_LIMIT": "20",
        "AKAROM_LANG": "ja",
        "AKAROM_RECHECK_FLOOR_S": "1",  # the sandbox reflects a change at once
        "AKAROM_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
        "AKAROM_MAIL_FROM": "akarom@shop.example.jp",
        "AKAROM_WEBHOOK_PRIVATE_OK": "1",  # the receiver is on this machine
    }
    env.pop("AKAROM_DATABASE_URL", None)

    def akarom(*args: str, stdin: str | None = None, code: int = 0) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "akarom", *args],
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == code, f"{args}: {done.stdout}{done.stderr}"
        return done.stdout

    sandbox = start_sandbox(scenario, port, env, tmp_path / "sandbox.log")
    try:
        akarom("dealer", "create", "スマホ堂", "--admin", "a@example.jp", stdin="correct horse!\n")
        dealer = ["--dealer", "スマホ堂"]
        akarom("check", IMEI, code=3)  # △: caution
        akarom(
            "intake", "add", IMEI, *dealer, "--bought", "2026-11-20", "--price", "30000",
            "--seller-name", "山田 太郎", "--seller-address", "東京都千代田区千代田1-1",
            "--seller-occupation", "会社員", "--seller-age", "34",
            "--id-confirmed-by", "運転免許証", "--by", "佐藤",
        )  # fmt: skip
        today = time.strftime("%Y-%m-%d")
        sold = akarom(
            "guarantee", "add", IMEI, *dealer, "--order", "A-1001", "--sold", today,
            "--price", "60000", "--intake", "1", "--customer-name", "鈴木 花子",
            "--customer-email", "buyer@example.jp", "--by", "佐藤",
        )  # fmt: skip
        assert "保証 1 を登録しました" in sold
        secret = akarom("alert", "add", *dealer, "--webhook", hook_url).strip().splitlines()[-1]
        akarom("alert", "add", *dealer, "--email", "shop@example.jp")

        certificate = tmp_path / "certificate.pdf"
        akarom("certificate", "issue", IMEI, "-o", str(certificate))
        akarom("certificate", "verify", str(certificate))
        tampered = tmp_path / "tampered.pdf"
        data = bytearray(certificate.read_bytes())
        data[len(data) // 3] ^= 0x01
        tampered.write_bytes(bytes(data))
        akarom("certificate", "verify", str(tampered), code=1)

        flipped = httpx.put(
            f"http://127.0.0.1:{port}/_sandbox/devices/{IMEI}", json={"docomo": "restricted"}
        )
        assert flipped.status_code == 200
        time.sleep(1.2)  # the floor between two re-checks

        with (tmp_path / "monitor.log").open("wb") as monitor_log:
            monitor = subprocess.Popen(
                [sys.executable, "-m", "akarom", "monitor", "run", "--every", "1"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=monitor_log,
            )
        try:
            deadline = time.monotonic() + 45
            while (len(received) < 1 or len(box.messages) < 2) and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            monitor.send_signal(signal.SIGTERM)
            assert monitor.wait(timeout=30) == 0
        log = (tmp_path / "monitor.log").read_text(errors="replace")
        assert len(received) == 1, log
        assert len(box.messages) == 2, log
    finally:
        stop(sandbox)

    headers, body = received[0]
    Webhook(secret).verify(body, headers)  # signed, fresh, unaltered
    event = json.loads(body)
    assert event["type"] == "device.status_changed"
    assert (event["data"]["before"]["symbol"], event["data"]["after"]["symbol"]) == ("△", "×")
    recipients = sorted(str(m["To"]) for m in box.messages)
    assert recipients == ["buyer@example.jp", "shop@example.jp"]
    assert all("×" in m.get_body().get_content() for m in box.messages)  # type: ignore[union-attr]

    claims = akarom("claim", "list", *dealer, "--open")
    assert claims.startswith("1\tG1\topen")
    shown = akarom("claim", "show", "1", *dealer)
    assert "山田 太郎" in shown  # whom the shop bought it from
    assert "△" in shown
    assert "×" in shown  # the baseline and the answer that opened the claim
    changes = akarom("guarantee", "changes", *dealer)
    assert "△ → ×" in changes
