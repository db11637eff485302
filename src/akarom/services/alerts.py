"""Status-change alerts: where they go, what they say, and sending them from the outbox.

The monitor enqueues one ``deliveries`` row per recipient in the transaction that
records a change (``akarom.storage.alerts.enqueue_alerts``); ``deliver_due`` sends
every due one once and records the outcome:

- **2xx** (webhook) or an accepted message (e-mail): delivered.
- **A refusal that will not change**: given up at once, saying why. A webhook's 4xx
  other than 408/429 (the receiver said the request itself is wrong, or the endpoint is
  gone: 410), a URL that breaks a safeguard, a mail server's 5xx for the recipient or
  the message, a target disabled since, a customer contact without an address.
- **Anything else** (5xx, 408, 429, a redirect, a time-out, no connection, no SMTP
  server set): tried again after ``retry_delay``: 30 s doubling, capped at 6 h, each
  wait drawn between half and all of that (jitter, so that alerts that failed together
  do not return together); given up after ``MAX_ATTEMPTS`` (24 attempts, ≈ 2.7 days).

**Webhooks** follow Standard Webhooks 1.0 (www.standardwebhooks.com): headers
``webhook-id`` (the change's event id ``chg_<id>``, the same on every retry, so a
receiver processes a change once), ``webhook-timestamp`` (when sent) and
``webhook-signature`` (``v1,`` + base64 of HMAC-SHA256 over ``id.timestamp.body``,
keyed with the target's ``whsec_…`` secret, shown once at creation and sealed at rest).
Receivers can verify with the ``standardwebhooks`` libraries.

**The server fetches a user-given address**, so (docs/decisions/guarantee.md, Alerts):
https only, no redirects, 10 s time-out, no proxy from the environment, and the host is
resolved *first*, every address it resolves to checked (not private, loopback,
link-local, multicast, reserved or unspecified; IPv4 inside IPv6 unwrapped), and the
connection made to one of those very addresses: the URL's host is replaced by the
address, the ``Host`` header and the TLS server name (httpcore's ``sni_hostname``, also
what the certificate is checked against) keep the name. A second DNS answer cannot slip
in between the check and the connection (DNS rebinding), and no custom transport or
socket patching is needed. ``AKAROM_WEBHOOK_PRIVATE_OK=1`` lifts the address check and
allows http (a closed network; tests). Each webhook gets a client of its own, so a
pooled TLS connection made for one name never carries another name's request.

**E-mail** goes through stdlib ``smtplib`` (``AKAROM_SMTP_URL``: ``smtp://`` or
``smtps://``, ``user:password@``, ``?starttls=1``) from ``AKAROM_MAIL_FROM``: Japanese
headers in RFC 2047, the body UTF-8 in base64. A dealer's targets get Japanese then
English; the customer (the guarantee's sealed contact, opened only when sending) gets
plain Japanese saying what the change means and to contact the shop.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import os
import random
import smtplib
import socket
import ssl
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx

from akarom.domain import JST, Status
from akarom.errors import ConfigError, UsageError
from akarom.http import USER_AGENT, tls_context
from akarom.sealing import Sealed, Sealer, SealError, load_sealer
from akarom.services.accounts import check_email, dealer_named
from akarom.storage.alerts import (
    CUSTOMER,
    AlertChannel,
    ChangeAlert,
    CustomerCheck,
    StoredAlertTarget,
    StoredDelivery,
    secret_context,
)
from akarom.storage.guarantees import customer_context
from akarom.texts import Lang, text

if TYPE_CHECKING:
    from akarom.config import Settings
    from akarom.storage import Store

__all__ = [
    "BACKOFF_CAP",
    "FIRST_BACKOFF",
    "MAX_ATTEMPTS",
    "SECRET_PREFIX",
    "TIMEOUT_S",
    "DeliveryReport",
    "Email",
    "Outcome",
    "Pinned",
    "Resolver",
    "Result",
    "WebhookRefused",
    "add_email_target",
    "add_webhook_target",
    "customer_check",
    "customer_email",
    "dealer_email",
    "deliver_due",
    "disable_target",
    "event_id",
    "is_public",
    "list_targets",
    "new_secret",
    "pin_webhook",
    "retry_delay",
    "send_email",
    "send_test",
    "send_webhook",
    "sign",
    "webhook_body",
]

#: Attempts before a delivery is given up (30 s doubling to 6 h: ≈ 2.7 days with jitter).
MAX_ATTEMPTS = 24
FIRST_BACKOFF = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=6)
#: Per phase (connect, send, wait for the answer) of a webhook or an SMTP exchange.
TIMEOUT_S = 10.0
#: Standard Webhooks' prefix of a signing secret (the rest is base64 of the key).
SECRET_PREFIX = "whsec_"
EVENT_TYPE = "device.status_changed"
TEST_EVENT_TYPE = "akarom.test"

_MAX_URL = 2000
_SECRET_BYTES = 32
#: How much of a refusing receiver's answer is kept in ``last_error``.
_ERROR_BODY = 200
# The well-known NAT64 prefix (RFC 6052): an IPv6 address that reaches an IPv4 one.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_RANDOM = random.Random()

#: Resolves a host name and port to the addresses to connect to (``socket.getaddrinfo``).
Resolver = Callable[[str, int], Sequence[str]]


# -- outcomes ---------------------------------------------------------------------------


class Result(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    GIVE_UP = "give_up"


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one sending went; ``detail`` says it for ``last_error`` and the CLI (English).

    ``attempted`` is False when nothing was sent (a disabled target, no address).
    """

    result: Result
    detail: str
    attempted: bool = True

    @property
    def delivered(self) -> bool:
        return self.result is Result.DELIVERED


def _delivered(detail: str) -> Outcome:
    return Outcome(Result.DELIVERED, detail)


def _retry(detail: str) -> Outcome:
    return Outcome(Result.RETRY, detail)


def _give_up(detail: str, *, attempted: bool = True) -> Outcome:
    return Outcome(Result.GIVE_UP, detail, attempted)


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """What one ``deliver_due`` run did."""

    delivered: int = 0
    retrying: int = 0
    given_up: int = 0

    @property
    def sent(self) -> int:
        return self.delivered + self.retrying + self.given_up


def retry_delay(attempts: int, *, rng: random.Random | None = None) -> timedelta:
    """How long to wait after ``attempts`` failed attempts: between half and all of
    ``30 s × 2^(attempts−1)``, at most 6 h."""
    if attempts < 1:
        raise ValueError("a delay follows at least one attempt")
    full = min(FIRST_BACKOFF * (1 << min(attempts - 1, 32)), BACKOFF_CAP)
    return full * (0.5 + 0.5 * (rng or _RANDOM).random())


# -- the messages -----------------------------------------------------------------------


def event_id(change_id: int) -> str:
    """The change's event id: ``webhook-id``, and the same on every retry."""
    return f"chg_{change_id}"


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _json(payload: dict[str, Any]) -> bytes:
    # The same change gives the same bytes on every retry (sorted keys, no spaces).
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def webhook_body(alert: ChangeAlert) -> bytes:
    """The JSON body of a change's webhook (``type`` ``device.status_changed``)."""
    return _json(
        {
            "id": event_id(alert.change_id),
            "type": EVENT_TYPE,
            "timestamp": _iso(alert.detected_at),
            "data": {
                "dealer": alert.dealer,
                "order_ref": alert.order_ref,
                "imei": alert.imei,
                "carrier": alert.carrier.value,
                "before": {
                    "status": alert.before_status.value,
                    "symbol": alert.before_status.symbol,
                    "checked_at": _iso(alert.before_checked_at),
                },
                "after": {
                    "status": alert.after_status.value,
                    "symbol": alert.after_status.symbol,
                    "checked_at": _iso(alert.after_checked_at),
                },
                "detected_at": _iso(alert.detected_at),
            },
        }
    )


@dataclass(frozen=True, slots=True)
class Email:
    """An e-mail to send: plain text; ``sender_name`` is the From display name."""

    to: str
    subject: str
    body: str
    sender_name: str


def _when(value: datetime | None, lang: Lang) -> str:
    """A moment as Japan's time (the dealers and customers are in Japan)."""
    if value is None:
        return text("alert.no_time", lang)
    return value.astimezone(JST).strftime("%Y-%m-%d %H:%M JST")


def _state(status: Status, lang: Lang) -> str:
    return f"{status.symbol} {text(f'status.{status.value}.meaning', lang)}"


def _dealer_text(alert: ChangeAlert, lang: Lang) -> tuple[str, str]:
    carrier = alert.carrier.label(lang)
    subject = text("alert.email.subject", lang).format(
        carrier=carrier,
        before=alert.before_status.symbol,
        after=alert.after_status.symbol,
        order_ref=alert.order_ref,
    )
    body = text("alert.email.body", lang).format(
        dealer=alert.dealer,
        order_ref=alert.order_ref,
        imei=alert.imei,
        carrier=carrier,
        before=_state(alert.before_status, lang),
        after=_state(alert.after_status, lang),
        before_at=_when(alert.before_checked_at, lang),
        after_at=_when(alert.after_checked_at, lang),
        detected_at=_when(alert.detected_at, lang),
        event_id=event_id(alert.change_id),
        advice=text(f"alert.advice.{alert.after_status.value}", lang),
    )
    return subject, body


def dealer_email(alert: ChangeAlert, to: str) -> Email:
    """The e-mail to a dealer's target: Japanese, then English."""
    ja_subject, ja_body = _dealer_text(alert, "ja")
    en_subject, en_body = _dealer_text(alert, "en")
    return Email(
        to=to,
        subject=f"{ja_subject} / {en_subject}",
        body=f"{ja_body}\n\n{'-' * 40}\n\n{en_body}\n",
        sender_name="akarom",
    )


def customer_email(alert: ChangeAlert, to: str, name: str | None = None) -> Email:
    """The e-mail to the customer, in plain Japanese: what changed, what it means, and
    to contact the shop."""
    lang: Lang = "ja"
    greeting = (
        text("alert.customer.greeting_named", lang).format(name=name.strip())
        if name and name.strip()
        else text("alert.customer.greeting", lang)
    )
    body = text("alert.customer.body", lang).format(
        greeting=greeting,
        dealer=alert.dealer,
        order_ref=alert.order_ref,
        imei=alert.imei,
        carrier=alert.carrier.label(lang),
        before=_state(alert.before_status, lang),
        after=_state(alert.after_status, lang),
        detected_at=_when(alert.detected_at, lang),
        meaning=text(f"alert.customer.meaning.{alert.after_status.value}", lang),
    )
    subject = text("alert.customer.subject", lang).format(dealer=alert.dealer)
    return Email(to=to, subject=subject, body=body + "\n", sender_name=alert.dealer)


# -- the safeguards of a user-given URL -------------------------------------------------


class WebhookRefused(UsageError):
    """A webhook URL that breaks a safeguard: never fetched. ``key`` says which."""

    def __init__(self, message: str, *, reason: str, url: str, address: str | None = None) -> None:
        super().__init__(message, key=f"alert.refused.{reason}", url=url, address=address)
        self.reason = reason


def is_public(address: str) -> bool:
    """Whether a webhook may connect to ``address``: a global unicast address, not
    private, loopback, link-local, multicast, reserved or unspecified (IPv4 carried in
    IPv6, as ``::ffff:10.0.0.1`` or NAT64 ``64:ff9b::a00:1``, is judged as the IPv4)."""
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip.sixtofour is not None:
            ip = ip.sixtofour
        elif ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def _literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def _parse_webhook_url(url: str, *, private_ok: bool) -> httpx.URL:
    """``url`` if its shape is acceptable (scheme, host, no credentials); else refused."""
    try:
        parsed = httpx.URL(url.strip())
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or len(url) > _MAX_URL or not parsed.host:
        raise WebhookRefused(f"{url!r} is not a URL", reason="invalid", url=url)
    allowed = ("https", "http") if private_ok else ("https",)
    if parsed.scheme not in allowed:
        raise WebhookRefused(f"{url}: webhooks use https", reason="scheme", url=url)
    if parsed.userinfo:
        raise WebhookRefused(
            f"{url}: no user or password in the URL", reason="credentials", url=url
        )
    return parsed


def _resolve(host: str, port: int) -> list[str]:
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in found))


@dataclass(frozen=True, slots=True)
class Pinned:
    """A webhook URL, resolved and checked: connect to ``addresses`` (in order), keeping
    the name in ``host_header`` and, for https, ``server_name`` (SNI and certificate)."""

    url: httpx.URL
    addresses: tuple[str, ...]
    host_header: str
    server_name: str | None

    def at(self, address: str) -> httpx.URL:
        """The URL with its host replaced by ``address``."""
        return self.url.copy_with(host=address.partition("%")[0])


def pin_webhook(url: str, *, private_ok: bool, resolve: Resolver | None = None) -> Pinned:
    """Resolve and check ``url``'s host before anything is sent.

    ``WebhookRefused`` for a scheme other than https (http too with ``private_ok``), a
    URL with credentials, or (unless ``private_ok``) a host with any address that is not
    public; ``OSError`` when the name does not resolve (that may pass).
    """
    parsed = _parse_webhook_url(url, private_ok=private_ok)
    host = parsed.raw_host.decode("ascii")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    literal = _literal(host)
    addresses = tuple([literal] if literal else (resolve or _resolve)(host, port))
    if not addresses:
        raise OSError(f"{host} has no address")
    if not private_ok:
        # Every address, not just the first: a name that also points inside is refused
        # whole, rather than trusting which answer a retry would use.
        for address in addresses:
            if not is_public(address):
                raise WebhookRefused(
                    f"{url}: {host} is a private, loopback or reserved address ({address})",
                    reason="address",
                    url=url,
                    address=address,
                )
    return Pinned(
        url=parsed,
        addresses=addresses,
        host_header=parsed.netloc.decode("ascii"),
        server_name=None if literal or parsed.scheme != "https" else host,
    )


def _check_webhook_url(url: str, *, private_ok: bool, resolve: Resolver | None = None) -> str:
    """``url`` as stored, if it could be sent to now: ``pin_webhook``'s checks, except
    that a name that does not resolve yet is accepted (it is checked again at each send,
    as its addresses may change meanwhile)."""
    try:
        return str(pin_webhook(url, private_ok=private_ok, resolve=resolve).url)
    except OSError:
        return str(_parse_webhook_url(url, private_ok=private_ok))


# -- webhooks ---------------------------------------------------------------------------


def new_secret() -> str:
    """A new signing secret: ``whsec_`` and base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(os.urandom(_SECRET_BYTES)).decode("ascii")


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,`` + base64 HMAC-SHA256 of ``id.timestamp.body``."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def _status_outcome(response: httpx.Response, snippet: bytes) -> Outcome:
    code = response.status_code
    said = f"HTTP {code} {response.reason_phrase}".rstrip()
    if 200 <= code < 300:
        return _delivered(said)
    answer = snippet.decode("utf-8", "replace").strip()
    if answer:
        said += f": {' '.join(answer.split())[:_ERROR_BODY]}"
    if 300 <= code < 400:
        location = response.headers.get("location", "?")
        return _retry(f"{said} (redirect to {location} not followed: fix the URL)")
    if 400 <= code < 500 and code not in (408, 429):
        return _give_up(f"{said} (the receiver refused the alert; not retried)")
    return _retry(said)


def send_webhook(
    url: str,
    secret: str,
    *,
    msg_id: str,
    body: bytes,
    timestamp: datetime,
    private_ok: bool,
    resolve: Resolver | None = None,
) -> Outcome:
    """POST ``body`` to ``url``, signed (Standard Webhooks), through the safeguards."""
    try:
        pinned = pin_webhook(url, private_ok=private_ok, resolve=resolve)
    except WebhookRefused as err:
        return _give_up(f"refused to send: {err}", attempted=False)
    except OSError as err:
        return _retry(f"could not resolve the host: {err}")
    seconds = int(timestamp.timestamp())
    headers = {
        "host": pinned.host_header,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(seconds),
        "webhook-signature": sign(secret, msg_id, seconds, body),
    }
    extensions = {"sni_hostname": pinned.server_name} if pinned.server_name else {}
    failure = "no address"
    for address in pinned.addresses:
        try:
            with (
                httpx.Client(
                    timeout=TIMEOUT_S,
                    follow_redirects=False,
                    trust_env=False,  # an environment proxy would bypass the address check
                    verify=tls_context(),
                ) as client,
                client.stream(
                    "POST", pinned.at(address), content=body, headers=headers, extensions=extensions
                ) as response,
            ):
                snippet = b""
                if not 200 <= response.status_code < 300:
                    for chunk in response.iter_bytes():
                        snippet += chunk
                        if len(snippet) >= _ERROR_BODY:
                            break
                return _status_outcome(response, snippet)
        except httpx.ConnectError as err:
            failure = f"could not connect to {address}: {err}"
            continue  # the name's next address, as a browser would
        except httpx.TimeoutException:
            return _retry(f"no answer within {TIMEOUT_S:g} s")
        except httpx.HTTPError as err:
            return _retry(f"{type(err).__name__}: {err}")
    return _retry(failure)


# -- e-mail -----------------------------------------------------------------------------


def _mime(email: Email, mail_from: str, now: datetime) -> EmailMessage:
    sender = parseaddr(mail_from)[1] or mail_from
    message = EmailMessage()
    # EmailMessage's default policy writes non-ASCII headers as RFC 2047 encoded words.
    message["Subject"] = email.subject
    message["From"] = Address(display_name=email.sender_name, addr_spec=sender)
    message["To"] = email.to
    message["Date"] = format_datetime(now.astimezone(UTC))
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message.set_content(email.body, charset="utf-8", cte="base64")
    return message


def _decoded(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply


def send_email(settings: Settings, email: Email, *, now: datetime | None = None) -> Outcome:
    """Send ``email`` through ``AKAROM_SMTP_URL``; the outcome, never an exception for
    what a server or the network did."""
    if settings.smtp_url is None:
        return _retry("no SMTP server is set (AKAROM_SMTP_URL)")
    parts = urlsplit(settings.smtp_url)
    secure = parts.scheme == "smtps"
    host = parts.hostname or "localhost"
    port = parts.port or (465 if secure else 25)
    starttls = parse_qs(parts.query).get("starttls", ["0"])[-1].lower() in ("1", "true", "yes")
    message = _mime(email, settings.mail_from, now or datetime.now(UTC))
    try:
        context = ssl.create_default_context() if secure or starttls else None
        smtp = (
            smtplib.SMTP_SSL(host, port, timeout=TIMEOUT_S, context=context)
            if secure
            else smtplib.SMTP(host, port, timeout=TIMEOUT_S)
        )
        with smtp:
            if starttls:
                smtp.starttls(context=context)
            if parts.username:
                smtp.login(unquote(parts.username), unquote(parts.password or ""))
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as err:
        codes = [code for code, _ in err.recipients.values()]
        said = "; ".join(
            f"{who}: {code} {_decoded(reply)}" for who, (code, reply) in err.recipients.items()
        )
        if codes and all(code >= 500 for code in codes):
            return _give_up(f"the mail server refused the address: {said}")
        return _retry(f"the mail server deferred the address: {said}")
    except smtplib.SMTPDataError as err:
        said = f"{err.smtp_code} {_decoded(err.smtp_error)}"
        if err.smtp_code >= 500:
            return _give_up(f"the mail server refused the message: {said}")
        return _retry(f"the mail server deferred the message: {said}")
    except smtplib.SMTPResponseException as err:
        # The sender refused, a failed login: the operator's settings, which can be fixed.
        said = f"{err.smtp_code} {_decoded(err.smtp_error)}"
        return _retry(f"the mail server said {said}")
    except UnicodeEncodeError:
        # smtplib sends AUTH as ASCII only (Python 3.11-3.13): a setting to fix.
        return _retry("the SMTP user and password in AKAROM_SMTP_URL must be ASCII")
    except (smtplib.SMTPException, OSError) as err:  # OSError: refused, time-out, TLS
        return _retry(f"could not send through {host}:{port}: {type(err).__name__}: {err}")
    return _delivered(f"accepted by {host}:{port}")


# -- alert targets ----------------------------------------------------------------------


def _sealer(settings: Settings, sealer: Sealer | None) -> Sealer:
    return sealer or load_sealer(settings.data_key, settings.data_dir)


def add_webhook_target(
    store: Store,
    settings: Settings,
    dealer_name: str,
    url: str,
    *,
    sealer: Sealer | None = None,
    resolve: Resolver | None = None,
) -> tuple[StoredAlertTarget, str]:
    """Add a webhook for the dealer: the target and its signing secret, to show once.

    ``UsageError`` for an unknown dealer; ``WebhookRefused`` for a URL that would not be
    sent to now (see the module's safeguards; a name is resolved again at each send).
    """
    dealer = dealer_named(store, dealer_name)
    checked = _check_webhook_url(url, private_ok=settings.webhook_private_ok, resolve=resolve)
    chosen = _sealer(settings, sealer)
    secret = new_secret()

    def seal(context: str) -> Sealed:
        return chosen.seal(secret, context=context)

    target = store.add_alert_target(dealer.id, AlertChannel.WEBHOOK, checked, seal=seal)
    return target, secret


def add_email_target(store: Store, dealer_name: str, address: str) -> StoredAlertTarget:
    """Add an e-mail address for the dealer's alerts; ``UsageError`` as the address or
    the dealer cannot be used."""
    dealer = dealer_named(store, dealer_name)
    return store.add_alert_target(dealer.id, AlertChannel.EMAIL, check_email(address))


def list_targets(store: Store, dealer_name: str) -> list[StoredAlertTarget]:
    """The dealer's alert targets, disabled ones too, oldest first."""
    return store.alert_targets(dealer_named(store, dealer_name).id)


def _own_target(store: Store, dealer_name: str, target_id: int) -> tuple[str, StoredAlertTarget]:
    """The dealer's name and its target ``target_id``; ``UsageError`` if it is not its."""
    dealer = dealer_named(store, dealer_name)
    target = store.alert_target(dealer.id, target_id)
    if target is None:
        raise UsageError(
            f"the dealer {dealer.name!r} has no alert target {target_id}",
            key="alert.unknown_target",
            name=dealer.name,
            target_id=target_id,
        )
    return dealer.name, target


def disable_target(store: Store, dealer_name: str, target_id: int) -> StoredAlertTarget:
    """Stop the dealer's target (queued alerts to it are given up); ``UsageError`` if it
    is not the dealer's or is disabled already."""
    _, target = _own_target(store, dealer_name, target_id)
    if not store.disable_alert_target(target.dealer_id, target.id):
        raise UsageError(
            f"the alert target {target_id} is disabled already",
            key="alert.already_disabled",
            target_id=target_id,
        )
    return target


def _secret(sealer: Sealer, target: StoredAlertTarget) -> str:
    if target.secret_sealed is None or target.secret_key is None:
        raise SealError(f"the alert target {target.id} has no signing secret")
    secret = sealer.open(
        Sealed(target.secret_sealed, target.secret_key), context=secret_context(target.id)
    )
    if not isinstance(secret, str):
        raise SealError(f"the alert target {target.id}'s secret is not a text")
    return secret


def send_test(
    store: Store,
    settings: Settings,
    dealer_name: str,
    target_id: int,
    *,
    now: datetime | None = None,
    sealer: Sealer | None = None,
) -> Outcome:
    """Send a signed test message to the dealer's target now (type ``akarom.test``, a
    ``test_…`` id, so that no receiver takes it for a change); the outcome."""
    dealer, target = _own_target(store, dealer_name, target_id)
    now = now or datetime.now(UTC)
    msg_id = f"test_{os.urandom(8).hex()}"
    if target.channel is AlertChannel.WEBHOOK:
        body = _json(
            {
                "id": msg_id,
                "type": TEST_EVENT_TYPE,
                "timestamp": _iso(now),
                "data": {"dealer": dealer, "target_id": target.id},
            }
        )
        try:
            secret = _secret(_sealer(settings, sealer), target)
        except SealError as err:
            return _retry(f"the signing secret does not open: {err}")
        return send_webhook(
            target.address,
            secret,
            msg_id=msg_id,
            body=body,
            timestamp=now,
            private_ok=settings.webhook_private_ok,
        )
    parts = [
        (
            text("alert.test.subject", lang),
            text("alert.test.body", lang).format(dealer=dealer, target_id=target.id),
        )
        for lang in ("ja", "en")
    ]
    email = Email(
        to=target.address,
        subject=" / ".join(subject for subject, _ in parts),
        body=f"\n\n{'-' * 40}\n\n".join(body for _, body in parts) + "\n",
        sender_name="akarom",
    )
    return send_email(settings, email, now=now)


# -- the outbox -------------------------------------------------------------------------


def _open_contact(sealer: Sealer, guarantee_id: int, sealed: Sealed) -> dict[str, Any]:
    contact = sealer.open(
        Sealed(sealed.ciphertext, sealed.wrapped_key), context=customer_context(guarantee_id)
    )
    return contact if isinstance(contact, dict) else {}


def _address_of(contact: dict[str, Any]) -> str | None:
    email = contact.get("email")
    return email.strip() if isinstance(email, str) and email.strip() else None


def customer_check(sealer: Sealer) -> CustomerCheck:
    """For ``enqueue_alerts(customer_check=…)``: whether a guarantee's sealed contact
    holds an e-mail address. A contact that does not open is enqueued all the same;
    the sending says why it failed."""

    def check(guarantee_id: int, sealed: Sealed) -> bool:
        try:
            return _address_of(_open_contact(sealer, guarantee_id, sealed)) is not None
        except SealError:
            return True

    return check


class _Sending:
    """One ``deliver_due`` run: the settings, the sealer (loaded once, when needed)."""

    def __init__(self, store: Store, settings: Settings, sealer: Sealer | None) -> None:
        self.store = store
        self.settings = settings
        self._sealer = sealer
        self._lock = threading.Lock()

    def sealer(self) -> Sealer:
        with self._lock:
            if self._sealer is None:
                # Never a new key here: one made now would open nothing sealed before.
                self._sealer = load_sealer(
                    self.settings.data_key, self.settings.data_dir, create=False
                )
            return self._sealer

    def send(self, delivery: StoredDelivery, alert: ChangeAlert, now: datetime) -> Outcome:
        try:
            if delivery.recipient == CUSTOMER:
                return self._to_customer(alert, now)
            return self._to_target(delivery, alert, now)
        except (SealError, ConfigError) as err:
            # The master key is missing or another one: the operator can restore it.
            return _retry(f"the sealed secret or contact does not open: {err}")

    def _to_customer(self, alert: ChangeAlert, now: datetime) -> Outcome:
        if alert.customer_sealed is None or alert.customer_key is None:
            return _give_up("the customer's contact was erased", attempted=False)
        contact = _open_contact(
            self.sealer(),
            alert.guarantee_id,
            Sealed(alert.customer_sealed, alert.customer_key),
        )
        address = _address_of(contact)
        if address is None:
            return _give_up("the customer's contact has no e-mail address", attempted=False)
        try:
            address = check_email(address)
        except UsageError:
            return _give_up("the customer's e-mail address is not usable", attempted=False)
        name = contact.get("name")
        email = customer_email(alert, address, name if isinstance(name, str) else None)
        return send_email(self.settings, email, now=now)

    def _to_target(self, delivery: StoredDelivery, alert: ChangeAlert, now: datetime) -> Outcome:
        target_id = delivery.target_id
        target = None if target_id is None else self.store.alert_target(alert.dealer_id, target_id)
        if target is None:
            return _give_up(f"no alert target {delivery.recipient} of this dealer", attempted=False)
        if not target.active:
            return _give_up("the alert target was disabled", attempted=False)
        if target.channel is AlertChannel.EMAIL:
            return send_email(self.settings, dealer_email(alert, target.address), now=now)
        return send_webhook(
            target.address,
            _secret(self.sealer(), target),
            msg_id=event_id(alert.change_id),
            body=webhook_body(alert),
            timestamp=now,
            private_ok=self.settings.webhook_private_ok,
        )


def deliver_due(
    store: Store,
    settings: Settings,
    *,
    now: datetime | None = None,
    limit: int = 100,
    workers: int = 8,
    sealer: Sealer | None = None,
) -> DeliveryReport:
    """Send every delivery due at ``now`` (default: the clock) once, and record how it went.

    Up to ``limit`` deliveries, ``workers`` at a time (one slow receiver does not hold
    up the rest). Delivered, given up (a refusal that will not change, or the 24th
    failure), or tried again after ``retry_delay``. Safe to run from several processes:
    each delivery is claimed by one (``Store.claim_due_deliveries``).
    """
    moment = now or datetime.now(UTC)
    claimed = store.claim_due_deliveries(moment, limit=limit)
    if not claimed:
        return DeliveryReport()
    sending = _Sending(store, settings, sealer)

    def deliver(delivery: StoredDelivery) -> Result:
        alert = store.change_alert(delivery.change_id)
        at = now or datetime.now(UTC)
        if alert is None:
            outcome = _give_up("the status change is gone", attempted=False)
        else:
            outcome = sending.send(delivery, alert, at)
        done = now or datetime.now(UTC)
        attempts = delivery.attempts + (1 if outcome.attempted else 0)
        if outcome.delivered:
            store.mark_delivered(delivery.id, at=done)
            return Result.DELIVERED
        if outcome.result is Result.GIVE_UP:
            store.mark_given_up(
                delivery.id, error=outcome.detail, at=done, attempted=outcome.attempted
            )
            return Result.GIVE_UP
        if attempts >= MAX_ATTEMPTS:
            store.mark_given_up(
                delivery.id, error=f"gave up after {attempts} attempts: {outcome.detail}", at=done
            )
            return Result.GIVE_UP
        store.mark_failed(
            delivery.id, error=outcome.detail, next_attempt_at=done + retry_delay(attempts)
        )
        return Result.RETRY

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(claimed)))) as pool:
        results = list(pool.map(deliver, claimed))
    return DeliveryReport(
        delivered=results.count(Result.DELIVERED),
        retrying=results.count(Result.RETRY),
        given_up=results.count(Result.GIVE_UP),
    )
