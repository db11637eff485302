"""The contract every carrier adapter fulfils.

An adapter knows one carrier's check page: its URL and form, its encoding, the
symbols it prints, and the pages it shows instead of an answer (block, captcha,
maintenance). It is the *library* half of akarom: it never touches the database,
never sleeps for politeness and never retries a failed check; the services do that
around it. (The one request an adapter may repeat is part of its page flow: an
adapter that keeps its check form between checks, ``_reuse.FormKeepingAdapter``,
fetches a fresh form when the kept one no longer yields an answer.)

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
``PROBE_PATH``        the page ``probe`` GETs; defaults to ``ENTRY_PATH``
``PROBE_EXTRA_PATHS`` further pages ``probe`` GETs after it, in order (default none)
``TEMPLATES``         the answer pages it recognises whole (``_template``): an answer
                      is read only from a page that matches one of them entirely
``ECHO``              whether the carrier's answer names the IMEI (``Echo``):
                      ``REQUIRED`` (docomo, au), ``OPTIONAL`` (Rakuten: when named,
                      it must be the IMEI asked) or ``ABSENT`` (SoftBank: a page
                      naming any device number is refused)
``FORM_AGAIN``        optional: the check form's IMEI input and what it means when a
                      refused page shows it (the error then says the form came back)

and implements:

``_check(imei, visit)``  the page flow (form → submit), fetching through ``visit``
                         and returning ``parse_result`` of the answer page
``parse_result(page, imei)``  **pure**, given: the ``Reading`` of the page about
                         ``imei``, read from the slots of the template it matches
                         whole (the echo compared with ``imei`` here, never taken
                         from a URL; a sentence must belong to the symbol's status);
                         ``ParseError`` whose ``field`` is the ``Reason`` when it
                         matches none. An adapter overrides it only to judge what
                         comes before the template (Rakuten: HTTP 400 is
                         ``CarrierRejected``) or to explain a refusal better.
``screen_page(page)``    **pure**: raise ``Blocked``, ``CaptchaRequired``,
                         ``Maintenance`` or ``RateLimited`` when the page is one of
                         those instead of an answer. Runs on every fetched page,
                         before the HTTP status is judged.
``probe_page(page)``     **pure**: the ways a page ``probe`` fetched differs from what
                         ``_check`` relies on (a missing form, field, button or link,
                         an unexpected charset), each naming what is missing; an
                         empty list when the page looks as expected. The base
                         version reports that the adapter has no probe: an adapter
                         that forgot one is never reported healthy.

``check(imei)`` is the template method and is not overridden: it runs ``_check``,
turns transport failures into ``CarrierUnavailable``, judges HTTP statuses
(429 → ``RateLimited``, 403 → ``Blocked``, 5xx → ``CarrierUnavailable``, any other
non-2xx → ``ParseError``), and attaches every fetched page to the result or the
error as evidence.

``captcha_challenge(imei)`` is what the services call after ``check`` raised
``CaptchaRequired``: **akarom never answers a captcha by machine**, a person may. It
returns a ``CaptchaChallenge``, plain data that can be stored: the image as served,
and the carrier session the answer must be sent in. ``answer_captcha(challenge,
text)`` submits what the person typed in that session, from any client of the
carrier (so another process may finish a stored challenge), and returns the
``Observation`` (or raises) as ``check`` would; ``captcha_answer(text)`` is the
text as it would be sent, or ``ValueError``, so an answer can be refused where it
is typed. The base versions raise ``CaptchaRequired`` ("check by hand") and
``ValueError``: only an adapter whose carrier has a documented captcha flow
overrides them (docomo). ``captcha_challenge`` returns None when the carrier shows
no captcha any more: ``check`` again. Inside such a flow ``Visit.fetch(...,
captcha_expected=True)`` lets through the one page the flow expects to be a captcha
(its other screens and the HTTP judgement still run).

``probe()`` is the drift check behind ``akarom doctor --live``, a template method
too: it GETs ``PROBE_PATH`` and then each of ``PROBE_EXTRA_PATHS`` through the
adapter's own (rate-limited) client, **never submits an IMEI and never POSTs**, and
returns a ``Probe``: the HTTP status and declared charset of the ``PROBE_PATH``
page, ``probe_page``'s problems for every page (those of an extra page prefixed
with its path), and ``screen``, the ``code`` of the error a page raised instead
(``blocked``, ``maintenance``, ``captcha``, ``rate_limited``, ``unavailable``,
``timeout``: ``screen_page`` and the HTTP judgement, as for a check). An
unexpected HTTP status (a moved page's 404) is a problem, not a screen. The probe
stops at the first page that raised.

What the adapters share lives beside them, one piece of code per idea: here
``declared_charset`` and ``Page.encoding`` (the codec a page is decoded with, and a
browser encodes its form in) and ``CarrierAdapter._tree`` (a page parsed as HTML);
recognising an answer whole in ``_template``, the screens for pages that are not
answers in ``_screens``, form reading in ``_forms``, keeping a check form between
checks in ``_reuse``, the symbols in ``_symbols``. What only one carrier does stays
in its module.
"""

from __future__ import annotations

import codecs
import email.utils
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlencode

import httpx
from selectolax.lexbor import LexborHTMLParser

from akarom.carriers._template import (
    Echo,
    Mismatch,
    PageTemplate,
    Reading,
    Reason,
    Values,
)
from akarom.domain import Carrier, Status
from akarom.errors import (
    Blocked,
    CaptchaRequired,
    CarrierError,
    CarrierUnavailable,
    Maintenance,
    ParseError,
    RateLimited,
)

__all__ = [
    "AdapterCase",
    "CaptchaChallenge",
    "CarrierAdapter",
    "Observation",
    "Page",
    "Probe",
    "Reading",
    "Visit",
    "codec_name",
    "declared_charset",
    "decode_body",
    "parse_retry_after",
]

# A charset label, as a Content-Type header or a <meta> element writes it.
_CHARSET = r"""charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)"""
_HEADER_CHARSET = re.compile(_CHARSET, re.I)
_META_CHARSET = re.compile(rb"<meta[^>]+" + _CHARSET.encode("ascii"), re.I)

# Labels that mean Shift_JIS on Japanese sites. Decode them as cp932 (Windows-31J),
# the superset every Japanese site actually emits (～, ①, NEC specials).
_SHIFT_JIS_LABELS = {"shift_jis", "shift-jis", "sjis", "x-sjis", "ms_kanji", "windows-31j", "cp932"}


def codec_name(label: str) -> str | None:
    label = label.strip().lower()
    if label in _SHIFT_JIS_LABELS:
        return "cp932"
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def declared_charset(content: bytes, headers: Mapping[str, str]) -> str | None:
    """The codec a page declares: the ``Content-Type`` header's charset, else ``<meta>``.

    Shift_JIS labels give ``cp932``; a label Python does not know counts as no
    declaration. The header name is matched in any case; ``<meta>`` is looked for in
    the first 4 KiB. None when the page declares nothing usable.

    >>> declared_charset(b'<meta charset="Shift_JIS">', {})
    'cp932'
    >>> declared_charset(b"", {"Content-Type": "text/html; charset=UTF-8"})
    'utf-8'
    >>> declared_charset(b'<meta charset="utf-8">', {"content-type": "text/html; charset=x-none"})
    'utf-8'
    >>> declared_charset(b"<p>no declaration</p>", {}) is None
    True
    """
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    header = _HEADER_CHARSET.search(content_type)
    declared = codec_name(header.group(1)) if header else None
    if declared is None:
        meta = _META_CHARSET.search(content[:4096])
        declared = codec_name(meta.group(1).decode("ascii")) if meta else None
    return declared


def _encoding(content: bytes, headers: Mapping[str, str], default: str) -> str:
    # A byte-order mark outranks any declaration, as in a browser (WHATWG "decode").
    if content.startswith(codecs.BOM_UTF8):
        return "utf-8"
    if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return declared_charset(content, headers) or codec_name(default) or "utf-8"


def decode_body(content: bytes, headers: Mapping[str, str], default: str) -> str:
    """Decode a page as a browser would: by its byte-order mark, else the charset it
    declares (``declared_charset``), else ``default``; the mark itself is dropped.

    Undecodable bytes become U+FFFD, which no template accepts: a page in an
    unexpected encoding ends as ``unknown``, never as a misread answer.

    >>> decode_body("○".encode("cp932"), {"content-type": "text/html; charset=Shift_JIS"}, "utf-8")
    '○'
    >>> decode_body(b'<meta charset="utf-8">\\xe2\\x97\\x8b', {}, "cp932")[-1]
    '○'
    >>> decode_body(b"\\xef\\xbb\\xbf\\xe2\\x97\\x8b", {"content-type": "text/html; charset=cp932"},
    ...             "cp932")
    '○'
    """
    text = content.decode(_encoding(content, headers, default), errors="replace")
    return text.removeprefix("\ufeff")


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

    def encoding(self, default: str) -> str:
        """The codec the page decodes with, and a browser encodes its forms in.

        Its declared charset (``declared_charset``), else ``default``.

        >>> Page("GET", "https://x/", 200, {}, b"<p>plain</p>").encoding("Shift_JIS")
        'cp932'
        >>> Page("GET", "https://x/", 200, {}, b'<meta charset="UTF-8">').encoding("cp932")
        'utf-8'
        """
        return _encoding(self.content, self.headers, default)

    def text(self, default_encoding: str) -> str:
        """The body decoded as it declares, else with ``default_encoding``."""
        return decode_body(self.content, self.headers, default_encoding)


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
class CaptchaChallenge:
    """A captcha a carrier showed, for a **person** to answer; akarom never answers one.

    Plain data, so that it can be stored and answered later by another process.
    ``image`` is the picture byte for byte as the carrier served it, ``media_type``
    what it is (``image/gif``; docomo's may have several frames, as an animation):
    the person reads it and types what it shows. ``session`` is what the adapter
    needs to send the answer in the carrier's session from any of its clients
    (docomo: the session cookie, the form's action and fields, and a token naming
    this challenge); JSON-serialisable, and kept out of logs like the image.
    ``pages`` are the pages fetched to show it (evidence; none for a challenge
    rebuilt from storage), ``started_at`` when that began, ``elapsed_s`` the time
    those requests took.

    ``CarrierAdapter.answer_captcha(challenge, text)`` submits the answer and
    returns the ``Observation`` as ``check`` does (its ``pages``: this challenge's,
    then the answer's; ``started_at`` this challenge's; ``elapsed_s`` the time spent
    in requests, not the time the person took). It raises ``ValueError`` for text
    that cannot be an answer (``captcha_answer``), before any request;
    ``CaptchaFailed`` when the carrier did not take the answer (wrong, expired, or
    the challenge was already answered or replaced by a newer one in the same
    session: show a new challenge); any other ``CarrierError`` as ``check`` would,
    each carrying the pages seen.

    A challenge is good for one answer that reaches the carrier. The adapter that
    made it refuses a second answer, or one to a challenge it has since replaced,
    without a request; across processes the store that keeps challenges lets only
    one answer through. While a challenge is open, the caller keeps other requests
    away from that carrier's session and one challenge live per carrier.
    """

    carrier: Carrier
    imei: str
    image: bytes = field(repr=False)
    media_type: str
    session: Mapping[str, Any] = field(repr=False)
    #: The pages fetched to show the challenge (the form, the image): evidence.
    pages: tuple[Page, ...] = field(default=(), repr=False)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    elapsed_s: float = 0.0


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

    @classmethod
    def of(
        cls,
        name: str,
        expect: Status | type[CarrierError],
        description: str,
        *,
        imei: str,
        symbol: str | None = None,
    ) -> AdapterCase:
        """A case written as a ``TESTS`` table reads; a module that asks about one IMEI
        binds it once: ``_case = functools.partial(AdapterCase.of, imei=...)``."""
        return cls(name, imei, expect, symbol=symbol, description=description)


@dataclass(frozen=True, slots=True)
class Probe:
    """What ``CarrierAdapter.probe`` saw: whether a carrier's pages still look as expected.

    ``url``, ``status_code`` and ``charset`` (the codec the page declares, as
    ``declared_charset`` names it: ``cp932`` for Shift_JIS) describe the ``PROBE_PATH``
    page; ``status_code`` is None when no response came. ``problems`` lists every way
    a page differs from what the adapter relies on; ``screen`` is the ``code`` of the
    error that stood in for a page (``blocked``, ``maintenance``, ``captcha``,
    ``rate_limited``, ``unavailable``, ``timeout``), ``detail`` its message. ``pages``
    are the pages fetched, kept as evidence.
    """

    carrier: Carrier
    url: str
    status_code: int | None
    charset: str | None
    problems: tuple[str, ...] = ()
    screen: str | None = None
    detail: str | None = None
    adapter_version: str = ""
    pages: tuple[Page, ...] = ()

    @property
    def ok(self) -> bool:
        """The pages were served and look as the adapter expects."""
        return self.screen is None and not self.problems

    @property
    def blocked(self) -> bool:
        return self.screen == Blocked.code

    @property
    def maintenance(self) -> bool:
        return self.screen == Maintenance.code

    @property
    def captcha(self) -> bool:
        return self.screen == CaptchaRequired.code

    @property
    def outcome(self) -> str:
        """One word for the operator: ``ok``, ``changed`` (problems found) or the screen.

        A screen wins over problems: a block page is not a changed layout.
        """
        if self.screen is not None:
            return self.screen
        return "changed" if self.problems else "ok"

    def as_dict(self) -> dict[str, object]:
        """The probe as JSON-ready data (no page bodies: they are evidence, not output)."""
        return {
            "carrier": self.carrier.value,
            "outcome": self.outcome,
            "url": self.url,
            "http_status": self.status_code,
            "charset": self.charset,
            "problems": list(self.problems),
            "screen": self.screen,
            "detail": self.detail,
            "adapter_version": self.adapter_version,
            "fetched": [page.url for page in self.pages],
        }


class Visit:
    """One check in progress at one carrier: fetches pages and keeps them as evidence."""

    def __init__(self, adapter: CarrierAdapter, pages: Iterable[Page] = ()) -> None:
        self._adapter = adapter
        #: Every page fetched so far, oldest first; ``pages`` continues an earlier visit.
        self.pages: list[Page] = list(pages)

    async def fetch(
        self,
        method: str,
        path: str,
        *,
        form: Mapping[str, str] | None = None,
        form_encoding: str = "utf-8",
        headers: Mapping[str, str] | None = None,
        captcha_expected: bool = False,
    ) -> Page:
        """Request ``path`` on the carrier's host; screen the page; return it.

        ``form`` is sent in ``form_encoding`` (a Shift_JIS site expects its form
        percent-encoded in Shift_JIS): as an ``application/x-www-form-urlencoded``
        body, or in the query string when ``method`` is GET. A value the encoding
        cannot carry is a ``ParseError``: the form is not what we expect.
        ``captcha_expected`` (a captcha flow fetching the captcha page for a person)
        lets through the ``CaptchaRequired`` that ``screen_page`` raises for it.
        """
        adapter = self._adapter
        request_headers = dict(headers or {})
        content = None
        if form is not None:
            try:
                encoded = urlencode(form, encoding=form_encoding)
            except UnicodeEncodeError as err:
                raise ParseError(
                    f"a form value cannot be sent in the page's charset {form_encoding}",
                    field="form",
                ) from err
            if method == "GET":
                path = f"{path}{'&' if '?' in path else '?'}{encoded}"
            else:
                content = encoded.encode("ascii")
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
        try:
            adapter.screen_page(page)
        except CaptchaRequired:
            if not captcha_expected:
                raise
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
    PROBE_PATH: ClassVar[str]  # set to ENTRY_PATH by __init_subclass__ unless given
    PROBE_EXTRA_PATHS: ClassVar[tuple[str, ...]] = ()
    TEMPLATES: ClassVar[tuple[PageTemplate, ...]]
    ECHO: ClassVar[Echo]
    #: The check form's IMEI input (a CSS selector) and what its return means: a
    #: refused page that shows it is said to be the form shown again, not a result.
    FORM_AGAIN: ClassVar[tuple[str, str] | None] = None

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        # PROBE_PATH defaults to the subclass's own ENTRY_PATH, which the base cannot name.
        if "PROBE_PATH" not in cls.__dict__ and "ENTRY_PATH" in cls.__dict__:
            cls.PROBE_PATH = cls.ENTRY_PATH

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
        with self._keeping_evidence(visit):
            reading = await self._check(imei, visit)
        return Observation(
            carrier=self.CARRIER,
            imei=imei,
            reading=reading,
            pages=tuple(visit.pages),
            started_at=started_at,
            elapsed_s=time.perf_counter() - clock,
            adapter_version=self.VERSION,
        )

    async def captcha_challenge(self, imei: str) -> CaptchaChallenge | None:
        """The captcha ``check(imei)`` met, fetched for a person to answer.

        See ``CaptchaChallenge``. None when the carrier shows no captcha now: call
        ``check`` again. This base version sends nothing and raises ``CaptchaRequired``:
        no captcha flow is known for the carrier, so a person checks by hand.
        """
        raise CaptchaRequired(
            f"no known captcha flow for {self.CARRIER}: check by hand at {self.entry_url}",
            carrier=self.CARRIER,
        )

    async def answer_captcha(self, challenge: CaptchaChallenge, text: str) -> Observation:
        """Send what a person read off ``challenge``'s image; see ``CaptchaChallenge``.

        This base version sends nothing and raises ``CaptchaRequired``, as
        ``captcha_challenge`` does: the carrier has no captcha flow akarom knows.
        """
        raise CaptchaRequired(
            f"no known captcha flow for {self.CARRIER}: check by hand at {self.entry_url}",
            carrier=self.CARRIER,
        )

    @classmethod
    def captcha_answer(cls, text: str) -> str:
        """**Pure**: ``text`` as it would be sent as a captcha answer; ``ValueError`` if it
        cannot be one. This base version refuses every text: no captcha flow is known."""
        raise ValueError(f"{cls.CARRIER} shows no captcha akarom knows how to answer")

    @contextmanager
    def _keeping_evidence(self, visit: Visit) -> Iterator[None]:
        """A ``CarrierError`` raised inside names this carrier and carries ``visit``'s pages."""
        try:
            yield
        except CarrierError as err:
            err.carrier = self.CARRIER
            err.pages = tuple(visit.pages)
            raise

    async def probe(self) -> Probe:
        """GET ``PROBE_PATH`` (then ``PROBE_EXTRA_PATHS``) and report how they differ.

        Submits nothing: no IMEI, no POST. See the module docstring.
        """
        visit = Visit(self)
        problems: list[str] = []
        screen: str | None = None
        detail: str | None = None
        for path in (self.PROBE_PATH, *self.PROBE_EXTRA_PATHS):
            prefix = "" if path == self.PROBE_PATH else f"{path}: "
            try:
                page = await visit.fetch("GET", path)
            except ParseError as err:
                # Only the HTTP judgement raises it here: a moved or removed page.
                problems.append(f"{path}: {err}")
                break
            except CarrierError as err:
                screen, detail = err.code, f"{path}: {err}"
                break
            problems.extend(prefix + problem for problem in self.probe_page(page))
        first = visit.pages[0] if visit.pages else None
        return Probe(
            carrier=self.CARRIER,
            url=first.url if first is not None else self.base_url + self.PROBE_PATH,
            status_code=first.status_code if first is not None else None,
            charset=declared_charset(first.content, first.headers) if first is not None else None,
            problems=tuple(problems),
            screen=screen,
            detail=detail,
            adapter_version=self.VERSION,
            pages=tuple(visit.pages),
        )

    @classmethod
    def probe_page(cls, page: Page) -> list[str]:
        """The ways ``page`` differs from what ``_check`` relies on; empty when none."""
        return [f"{cls.__name__} has no drift probe: nothing on the page was checked"]

    @classmethod
    def _tree(cls, page: Page) -> LexborHTMLParser:
        """``page`` parsed as HTML, decoded as it declares, else as ``DEFAULT_ENCODING``."""
        return LexborHTMLParser(page.text(cls.DEFAULT_ENCODING))

    @abstractmethod
    async def _check(self, imei: str, visit: Visit) -> Reading:
        """Walk the check flow for ``imei`` and return ``parse_result`` of the answer."""

    @classmethod
    def parse_result(cls, page: Page, imei: str) -> Reading:
        """The answer ``page`` gives about ``imei``, read from the template it matches whole.

        ``ParseError`` (its ``field`` the ``Reason``) when it matches none. **Pure.**
        """
        reading = cls.recognise(page, imei)["status"]
        assert isinstance(reading, Reading), "a template's status slot reads a Reading"
        return reading

    @classmethod
    def recognise(cls, page: Page, imei: str) -> Values:
        """The slots of the first of ``TEMPLATES`` that ``page`` matches whole.

        ``ParseError`` naming the template that came closest and what differs.
        """
        closest: tuple[PageTemplate, Mismatch] | None = None
        for template in cls.TEMPLATES:
            try:
                values = template.match(page, imei, cls.DEFAULT_ENCODING)
            except Mismatch as err:
                if closest is None or err.order > closest[1].order:
                    closest = (template, err)
                continue
            if cls.ECHO is Echo.REQUIRED and "echo" not in values:
                raise ParseError(
                    f"{template.name}: the answer does not name the IMEI", field=Reason.ECHO
                )
            return values
        assert closest is not None, f"{cls.__name__} has no TEMPLATES"
        template, mismatch = closest
        said = f"not {template.name}: {mismatch}"
        if cls.FORM_AGAIN is not None and cls._tree(page).css_first(cls.FORM_AGAIN[0]):
            said = f"{cls.FORM_AGAIN[1]}: {said}"
        raise ParseError(said, field=mismatch.reason)

    @classmethod  # noqa: B027  # an optional hook: empty by default, not abstract
    def screen_page(cls, page: Page) -> None:
        """Raise when ``page`` is a block, captcha or maintenance page instead of an answer."""
