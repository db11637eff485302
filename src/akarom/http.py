"""The HTTP client every carrier adapter is given: finite time-outs, one honest
User-Agent, and every request passed through that carrier's ``RateLimiter``.

Adapters never build their own client (STYLE.md §4). Tests inject a transport
(``httpx.MockTransport``, ``httpx.ASGITransport`` over the sandbox); the limiter
wraps whatever transport is given, so politeness is tested along with the rest.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

import httpx

from akarom import __version__
from akarom.ratelimit import RateLimiter

__all__ = ["ON_REQUEST_SENT", "USER_AGENT", "LimitedTransport", "build_client"]

#: Called (in the task's own context) the moment a request gets its limiter slot and
#: goes out. The check service uses it to tell a carrier it has already asked from
#: one it may still call off.
ON_REQUEST_SENT: ContextVar[Callable[[], None] | None] = ContextVar("ON_REQUEST_SENT", default=None)

USER_AGENT = f"Mozilla/5.0 (compatible; akarom/{__version__}; network-restriction check)"

# Connecting should be quick; a carrier page itself may take a while to render.
_DEFAULT_TIMEOUT = httpx.Timeout(20.0, connect=10.0)


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
        """An httpcore trace hook that tells the limiter when the request really leaves."""
        outer = request.extensions.get("trace")

        async def trace(event: str, info: dict[str, Any]) -> None:
            if event.endswith("send_request_headers.started"):
                await self._limiter.sent()
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
    persist for the client's life, as a browser session's would.
    """
    return httpx.AsyncClient(
        transport=LimitedTransport(transport or httpx.AsyncHTTPTransport(), limiter),
        headers={"User-Agent": USER_AGENT, "Accept-Language": "ja,en;q=0.5"},
        timeout=timeout,
        follow_redirects=True,
    )
