"""KDDI (au, UQ mobile, povo): 「ネットワーク利用制限携帯電話機照会」 on my.au.com.

Implements ``reference/carrier-sites.md`` §2 (au), with the symbols of §7 and the
blocking notes of §2.6 and §8.

Check page
    ``https://my.au.com/cmn/WCV009001/WCE009001.hc`` (GET) serves ``form[name=nextForm]``.
    Its ``action`` ends with ``WCE009002.hc``; the full path
    ``/cmn/WCV009002/WCE009002.hc`` is INFERRED (§2.1), so the adapter follows the
    action the page gives, resolved against the form page's URL but kept on the host
    the adapter was given (the sandbox replaces the host, paths never change).

What is sent
    Every hidden input of the form, as served (which ones exist is unknown, §2.3 and
    §10.3), plus the IMEI in the form's IMEI text input. That input's name is read from
    the page: the input with id ``imei``, else the one named ``imei``/``IMEI``, else
    ``imei`` (the old FtHome page used ``IMEI``, §2.2). No button value is sent: the
    browser page submits through ``execSubmit('nextForm', checkImei, null)`` and a
    Mechanize submit without a button worked (§2.3). The form goes out in the form
    page's own charset. A MEID (14 hex digits) is sent as given (``ACCEPTS_MEID``).

Form reuse (``_reuse.FormKeepingAdapter``)
    The adapter keeps the last form that produced an answer (action, hidden fields,
    IMEI input name, charset) for ``FORM_TTL`` seconds (600) and POSTs it directly at
    the next check: one request per check instead of two. This is an optimisation
    whose safety rests on the fallback: a POST of a kept form that yields no answer
    ``parse_result`` accepts with a matching IMEI echo (the form again, an error
    page such as 「不正な画面遷移です」, an echo of another 製造番号) drops the form, and
    the check GETs a fresh one and POSTs once more. Whether the live form's hidden
    fields (a token?) can be sent twice is UNVERIFIED (§2.3, §10.3); the sandbox
    issues a token per GET that stays valid. A failed reuse pauses reuse for
    ``FORM_TTL``, so single-use tokens would cost one wasted POST per ten minutes.

Drift probe (``probe_page``, for ``akarom doctor --live``)
    GETs the form page only and reports, naming each: no declared charset, no form
    named ``nextForm``, an action not ending in ``WCE009002.hc``, no IMEI input
    (``#imei`` or ``name=imei``/``IMEI``).

What it returns (the template ``RESULT``, recognised whole)
    A list of ``li.list_item`` entries, each a ``.list_heading`` and a
    ``.list_details``, in any order (状態 was the 2nd item in 2025, §2.3): an item
    headed 製造番号（IMEI） (or 製造番号（IMEI/MEID）) holding the whole IMEI asked
    about (``ECHO = Echo.REQUIRED``: a masked, shortened, 16-digit or annotated number
    is refused with ``ParseError(field="imei echo")``), the item headed exactly 「状態」
    whose details are the symbol followed by nothing or by au's sentence for that
    status (``WORDINGS``, kept as ``Reading.message``), and perhaps a 照会日 date item;
    around it au's title, heading, note and footer. A heading that merely contains
    状態 (SIMロック解除状態, 状態の見方), a second status item, a sentence for another
    status or one au is not known to print, a mark combined with the symbol, a notice,
    hidden markup: each is a ``ParseError`` naming what differs, and the answer is
    ``unknown``.

Quirks
    * Symbols: 〇 (U+3007) and ○ for ok, △, ×, and ー (U+30FC), － and ``-`` for no
      record (§2.3, §7). The sentence may follow the symbol directly or after blanks.
    * Encoding: unknown. The Forbidden page was Shift_JIS (§2.1); pages are decoded by
      their declared charset, else as Shift_JIS (cp932), and the form goes back in the
      codec its page was decoded with (``Page.encoding``).
    * Blocking: my.au.com served 「Forbidden | auお客さまサポート」 /
      「要求されたページへのアクセスが禁止されています。」 to a headless client (§2.6);
      that page is ``Blocked`` whatever its HTTP status, found by its sentence or by a
      title saying "Forbidden" (or, a guess shared with the other adapters, "Access
      Denied"). au is the carrier most likely to refuse automated or cloud traffic
      (§2.6, §8).
    * A page without a result list that mentions 「メンテナンス」 in its title or a
      heading, or, when it has no form, anywhere in its visible text (not in a link or
      a script), is ``Maintenance`` (no au maintenance page has been seen, §8).
    * Captcha: no evidence for au. 「画像認証」 in the visible text, or an input, image,
      frame, div or form whose name, id, class, src or alt mentions "captcha", is
      ``CaptchaRequired`` (a guess, shared with the other adapters: ``_screens``).
    * A page with a notice where the result list should be (the old fallback XPath
      ``/html/body/div[1]/div[2]/p``, INFERRED to be an error or notice, §2.3) is a
      ``ParseError`` quoting the notice. It is never ``CarrierRejected``: the site's
      invalid-IMEI wording is unknown, and guessing it could hide a changed page.

Fixtures (``tests/carriers/fixtures/au/``) are RECONSTRUCTED from carrier-sites.md on
2026-11-26; no live capture was possible. Runs of several checks through one adapter
(``tests/carriers/runs/au/``, for form reuse) are composed from those pages, plus the
sandbox's 「不正な画面遷移です」 page. Still unverified about the live site:

* the hidden fields of ``nextForm`` and whether any of them is a per-session token
  (and so whether a kept form can be POSTed again);
* the form's exact ``action`` path and method (POST is assumed from the Mechanize flow);
* the response encoding, and whether the result opens in a new window or after a redirect;
* the exact markup of the result page (the template is the best reconstruction: the
  first live page that differs is refused and counted as drift), inside
  ``.list_details`` too (symbol and wording in one text, or apart), and au's sentence
  for each symbol (``WORDINGS`` are the reconstructed ones);
* whether a MEID is still accepted (§2.4), and what the page shows for an invalid IMEI;
* the maintenance page, any captcha, and what triggers 「Forbidden」 (§2.6, §10.3).
"""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from akarom.carriers import _screens
from akarom.carriers._base import AdapterCase, Page, Reading, Visit, declared_charset
from akarom.carriers._forms import action_path, find_form
from akarom.carriers._reuse import CheckForm, FormKeepingAdapter
from akarom.carriers._template import (
    Echo,
    HtmlTemplate,
    date_slot,
    echo_slot,
    one_of,
    symbol_with_wording_slot,
)
from akarom.domain import Carrier, Status
from akarom.errors import (
    Blocked,
    CaptchaRequired,
    CarrierUnavailable,
    Maintenance,
    ParseError,
    RateLimited,
)

__all__ = ["AuAdapter"]

_FORM_NAME = "nextForm"
_ACTION_FILE = "WCE009002.hc"
_STATUS_HEADING = "状態"
# The Forbidden page as saved in sanuei/jp-iphone-checker:debug_au.html (§2.1, 2025/26).
_FORBIDDEN_TEXT = "要求されたページへのアクセスが禁止されています"


def _items(tree: LexborHTMLParser, words: tuple[str, ...]) -> list[LexborNode]:
    """The ``li.list_item`` entries whose ``.list_heading`` contains one of ``words``."""
    return [
        item
        for item in tree.css("li.list_item")
        if any(word in heading.text() for heading in item.css(".list_heading") for word in words)
    ]


def _is_maintenance(tree: LexborHTMLParser, visible: str) -> bool:
    """「メンテナンス」 in the title or a heading, or anywhere visible on a page without forms.

    Form pages carry notices of scheduled maintenance (「…メンテナンスのため、ご利用いただけない
    場合があります」) and footers link to 「メンテナンス情報」; neither is a maintenance page.
    """
    if any(_screens.mentions_maintenance(node.text()) for node in tree.css("title, h1, h2, h3")):
        return True
    return tree.css_first("form") is None and _screens.mentions_maintenance(visible)


def _form_node(tree: LexborHTMLParser) -> LexborNode | None:
    """``form[name=nextForm]`` (or id), else the form posting to ``WCE009002.hc``."""
    forms = tree.css("form")
    named = [f for f in forms if _FORM_NAME in (_screens.attr(f, "name"), _screens.attr(f, "id"))]
    if named:
        return named[0]
    return next((f for f in forms if _ACTION_FILE in _screens.attr(f, "action")), None)


def _imei_input(form: LexborNode | None) -> str | None:
    """The name of the form's IMEI input, read from the page; None when it has none.

    The current page has ``<input id="imei" name="imei">``; the old FtHome page named
    it ``IMEI`` (§2.2, §2.3).
    """
    if form is None:
        return None
    inputs = [node for node in form.css("input") if _screens.attr(node, "name")]
    for node in inputs:
        if _screens.attr(node, "id").lower() == "imei":
            return _screens.attr(node, "name")
    for node in inputs:
        if _screens.attr(node, "name").lower() == "imei":
            return _screens.attr(node, "name")
    return None


def _imei_field_name(form: LexborNode | None) -> str:
    """The IMEI input's name; ``imei`` (today's name) when the page shows none."""
    return _imei_input(form) or "imei"


#: The wording after the symbol, per status, as reconstructed (fixtures, 2026-11-26).
#: au's real sentences are UNVERIFIED (§2.3): the first live page with another
#: sentence is refused (``unknown``) and shows up as drift in ``akarom doctor``.
WORDINGS: dict[Status, tuple[str, ...]] = {
    Status.OK: ("ご利用いただけます。ネットワーク利用制限の対象外です。",),
    Status.PENDING: (
        "ご利用いただけますが、代金債務の不履行等により、"
        "今後ネットワーク利用制限の対象となる可能性があります。",
    ),
    Status.RESTRICTED: ("利用制限中のため、この携帯電話機はご利用いただけません。",),
    Status.UNREGISTERED: ("製造番号が確認できません。",),
}

#: The result list of §2.3: an item 「製造番号」 echoing the IMEI (the first item in
#: 2025, INFERRED), the item 「状態」 whose details start with the symbol, and perhaps
#: a date item, in any order; au's header, title, note and footer around it.
RESULT = HtmlTemplate(
    "au's result list (carrier-sites.md §2.3)",
    """<html><head><title>ネットワーク利用制限携帯電話機照会 | auお客さまサポート</title></head>
<body>
<div id="wrapper">
<div id="header" data-t="optional"><p class="logo">auお客さまサポート</p></div>
<div id="contents">
<h1 class="hdg_lv1">ネットワーク利用制限携帯電話機照会</h1>
<ul class="list" data-t="any-order">
<li class="list_item"><div class="list_heading">{echo_heading}</div>\
<div class="list_details">{echo}</div></li>
<li class="list_item"><div class="list_heading">状態</div>\
<div class="list_details">{status}</div></li>
<li class="list_item" data-t="optional"><div class="list_heading">照会日</div>\
<div class="list_details">{date}</div></li>
</ul>
<p class="txt_note" data-t="optional">照会結果は翌日以降に変わることがあります。</p>
</div>
<div id="footer"><p class="copyright">&copy; KDDI CORPORATION</p></div>
</div>
</body></html>""",
    slots={
        "echo_heading": one_of("製造番号（IMEI）", "製造番号（IMEI/MEID）"),
        "echo": echo_slot(),
        "status": symbol_with_wording_slot(WORDINGS),
        "date": date_slot(),
    },
)


class AuAdapter(FormKeepingAdapter):
    """KDDI's check page (au, UQ mobile, povo): POST its form (kept or fresh), read 「状態」."""

    CARRIER: ClassVar[Carrier] = Carrier.AU
    DISPLAY_NAME: ClassVar[str] = "ネットワーク利用制限携帯電話機照会"
    BASE_URL: ClassVar[str] = "https://my.au.com"
    ENTRY_PATH: ClassVar[str] = "/cmn/WCV009001/WCE009001.hc"
    # Used only when a page declares no charset. The one page seen with a declared
    # encoding, the Forbidden page, was Shift_JIS (§2.1; 2026-11-26).
    DEFAULT_ENCODING: ClassVar[str] = "cp932"
    MIN_INTERVAL: ClassVar[float] = 2.0
    # Per response; a check is one or two requests (the form unless kept, then the
    # result). Browser scripts
    # waited up to 60 s for the whole page flow including browser start (§2.3); a
    # single HTML response taking more than 20 s is treated as the site being down.
    TIMEOUT: ClassVar[float] = 20.0
    VERSION: ClassVar[str] = "au-2026.11.26"
    # The page historically took "IMEI/MEID" (§2.4); whether today's form does is
    # unverified (2026-11-26). A MEID is sent as given, 14 hex digits.
    ACCEPTS_MEID: ClassVar[bool] = True
    TEMPLATES = (RESULT,)
    ECHO = Echo.REQUIRED  # the 製造番号 item (§2.3: 状態 is the 2nd item, the 1st the IMEI)

    TESTS: ClassVar[tuple[AdapterCase, ...]] = (
        AdapterCase(
            "ok",
            "352099001761481",
            Status.OK,
            symbol="〇",
            description="〇 (U+3007) directly followed by the wording; hidden fields carried over",
        ),
        AdapterCase(
            "ok_white_circle",
            "356938035643809",
            Status.OK,
            symbol="○",
            description="○ (U+25CB) in its own span; absolute form action on my.au.com",
        ),
        AdapterCase(
            "pending",
            "490154203237518",
            Status.PENDING,
            symbol="△",
            description="△ with an ideographic space before the wording; relative action",
        ),
        AdapterCase(
            "restricted",
            "353879234252633",
            Status.RESTRICTED,
            symbol="×",
            description="× (U+00D7); page in UTF-8, declared in the header only",
        ),
        AdapterCase(
            "unregistered",
            "354178036859789",
            Status.UNREGISTERED,
            symbol="ー",
            description="ー (U+30FC, katakana prolonged sound mark) as scrapers saw in 2025",
        ),
        AdapterCase(
            "unregistered_fullwidth_minus",
            "352099001761481",
            Status.UNREGISTERED,
            symbol="－",
            description="－ (U+FF0D), as the old FtHome page printed it",
        ),
        AdapterCase(
            "unregistered_hyphen",
            "356938035643809",
            Status.UNREGISTERED,
            symbol="-",
            description="ASCII hyphen; charset declared only in <meta>",
        ),
        AdapterCase(
            "extra_whitespace",
            "490154203237518",
            Status.PENDING,
            symbol="△",
            description="blank lines, tabs and ideographic spaces around heading and symbol",
        ),
        AdapterCase(
            "attribute_order",
            "353879234252633",
            Status.OK,
            symbol="〇",
            description="attributes reordered, extra classes, upper-case tags",
        ),
        AdapterCase(
            "status_first",
            "354178036859789",
            Status.RESTRICTED,
            symbol="×",
            description="状態 is the first item, before 製造番号 and a date item",
        ),
        AdapterCase(
            "legacy_field_name",
            "352099001761481",
            Status.OK,
            symbol="○",
            description="the form's text input is named IMEI (the old page's name)",
        ),
        AdapterCase(
            "meid_ok",
            "A0000000002329",
            Status.OK,
            symbol="〇",
            description="a 14-hex-digit MEID sent as given and echoed back",
        ),
        AdapterCase(
            "forbidden_403",
            "356938035643809",
            Blocked,
            description="the Shift_JIS 「Forbidden | auお客さまサポート」 page with HTTP 403",
        ),
        AdapterCase(
            "forbidden_200",
            "490154203237518",
            Blocked,
            description="the Forbidden page served with HTTP 200 in answer to the POST",
        ),
        AdapterCase(
            "maintenance_503",
            "353879234252633",
            Maintenance,
            description="a maintenance page with HTTP 503 instead of the form",
        ),
        AdapterCase(
            "maintenance_200",
            "354178036859789",
            Maintenance,
            description="a maintenance page with HTTP 200 instead of the form",
        ),
        AdapterCase(
            "server_error",
            "352099001761481",
            CarrierUnavailable,
            description="HTTP 500 in answer to the POST",
        ),
        AdapterCase(
            "timeout",
            "356938035643809",
            CarrierUnavailable,
            description="the POST times out",
        ),
        AdapterCase(
            "rate_limited",
            "490154203237518",
            RateLimited,
            description="HTTP 429 with Retry-After: 120 on the form page",
        ),
        AdapterCase(
            "captcha",
            "353879234252633",
            CaptchaRequired,
            description="a form page with 画像認証 (no evidence au has one; a guess)",
        ),
        AdapterCase(
            "form_missing",
            "354178036859789",
            ParseError,
            description="the entry page has no nextForm",
        ),
        AdapterCase(
            "layout_changed",
            "352099001761481",
            ParseError,
            description="the result is a table; no li.list_item",
        ),
        AdapterCase(
            "notice_instead_of_result",
            "356938035643809",
            ParseError,
            description="a notice paragraph where the result list should be",
        ),
        AdapterCase(
            "empty_details",
            "490154203237518",
            ParseError,
            description="the 状態 item has empty details",
        ),
        AdapterCase(
            "look_alike_symbol",
            "353879234252633",
            ParseError,
            description="◎ is not one of the symbols",
        ),
        AdapterCase(
            "imei_echo_mismatch",
            "354178036859789",
            ParseError,
            description="the result echoes a different 製造番号",
        ),
    )

    async def _check(self, imei: str, visit: Visit) -> Reading:
        """POST the kept form (else GET a fresh one) with the IMEI; read the answer and echo."""
        return await self._check_with_form(imei, visit)

    @classmethod
    def read_check_form(cls, page: Page, *, read_at: float = 0.0) -> CheckForm:
        """``nextForm`` as sent: its action, every field as served, the IMEI input's name.

        Raises ``ParseError`` when the page has no usable ``nextForm``.
        """
        html = page.text(cls.DEFAULT_ENCODING)
        form = find_form(html, name=_FORM_NAME) or find_form(html, action_contains=_ACTION_FILE)
        if form is None:
            raise ParseError("the entry page has no nextForm", field="form")
        action = form.action.strip()
        if not action or action.lower().startswith("javascript:") or action.startswith("#"):
            raise ParseError(f"nextForm has no usable action: {action!r}", field="form action")
        return CheckForm(
            method="POST" if form.method == "POST" else "GET",
            path=action_path(action, page.url),
            fields=tuple(form.fields.items()),
            imei_field=_imei_field_name(_form_node(LexborHTMLParser(html))),
            encoding=page.encoding(cls.DEFAULT_ENCODING),
            referer=page.url,
            read_at=read_at,
        )

    @classmethod
    def form_submission(cls, page: Page, imei: str) -> tuple[str, str, dict[str, str], str]:
        """What to send for ``imei`` from the form page: method, path, fields, encoding."""
        form = cls.read_check_form(page)
        return form.method, form.path, form.submission(imei), form.encoding

    @classmethod
    def probe_page(cls, page: Page) -> list[str]:
        """What ``_check`` relies on, looked for on the form page (see the module docstring)."""
        problems = []
        if declared_charset(page.content, page.headers) is None:
            problems.append("the form page declares no charset (Shift_JIS would be guessed)")
        tree = cls._tree(page)
        form = _form_node(tree)
        if form is None:
            return [*problems, f"no form named {_FORM_NAME} or posting to {_ACTION_FILE}"]
        if _FORM_NAME not in (_screens.attr(form, "name"), _screens.attr(form, "id")):
            problems.append(f"no form named {_FORM_NAME} (one posts to {_ACTION_FILE})")
        action = _screens.attr(form, "action").strip()
        if not urlsplit(action).path.endswith(_ACTION_FILE):
            problems.append(f"the form's action {action!r} does not end with {_ACTION_FILE}")
        if _imei_input(form) is None:
            problems.append("the form has no IMEI input (#imei, name=imei or IMEI)")
        return problems

    @classmethod
    def screen_page(cls, page: Page) -> None:
        """Forbidden → ``Blocked``; captcha → ``CaptchaRequired``; maintenance → ``Maintenance``."""
        text = page.text(cls.DEFAULT_ENCODING)
        tree = LexborHTMLParser(text)
        # The Forbidden page seen (§2.6), by its sentence anywhere or by its title.
        seen = _FORBIDDEN_TEXT if _FORBIDDEN_TEXT in text else _screens.blocked_title(tree)
        if seen is not None:
            raise Blocked(
                f"my.au.com answered {seen!r}: automated access refused; "
                "stop polling au, check by hand"
            )
        if _items(tree, (_STATUS_HEADING,)):
            return
        visible = _screens.visible_text(tree)
        marker = _screens.captcha_marker(tree, visible)
        if marker is not None:
            raise CaptchaRequired(f"my.au.com shows a captcha ({marker}); akarom never solves one")
        if _form_node(tree) is not None:
            return
        if _is_maintenance(tree, visible):
            raise Maintenance("my.au.com shows a maintenance page (メンテナンス)")
