"""The client every adapter gets: limited, and otherwise an ordinary httpx client."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
import ssl
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

import akarom.http
from akarom.http import ON_REQUEST_SENT, USER_AGENT, build_client, tls_context
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


@pytest.fixture
def ssl_contexts(monkeypatch) -> Iterator[list[ssl.SSLContext]]:
    """Every SSL context created during the test (the process's shared one starts unbuilt)."""
    monkeypatch.setattr(akarom.http, "_tls", None)
    created: list[ssl.SSLContext] = []
    original = ssl.SSLContext.__dict__["__new__"]

    def counting(cls: type[ssl.SSLContext], *args: Any, **kwargs: Any) -> ssl.SSLContext:
        context = original.__func__(cls, *args, **kwargs)
        created.append(context)
        return context

    ssl.SSLContext.__new__ = staticmethod(counting)
    try:
        yield created
    finally:
        ssl.SSLContext.__new__ = original


@pytest.fixture
async def plain_server() -> AsyncIterator[str]:
    """A local plain-http server that answers every request with ``ok``."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:  # keep-alive: one GET (headers only) after another
                await reader.readuntil(b"\r\n\r\n")
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}"


async def test_clients_for_plain_http_never_build_an_ssl_context(ssl_contexts, plain_server):
    """Four carriers against the sandbox: no TLS set-up at all, start-up or after."""
    clients = [build_client(RateLimiter(1000)) for _ in range(4)]
    for client in clients:
        response = await client.get(f"{plain_server}/search")
        assert response.text == "ok"
        await client.aclose()
    assert ssl_contexts == []


async def test_https_clients_share_one_ssl_context_built_on_first_use(ssl_contexts):
    clients = [build_client(RateLimiter(1000)) for _ in range(4)]
    assert ssl_contexts == []  # building a client costs no TLS set-up
    with socket.socket() as closed:  # a port nobody listens on: refused before any handshake
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    for client in clients:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"https://127.0.0.1:{port}/search")
        await client.aclose()
    assert ssl_contexts == [tls_context()]
