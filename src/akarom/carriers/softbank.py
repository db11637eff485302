"""SoftBank (and Y!mobile, LINEMO, ex-EMOBILE): 「ネットワーク利用制限携帯電話機の確認」.

Implements carrier-sites.md §3 (SoftBank), as written on 2026-11-26.

Check page
    ``https://ct99.my.softbank.jp/WBF/icv`` (§3.1: ct99 seen c. 2022–2026; the older
    ``ct11`` host is still linked in 2025, whether the two are interchangeable is
    unknown).

Flow (§3.2, SEEN M-H)
    1. ``GET /WBF/icv``: a page with one form.
    2. ``POST`` to that form's action what a browser would send: **every hidden input
       as served** (the reference saw ``_PageID=WBF001000``, ``_DataStoreID=
       DSWBF100Control``, ``_ControlID=WBF100Control``, ``_ActionID=TE001``), ``imei``,
       and the submit button ``ACT_TE001`` with the label the page gives it (「 確 認 」
       in 2016–2025 scrapers, 「送信」 in SoftBank's own instructions, §3.2 step 3).
       Nothing is hard-coded: the form is the page's (the one whose action contains
       ``WBF/icv``, else the first), and a page without a form with an ``imei`` input
       fails with ``ParseError(field="form")`` rather than a guessed POST, because
       a changed form means the site changed. The action is resolved against the
       page's URL and fetched on the host the adapter was given (the sandbox replaces
       the host; a ``?lbk=…`` query is kept as served). The form is percent-encoded in
       the page's declared charset, as a browser does. Two requests per check; a
       direct POST without the GET worked in 2016 (§3.2), but would need the hidden
       values hard-coded.

What the page returns
    Old table-based HTML; the verdict is the text of ``<font size="8"
    color="#666666">`` (§3.2 step 4), matched by attribute value whatever the
    attribute order, case or quoting, with ``font[size=8]`` as the fallback when the
    colour changes. The symbol must be the whole text of that node. Any text beside it
    in the same table cell is returned as the message (none has been reported; the
    message is usually None).

Quirks
    - **SoftBank prints ▲ (U+25B2), not △** (§3.2 step 5, seen c. 2016 and c. 2022–23
      in two independent scrapers); △ is accepted too. Both mean ``pending``.
    - **"No record" is － (U+FF0D, full-width hyphen-minus)**, not ASCII ``-`` (§3.2).
    - Encoding is undocumented (§3.2 step 7, §10.4): probably Shift_JIS. Pages are
      decoded by their declared charset (header, then ``<meta>``), else as cp932;
      UTF-8 pages work when declared.
    - No captcha has ever been seen for SoftBank (§0). The captcha screen is a GUESS
      shared with the other adapters (``_screens.captcha_marker``): an ``img``,
      ``input``, ``iframe``, ``div`` or ``form`` whose ``src``, ``name``, ``id``,
      ``class`` or ``alt`` mentions "captcha", or the words 「画像認証」 in the visible
      text, → ``CaptchaRequired``, looked for even on the form page.
    - HTTP 403 or a page titled 「Forbidden」 / "Access Denied" → ``Blocked``; a page
      whose visible text mentions 「メンテナンス」 and that holds neither the form nor a
      result → ``Maintenance`` (My SoftBank has scheduled maintenance, §8; wording
      unknown).

Decisions where the reference is silent
    - Always ``POST`` (§3.2), whatever ``method`` the form declares.
    - The IMEI is not looked for on the result page: nobody reports SoftBank echoing
      it, and the table may hold other numbers.
    - An invalid-IMEI answer is unknown; a result page without the ``font`` node is a
      ``ParseError`` (the form shown again says so in the message), never
      ``CarrierRejected``.
    - 15 digits only (no MEID): ``_check`` raises ``ValueError`` for anything else, a
      programming error, before any request.

Fixtures
    Every page under ``tests/carriers/fixtures/softbank/`` is RECONSTRUCTED from
    carrier-sites.md §3 (2026-11-26); no live capture was possible here.

Unverified about the live site (carrier-sites.md §10.4)
    - the encoding, and the exact form and result HTML (table layout, the cell text
      around the symbol, whether the IMEI is echoed);
    - the button label today (確認 or 送信), the meaning of ``lbk``, ct11 versus ct99;
    - whether the form's hidden values change per session (they are read each time);
    - the invalid-IMEI, maintenance and block pages, captcha (never seen), rate limits
      and terms of use (§8).
"""

from __future__ import annotations

from functools import partial
from typing import ClassVar

from selectolax.lexbor import LexborHTMLParser, LexborNode

from akarom.carriers import _screens
from akarom.carriers._base import AdapterCase, CarrierAdapter, Page, Reading, Visit
from akarom.carriers._forms import Form, action_path, find_form
from akarom.carriers._symbols import SYMBOLS, leading_symbol
from akarom.domain import Carrier, Status
from akarom.errors import (
    Blocked,
    CaptchaRequired,
    CarrierUnavailable,
    Maintenance,
    ParseError,
    RateLimited,
)

__all__ = ["SoftbankAdapter"]

_ICV_PATH = "/WBF/icv"
_BUTTON = "ACT_TE001"  # the submit button (§3.2 step 2)
_RESULT_SIZE = "8"
_RESULT_COLOR = "#666666"

_case = partial(AdapterCase.of, imei="356938035643809")


def _font_attr(node: LexborNode, name: str) -> str:
    """An attribute of ``<font>`` as compared: ``SIZE=" 8 "`` is ``size="8"``."""
    return _screens.attr(node, name).strip().lower()


class SoftbankAdapter(CarrierAdapter):
    """SoftBank's check page: GET the form, POST it back, read ``<font size="8">``."""

    CARRIER = Carrier.SOFTBANK
    DISPLAY_NAME = "ネットワーク利用制限携帯電話機の確認"
    BASE_URL = "https://ct99.my.softbank.jp"
    ENTRY_PATH = _ICV_PATH
    DEFAULT_ENCODING = "cp932"  # undeclared pages: probably Shift_JIS (§0, §3.2 step 7)
    MIN_INTERVAL = 2.0
    # Per request (two per check). A legacy servlet page; 20 s is far beyond a normal
    # answer and bounds how long a hung connection holds SoftBank's single slot.
    TIMEOUT = 20.0
    VERSION = "softbank-2026.11.26"
    ACCEPTS_MEID = False

    TESTS: ClassVar[tuple[AdapterCase, ...]] = (
        _case("ok", Status.OK, "○: not restricted", symbol="○"),
        _case("pending", Status.PENDING, "▲ (U+25B2), SoftBank's pending", symbol="▲"),
        _case("pending-white-triangle", Status.PENDING, "△ instead of ▲", symbol="△"),
        _case("restricted", Status.RESTRICTED, "×: 赤ロム", symbol="×"),
        _case("unregistered", Status.UNREGISTERED, "－ (U+FF0D): no record", symbol="－"),
        _case("whitespace", Status.PENDING, "newlines and U+3000 around ▲", symbol="▲"),
        _case("attribute-order", Status.OK, "color before size, unquoted, upper case", symbol="○"),
        _case("font-size-only", Status.RESTRICTED, "colour changed: font[size=8]", symbol="×"),
        _case("utf-8", Status.UNREGISTERED, "both pages declared UTF-8", symbol="－"),
        _case(
            "form-read-from-page",
            Status.PENDING,
            "other hidden values, a 送信 button and ?lbk=14 in the action: all carried over",
            symbol="▲",
        ),
        _case("form-missing", ParseError, "the GET page holds no form"),
        _case("form-again", ParseError, "the POST answers with the form again"),
        _case("layout-changed", ParseError, "no font size=8 on the result page"),
        _case("empty-symbol", ParseError, "the font node is empty"),
        _case("look-alike-symbol", ParseError, "● is not one of SoftBank's symbols"),
        _case("captcha", CaptchaRequired, "a captcha page (a guess: none ever seen)"),
        _case("blocked", Blocked, "HTTP 403 Forbidden on the GET"),
        _case("maintenance-503", Maintenance, "HTTP 503 with a メンテナンス page"),
        _case("maintenance-200", Maintenance, "HTTP 200 with a メンテナンス page"),
        _case("server-error", CarrierUnavailable, "HTTP 500 on the POST"),
        _case("timeout", CarrierUnavailable, "the POST gets no answer in time"),
        _case("rate-limited", RateLimited, "HTTP 429 with Retry-After"),
    )

    async def _check(self, imei: str, visit: Visit) -> Reading:
        """GET the form, POST it back with ``imei`` and its ``ACT_TE001`` button."""
        if not (len(imei) == 15 and imei.isascii() and imei.isdigit()):
            raise ValueError(f"SoftBank takes exactly 15 digits, not {imei!r} (§3.2)")
        form_page = await visit.fetch("GET", _ICV_PATH)
        form = self.read_form(form_page)
        button, label = self._button(form)
        data = {**form.fields, "imei": imei, button: label}
        encoding = form_page.encoding(self.DEFAULT_ENCODING)
        page = await visit.fetch(
            "POST",
            action_path(form.action, form_page.url),
            form=data,
            form_encoding=encoding,
            headers={"Referer": form_page.url},
        )
        return self.parse_result(page)

    @classmethod
    def read_form(cls, page: Page) -> Form:
        """The check form of the GET page (action containing ``WBF/icv``, else the first)."""
        html = page.text(cls.DEFAULT_ENCODING)
        form = find_form(html, action_contains="WBF/icv") or find_form(html)
        if form is None or "imei" not in form.controls:
            raise ParseError(
                "unable to find the check form with an imei input on /WBF/icv", field="form"
            )
        return form

    @staticmethod
    def _button(form: Form) -> tuple[str, str]:
        """``ACT_TE001`` as labelled on the page; else the form's only submit button."""
        if _BUTTON in form.submits:
            return _BUTTON, form.submits[_BUTTON]
        if len(form.submits) == 1:
            return next(iter(form.submits.items()))
        raise ParseError(f"unable to find the submit button {_BUTTON}", field="form")

    @staticmethod
    def _result_nodes(tree: LexborHTMLParser) -> list[LexborNode]:
        sized = [node for node in tree.css("font") if _font_attr(node, "size") == _RESULT_SIZE]
        exact = [node for node in sized if _font_attr(node, "color") == _RESULT_COLOR]
        return exact or sized

    @classmethod
    def parse_result(cls, page: Page) -> Reading:
        """The symbol of ``<font size="8" color="#666666">``, and any text in its cell."""
        tree = cls._tree(page)
        nodes = cls._result_nodes(tree)
        if not nodes:
            again = tree.css_first('input[name="imei"]') is not None
            raise ParseError(
                "SoftBank showed the check form again instead of a result"
                if again
                else 'unable to find the result <font size="8"> on the page',
                field="result font",
            )
        if len(nodes) > 1:
            raise ParseError(
                f'{len(nodes)} result <font size="8"> nodes, expected 1', field="symbol"
            )
        text = nodes[0].text()
        split = leading_symbol(text)
        if split is None or split[1]:
            raise ParseError(
                f"no SoftBank symbol in the result: {text.strip()[:40]!r}", field="symbol"
            )
        symbol = split[0]
        return Reading(status=SYMBOLS[symbol], symbol=symbol, message=cls._wording(nodes[0], text))

    @staticmethod
    def _wording(font: LexborNode, symbol_text: str) -> str | None:
        """Text beside the symbol in the same table cell, if any (relaxed; none reported)."""
        cell = font.parent
        while cell is not None and cell.tag not in ("td", "th"):
            cell = cell.parent
        if cell is None:
            return None
        rest = " ".join(cell.text().replace(symbol_text, " ", 1).split())
        return rest or None

    @classmethod
    def screen_page(cls, page: Page) -> None:
        """Captcha (guessed markers), maintenance and 「Forbidden」 pages."""
        tree = cls._tree(page)
        visible = _screens.visible_text(tree)
        # Before the form check: a captcha would sit in the check form itself.
        seen = _screens.captcha_marker(tree, visible)
        if seen is not None:
            raise CaptchaRequired(
                f"SoftBank shows a captcha ({seen}; never seen before, carrier-sites.md §0): "
                "check by hand"
            )
        if cls._result_nodes(tree) or tree.css_first('input[name="imei"]') is not None:
            return
        if _screens.mentions_maintenance(visible):
            raise Maintenance(f"SoftBank shows a maintenance page (HTTP {page.status_code})")
        title = _screens.blocked_title(tree)
        if title is not None:
            raise Blocked(f"SoftBank refused access: {title[:60]!r}")
