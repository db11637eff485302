"""The HTTP client every carrier adapter is given: finite time-outs, one honest
User-Agent, and every request passed through that carrier's ``RateLimiter``.

Adapters never build their own client (STYLE.md §4). Tests inject a transport
(``httpx.MockTransport``, ``httpx.ASGITransport`` over the sandbox); the limiter
wraps whatever transport is given, so politeness is tested along with the rest.

**One TLS context per process, and only for https.** ``httpx.AsyncHTTPTransport()``
builds an SSL context and loads the CA bundle when it is created (20–80 ms each),
whatever the URL: four carriers cost up to a third of a second before the first
request, even against the plain-http sandbox. So the network transport here opens
its connection pools on first use, one per scheme: a plain-http pool has no TLS
context at all, and every https pool of every carrier shares ``tls_context()``,
built the first time an https URL is actually requested. Not when a client is
built: ``build_client`` does not know the carrier's URL (the adapter does, and a
redirect may change the scheme), and a command that ends before its first request
(a cached answer, ``--help``) should not pay for it. The one-off cost then falls on
the first live request, which waits far longer for its TLS handshake anyway.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, cast

import httpx

from akarom import __version__
from akarom.ratelimit import RateLimiter

__all__ = ["ON_REQUEST_SENT", "USER_AGENT", "LimitedTransport", "build_client", "tls_context"]

#: Called (in the task's own context) the moment a request gets its limiter slot and
#: goes out. The check service uses it to tell a carrier it has already asked from
#: one it may still call off.
ON_REQUEST_SENT: ContextVar[Callable[[], None] | None] = ContextVar("ON_REQUEST_SENT", default=None)

USER_AGENT = f"Mozilla/5.0 (compatible; akarom/{__version__}; network-restriction check)"

# Connecting should be quick; a carrier page itself may take a while to render.
_DEFAULT_TIMEOUT = httpx.Timeout(20.0, connect=10.0)


_tls_lock = threading.Lock()
_tls: ssl.SSLContext | None = None


def tls_context() -> ssl.SSLContext:
    """The process's one TLS context, as httpx would build it (CA bundle, ``SSL_CERT_FILE``).

    Built on the first call; shared by every carrier's https connections. httpcore
    sets the ALPN protocols on it at each connection, the same list each time since
    no pool here speaks HTTP/2, so sharing it changes nothing a connection sees.
    """
    global _tls  # one per process is the point (see the module docstring)
    with _tls_lock:
        if _tls is None:
            _tls = httpx.create_ssl_context()
        return _tls


class _NetworkTransport(httpx.AsyncBaseTransport):
    """The real network: one connection pool per scheme, each opened on first use."""

    def __init__(self) -> None:
        self._pools: dict[bool, httpx.AsyncHTTPTransport] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        secure = request.url.scheme == "https"
        pool = self._pools.get(secure)
        if pool is None:
            pool = self._pools[secure] = self._open_pool(secure)
        return await pool.handle_async_request(request)

    @staticmethod
    def _open_pool(secure: bool) -> httpx.AsyncHTTPTransport:
        if secure:
            return httpx.AsyncHTTPTransport(verify=tls_context())
        # ``verify=None`` reaches httpcore as "no context": a plain-http pool never
        # uses one, and httpx builds none for it (it passes any value that is not
        # True, False or a path through as the context). Should an https URL ever
        # reach this pool, httpcore would build its own verifying default, never
        # an unverified one.
        return httpx.AsyncHTTPTransport(verify=cast(ssl.SSLContext, None))

    async def aclose(self) -> None:
        for pool in self._pools.values():
            await pool.aclose()


class LimitedTransport(httpx.AsyncBaseTransport):
    """Holds a limiter slot for the whole exchange, body included."""

    def __init__(self, inner: httpx.AsyncBaseTransport, limiter: RateLimiter) -> None:
        self._inner = inner
        self._limiter = limiter

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        async with self._limiter.slot():
            if (notify := ON_REQUEST_SENT.get()) is not None:
                notify()
            request.extensions = {**request.extensions, "trace": self._trace(request)}
            response = await self._inner.handle_async_request(request)
            try:
                # Read (and decode, once) inside the slot: the body is part of the exchange.
                await response.aread()
            except BaseException:
                await response.aclose()
                raise
        return response

    def _trace(self, request: httpx.Request) -> Callable[[str, dict[str, Any]], Awaitable[None]]:
        """An httpcore trace hook that tells the limiter when the request really leaves.

        When the headers start to be written (``sent``: the gate, and the plan's lead)
        and when that write ends (``written``: what the site counts). The write may
        yield to the event loop, so its end comes at a time that varies with
        everything else the loop does: planning from there stretched every gap by
        ~3 ms at 20/s, but a window the site counts must end there.
        """
        outer = request.extensions.get("trace")

        async def trace(event: str, info: dict[str, Any]) -> None:
            if event.endswith("send_request_headers.started"):
                await self._limiter.sent()
            elif event.endswith("send_request_headers.complete"):
                self._limiter.written()
            if outer is not None:
                await outer(event, info)

        return trace

    async def aclose(self) -> None:
        await self._inner.aclose()


def build_client(
    limiter: RateLimiter,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    timeout: httpx.Timeout = _DEFAULT_TIMEOUT,
) -> httpx.AsyncClient:
    """An ``AsyncClient`` whose every request waits for ``limiter``.

    Redirects are followed (each hop is a request and waits its turn); cookies
    persist for the client's life, as a browser session's would. Without a
    ``transport``, requests go to the network, with TLS only for https URLs.
    """
    return httpx.AsyncClient(
        transport=LimitedTransport(transport or _NetworkTransport(), limiter),
        headers={"User-Agent": USER_AGENT, "Accept-Language": "ja,en;q=0.5"},
        timeout=timeout,
        follow_redirects=True,
    )
