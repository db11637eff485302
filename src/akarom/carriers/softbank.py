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
       the page's declared charset, as a browser does.

Form reuse (``_reuse.FormKeepingAdapter``)
    The hidden fields are static framework fields, and a 2016 scraper POSTed them
    directly without a GET (§3.2). So the adapter keeps the last form that produced
    an answer (action, fields, button, charset) for ``FORM_TTL`` seconds (600) and
    POSTs it directly at the next check: one request per check instead of two,
    without hard-coding any value. This is an optimisation whose safety rests on the
    fallback: a POST of a kept form that yields no answer ``parse_result`` accepts
    (the form again, an error page such as the sandbox's 「不正な操作が行われました」)
    drops the form, and the check GETs a fresh one and POSTs once more. Whether
    today's hidden values are still the same for every visitor is UNVERIFIED
    (§10.4). A failed reuse pauses reuse for ``FORM_TTL``.

Drift probe (``probe_page``, for ``akarom doctor --live``)
    GETs ``/WBF/icv`` only and reports, naming each: no form posting to ``WBF/icv``,
    a missing hidden ``_PageID``, ``_DataStoreID``, ``_ControlID`` or ``_ActionID``, no
    ``imei`` input, no ``ACT_TE001`` submit button.

What the page returns (the template ``RESULT``, recognised whole)
    Old table-based HTML: SoftBank's logo, a heading, the verdict as the whole text
    of ``<font size="8" color="#666666">`` (§3.2 step 4; attribute order, case and
    quoting free, the colour any colour a person can read on the white page), a link
    back to the form and the copyright. No wording and no IMEI have been reported on
    it, so ``Reading.message`` is None and ``ECHO = Echo.ABSENT``: a page that shows
    any device number, a sentence beside the symbol, a second size-8 font, a notice,
    a script or hidden markup is a ``ParseError`` naming what differs.

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
    - No IMEI echo is required or accepted: nobody reports SoftBank echoing it, and
      inventing the requirement would refuse every real answer.
    - An invalid-IMEI answer is unknown; a page other than the result template is a
      ``ParseError`` (the form shown again says so in the message), never
      ``CarrierRejected``.
    - 15 digits only (no MEID): ``_check`` raises ``ValueError`` for anything else, a
      programming error, before any request.

Fixtures
    Every page under ``tests/carriers/fixtures/softbank/`` is RECONSTRUCTED from
    carrier-sites.md §3 (2026-11-26); no live capture was possible here. Runs of
    several checks through one adapter (``tests/carriers/runs/softbank/``, for form
    reuse) are composed from those pages, plus the sandbox's 「不正な操作」 page.

Unverified about the live site (carrier-sites.md §10.4)
    - the encoding, and the exact form and result HTML (table layout, the cell text
      around the symbol, whether the IMEI is echoed): the template is the best
      reconstruction, and the first live page that differs is refused and counted as
      drift;
    - the button label today (確認 or 送信), the meaning of ``lbk``, ct11 versus ct99;
    - whether the form's hidden values change per session (they are read from the
      page, and a kept form is dropped as soon as it stops yielding answers);
    - the invalid-IMEI, maintenance and block pages, captcha (never seen), rate limits
      and terms of use (§8).
"""

from __future__ import annotations

from functools import partial
from typing import ClassVar

from selectolax.lexbor import LexborHTMLParser, LexborNode

from akarom.carriers import _screens
from akarom.carriers._base import AdapterCase, Page, Reading, Visit
from akarom.carriers._forms import Form, action_path, find_form
from akarom.carriers._reuse import CheckForm, FormKeepingAdapter
from akarom.carriers._template import Echo, HtmlTemplate, symbol_slot, visible_colour_slot
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
# The framework's hidden fields (§3.2 step 2); sent as served, and looked for by the probe.
_HIDDEN = ("_PageID", "_DataStoreID", "_ControlID", "_ActionID")
_RESULT_SIZE = "8"

#: The result page of §3.2 step 4: old table-based HTML whose verdict is the whole
#: text of ``<font size="8" color="#666666">``. The colour may change to any colour
#: a person can read on the white page (it is SoftBank's styling, not the answer).
#: No IMEI echo: nobody reports SoftBank printing one, so a page that shows any
#: device number is refused as text the template does not account for.
RESULT = HtmlTemplate(
    "SoftBank's result page (carrier-sites.md §3.2)",
    """<html><head><title>ネットワーク利用制限携帯電話機の確認</title></head>
<body bgcolor="#FFFFFF">
<div align="center">
<table width="600" border="0" cellspacing="0" cellpadding="0">
<tr><td><img src="/WBF/img/logo_softbank.gif" alt="SoftBank" width="120" height="30"></td></tr>
</table>
<table width="600" border="0" cellspacing="0" cellpadding="4">
<tr><td><font size="3"><b>ネットワーク利用制限携帯電話機の確認結果</b></font></td></tr>
<tr><td align="center"><font size="8" color="{colour}">{status}</font></td></tr>
<tr><td><font size="2"><a href="/WBF/icv">別の製造番号を確認する</a></font></td></tr>
</table>
<table width="600" border="0" cellspacing="0" cellpadding="0">
<tr><td align="right"><font size="2">Copyright SoftBank Corp. All rights reserved.</font></td></tr>
</table>
</div>
</body></html>""",
    slots={"status": symbol_slot(), "colour": visible_colour_slot(on="#ffffff")},
)

_case = partial(AdapterCase.of, imei="356938035643809")


def _font_attr(node: LexborNode, name: str) -> str:
    """An attribute of ``<font>`` as compared: ``SIZE=" 8 "`` is ``size="8"``."""
    return _screens.attr(node, name).strip().lower()


class SoftbankAdapter(FormKeepingAdapter):
    """SoftBank's check page: POST its form (kept or fresh), read ``<font size="8">``."""

    CARRIER = Carrier.SOFTBANK
    DISPLAY_NAME = "ネットワーク利用制限携帯電話機の確認"
    BASE_URL = "https://ct99.my.softbank.jp"
    ENTRY_PATH = _ICV_PATH
    DEFAULT_ENCODING = "cp932"  # undeclared pages: probably Shift_JIS (§0, §3.2 step 7)
    MIN_INTERVAL = 2.0
    # Per request (one or two per check). A legacy servlet page; 20 s is far beyond a normal
    # answer and bounds how long a hung connection holds SoftBank's single slot.
    TIMEOUT = 20.0
    VERSION = "softbank-2026.11.26"
    ACCEPTS_MEID = False
    TEMPLATES = (RESULT,)
    FORM_AGAIN = ('input[name="imei"]', "SoftBank showed the check form again instead of a result")
    ECHO = Echo.ABSENT  # nobody reports SoftBank printing the IMEI (§3.2)

    TESTS: ClassVar[tuple[AdapterCase, ...]] = (
        _case("ok", Status.OK, "○: not restricted", symbol="○"),
        _case("pending", Status.PENDING, "▲ (U+25B2), SoftBank's pending", symbol="▲"),
        _case("pending-white-triangle", Status.PENDING, "△ instead of ▲", symbol="△"),
        _case("restricted", Status.RESTRICTED, "×: 赤ロム", symbol="×"),
        _case("unregistered", Status.UNREGISTERED, "－ (U+FF0D): no record", symbol="－"),
        _case("whitespace", Status.PENDING, "newlines and U+3000 around ▲", symbol="▲"),
        _case("attribute-order", Status.OK, "color before size, unquoted, upper case", symbol="○"),
        _case("font-size-only", Status.RESTRICTED, "another readable colour (#cc0000)", symbol="×"),
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
        """POST the kept form (else GET a fresh one) with ``imei`` and its ``ACT_TE001``."""
        if not (len(imei) == 15 and imei.isascii() and imei.isdigit()):
            raise ValueError(f"SoftBank takes exactly 15 digits, not {imei!r} (§3.2)")
        return await self._check_with_form(imei, visit)

    @classmethod
    def read_check_form(cls, page: Page, *, read_at: float = 0.0) -> CheckForm:
        """The form of the GET page as sent: every field as served, ``imei``, the button.

        Always POSTed (§3.2), whatever ``method`` the form declares.
        """
        form = cls.read_form(page)
        return CheckForm(
            method="POST",
            path=action_path(form.action, page.url),
            fields=tuple(form.fields.items()),
            imei_field="imei",
            encoding=page.encoding(cls.DEFAULT_ENCODING),
            referer=page.url,
            button=cls._button(form),
            read_at=read_at,
        )

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

    @classmethod
    def probe_page(cls, page: Page) -> list[str]:
        """What ``_check`` relies on, looked for on ``/WBF/icv`` (see the module docstring)."""
        form = find_form(page.text(cls.DEFAULT_ENCODING), action_contains="WBF/icv")
        if form is None:
            return ["no form posting to WBF/icv"]
        problems = [
            f"the WBF/icv form has no hidden {name}" for name in _HIDDEN if name not in form.fields
        ]
        if "imei" not in form.controls:
            problems.append("the WBF/icv form has no imei input")
        if _BUTTON not in form.submits:
            problems.append(f"the WBF/icv form has no {_BUTTON} submit button")
        return problems

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
        return [node for node in tree.css("font") if _font_attr(node, "size") == _RESULT_SIZE]

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
