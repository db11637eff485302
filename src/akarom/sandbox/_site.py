"""What every emulated carrier site shares: the page type, the site base class, and
the pages a site shows instead of an answer.

A ``Site`` renders one carrier's pages as bytes in that carrier's encoding. It knows
nothing of latency, error rates or rate limits: ``app.py`` applies those before a
site's handler runs, and hands the handler a ``Context`` with what it may need (the
status of an IMEI now, the symbols to print, the mode).

Encodings: docomo declares Shift_JIS (carrier-sites.md §1.2); for au and SoftBank no
source states one, and the sandbox chooses Shift_JIS for both (au's Forbidden page is
Shift_JIS, §2.6). Every Shift_JIS page is encoded as cp932, the Windows superset that
Japanese sites actually emit: the full-width minus － (U+FF0D) that SoftBank prints
exists only there (strict Shift_JIS turns the same byte pair into − U+2212).
Rakuten's pages are UTF-8. Input echoed back (a rejected IMEI in the form) that the
site's encoding cannot carry is written as a numeric character reference.
"""

from __future__ import annotations

import html
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from types import MappingProxyType
from typing import ClassVar
from urllib.parse import parse_qsl

from starlette.requests import Request

from akarom.domain import Carrier, Status

__all__ = [
    "CAPTCHA_GIF",
    "MAINTENANCE_RETRY_AFTER_S",
    "Context",
    "Handler",
    "Mode",
    "Page",
    "Site",
    "esc",
    "read_form",
]


class Mode(StrEnum):
    """How a carrier's pages behave (INTERFACES.md §5)."""

    NORMAL = "normal"
    BLOCKED = "blocked"  # HTTP 403 Forbidden page
    MAINTENANCE = "maintenance"  # HTTP 503 メンテナンス page with Retry-After
    CAPTCHA = "captcha"  # an image captcha instead of the answer


# Seconds a maintenance page asks the client to wait (Retry-After).
MAINTENANCE_RETRY_AFTER_S = 600

# A 1×1 GIF89a: enough for a client that downloads the captcha image.
CAPTCHA_GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff"
    b"!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)


@dataclass(frozen=True, slots=True)
class Page:
    """One response: body bytes as sent, and ``outcome`` for the request log."""

    body: bytes
    content_type: str
    status_code: int = 200
    headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    outcome: str = "page"


@dataclass(frozen=True, slots=True)
class Context:
    """What a page handler may ask of the sandbox for one request."""

    mode: Mode
    symbols: Mapping[Status, str]
    status_of: Callable[[str], Status]
    today: date


Handler = Callable[[Request, Context], Awaitable[Page]]


def esc(text: str) -> str:
    """HTML-escape ``text`` (quotes too, for attribute values)."""
    return html.escape(text, quote=True)


async def read_form(request: Request, codec: str) -> dict[str, str]:
    """The request body as form-urlencoded fields, percent-escapes decoded as ``codec``.

    Browsers encode a form in the charset of the page it came from, so a Shift_JIS
    page's form arrives in Shift_JIS; undecodable bytes become U+FFFD rather than an
    error. The last of repeated fields wins.
    """
    body = (await request.body()).decode(codec, errors="replace")
    return dict(parse_qsl(body, keep_blank_values=True, encoding=codec, errors="replace"))


class Site(ABC):
    """One carrier's check pages at the real paths.

    A subclass sets ``carrier``, ``entry_path`` (the page a person opens),
    ``charset`` (declared in the Content-Type header and in ``<meta>``), ``codec``
    (what bytes are written with), ``title`` and ``default_symbols`` (or ``numeric``:
    it answers status codes, not symbols), and lists its routes. ``handles_captcha``
    is true when the site draws its own captcha flow (docomo); otherwise the app
    answers every page of a site in captcha mode with ``captcha_page``.
    """

    carrier: ClassVar[Carrier]
    entry_path: ClassVar[str]
    numeric: ClassVar[bool] = False
    charset: ClassVar[str]
    codec: ClassVar[str]
    title: ClassVar[str]
    default_symbols: ClassVar[Mapping[Status, str]] = MappingProxyType({})
    handles_captcha: ClassVar[bool] = False

    @abstractmethod
    def routes(self) -> list[tuple[str, tuple[str, ...], Handler]]:
        """``(path, methods, handler)`` for every page of the site."""

    def reset(self) -> None:  # noqa: B027 - optional hook; most sites keep no state
        """Forget per-visitor state (tokens, sessions); called on sandbox reset."""

    @property
    def content_type(self) -> str:
        """The Content-Type of this site's HTML pages."""
        return f"text/html; charset={self.charset}"

    def symbol(self, context: Context, status: Status) -> str:
        """The character this site prints for ``status`` (scenario overrides first)."""
        return context.symbols.get(status) or self.default_symbols[status]

    def html(
        self,
        body: str,
        *,
        status_code: int = 200,
        outcome: str = "page",
        headers: Mapping[str, str] | None = None,
    ) -> Page:
        """Encode ``body`` (a whole HTML document) as a page of this site."""
        return Page(
            body=body.encode(self.codec, errors="xmlcharrefreplace"),
            content_type=self.content_type,
            status_code=status_code,
            headers=MappingProxyType(dict(headers or {})),
            outcome=outcome,
        )

    def document(self, title: str, content: str) -> str:
        """A plain HTML 4 document with this site's charset in ``<meta>``."""
        return (
            '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">\n'
            '<html lang="ja">\n<head>\n'
            f'<meta http-equiv="Content-Type" content="text/html; charset={self.charset}">\n'
            f"<title>{esc(title)}</title>\n</head>\n<body>\n{content}\n</body>\n</html>\n"
        )

    # Pages shown instead of an answer. None of them may look like a result.

    def forbidden_page(self) -> Page:
        """HTTP 403 for ``blocked`` mode: a plain 「Forbidden」 page."""
        body = self.document(
            "403 Forbidden",
            "<h1>Forbidden</h1>\n<p>このページへのアクセスは許可されていません。</p>",
        )
        return self.html(body, status_code=403, outcome="blocked")

    def maintenance_page(self) -> Page:
        """HTTP 503 for ``maintenance`` mode, with Retry-After."""
        body = self.document(
            f"メンテナンス中｜{self.title}",
            "<h1>ただいまシステムメンテナンス中です</h1>\n"
            "<p>ご迷惑をおかけしております。メンテナンス終了後に、"
            "あらためてアクセスしてください。</p>",
        )
        return self.html(
            body,
            status_code=503,
            outcome="maintenance",
            headers={"Retry-After": str(MAINTENANCE_RETRY_AFTER_S)},
        )

    def captcha_page(self, request: Request) -> Page:
        """HTTP 200 image-captcha interstitial for ``captcha`` mode (not on the real sites)."""
        body = self.document(
            f"画像認証｜{self.title}",
            "<h1>画像認証</h1>\n"
            "<p>画像に表示されている文字を入力してください。</p>\n"
            f'<form method="post" action="{esc(request.url.path)}">\n'
            '<img src="/_sandbox/captcha.gif" alt="captcha">\n'
            '<input type="text" name="captcha" value="">\n'
            '<input type="submit" value="送信">\n</form>',
        )
        return self.html(body, outcome="captcha")

    def server_error_page(self, status_code: int) -> Page:
        """A bare 5xx page such as a load balancer sends (``error_rate``)."""
        reason = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
        title = f"{status_code} {reason.get(status_code, 'Error')}"
        body = f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>\n"
        return Page(
            body=body.encode("ascii"),
            content_type="text/html; charset=iso-8859-1",
            status_code=status_code,
            outcome=f"error {status_code}",
        )

    def rate_limited_page(self, retry_after_s: int) -> Page:
        """HTTP 429 for a request over ``rate_limit_per_s``."""
        body = "<html><head><title>429 Too Many Requests</title></head>"
        body += "<body><h1>Too Many Requests</h1></body></html>\n"
        return Page(
            body=body.encode("ascii"),
            content_type="text/html; charset=iso-8859-1",
            status_code=429,
            headers=MappingProxyType({"Retry-After": str(retry_after_s)}),
            outcome="rate limited",
        )
