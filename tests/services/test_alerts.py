"""Status-change alerts as receivers see them: signed webhooks, retried with back-off to a
real local server; Japanese e-mail through a real local SMTP server; and the safeguards
that keep a user-given URL from reaching inside the network."""

from __future__ import annotations

import base64
import email
import email.policy
import ipaddress
import random
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import time_machine
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from akarom.config import Settings
from akarom.domain import Status
from akarom.errors import UsageError
from akarom.sealing import Sealer
from akarom.services import alerts
from akarom.services.alerts import (
    MAX_ATTEMPTS,
    DeliveryReport,
    Result,
    WebhookRefused,
    add_email_target,
    add_webhook_target,
    customer_check,
    customer_email,
    deliver_due,
    disable_target,
    is_public,
    pin_webhook,
    retry_delay,
    send_test,
    send_webhook,
    webhook_body,
)
from akarom.storage import Store
from akarom.storage.alerts import CUSTOMER, StoredDelivery
from akarom.texts import text
from tests.cli_support import free_port
from tests.storage.helpers import IMEI, T0
from tests.storage.test_alerts_storage import add_change, add_guarantee

MASTER = bytes(range(32))
SHOP = "中古スマホ堂"


def settings_for(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env(
        {
            "AKAROM_DATA_DIR": str(tmp_path),
            "AKAROM_DATA_KEY": base64.b64encode(MASTER).decode(),
            **env,
        }
    )


def only_delivery(store: Store, change: int, dealer_id: int) -> StoredDelivery:
    [delivery] = store.deliveries(change, dealer_id=dealer_id)
    return delivery


# -- a webhook receiver -----------------------------------------------------------------


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A local HTTP server answering each POST with the next scripted status."""

    answers: list[int]
    default: int = 204
    url: str = ""
    requests: list[Received] = field(default_factory=list)

    def answer(self) -> int:
        return self.answers.pop(0) if self.answers else self.default


@contextmanager
def receiving(
    answers: list[int], *, default: int = 204, tls: ssl.SSLContext | None = None
) -> Iterator[Receiver]:
    receiver = Receiver(list(answers), default)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            headers = {name.lower(): value for name, value in self.headers.items()}
            receiver.requests.append(Received(headers, body))
            code = receiver.answer()
            reply = b"" if code < 300 else b"busy, try later"
            self.send_response(code)
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    scheme = "https" if tls else "http"
    receiver.url = f"{scheme}://127.0.0.1:{server.server_address[1]}/akarom/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def verified(secret: str, request: Received) -> Any:
    """The payload, as the Standard Webhooks reference library accepts it (now)."""
    return Webhook(secret).verify(request.body, request.headers)


# -- webhooks: signature, retries, give-up ---------------------------------------------


def test_a_webhook_is_retried_with_back_off_and_delivered_on_the_third_attempt(
    store: Store, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path, AKAROM_WEBHOOK_PRIVATE_OK="1")
    dealer = store.create_dealer(SHOP)
    with receiving([503, 503, 204]) as receiver, time_machine.travel(T0, tick=False) as clock:
        _, secret = add_webhook_target(store, settings, SHOP, receiver.url)
        change = add_change(store, add_guarantee(store, dealer.id), at=T0)

        assert deliver_due(store, settings) == DeliveryReport(retrying=1)
        first = only_delivery(store, change, dealer.id)
        assert first.attempts == 1
        assert first.last_error is not None
        assert "HTTP 503" in first.last_error
        assert "busy, try later" in first.last_error
        assert first.next_attempt_at is not None
        assert T0 + timedelta(seconds=15) <= first.next_attempt_at <= T0 + timedelta(seconds=30)
        verified(secret, receiver.requests[-1])

        clock.move_to(first.next_attempt_at - timedelta(seconds=1))
        assert deliver_due(store, settings) == DeliveryReport()  # not due yet
        assert len(receiver.requests) == 1

        clock.move_to(first.next_attempt_at)
        assert deliver_due(store, settings) == DeliveryReport(retrying=1)
        second = only_delivery(store, change, dealer.id)
        assert second.attempts == 2
        assert second.next_attempt_at is not None
        wait = second.next_attempt_at - first.next_attempt_at
        assert timedelta(seconds=30) <= wait <= timedelta(seconds=60)  # doubled
        verified(secret, receiver.requests[-1])

        clock.move_to(second.next_attempt_at - timedelta(seconds=1))
        assert deliver_due(store, settings) == DeliveryReport()
        clock.move_to(second.next_attempt_at)
        assert deliver_due(store, settings) == DeliveryReport(delivered=1)
        payload = verified(secret, receiver.requests[-1])
        third = only_delivery(store, change, dealer.id)
        assert (third.attempts, third.delivered_at, third.last_error) == (
            3,
            second.next_attempt_at,
            None,
        )

        clock.shift(timedelta(days=3))
        assert deliver_due(store, settings) == DeliveryReport()  # delivered once
        assert store.enqueue_alerts(change) == 0  # and never enqueued twice

    assert len(receiver.requests) == 3
    # Every attempt is the same message: one webhook-id, the same bytes. A receiver
    # deduplicating on webhook-id acts on the change once, however often it arrives.
    assert {r.headers["webhook-id"] for r in receiver.requests} == {f"chg_{change}"}
    assert len({r.body for r in receiver.requests}) == 1
    assert {r.headers["content-type"] for r in receiver.requests} == {"application/json"}
    assert payload["id"] == f"chg_{change}"
    assert payload["type"] == "device.status_changed"
    data = payload["data"]
    assert (data["dealer"], data["order_ref"], data["imei"], data["carrier"]) == (
        SHOP,
        "A-0001",
        IMEI,
        "docomo",
    )
    assert data["before"] == {
        "status": "pending",
        "symbol": "△",
        "checked_at": "2026-11-23T07:00:00Z",
    }
    assert data["after"] == {
        "status": "restricted",
        "symbol": "×",
        "checked_at": "2026-11-26T06:59:00Z",
    }
    assert data["detected_at"] == payload["timestamp"] == "2026-11-26T07:00:00Z"


def test_a_replay_carries_the_same_id_and_a_tampered_or_stale_message_is_rejected(
    store: Store, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path, AKAROM_WEBHOOK_PRIVATE_OK="1")
    dealer = store.create_dealer(SHOP)
    with receiving([]) as receiver, time_machine.travel(T0, tick=False) as clock:
        _, secret = add_webhook_target(store, settings, SHOP, receiver.url)
        change = add_change(store, add_guarantee(store, dealer.id), at=T0)
        deliver_due(store, settings)
        [sent] = receiver.requests

        alert = store.change_alert(change)
        assert alert is not None
        assert webhook_body(alert) == sent.body  # rebuilt later: the same bytes
        replay = send_webhook(
            receiver.url,
            secret,
            msg_id=sent.headers["webhook-id"],
            body=webhook_body(alert),
            timestamp=datetime.now(UTC),
            private_ok=True,
        )
        assert replay.delivered
        assert receiver.requests[1].headers["webhook-id"] == sent.headers["webhook-id"]

        tampered = Received(sent.headers, sent.body.replace(b"restricted", b"ok"))
        with pytest.raises(WebhookVerificationError):
            verified(secret, tampered)
        clock.shift(timedelta(minutes=6))
        with pytest.raises(WebhookVerificationError, match="too old"):
            verified(secret, sent)


@pytest.mark.parametrize(
    ("status", "result"),
    [
        (410, Result.GIVE_UP),
        (400, Result.GIVE_UP),
        (404, Result.GIVE_UP),
        (408, Result.RETRY),
        (429, Result.RETRY),
        (500, Result.RETRY),
        (301, Result.RETRY),
    ],
)
def test_a_refusal_gives_up_at_once_and_anything_else_is_retried(
    store: Store, tmp_path: Path, status: int, result: Result
) -> None:
    settings = settings_for(tmp_path, AKAROM_WEBHOOK_PRIVATE_OK="1")
    dealer = store.create_dealer(SHOP)
    with receiving([status]) as receiver, time_machine.travel(T0, tick=False) as clock:
        add_webhook_target(store, settings, SHOP, receiver.url)
        change = add_change(store, add_guarantee(store, dealer.id), at=T0)
        report = deliver_due(store, settings)
        delivery = only_delivery(store, change, dealer.id)
        clock.shift(timedelta(days=1))
        later = deliver_due(store, settings)
    assert delivery.attempts == 1
    assert delivery.last_error is not None
    assert f"HTTP {status}" in delivery.last_error
    if result is Result.GIVE_UP:
        assert report == DeliveryReport(given_up=1)
        assert delivery.given_up_at == T0
        assert "not retried" in delivery.last_error  # says why
        assert later == DeliveryReport()
        assert len(receiver.requests) == 1
    else:
        assert report == DeliveryReport(retrying=1)
        assert later == DeliveryReport(delivered=1)
        assert len(receiver.requests) == 2


def test_twenty_four_failures_give_up_after_about_three_days(store: Store, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, AKAROM_WEBHOOK_PRIVATE_OK="1")
    dealer = store.create_dealer(SHOP)
    with receiving([], default=503) as receiver, time_machine.travel(T0, tick=False) as clock:
        add_webhook_target(store, settings, SHOP, receiver.url)
        change = add_change(store, add_guarantee(store, dealer.id), at=T0)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            report = deliver_due(store, settings)
            delivery = only_delivery(store, change, dealer.id)
            assert delivery.attempts == attempt
            if attempt == MAX_ATTEMPTS:
                break
            assert report == DeliveryReport(retrying=1)
            assert delivery.next_attempt_at is not None
            wait = (delivery.next_attempt_at - datetime.now(UTC)).total_seconds()
            full = min(30 * 2 ** (attempt - 1), 6 * 3600)
            assert full / 2 <= wait <= full, attempt
            clock.move_to(delivery.next_attempt_at)
        assert report == DeliveryReport(given_up=1)
        given_up_after = datetime.now(UTC) - T0
        clock.shift(timedelta(days=30))
        assert deliver_due(store, settings) == DeliveryReport()
    assert len(receiver.requests) == MAX_ATTEMPTS
    assert delivery.given_up_at is not None
    assert delivery.last_error is not None
    assert delivery.last_error.startswith("gave up after 24 attempts: HTTP 503")
    assert timedelta(days=1.8) <= given_up_after <= timedelta(days=3.7)


def test_the_back_off_doubles_from_30_seconds_to_a_cap_of_6_hours() -> None:
    class Fixed(random.Random):
        def __init__(self, value: float) -> None:
            super().__init__()
            self.value = value

        def random(self) -> float:
            return self.value

    longest = [retry_delay(n, rng=Fixed(1.0)).total_seconds() for n in (1, 2, 3, 10, 11, 23)]
    assert longest == [30, 60, 120, 15360, 21600, 21600]
    assert retry_delay(1, rng=Fixed(0.0)).total_seconds() == 15
    with pytest.raises(ValueError, match="at least one attempt"):
        retry_delay(0)


# -- the safeguards ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.example.jp/akarom", "scheme"),
        ("ftp://hooks.example.jp/", "scheme"),
        ("https://127.0.0.1/hook", "address"),
        ("https://10.1.2.3/hook", "address"),
        ("https://192.168.0.10:8443/hook", "address"),
        ("https://169.254.169.254/latest/meta-data", "address"),
        ("https://[::1]/hook", "address"),
        ("https://[fe80::1]/hook", "address"),
        ("https://[::ffff:10.0.0.1]/hook", "address"),
        ("https://0.0.0.0/hook", "address"),
        ("https://224.0.0.1/hook", "address"),
        ("https://localhost/hook", "address"),  # a name resolving to a loopback address
        ("https://user:pw@hooks.example.jp/", "credentials"),
        ("https:///nohost", "invalid"),
    ],
)
def test_the_guard_refuses_urls_that_reach_inside(url: str, reason: str) -> None:
    with pytest.raises(WebhookRefused) as refused:
        pin_webhook(url, private_ok=False)
    assert refused.value.reason == reason
    assert refused.value.key == f"alert.refused.{reason}"


def test_a_name_is_resolved_first_and_refused_if_any_address_is_inside() -> None:
    def resolver(*addresses: str) -> Any:
        return lambda host, port: list(addresses)

    url = "https://hooks.example.jp:8443/akarom?x=1"
    with pytest.raises(WebhookRefused, match=r"10\.0\.0\.7"):
        pin_webhook(url, private_ok=False, resolve=resolver("10.0.0.7"))
    with pytest.raises(WebhookRefused, match=r"10\.0\.0\.7"):  # one public answer is not enough
        pin_webhook(url, private_ok=False, resolve=resolver("93.184.216.34", "10.0.0.7"))
    with pytest.raises(WebhookRefused, match="64:ff9b::a00:7"):  # NAT64 of 10.0.0.7
        pin_webhook(url, private_ok=False, resolve=resolver("64:ff9b::a00:7"))

    pinned = pin_webhook(url, private_ok=False, resolve=resolver("93.184.216.34", "2606:2800::1"))
    assert pinned.addresses == ("93.184.216.34", "2606:2800::1")
    assert str(pinned.at("93.184.216.34")) == "https://93.184.216.34:8443/akarom?x=1"
    assert str(pinned.at("2606:2800::1")) == "https://[2606:2800::1]:8443/akarom?x=1"
    assert (pinned.host_header, pinned.server_name) == ("hooks.example.jp:8443", "hooks.example.jp")

    # A closed network (AKAROM_WEBHOOK_PRIVATE_OK=1): inside addresses and http allowed.
    inside = pin_webhook("http://hooks.lan/x", private_ok=True, resolve=resolver("10.0.0.7"))
    assert (inside.addresses, inside.server_name) == (("10.0.0.7",), None)


@given(st.ip_addresses(v=4))
def test_ipv4_carried_in_ipv6_is_judged_as_itself(address: ipaddress.IPv4Address) -> None:
    assert is_public(f"::ffff:{address}") == is_public(str(address))


@given(st.ip_addresses(network="10.0.0.0/8") | st.ip_addresses(network="fc00::/7"))
def test_private_networks_are_never_public(address: Any) -> None:
    assert not is_public(str(address))


def test_nothing_is_sent_inside_unless_the_operator_allows_it(store: Store, tmp_path: Path) -> None:
    closed = settings_for(tmp_path, AKAROM_WEBHOOK_PRIVATE_OK="1")
    guarded = settings_for(tmp_path)
    dealer = store.create_dealer(SHOP)
    with receiving([]) as receiver:
        # Refused when added…
        with pytest.raises(WebhookRefused) as refused:
            add_webhook_target(store, guarded, SHOP, receiver.url)
        assert refused.value.reason == "scheme"  # http://127.0.0.1
        https_inside = receiver.url.replace("http:", "https:")
        with pytest.raises(WebhookRefused, match=r"127\.0\.0\.1"):
            add_webhook_target(store, guarded, SHOP, https_inside)
        with pytest.raises(WebhookRefused, match=r"10\.9\.8\.7"):  # a name, resolved now
            add_webhook_target(
                store, guarded, SHOP, "https://hooks.lan/a", resolve=lambda *_: ["10.9.8.7"]
            )
        assert store.alert_targets(dealer.id) == []
        # …and when sent (a target added on a closed network, the setting since turned off).
        add_webhook_target(store, closed, SHOP, receiver.url)
        change = add_change(store, add_guarantee(store, dealer.id), at=T0)
        assert deliver_due(store, guarded, now=T0) == DeliveryReport(given_up=1)
    assert receiver.requests == []
    delivery = only_delivery(store, change, dealer.id)
    assert delivery.attempts == 0
    assert delivery.last_error is not None
    assert delivery.last_error.startswith("refused to send")


def test_the_connection_goes_to_the_checked_address_under_the_name(tmp_path: Path) -> None:
    with receiving([]) as receiver:
        port = receiver.url.split(":")[2].split("/")[0]
        # localhost may resolve to ::1 first, where nobody listens: the next address is used.
        outcome = send_webhook(
            f"http://localhost:{port}/akarom/hook",
            alerts.new_secret(),
            msg_id="chg_1",
            body=b"{}",
            timestamp=datetime.now(UTC),
            private_ok=True,
            resolve=lambda host, _: ["::1", "127.0.0.1"],
        )
    assert outcome.delivered, outcome.detail
    assert receiver.requests[0].headers["host"] == f"localhost:{port}"


def _certificate(name: str) -> tuple[bytes, bytes]:
    """A self-signed certificate for ``name`` and its key (PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def test_https_to_a_pinned_address_still_checks_the_certificate_for_the_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = _certificate("hooks.test")
    (tmp_path / "cert.pem").write_bytes(cert)
    (tmp_path / "key.pem").write_bytes(key)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    trusting = ssl.create_default_context(cadata=cert.decode())
    monkeypatch.setattr(alerts, "tls_context", lambda: trusting)

    def loopback(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]  # what the name resolves to: the address connected to

    with receiving([], tls=server_tls) as receiver:
        port = receiver.url.split(":")[2].split("/")[0]

        def post(name: str) -> alerts.Outcome:
            return send_webhook(
                f"https://{name}:{port}/h",
                alerts.new_secret(),
                msg_id="chg_1",
                body=b"{}",
                timestamp=datetime.now(UTC),
                private_ok=True,
                resolve=loopback,
            )

        right = post("hooks.test")
        wrong = post("other.test")
    assert right.delivered, right.detail
    assert receiver.requests[0].headers["host"] == f"hooks.test:{port}"
    assert wrong.result is Result.RETRY
    assert "certificate" in wrong.detail.lower()
    assert len(receiver.requests) == 1


# -- e-mail -----------------------------------------------------------------------------


class Inbox:
    """An aiosmtpd handler keeping what it is sent; refuses the addresses in ``refuse``."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.refuse: set[str] = set()
        self.logins: list[tuple[bytes, bytes]] = []

    async def handle_RCPT(  # noqa: N802  # aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login, data.password))
        # handled=False: aiosmtpd answers 535 itself (True would leave the client waiting).
        return AuthResult(success=data.password == b"p@ss:w/rd", handled=False)


@contextmanager
def smtp_server(*, auth: bool = False) -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    options: dict[str, Any] = {}
    if auth:
        options = {"authenticator": inbox.authenticate, "auth_require_tls": False}
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), **options)
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        controller.stop()


def parsed(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_the_dealer_and_the_customer_get_japanese_mail_intact(store: Store, tmp_path: Path) -> None:
    dealer = store.create_dealer(SHOP)
    sealer = Sealer(MASTER)
    contact = {"email": "yamada@example.jp", "name": "山田 太郎", "phone": "090-0000-0000"}
    guarantee = add_guarantee(
        store, dealer.id, seal=lambda context: sealer.seal(contact, context=context)
    )
    with smtp_server() as (inbox, port):
        settings = settings_for(
            tmp_path,
            AKAROM_SMTP_URL=f"smtp://127.0.0.1:{port}",
            AKAROM_MAIL_FROM="alerts@akarom.jp",
        )
        add_email_target(store, SHOP, "Shop@Example.JP")
        change = add_change(store, guarantee, at=T0)
        assert deliver_due(store, settings, now=T0) == DeliveryReport(delivered=2)
    alert = store.change_alert(change)
    assert alert is not None
    by_recipient = {rcpt[0]: parsed(raw) for _, rcpt, raw in inbox.messages}
    assert {sender for sender, _, _ in inbox.messages} == {"alerts@akarom.jp"}

    shop = by_recipient["shop@example.jp"]
    assert shop["subject"] == (
        "【akarom】ドコモ の状態が変わりました △→×（注文 A-0001） / "
        "[akarom] Status changed at docomo: △→× (order A-0001)"
    )
    body = shop.get_content()
    assert "変化後: × ネットワーク利用制限中（赤ロム）（2026-11-26 15:59 JST 確認）" in body
    assert "After: × restricted (赤ロム)" in body
    assert f"chg_{change}" in body
    assert body.index("保証中の端末") < body.index("The network-restriction status")

    customer = by_recipient["yamada@example.jp"]
    expected = customer_email(alert, "yamada@example.jp", "山田 太郎")
    assert (
        customer["subject"]
        == expected.subject
        == f"【{SHOP}】ご購入の端末の利用制限の状態が変わりました"
    )
    assert customer["from"].addresses[0].display_name == SHOP
    assert customer.get_content() == expected.body  # the whole Japanese body, intact
    assert expected.body.startswith("山田 太郎 様\n")
    assert text("alert.customer.meaning.restricted", "ja") in expected.body
    assert f"お買い上げの {SHOP} までお問い合わせください" in expected.body
    assert "090-0000-0000" not in expected.body  # only what it needs of the contact

    # On the wire: ASCII headers (RFC 2047 encoded words), a UTF-8 body in base64.
    raw = next(raw for _, rcpt, raw in inbox.messages if rcpt == ["yamada@example.jp"])
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    assert b"Subject: =?utf-8?" in head
    assert customer.get_content_charset() == "utf-8"
    assert customer["content-transfer-encoding"] == "base64"
    for delivery in store.deliveries(change, dealer_id=dealer.id):
        assert delivery.delivered_at == T0


def test_mail_servers_that_refuse_or_are_missing(store: Store, tmp_path: Path) -> None:
    dealer = store.create_dealer(SHOP)
    add_email_target(store, SHOP, "gone@example.jp")
    change = add_change(store, add_guarantee(store, dealer.id), at=T0)

    unset = settings_for(tmp_path)  # no AKAROM_SMTP_URL: kept for when it is set
    assert deliver_due(store, unset, now=T0) == DeliveryReport(retrying=1)
    waiting = only_delivery(store, change, dealer.id)
    assert waiting.last_error == "no SMTP server is set (AKAROM_SMTP_URL)"

    with smtp_server() as (inbox, port):
        inbox.refuse.add("gone@example.jp")
        settings = settings_for(tmp_path, AKAROM_SMTP_URL=f"smtp://127.0.0.1:{port}")
        later = T0 + timedelta(minutes=1)
        assert deliver_due(store, settings, now=later) == DeliveryReport(given_up=1)
    refused = only_delivery(store, change, dealer.id)
    assert refused.attempts == 2
    assert refused.last_error is not None
    assert "550" in refused.last_error
    assert "no such mailbox" in refused.last_error


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_the_mail_server_login_comes_from_the_smtp_url(store: Store, tmp_path: Path) -> None:
    dealer = store.create_dealer(SHOP)
    add_email_target(store, SHOP, "shop@example.jp")
    with smtp_server(auth=True) as (inbox, port):
        wrong = settings_for(tmp_path, AKAROM_SMTP_URL=f"smtp://akarom:nope@127.0.0.1:{port}")
        refused = send_test(store, wrong, SHOP, 1)
        assert refused.result is Result.RETRY  # the operator can fix it: kept
        assert "535" in refused.detail
        # smtplib logs in in ASCII only: said, not a crash.
        accented = settings_for(tmp_path, AKAROM_SMTP_URL=f"smtp://a:w%C3%B6rd@127.0.0.1:{port}")
        assert "must be ASCII" in send_test(store, accented, SHOP, 1).detail
        # user:password, percent-encoded in the URL.
        right = settings_for(
            tmp_path, AKAROM_SMTP_URL=f"smtp://akarom%40shop:p%40ss%3Aw%2Frd@127.0.0.1:{port}"
        )
        outcome = send_test(store, right, SHOP, 1)
    assert outcome.delivered, outcome.detail
    assert inbox.logins[-1] == (b"akarom@shop", b"p@ss:w/rd")
    [(_, _, raw)] = inbox.messages
    message = parsed(raw)
    assert message["subject"] == "【akarom】通知先のテスト / [akarom] Alert target test"
    assert f"販売店「{SHOP}」の通知先 1" in message.get_content()
    assert dealer.id == 1


def test_the_customer_is_skipped_when_the_contact_has_no_address(
    store: Store, tmp_path: Path
) -> None:
    dealer = store.create_dealer(SHOP)
    sealer = Sealer(MASTER)
    phone_only = add_guarantee(
        store,
        dealer.id,
        seal=lambda context: sealer.seal(
            {"name": "佐藤", "phone": "03-0000-0000"}, context=context
        ),
    )
    change = add_change(store, phone_only, at=T0, enqueue=False)
    assert store.enqueue_alerts(change, customer_check=customer_check(sealer)) == 0

    # Enqueued without the check (the monitor could not open it): given up when sending.
    assert store.enqueue_alerts(change) == 1
    assert deliver_due(store, settings_for(tmp_path), now=T0) == DeliveryReport(given_up=1)
    delivery = only_delivery(store, change, dealer.id)
    assert delivery.recipient == CUSTOMER
    assert (delivery.attempts, delivery.last_error) == (
        0,
        "the customer's contact has no e-mail address",
    )


def test_a_target_disabled_after_the_change_is_not_sent_to(store: Store, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, AKAROM_WEBHOOK_PRIVATE_OK="1")
    dealer = store.create_dealer(SHOP)
    with receiving([]) as receiver:
        target, _ = add_webhook_target(store, settings, SHOP, receiver.url)
        change = add_change(store, add_guarantee(store, dealer.id), at=T0)
        disable_target(store, SHOP, target.id)
        assert deliver_due(store, settings, now=T0) == DeliveryReport(given_up=1)
    assert receiver.requests == []
    assert only_delivery(store, change, dealer.id).last_error == "the alert target was disabled"
    with pytest.raises(UsageError) as again:
        disable_target(store, SHOP, target.id)
    assert again.value.key == "alert.already_disabled"
    with pytest.raises(UsageError) as foreign:
        disable_target(store, store.create_dealer("よその店").name, target.id)
    assert foreign.value.key == "alert.unknown_target"


def test_the_signing_secret_is_sealed_and_opens_only_for_its_target(
    store: Store, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path, AKAROM_WEBHOOK_PRIVATE_OK="1")
    store.create_dealer(SHOP)
    target, secret = add_webhook_target(
        store, settings, SHOP, "https://hooks.example.jp/a", resolve=lambda *_: ["93.184.216.34"]
    )
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert target.secret_sealed is not None
    assert secret.encode() not in target.secret_sealed
    sealer = Sealer(MASTER)
    stored = store.alert_target(target.dealer_id, target.id)
    assert stored is not None
    assert alerts._secret(sealer, stored) == secret
    with pytest.raises(alerts.SealError):  # moved to another row: does not open
        alerts._secret(sealer, type(stored)(**{**_fields(stored), "id": stored.id + 1}))


def _fields(target: Any) -> dict[str, Any]:
    return {name: getattr(target, name) for name in target.__slots__}


@pytest.mark.parametrize("status", list(Status))
def test_every_status_a_change_can_reach_has_its_words(status: Status) -> None:
    for lang in ("ja", "en"):
        assert text(f"alert.advice.{status.value}", lang).strip()
        assert text(f"alert.customer.meaning.{status.value}", lang).strip()


def test_a_name_that_does_not_resolve_is_tried_again_later() -> None:
    def no_dns(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    outcome = send_webhook(
        "https://nowhere.invalid/",
        alerts.new_secret(),
        msg_id="chg_1",
        body=b"{}",
        timestamp=datetime.now(UTC),
        private_ok=False,
        resolve=no_dns,
    )
    assert outcome.result is Result.RETRY
    assert "could not resolve" in outcome.detail


def test_a_secret_sealed_under_another_master_key_is_kept_for_when_it_is_restored(
    store: Store, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path, AKAROM_WEBHOOK_PRIVATE_OK="1")
    dealer = store.create_dealer(SHOP)
    other_key = Settings.from_env(
        {
            "AKAROM_DATA_DIR": str(tmp_path),
            "AKAROM_DATA_KEY": base64.b64encode(bytes(32)).decode(),
            "AKAROM_WEBHOOK_PRIVATE_OK": "1",
        }
    )
    with receiving([]) as receiver:
        add_webhook_target(store, settings, SHOP, receiver.url)
        change = add_change(store, add_guarantee(store, dealer.id), at=T0)
        assert deliver_due(store, other_key, now=T0) == DeliveryReport(retrying=1)
        assert "another master key" in send_test(store, other_key, SHOP, 1).detail
        assert receiver.requests == []
        assert deliver_due(store, settings, now=T0 + timedelta(hours=1)) == DeliveryReport(
            delivered=1
        )
    assert only_delivery(store, change, dealer.id).attempts == 2  # the failed one counted


def test_a_customer_address_that_cannot_be_used_is_given_up_not_sent(
    store: Store, tmp_path: Path
) -> None:
    dealer = store.create_dealer(SHOP)
    sealer = Sealer(MASTER)
    injected = {"email": "yamada@example.jp\r\nBcc: everyone@example.jp"}
    guarantee = add_guarantee(
        store, dealer.id, seal=lambda context: sealer.seal(injected, context=context)
    )
    change = add_change(store, guarantee, at=T0)
    assert deliver_due(store, settings_for(tmp_path), now=T0) == DeliveryReport(given_up=1)
    assert only_delivery(store, change, dealer.id).last_error == (
        "the customer's e-mail address is not usable"
    )


def test_the_sender_never_makes_a_master_key_of_its_own(store: Store, tmp_path: Path) -> None:
    dealer = store.create_dealer(SHOP)
    with_key = settings_for(tmp_path / "a", AKAROM_WEBHOOK_PRIVATE_OK="1")
    add_webhook_target(store, with_key, SHOP, "http://127.0.0.1:9/hook")
    change = add_change(store, add_guarantee(store, dealer.id), at=T0)
    keyless = Settings.from_env({"AKAROM_DATA_DIR": str(tmp_path / "b")})
    assert deliver_due(store, keyless, now=T0) == DeliveryReport(retrying=1)
    error = only_delivery(store, change, dealer.id).last_error
    assert error is not None
    assert "no master key" in error
    assert not (tmp_path / "b" / "data.key").exists()
