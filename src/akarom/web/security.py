"""What keeps the pages safe: headers, sessions, CSRF, and limits per client.

- Every response carries a Content-Security-Policy that allows nothing from other
  hosts and no inline script, plus nosniff, no framing and a same-origin referrer.
  Evidence pages (a carrier's HTML) are served with ``sandbox`` on top, so they
  can neither run script nor reach the workspace's cookies.
- Sessions are signed cookies (HttpOnly, SameSite=Lax, Secure unless the server
  only listens on this machine), signed with ``AKAROM_SECRET_KEY`` or a key made
  once and kept in the data folder.
- Every form carries a token tied to the session (``csrf``); a POST without it is
  refused before anything else happens.
- Limits per client and per API key come from ``limits`` (a moving window), so a
  shared backend can take over when there are several processes.
"""

from __future__ import annotations

import hmac
import os
import secrets
import time
from pathlib import Path

from fastapi import HTTPException, Request
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "CSP",
    "EVIDENCE_CSP",
    "MAX_BODY_BYTES",
    "BodyLimit",
    "ClientLimits",
    "PageSessions",
    "SecurityHeaders",
    "check_csrf",
    "ensure_csrf",
    "secret_key",
]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
#: A carrier's page kept as evidence: shown, never run (no script, an opaque origin).
EVIDENCE_CSP = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"

_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"geolocation=(), microphone=(), camera=(self)"),
]


class SecurityHeaders:
    """Adds the headers above to every response (a CSP the route set is kept)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers.extend(item for item in _HEADERS if item[0] not in names)
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", CSP.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


class PageSessions:
    """Sessions (a signed cookie) for the pages only, Secure whenever the page came
    over HTTPS.

    The API authenticates every request with its key and the operations endpoints
    with nothing: decoding and re-signing a cookie there would be work for nobody,
    and a browser's session cookie must never authenticate an API call. The scheme
    is the request's own, or the one a proxy on this machine says it served
    (``X-Forwarded-Proto``, trusted from loopback only, as uvicorn does): a cookie
    marked Secure on a plain-http page would be dropped and every form refused.
    """

    _WITHOUT = ("/api/", "/static/", "/healthz", "/readyz", "/metrics", "/openapi.json")

    def __init__(self, app: ASGIApp, *, secret_key: str) -> None:
        self.app = app
        self.over_https, self.over_http = (
            SessionMiddleware(
                app,
                secret_key=secret_key,
                session_cookie="akarom_session",
                max_age=12 * 3600,
                same_site="lax",
                https_only=secure,
            )
            for secure in (True, False)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope.get("path", "")).startswith(self._WITHOUT):
            await self.app(scope, receive, send)
        elif scope.get("scheme") == "https":
            await self.over_https(scope, receive, send)
        else:
            await self.over_http(scope, receive, send)


def secret_key(data_dir: Path) -> str:
    """``AKAROM_SECRET_KEY``, else a key made once and kept in the data folder (0600)."""
    if configured := os.environ.get("AKAROM_SECRET_KEY"):
        return configured
    path = data_dir / "secret_key"
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write(key)
    return key


def ensure_csrf(request: Request) -> str:
    """The session's CSRF token, made when the session has none yet."""
    session = request.session
    token = session.get("csrf")
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


async def check_csrf(request: Request) -> None:
    """A dependency for every form POST: the form's ``csrf`` must match the session's."""
    form = await request.form()  # Starlette keeps it: the route's own Form() reads it again
    sent = form.get("csrf")
    expected = request.session.get("csrf")
    if not isinstance(sent, str) or not isinstance(expected, str) or not expected:
        raise HTTPException(status_code=403, detail="csrf")
    if not hmac.compare_digest(sent, expected):
        raise HTTPException(status_code=403, detail="csrf")


class ClientLimits:
    """How often one client (an address, an API key) may do one thing, in a moving window."""

    def __init__(self) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def hit(self, limit: RateLimitItem | str, *keys: str) -> bool:
        """Count one use; False when over ``limit`` (nothing is counted then)."""
        item = parse(limit) if isinstance(limit, str) else limit
        return bool(self._limiter.hit(item, *keys))

    def retry_after(self, limit: RateLimitItem | str, *keys: str) -> int:
        """Seconds until the next use is allowed (at least 1)."""
        item = parse(limit) if isinstance(limit, str) else limit
        reset, _ = self._limiter.get_window_stats(item, *keys)
        return max(1, int(reset - time.time()) + 1)


#: The largest request body accepted (an upload of a few hundred thousand rows).
MAX_BODY_BYTES = 10 * 1024 * 1024


class BodyLimit:
    """Refuses a request body over ``max_bytes`` with 413, counted as it streams in
    (a missing or false Content-Length does not get around it).

    Past the limit the app is told the client went away (``http.disconnect``), so it
    stops reading, and whatever it answers then is dropped: the 413 has been sent.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, send)
            return
        received = 0
        started = False
        refused = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    refused = True
                    if not started:
                        await self._refuse(scope, send)
                    return {"type": "http.disconnect"}
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 went out already
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except Exception:
            if not refused:
                raise
            # The app failed on the body it was refused (a disconnect mid-upload): done.

    async def _refuse(self, scope: Scope, send: Send) -> None:
        api = str(scope.get("path", "")).startswith("/api/")
        if api:
            body = (
                b'{"type":"about:blank","title":"Content Too Large","status":413,'
                b'"detail":"the request body is larger than %d bytes"}' % self.max_bytes
            )
            kind = b"application/problem+json"
        else:
            megabytes = self.max_bytes // 2**20
            body = (
                "<!doctype html><meta charset=utf-8><title>413</title>"
                f"<p>ファイルが大きすぎます (上限 {megabytes} MB)。"
                f" The file is too large (at most {megabytes} MB)."
            ).encode()
            kind = b"text/html; charset=utf-8"
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", kind), (b"connection", b"close")],
            }
        )
        await send({"type": "http.response.body", "body": body})
