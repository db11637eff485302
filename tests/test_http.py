"""The client every adapter gets: limited, and otherwise an ordinary httpx client."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator

import httpx

from akarom.http import ON_REQUEST_SENT, USER_AGENT, build_client
from akarom.ratelimit import RateLimiter


async def test_compressed_pages_are_decoded_exactly_once() -> None:
    page = "<div class='result-panel'>○</div>".encode("cp932")

    def handler(request: httpx.Request) -> httpx.Response:
        assert "gzip" in request.headers["accept-encoding"]
        return httpx.Response(
            200,
            headers={"content-encoding": "gzip", "content-type": "text/html; charset=Shift_JIS"},
            content=gzip.compress(page),
        )

    async with build_client(RateLimiter(100), transport=httpx.MockTransport(handler)) as client:
        response = await client.get("https://carrier.test/search.php")
    assert response.content == page


class StreamingGzipTransport(httpx.AsyncBaseTransport):
    """Like the network: a body that arrives in chunks, gzip-encoded."""

    def __init__(self, body: bytes) -> None:
        self.body = gzip.compress(body)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(self.body), 7):
                yield self.body[start : start + 7]

        class Stream(httpx.AsyncByteStream):
            async def __aiter__(self) -> AsyncIterator[bytes]:
                async for chunk in chunks():
                    yield chunk

        return httpx.Response(200, headers={"content-encoding": "gzip"}, stream=Stream())


async def test_streamed_compressed_pages_are_decoded_exactly_once() -> None:
    page = "△ 利用制限の可能性".encode("cp932") * 50
    transport = StreamingGzipTransport(page)
    async with build_client(RateLimiter(100), transport=transport) as client:
        response = await client.get("https://carrier.test/search.php")
    assert response.content == page


async def test_requests_say_who_is_asking_and_announce_themselves() -> None:
    sent: list[str] = []
    ON_REQUEST_SENT.set(lambda: sent.append("sent"))

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["user-agent"] == USER_AGENT
        return httpx.Response(200, text="ok")

    async with build_client(RateLimiter(100), transport=httpx.MockTransport(handler)) as client:
        await client.get("https://carrier.test/")
        await client.get("https://carrier.test/")
    assert sent == ["sent", "sent"]
