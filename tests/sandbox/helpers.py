"""The sandbox tests' client and their own minimal reading of the pages.

Nothing here comes from ``akarom.carriers``: the sandbox is read the way a test of
it should, from the reference's facts.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from selectolax.lexbor import LexborHTMLParser as HTMLParser
from starlette.applications import Starlette

_META_CHARSET = re.compile(rb"<meta[^>]+charset=[\"']?([A-Za-z0-9_-]+)", re.I)
_CODECS = {"shift_jis": "cp932", "utf-8": "utf-8", "iso-8859-1": "latin-1"}


def header_charset(response: httpx.Response) -> str:
    match = re.search(r"charset=([A-Za-z0-9_-]+)", response.headers["content-type"])
    assert match, response.headers["content-type"]
    return match.group(1)


def text(response: httpx.Response) -> str:
    """The body decoded with the charset the header declares (Shift_JIS as cp932)."""
    return response.content.decode(_CODECS[header_charset(response).lower()])


def meta_charset(response: httpx.Response) -> str | None:
    match = _META_CHARSET.search(response.content)
    return match.group(1).decode() if match else None


def tree(response: httpx.Response) -> HTMLParser:
    return HTMLParser(text(response))


def texts(response: httpx.Response, selector: str) -> list[str]:
    return [node.text(strip=True) for node in tree(response).css(selector)]


def form_fields(response: httpx.Response, form_selector: str) -> dict[str, str]:
    """Every named input of the form, with its value (as a browser would submit it)."""
    form = tree(response).css_first(form_selector)
    assert form is not None, f"no {form_selector} in the page"
    return {
        str(node.attributes["name"]): str(node.attributes.get("value") or "")
        for node in form.css("input[name]")
        if node.attributes.get("type") != "submit"
    }


def looks_like_result(body: str) -> bool:
    """True when a page carries anything an adapter could read as an answer."""
    return any(
        marker in body for marker in ("result-panel", 'size="8"', "list_item", "状態", '"status"')
    )


@asynccontextmanager
async def open_client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox.test") as client:
        yield client
