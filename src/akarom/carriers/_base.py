"""The contract every carrier adapter fulfils.

An adapter knows one carrier's check page: its URL and form, its encoding, the
symbols it prints, and the pages it shows instead of an answer (block, captcha,
maintenance). It is the *library* half of akarom: it never touches the database,
never sleeps for politeness and never retries; the services do that around it.

A subclass sets:

``CARRIER``           the ``Carrier`` it answers for
``DISPLAY_NAME``      the check page's name as the carrier writes it
``BASE_URL``          scheme and host of the live site; ``AKAROM_CARRIERS_URL`` /
                      ``AKAROM_<ID>_URL`` replace it, paths never change
``ENTRY_PATH``        path of the page a person opens to check by hand
``DEFAULT_ENCODING``  what to decode a page with when it declares no charset
``MIN_INTERVAL``      politeness floor (seconds between requests) for the live site
``TIMEOUT``           seconds to wait for one response
``VERSION``           bumped whenever parsing changes; stored with every observation
``WORKING``           ``False`` marks an adapter known not to match the live site
``ACCEPTS_MEID``      whether the page takes a 14-hex-digit MEID as well as an IMEI
``TESTS``             ``AdapterCase``s replayed offline from recorded fixtures

and implements:

``_check(imei, visit)``  the page flow (form → submit), fetching through ``visit``
                         and returning ``parse_result`` of the answer page
``parse_result(page)``   **pure**: the ``Reading`` the page shows, or ``ParseError``
                         naming what is missing; ``CarrierRejected`` for the site's
                         own invalid-IMEI answer. Never a status it did not read.
``screen_page(page)``    **pure**: raise ``Blocked``, ``CaptchaRequired``,
                         ``Maintenance`` or ``RateLimited`` when the page is one of
                         those instead of an answer. Runs on every fetched page,
                         before the HTTP status is judged.

``check(imei)`` is the template method and is not overridden: it runs ``_check``,
turns transport failures into ``CarrierUnavailable``, judges HTTP statuses
(429 → ``RateLimited``, 403 → ``Blocked``, 5xx → ``CarrierUnavailable``, any other
non-2xx → ``ParseError``), and attaches every fetched page to the result or the
error as evidence.
"""

from __future__ import annotations

import codecs
import email.utils
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import ClassVar
from urllib.parse import urlencode

import httpx

from akarom.domain import Carrier, Status
from akarom.errors import (
    Blocked,
    CarrierError,
    CarrierUnavailable,
    ParseError,
    RateLimited,
)

__all__ = [
    "AdapterCase",
    "CarrierAdapter",
    "Observation",
    "Page",
    "Reading",
    "Visit",
    "decode_body",
    "parse_retry_after",
]

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)

# Labels that mean Shift_JIS on Japanese sites. Decode them as cp932 (Windows-31J),
# the superset every Japanese site actually emits (～, ①, NEC specials).
_SHIFT_JIS_LABELS = {"shift_jis", "shift-jis", "sjis", "x-sjis", "ms_kanji", "windows-31j", "cp932"}


def _codec_name(label: str) -> str | None:
    label = label.strip().strip("\"'").lower()
    if label in _SHIFT_JIS_LABELS:
        return "cp932"
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def decode_body(content: bytes, headers: Mapping[str, str], default: str) -> str:
    """Decode a page by the charset it declares (header, then ``<meta>``), else ``default``.

    Undecodable bytes become U+FFFD, which no parser accepts as a symbol: a page in
    an unexpected encoding ends as ``unknown``, never as a misread answer.

    >>> decode_body("○".encode("cp932"), {"content-type": "text/html; charset=Shift_JIS"}, "utf-8")
    '○'
    >>> decode_body(b'<meta charset="utf-8">\\xe2\\x97\\x8b', {}, "cp932")[-1]
    '○'
    """
    declared = None
    match = re.search(r"charset\s*=\s*([^\s;]+)", headers.get("content-type", ""), re.I)
    if match:
        declared = _codec_name(match.group(1))
    if declared is None:
        meta = _META_CHARSET.search(content[:4096])
        if meta:
            declared = _codec_name(meta.group(1).decode("ascii"))
    return content.decode(declared or _codec_name(default) or "utf-8", errors="replace")


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), if readable.

    >>> parse_retry_after("30")
    30.0
    >>> parse_retry_after("Thu, 26 Nov 2026 07:00:10 GMT",
    ...                   now=datetime(2026, 11, 26, 7, 0, 0, tzinfo=UTC))
    10.0
    >>> parse_retry_after("soon") is None
    True
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True, slots=True)
class Page:
    """One HTTP response from a carrier, kept byte for byte as evidence."""

    method: str
    url: str
    status_code: int
    headers: Mapping[str, str]
    content: bytes
    fetched_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def from_response(cls, response: httpx.Response) -> Page:
        return cls(
            method=response.request.method,
            url=str(response.request.url),
            status_code=response.status_code,
            headers={name.lower(): value for name, value in response.headers.items()},
            content=response.content,
        )

    def text(self, default_encoding: str) -> str:
        """The body decoded as it declares, else with ``default_encoding``."""
        return decode_body(self.content, self.headers, default_encoding)


@dataclass(frozen=True, slots=True)
class Reading:
    """What a result page shows: a status, the symbol as printed, the carrier's wording."""

    status: Status
    symbol: str
    message: str | None = None

    def __post_init__(self) -> None:
        if self.status is Status.UNKNOWN:
            raise ValueError("a Reading is an answer the page gave; unknown is not one")


@dataclass(frozen=True, slots=True)
class Observation:
    """A finished check: the reading, and every page fetched for it (the evidence)."""

    carrier: Carrier
    imei: str
    reading: Reading
    pages: tuple[Page, ...]
    started_at: datetime
    elapsed_s: float
    adapter_version: str


@dataclass(frozen=True, slots=True)
class AdapterCase:
    """One offline test of an adapter, replayed from ``tests/carriers/fixtures/<carrier>/<name>/``.

    ``expect`` is the status the page shows, or the error the adapter must raise.
    """

    name: str
    imei: str
    expect: Status | type[CarrierError]
    symbol: str | None = None
    description: str = ""
    online: bool = False
    skip: str | None = None


class Visit:
    """One check in progress at one carrier: fetches pages and keeps them as evidence."""

    def __init__(self, adapter: CarrierAdapter) -> None:
        self._adapter = adapter
        self.pages: list[Page] = []

    async def fetch(
        self,
        method: str,
        path: str,
        *,
        form: Mapping[str, str] | None = None,
        form_encoding: str = "utf-8",
        headers: Mapping[str, str] | None = None,
    ) -> Page:
        """Request ``path`` on the carrier's host; screen the page; return it.

        ``form`` is sent ``application/x-www-form-urlencoded`` in ``form_encoding``
        (a Shift_JIS site expects its form percent-encoded in Shift_JIS).
        """
        adapter = self._adapter
        request_headers = dict(headers or {})
        content = None
        if form is not None:
            content = urlencode(form, encoding=form_encoding).encode("ascii")
            request_headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            response = await adapter.client.request(
                method,
                adapter.base_url + path,
                content=content,
                headers=request_headers,
                timeout=adapter.TIMEOUT,
            )
        except httpx.TimeoutException as err:
            raise CarrierUnavailable(
                f"no answer within {adapter.TIMEOUT:g} s", code="timeout"
            ) from err
        except httpx.TransportError as err:
            raise CarrierUnavailable(f"connection failed: {err}") from err
        page = Page.from_response(response)
        self.pages.append(page)
        adapter.screen_page(page)
        judge_http_status(page)
        return page


def judge_http_status(page: Page) -> None:
    """Raise for an HTTP status that is not an answer; the page screens ran first."""
    code = page.status_code
    if code == 429:
        raise RateLimited(
            "HTTP 429 Too Many Requests",
            retry_after=parse_retry_after(page.headers.get("retry-after")),
        )
    if code == 403:
        raise Blocked("HTTP 403: the site refused automated access")
    if code >= 500:
        raise CarrierUnavailable(f"HTTP {code} from the site")
    if not 200 <= code < 300:
        raise ParseError(f"unexpected HTTP {code}", field="http status")


class CarrierAdapter(ABC):
    """Checks one IMEI at one carrier's page. See the module docstring for the contract."""

    CARRIER: ClassVar[Carrier]
    DISPLAY_NAME: ClassVar[str]
    BASE_URL: ClassVar[str]
    ENTRY_PATH: ClassVar[str]
    DEFAULT_ENCODING: ClassVar[str] = "utf-8"
    MIN_INTERVAL: ClassVar[float] = 2.0
    TIMEOUT: ClassVar[float] = 20.0
    VERSION: ClassVar[str]
    WORKING: ClassVar[bool] = True
    ACCEPTS_MEID: ClassVar[bool] = False
    TESTS: ClassVar[tuple[AdapterCase, ...]] = ()

    def __init__(self, client: httpx.AsyncClient, *, base_url: str | None = None) -> None:
        self.client = client
        self.base_url = (base_url or self.BASE_URL).rstrip("/")

    @property
    def entry_url(self) -> str:
        """The page a person opens to check by hand."""
        return self.base_url + self.ENTRY_PATH

    async def check(self, imei: str) -> Observation:
        """Ask the carrier about ``imei`` (15 digits, or a MEID where accepted).

        Returns the ``Observation``; raises a ``CarrierError`` carrying the pages seen.
        """
        visit = Visit(self)
        started_at = datetime.now(UTC)
        clock = time.perf_counter()
        try:
            reading = await self._check(imei, visit)
        except CarrierError as err:
            err.carrier = self.CARRIER
            err.pages = tuple(visit.pages)
            raise
        return Observation(
            carrier=self.CARRIER,
            imei=imei,
            reading=reading,
            pages=tuple(visit.pages),
            started_at=started_at,
            elapsed_s=time.perf_counter() - clock,
            adapter_version=self.VERSION,
        )

    @abstractmethod
    async def _check(self, imei: str, visit: Visit) -> Reading:
        """Walk the check flow for ``imei`` and return ``parse_result`` of the answer."""

    @classmethod
    @abstractmethod
    def parse_result(cls, page: Page) -> Reading:
        """Read the answer from a result page; ``ParseError`` if it shows none."""

    @classmethod  # noqa: B027  # an optional hook: empty by default, not abstract
    def screen_page(cls, page: Page) -> None:
        """Raise when ``page`` is a block, captcha or maintenance page instead of an answer."""
