"""KDDI's 「ネットワーク利用制限携帯電話機照会」 (au, UQ mobile, povo) as the sandbox serves it.

Real site: ``https://my.au.com`` (carrier-sites.md §2.3).

- ``GET /cmn/WCV009001/WCE009001.hc``: ``form[name=nextForm]`` posting to
  ``/cmn/WCV009002/WCE009002.hc``, with the text input ``#imei`` (``name="imei"``),
  a ``.btnPrimary`` button wired to ``execSubmit('nextForm', checkImei, null)``, and
  three hidden fields: ``TOKEN`` (new at every GET) and the constant ``SCREEN_ID`` /
  ``FUNC_ID``.
- ``POST /cmn/WCV009002/WCE009002.hc``: the result as ``li.list_item`` entries, each
  with a ``.list_heading`` and a ``.list_details``: first 「製造番号（IMEI）」 (the IMEI
  echoed), then 「状態」 whose details read ``<symbol><explanatory text>``, and a note:
  the layout of the recorded pages under ``tests/carriers/fixtures/au/``.

Symbols: 〇 (U+3007) for ok and ー (U+30FC) for no record by default, the variants
seen on au (§2.3), with △ and ×; ``carriers.au.symbols`` in a scenario prints others.

Choices where the reference is silent (§10 item 3):

- The hidden fields are the sandbox's invention: a POST without a ``TOKEN`` issued by
  an earlier GET (tokens stay valid until reset), or without the constant fields,
  gets 「不正な画面遷移です」 (HTTP 200), not a result. That is what proves an adapter
  carries every hidden input of the form over.
- Encoding: Shift_JIS (cp932 bytes), declared in the header and in ``<meta>``, like
  au's Forbidden page (§2.6).
- Input: a 15-digit IMEI or a 14-hex-digit MEID (§2.4), after trimming blanks.
  Anything else shows the form again (HTTP 200) with an error paragraph in the
  sandbox's wording. The explanatory texts are the sandbox's too.
- ``blocked`` mode answers au's known Forbidden page (§2.1, §2.6) with HTTP 403.
"""

from __future__ import annotations

import re
import secrets
from collections import OrderedDict
from types import MappingProxyType
from typing import ClassVar

from starlette.requests import Request

from akarom.domain import Carrier, Status
from akarom.sandbox._site import Context, Handler, Page, Site, esc, read_form

__all__ = ["AuSite"]

FORM_PATH = "/cmn/WCV009001/WCE009001.hc"
RESULT_PATH = "/cmn/WCV009002/WCE009002.hc"

_IMEI_OR_MEID = re.compile(r"[0-9]{15}|[0-9A-Fa-f]{14}")
_STATIC_HIDDEN = MappingProxyType({"SCREEN_ID": "WCE009001", "FUNC_ID": "WCV009001"})
_MAX_TOKENS = 1024

# The wording of the recorded pages (tests/carriers/fixtures/au/); au's own is unknown.
_EXPLANATION = MappingProxyType(
    {
        Status.OK: "ご利用いただけます。ネットワーク利用制限の対象外です。",
        Status.PENDING: "ご利用いただけますが、代金債務の不履行等により、"
        "今後ネットワーク利用制限の対象となる可能性があります。",
        Status.RESTRICTED: "利用制限中のため、この携帯電話機はご利用いただけません。",
        Status.UNREGISTERED: "製造番号が確認できません。",
    }
)

# Client-side check of the real page (§2.3: execSubmit, checkImei); no-JS clients
# simply submit the form.
_SCRIPT = """<script type="text/javascript">
function checkImei(form) {
  var v = form.imei.value.replace(/^\\s+|\\s+$/g, "");
  if (/^[0-9]{15}$/.test(v) || /^[0-9A-Fa-f]{14}$/.test(v)) { return true; }
  alert("IMEI/MEIDを正しく入力してください。");
  return false;
}
function execSubmit(name, check, option) {
  var form = document.forms[name];
  if (!check || check(form)) { form.submit(); }
  return false;
}
</script>"""


class AuSite(Site):
    """au's check pages: the WCE009001 form and the WCE009002 result."""

    carrier: ClassVar[Carrier] = Carrier.AU
    entry_path: ClassVar[str] = FORM_PATH
    charset: ClassVar[str] = "Shift_JIS"
    codec: ClassVar[str] = "cp932"
    title: ClassVar[str] = "auお客さまサポート"
    default_symbols = MappingProxyType(
        {
            Status.OK: "〇",
            Status.PENDING: "△",
            Status.RESTRICTED: "×",
            Status.UNREGISTERED: "ー",
        }
    )

    def __init__(self) -> None:
        self._tokens: OrderedDict[str, None] = OrderedDict()

    def routes(self) -> list[tuple[str, tuple[str, ...], Handler]]:
        return [
            (FORM_PATH, ("GET",), self.form),
            (RESULT_PATH, ("POST",), self.result),
        ]

    def reset(self) -> None:
        self._tokens.clear()

    def _page(self, title: str, content: str, *, script: str = "") -> str:
        return (
            '<!DOCTYPE html>\n<html lang="ja">\n<head>\n'
            f'<meta http-equiv="Content-Type" content="text/html; charset={self.charset}">\n'
            f"<title>{esc(title)} | auお客さまサポート</title>\n{script}\n</head>\n<body>\n"
            '<div id="wrapper">\n'
            '<div id="header"><p class="logo">auお客さまサポート</p></div>\n'
            f'<div id="contents">\n{content}</div>\n'
            '<div id="footer"><p class="copyright">&copy; KDDI CORPORATION</p></div>\n'
            "</div>\n</body>\n</html>\n"
        )

    def _issue_token(self) -> str:
        token = secrets.token_hex(16)
        self._tokens[token] = None
        while len(self._tokens) > _MAX_TOKENS:
            self._tokens.popitem(last=False)
        return token

    def _form_page(self, *, error: str | None = None, imei: str = "") -> str:
        hidden = "".join(
            f'<input type="hidden" name="{name}" value="{value}">\n'
            for name, value in {"TOKEN": self._issue_token(), **_STATIC_HIDDEN}.items()
        )
        message = f'<p class="txtError">{esc(error)}</p>\n' if error else ""
        content = (
            f"{message}<h1>ネットワーク利用制限携帯電話機照会</h1>\n"
            "<p>IMEI（製造番号）またはMEIDを入力し、「次へ」を押してください。</p>\n"
            f'<form name="nextForm" method="post" action="{RESULT_PATH}">\n{hidden}'
            '<label for="imei">IMEI/MEID</label>\n'
            f'<input type="text" id="imei" name="imei" value="{esc(imei)}" maxlength="15">\n'
            '<button type="submit" class="btnPrimary" '
            "onclick=\"execSubmit('nextForm', checkImei, null); return false;\">次へ</button>\n"
            "</form>\n"
        )
        return self._page("ネットワーク利用制限携帯電話機照会", content, script=_SCRIPT)

    async def form(self, request: Request, context: Context) -> Page:
        """The form page, with a new TOKEN."""
        return self.html(self._form_page(), outcome="form")

    async def result(self, request: Request, context: Context) -> Page:
        """The result list, the form again for a bad IMEI, or the bad-transition page."""
        fields = await read_form(request, self.codec)
        if not self._hidden_fields_valid(fields):
            content = (
                '<p class="txtError">不正な画面遷移です。'
                "お手数ですが、最初から操作をやり直してください。</p>\n"
                f'<p><a href="{FORM_PATH}">ネットワーク利用制限携帯電話機照会へ戻る</a></p>\n'
            )
            return self.html(self._page("エラー", content), outcome="bad hidden fields")
        imei = fields.get("imei", "").strip()
        if not _IMEI_OR_MEID.fullmatch(imei):
            error = (
                "IMEI/MEIDを入力してください。"
                if not imei
                else "IMEI/MEIDを正しく入力してください。（IMEIは15桁の数字、MEIDは14桁の英数字）"
            )
            return self.html(self._form_page(error=error, imei=imei), outcome="invalid imei")
        imei = imei.upper()
        status = context.status_of(imei)
        content = (
            '<h1 class="hdg_lv1">ネットワーク利用制限携帯電話機照会</h1>\n<ul class="list">\n'
            '<li class="list_item"><div class="list_heading">製造番号（IMEI）</div>'
            f'<div class="list_details">{esc(imei)}</div></li>\n'
            '<li class="list_item"><div class="list_heading">状態</div>'
            f'<div class="list_details">{esc(self.symbol(context, status))}'
            f"{esc(_EXPLANATION[status])}</div></li>\n</ul>\n"
            '<p class="txt_note">照会結果は翌日以降に変わることがあります。</p>\n'
        )
        return self.html(
            self._page("ネットワーク利用制限携帯電話機照会", content),
            outcome=f"result {status}",
        )

    def _hidden_fields_valid(self, fields: dict[str, str]) -> bool:
        token = fields.get("TOKEN", "")
        if token not in self._tokens:
            return False
        return all(fields.get(name) == value for name, value in _STATIC_HIDDEN.items())

    def forbidden_page(self) -> Page:
        """au's own Forbidden page, as saved from my.au.com (§2.1, §2.6)."""
        body = (
            '<!DOCTYPE html>\n<html lang="ja">\n<head>\n'
            '<meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS">\n'
            '<meta name="robots" content="noindex,nofollow,noarchive">\n'
            "<title>Forbidden | auお客さまサポート</title>\n</head>\n<body>\n"
            "<h1>Forbidden</h1>\n<p>要求されたページへのアクセスが禁止されています。</p>\n"
            "</body>\n</html>\n"
        )
        return self.html(body, status_code=403, outcome="blocked")
