"""Rakuten Mobile: 「ネットワーク利用制限の確認」, read through its JSON endpoint.

Implements ``reference/carrier-sites.md`` §4, with the symbols of §7 and the
unknowns of §10.5.

Check page
    ``https://network.mobile.rakuten.co.jp/restriction/`` is a JavaScript single-page
    app (input ``#imei``, result in ``#search-result``); it cannot be used without a
    browser. The adapter asks the JSON endpoint the app appears to call:
    ``GET /restriction/eir/v1/rest-api/public/imei/{imei}`` with
    ``Accept: application/json`` and ``Referer: <host>/restriction/``, as the app
    would send (seen in one project, 2025-12; L–M confidence). No cookie or token is
    sent; none is known to be needed.

What it returns
    A JSON object whose integer ``status`` is the answer:

    * 0 → ○ ``ok``, 1 → △ ``pending``, 2 → × ``restricted``: seen in the one source
      (gogojojo318/imei_checker2, 2025-12);
    * 3 → - ``unregistered``: a **project decision, unverified**. No source shows how
      the endpoint says "no record"; akarom and its sandbox both take HTTP 200 with
      ``"status": 3`` to mean it.

    ``Reading.symbol`` is the canonical symbol for the number (the page's own symbols
    ○ △ × - are drawn by the app, not sent).

    The object is recognised whole (the template ``RESULT``): besides ``status`` it
    may hold ``imei``, which must then be the IMEI asked exactly (``ECHO =
    Echo.OPTIONAL``: the one source reads only ``status``; compared with the IMEI
    the check asked about, never read back from the URL, which a redirect can
    change), and ``message``, which must be a sentence known for that status
    (``WORDINGS``, reconstructed; it becomes ``Reading.message``).

Refusals
    Everything else is ``ParseError``, never ``unregistered``: another ``status``
    value or one not written as a plain integer (``true``, ``0.0``, ``"0"``, ``-0``,
    ``00``), any other key (an ``error`` member, ``result``, ``code``…), a key twice,
    a body that is not a UTF-8 JSON object served as ``application/json``, an unknown
    sentence, and a reply other than HTTP 200 (a moved endpoint's 404 must not read
    as -). HTTP 400 is ``CarrierRejected`` (the site refused the IMEI); 403
    ``Blocked``, 429 ``RateLimited``, 5xx ``CarrierUnavailable`` (base class). An
    HTML page where JSON was expected is screened with the guesses shared by all
    adapters (``_screens``): an 「Access Denied」/「Forbidden」 title → ``Blocked``,
    captcha markers (「画像認証」 in the visible text, an input, image, frame, div or
    form mentioning "captcha") → ``CaptchaRequired``, 「メンテナンス」 in the visible
    text (not in a link or a script) → ``Maintenance``; any other HTML (the app's own
    shell, say) is a ``ParseError``.

Drift probe (``probe_page``, for ``akarom doctor --live``)
    GETs the ``/restriction/`` shell only, and reports a missing ``#imei`` input or
    ``#search`` button, the parts of the app the endpoint stands in for. It never
    calls the JSON endpoint: that would submit an IMEI.

Fixtures (``tests/carriers/fixtures/rakuten/``) are RECONSTRUCTED from carrier-sites.md
on 2026-11-26; no live capture was possible. Still unverified about the live site:

* whether the endpoint exists at that path, and its full JSON schema (field names
  besides ``status``, error bodies, other status codes);
* how "no record" is represented (the ``status: 3`` convention above is an assumption);
* whether it needs headers, cookies, a CSRF token or an ``Origin``;
* whether it answers 400 for an invalid IMEI, and what its maintenance and block
  pages look like (the HTML screens are guesses).
"""

from __future__ import annotations

import json
from typing import ClassVar
from urllib.parse import quote

from akarom.carriers import _screens
from akarom.carriers._base import AdapterCase, CarrierAdapter, Page, Reading, Visit
from akarom.carriers._template import Echo, JsonTemplate, json_echo, json_status, json_wording
from akarom.domain import Carrier, Status
from akarom.errors import (
    Blocked,
    CaptchaRequired,
    CarrierRejected,
    CarrierUnavailable,
    Maintenance,
    ParseError,
    RateLimited,
)

__all__ = ["RakutenAdapter"]

API_PATH = "/restriction/eir/v1/rest-api/public/imei/{imei}"

#: The numeric ``status`` → akarom status. 0–2 after gogojojo318/imei_checker2
#: (app/lib/rakuten_checker.rb, 2025-12, §4); 3 is the project's unverified convention.
STATUS_CODES: dict[int, Status] = {
    0: Status.OK,
    1: Status.PENDING,
    2: Status.RESTRICTED,
    3: Status.UNREGISTERED,
}

# Where an error body may say why (for the operator; never read as an answer).
_DETAIL_KEYS = ("message", "error", "detail")

#: The one sentence seen in a reconstructed answer (the fixture ``pending``, its key
#: ``message`` invented, 2026-11-26). Rakuten's real wording is unknown (§4).
WORDINGS: dict[Status, tuple[str, ...]] = {
    Status.PENDING: ("分割払い中のため、ネットワーク利用制限の対象となる可能性があります。",),
}

#: The JSON answer (§4): ``status`` 0–3, perhaps the ``imei`` it is about (then it
#: must be the IMEI asked, read from the body, never from the URL), perhaps a known
#: ``message``; any other key (``error``, ``result``…) is a body of another shape.
RESULT = JsonTemplate(
    "Rakuten's JSON answer (carrier-sites.md §4)",
    {
        "status": json_status(STATUS_CODES),
        "echo": json_echo(required=False),
        "wording": json_wording(WORDINGS),
    },
    keys={"status": "status", "echo": "imei", "wording": "message"},
    media_types=("application/json",),
)


def _is_html(page: Page) -> bool:
    return (
        "html" in page.headers.get("content-type", "").lower() or page.content.lstrip()[:1] == b"<"
    )


def _json_detail(page: Page) -> str:
    """A wording from an error body, for the operator; empty when there is none."""
    try:
        data = json.loads(page.content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return ""
    if not isinstance(data, dict):
        return ""
    for key in _DETAIL_KEYS:
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:200]
    return ""


class RakutenAdapter(CarrierAdapter):
    """Rakuten Mobile's restriction check, through its JSON endpoint (status 0–3)."""

    CARRIER: ClassVar[Carrier] = Carrier.RAKUTEN
    DISPLAY_NAME: ClassVar[str] = "ネットワーク利用制限の確認"
    BASE_URL: ClassVar[str] = "https://network.mobile.rakuten.co.jp"
    ENTRY_PATH: ClassVar[str] = "/restriction/"
    # JSON; UTF-8 is the JSON default (RFC 8259) and what the app's host is INFERRED to serve.
    DEFAULT_ENCODING: ClassVar[str] = "utf-8"
    MIN_INTERVAL: ClassVar[float] = 2.0
    # One small JSON reply per check; more than 15 s means the endpoint is struggling.
    TIMEOUT: ClassVar[float] = 15.0
    VERSION: ClassVar[str] = "rakuten-2026.11.26"
    ACCEPTS_MEID: ClassVar[bool] = False
    TEMPLATES = (RESULT,)
    # One source reads only ``status``; the sandbox and two fixtures carry ``imei``.
    ECHO = Echo.OPTIONAL

    TESTS: ClassVar[tuple[AdapterCase, ...]] = (
        AdapterCase(
            "ok",
            "352099001761481",
            Status.OK,
            symbol="○",
            description='{"status": 0} with the IMEI echoed',
        ),
        AdapterCase(
            "pending",
            "356938035643809",
            Status.PENDING,
            symbol="△",
            description='{"status": 1} with a wording field',
        ),
        AdapterCase(
            "restricted",
            "490154203237518",
            Status.RESTRICTED,
            symbol="×",
            description='{"status": 2}, no IMEI field',
        ),
        AdapterCase(
            "unregistered",
            "353879234252633",
            Status.UNREGISTERED,
            symbol="-",
            description='{"status": 3}: the project\'s unverified "no record" convention',
        ),
        AdapterCase(
            "unexpected_status",
            "354178036859789",
            ParseError,
            description='{"status": 7} is no known answer',
        ),
        AdapterCase(
            "status_as_string",
            "352099001761481",
            ParseError,
            description='{"status": "0"}: a string is not the numeric status',
        ),
        AdapterCase(
            "status_missing",
            "356938035643809",
            ParseError,
            description="a JSON object without status",
        ),
        AdapterCase(
            "imei_mismatch",
            "490154203237518",
            ParseError,
            description="the reply names another IMEI",
        ),
        AdapterCase("not_json", "353879234252633", ParseError, description="a cut-off JSON body"),
        AdapterCase(
            "not_found",
            "354178036859789",
            ParseError,
            description="HTTP 404 with a framework error body: never unregistered",
        ),
        AdapterCase(
            "spa_shell",
            "352099001761481",
            ParseError,
            description="HTTP 200 with the single-page app's HTML shell instead of JSON",
        ),
        AdapterCase(
            "bad_request",
            "356938035643809",
            CarrierRejected,
            description="HTTP 400: the site refused the IMEI",
        ),
        AdapterCase("forbidden", "490154203237518", Blocked, description="HTTP 403"),
        AdapterCase(
            "maintenance_html",
            "353879234252633",
            Maintenance,
            description="HTTP 503 with an HTML maintenance page",
        ),
        AdapterCase(
            "maintenance_200",
            "354178036859789",
            Maintenance,
            description="HTTP 200 with an HTML maintenance page",
        ),
        AdapterCase(
            "captcha",
            "352099001761481",
            CaptchaRequired,
            description="an HTML page asking for 画像認証 (a guess)",
        ),
        AdapterCase("server_error", "356938035643809", CarrierUnavailable, description="HTTP 502"),
        AdapterCase(
            "timeout", "490154203237518", CarrierUnavailable, description="no answer in time"
        ),
        AdapterCase(
            "rate_limited",
            "353879234252633",
            RateLimited,
            description="HTTP 429 with Retry-After: 30",
        ),
    )

    async def _check(self, imei: str, visit: Visit) -> Reading:
        """GET the JSON for ``imei`` and read its numeric status."""
        path = API_PATH.format(imei=quote(imei, safe=""))
        headers = {"Accept": "application/json", "Referer": self.entry_url}
        try:
            page = await visit.fetch("GET", path, headers=headers)
        except ParseError as err:
            last = visit.pages[-1] if visit.pages else None
            if err.field == "http status" and last is not None and last.status_code == 400:
                raise self._rejection(last) from err
            raise
        return self.parse_result(page, imei)

    @classmethod
    def _rejection(cls, page: Page) -> CarrierRejected:
        detail = _json_detail(page)
        return CarrierRejected(
            "the site refused the IMEI (HTTP 400)" + (f": {detail}" if detail else "")
        )

    @classmethod
    def parse_result(cls, page: Page, imei: str) -> Reading:
        """The answer in the JSON body; HTTP 400 is ``CarrierRejected``, any other non-200
        a ``ParseError`` (a moved endpoint's 404 must not read as -)."""
        if page.status_code == 400:
            raise cls._rejection(page)
        if page.status_code != 200:
            raise ParseError(f"HTTP {page.status_code} is not an answer", field="http status")
        return super().parse_result(page, imei)

    @classmethod
    def probe_page(cls, page: Page) -> list[str]:
        """The ``/restriction/`` shell still has the app's ``#imei`` input and ``#search``."""
        tree = cls._tree(page)
        return [
            f"the /restriction/ page has no {selector} {kind}"
            for selector, kind in (("#imei", "input"), ("#search", "button"))
            if tree.css_first(selector) is None
        ]

    @classmethod
    def screen_page(cls, page: Page) -> None:
        """An HTML page where JSON belongs: block, captcha or maintenance, if recognisable."""
        if not _is_html(page):  # JSON is never screened: its text is the carrier's data
            return
        tree = cls._tree(page)
        title = _screens.blocked_title(tree)
        if title is not None:
            raise Blocked(f"network.mobile.rakuten.co.jp refused access ({title!r} page)")
        visible = _screens.visible_text(tree)
        marker = _screens.captcha_marker(tree, visible)
        if marker is not None:
            raise CaptchaRequired(f"Rakuten shows a captcha ({marker}); akarom never solves one")
        if _screens.mentions_maintenance(visible):
            raise Maintenance("Rakuten's check is under maintenance (メンテナンス)")
