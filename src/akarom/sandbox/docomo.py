"""docomo's 「ネットワーク利用制限携帯電話機確認サイト」 as the sandbox serves it.

Real site: ``http://nw-restriction.nttdocomo.co.jp`` (carrier-sites.md §1).

- ``GET /top.php``: the 2025 landing page (§1.2): XHTML 1.0 Transitional, no form,
  a link to ``search.php``; it starts a PHP session (``PHPSESSID`` cookie).
- ``GET /search.php``: the form with the ``productno`` field.
- ``POST /search.php`` with ``productno=<15 digits>``: the result page (§1.4): three
  ``div.result-panel`` blocks in the order IMEI, symbol, search date, labelled
  「製造番号」「ネットワーク利用制限のステータス」「製造番号の検索日」 by the ``h5``
  before each, then the wording of §1.5 in a panel of its own, the 翌々日中 note and
  the FAQ link of top.php (§1.2), and a link back to the form: the layout of the
  recorded pages under ``tests/carriers/fixtures/docomo/``. No cookie, token or
  Referer is needed: scrapers POST directly.
- ``GET /gifcat/call.php``: the legacy captcha image (§1.3).

Every page is Shift_JIS (written as cp932), declared in the header and in ``<meta>``.
Symbols: ○ △ × and the ASCII ``-`` for no record (§1.4).

Choices where the reference is silent (§1.7, §10): the form accepts exactly 15 ASCII
digits after trimming surrounding blanks; anything else shows the form again (HTTP 200)
with an error paragraph in the sandbox's own wording, never a result panel. The
check digit is not verified.

Captcha mode replays the legacy flow (§1.3): ``search.php`` shows the form with
``<img src="gifcat/call.php">`` and an ``attestationkey`` field, and a POST is answered
only when ``attestationkey`` matches the code of the last image fetched in the same
``PHPSESSID`` session (each code is good for one POST). The image is a blank GIF; its
code travels in the sandbox-only response header ``X-Sandbox-Captcha``, so that tests
can solve it.
"""

from __future__ import annotations

import re
import secrets
from collections import OrderedDict
from types import MappingProxyType
from typing import ClassVar

from starlette.requests import Request

from akarom.domain import Carrier, Status
from akarom.sandbox._site import CAPTCHA_GIF, Context, Handler, Mode, Page, Site, esc, read_form

__all__ = ["DocomoSite"]

_IMEI = re.compile(r"[0-9]{15}")
_SESSION_COOKIE = "PHPSESSID"
_MAX_SESSIONS = 1024

# The wording of the Python wording-map checker and bumbullbee 2024 (§1.5).
_WORDING = MappingProxyType(
    {
        Status.OK: "ネットワーク利用制限の対象外です。",
        Status.PENDING: "利用できますが、代金債務の不履行等により利用制限となる可能性があります。",
        Status.RESTRICTED: "利用制限中です。",
        Status.UNREGISTERED: "IMEI（製造番号）が確認できません。",
    }
)

_XHTML_HEAD = (
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
    '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
    '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="ja" lang="ja">\n<head>\n'
    '<meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS" />\n'
    '<meta http-equiv="Content-Style-Type" content="text/css" />\n'
    "<title>ネットワーク利用制限携帯電話機確認サイト</title>\n"
    '<link rel="stylesheet" type="text/css" href="main.css?dt=2025" />\n'
    "</head>\n<body>\n"
)
_HEADER = '<div id="header"><a class="logo" href="https://www.docomo.ne.jp/">NTT docomo</a></div>\n'
_FOOTER = (
    '<div id="footer"><ul>'
    '<li><a href="https://www.docomo.ne.jp/utility/privacy/">プライバシーポリシー</a></li>'
    '<li><a href="about.html">サイトご利用にあたって</a></li>'
    '</ul><p class="copyright">&copy; NTT DOCOMO</p></div>\n'
)


class DocomoSite(Site):
    """docomo's check site: top.php, search.php (GET form, POST result), gifcat/call.php."""

    carrier: ClassVar[Carrier] = Carrier.DOCOMO
    entry_path: ClassVar[str] = "/top.php"
    charset: ClassVar[str] = "Shift_JIS"
    codec: ClassVar[str] = "cp932"
    title: ClassVar[str] = "ネットワーク利用制限携帯電話機確認サイト"
    default_symbols = MappingProxyType(
        {
            Status.OK: "○",
            Status.PENDING: "△",
            Status.RESTRICTED: "×",
            Status.UNREGISTERED: "-",
        }
    )
    handles_captcha: ClassVar[bool] = True

    def __init__(self) -> None:
        self._captcha_codes: OrderedDict[str, str] = OrderedDict()

    def routes(self) -> list[tuple[str, tuple[str, ...], Handler]]:
        return [
            ("/top.php", ("GET",), self.top),
            ("/search.php", ("GET", "POST"), self.search),
            ("/gifcat/call.php", ("GET",), self.captcha_image),
        ]

    def reset(self) -> None:
        self._captcha_codes.clear()

    def _xhtml(self, content: str) -> str:
        page = f'<div id="mainspace">\n{_HEADER}{content}{_FOOTER}</div>\n'
        return f"{_XHTML_HEAD}{page}</body>\n</html>\n"

    def _with_session(self, request: Request, page: Page, *, outcome: str) -> Page:
        """Start a PHP session when the client has none, as the real site's PHP does."""
        headers = dict(page.headers)
        headers["Cache-Control"] = "no-store, no-cache, must-revalidate"
        if _SESSION_COOKIE not in request.cookies:
            headers["Set-Cookie"] = f"{_SESSION_COOKIE}={secrets.token_hex(13)}; path=/"
        return Page(
            body=page.body,
            content_type=page.content_type,
            status_code=page.status_code,
            headers=MappingProxyType(headers),
            outcome=outcome,
        )

    async def top(self, request: Request, context: Context) -> Page:
        """The landing page of §1.2: an explanation and a link to search.php."""
        content = (
            '<div id="contents"><div class="inner">\n'
            '<div class="lead outst"><p>「ネットワーク利用制限」とは、'
            "下記の対象となる携帯電話機について、"
            "ドコモのネットワークでのご利用を制限させていただくものです。"
            "お手持ちの携帯電話機が制限の対象となっているかを確認するには、"
            "IMEI（製造番号）を入力してください。</p></div>\n"
            '<div class="panel outst">\n'
            "<h5>「ネットワーク利用制限」の対象となる携帯電話機</h5>\n<ul>\n"
            "<li>ドコモショップなどでの盗難・詐欺などにより、不正に入手された携帯電話機</li>\n"
            "<li>不正な契約により入手された携帯電話機</li>\n"
            "<li>ケータイ補償／smartあんしん補償により交換された携帯電話機</li>\n"
            "<li>代金債務の不履行または不履行の可能性がある携帯電話機</li>\n"
            "</ul>\n</div>\n"
            '<div class="btn-area"><a href="search.php" class="h2-button" '
            'title="ネットワーク利用制限の確認へ">ネットワーク利用制限の確認</a></div>\n'
            '<div class="flex-box"><ul>\n'
            "<li>ネットワーク利用制限の情報は、翌々日中に反映されます。</li>\n"
            "<li>修理などで製造番号が変わった場合、新しい製造番号の反映には時間がかかることがあります。</li>\n"
            '<li><a href="faq.html">よくあるご質問</a></li>\n'
            "</ul></div>\n"
            "</div></div>\n"
        )
        return self._with_session(request, self.html(self._xhtml(content)), outcome="top page")

    def _form(self, *, captcha: bool, error: str | None = None, productno: str = "") -> str:
        # Layout after the XPath of §1.3: body/div/form/div/div[2]/dl[2]/dd/div/img.
        message = f'<p class="error-message">{esc(error)}</p>\n' if error else ""
        captcha_dl = (
            "<dl><dt>画像認証</dt><dd><div>"
            '<img src="gifcat/call.php" alt="画像認証" width="150" height="30" /></div>'
            "<p>画像に表示されている数字を入力してください。</p>"
            '<input type="text" name="attestationkey" value="" maxlength="6" /></dd></dl>\n'
            if captcha
            else ""
        )
        return self._xhtml(
            '<form method="post" action="search.php">\n<div class="form-area">\n'
            '<div class="lead"><h2>ネットワーク利用制限の確認</h2>'
            "<p>IMEI（製造番号）15桁を半角数字で入力してください。</p></div>\n"
            f'<div class="form-box">\n{message}'
            "<dl><dt>IMEI（製造番号）</dt><dd>"
            f'<input type="text" name="productno" value="{esc(productno)}" maxlength="15" />'
            f"</dd></dl>\n{captcha_dl}"
            '<input type="submit" class="btn1" value="確認する" />\n'
            "</div>\n</div>\n</form>\n"
        )

    def _result(self, context: Context, imei: str) -> tuple[str, Status]:
        status = context.status_of(imei)
        searched = context.today
        content = (
            '<div id="contents">\n'
            '<div class="lead outst"><h2>ネットワーク利用制限の確認結果</h2></div>\n'
            '<div class="panel outst">\n'
            "<h5>製造番号</h5>\n"
            f'<div class="result-panel">{esc(imei)}</div>\n'
            "<h5>ネットワーク利用制限のステータス</h5>\n"
            f'<div class="result-panel">{esc(self.symbol(context, status))}</div>\n'
            "<h5>製造番号の検索日</h5>\n"
            f'<div class="result-panel">{searched.year}年{searched.month}月{searched.day}日</div>\n'
            "</div>\n"
            f'<div class="panel outst"><p>{esc(_WORDING[status])}</p></div>\n'
            '<div class="flex-box">\n'
            "<p>※ネットワーク利用制限の情報は、お手続きの翌々日中に反映されます。</p>\n"
            '<p><a href="faq.html">よくあるご質問</a></p>\n'
            "</div>\n"
            '<p><a href="search.php" class="h2-button">別の製造番号を確認する</a></p>\n'
            "</div>\n"
        )
        return self._xhtml(content), status

    async def search(self, request: Request, context: Context) -> Page:
        """search.php: the form (GET); the result, the form with an error, or a captcha (POST)."""
        captcha = context.mode is Mode.CAPTCHA
        if request.method == "GET":
            page = self.html(self._form(captcha=captcha))
            return self._with_session(request, page, outcome="captcha" if captcha else "form")
        fields = await read_form(request, self.codec)
        productno = fields.get("productno", "").strip()
        if captcha and not self._captcha_solved(request, fields.get("attestationkey", "")):
            error = "画像認証の数字が正しくありません。" if fields.get("attestationkey") else None
            page = self.html(self._form(captcha=True, error=error, productno=productno))
            return self._with_session(request, page, outcome="captcha")
        if not productno:
            error = "IMEI（製造番号）を入力してください。"
        elif not _IMEI.fullmatch(productno):
            error = "IMEI（製造番号）は15桁の半角数字で入力してください。"
        else:
            body, status = self._result(context, productno)
            return self._with_session(request, self.html(body), outcome=f"result {status}")
        page = self.html(self._form(captcha=captcha, error=error, productno=productno))
        return self._with_session(request, page, outcome="invalid imei")

    def _captcha_solved(self, request: Request, attestationkey: str) -> bool:
        session = request.cookies.get(_SESSION_COOKIE)
        if session is None or not attestationkey:
            return False
        code = self._captcha_codes.pop(session, None)
        return code is not None and secrets.compare_digest(code, attestationkey.strip())

    async def captcha_image(self, request: Request, context: Context) -> Page:
        """gifcat/call.php: a new code for the session, as a GIF (code in X-Sandbox-Captcha)."""
        session = request.cookies.get(_SESSION_COOKIE) or secrets.token_hex(13)
        code = "".join(secrets.choice("0123456789") for _ in range(5))
        self._captcha_codes[session] = code
        self._captcha_codes.move_to_end(session)
        while len(self._captcha_codes) > _MAX_SESSIONS:
            self._captcha_codes.popitem(last=False)
        headers = {"Cache-Control": "no-store", "X-Sandbox-Captcha": code}
        if _SESSION_COOKIE not in request.cookies:
            headers["Set-Cookie"] = f"{_SESSION_COOKIE}={session}; path=/"
        return Page(
            body=CAPTCHA_GIF,
            content_type="image/gif",
            headers=MappingProxyType(headers),
            outcome="captcha image",
        )
