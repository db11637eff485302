"""SoftBank's 「ネットワーク利用制限携帯電話機の確認」 as the sandbox serves it.

It answers for SoftBank, Y!mobile and LINEMO.

Real site: ``https://ct99.my.softbank.jp`` (also ``ct11.``; carrier-sites.md §3).

- ``GET /WBF/icv`` (a ``lbk`` query parameter is accepted and ignored): one form,
  ``action="/WBF/icv"``, ``method="post"``, with the hidden fields
  ``_PageID=WBF001000``, ``_DataStoreID=DSWBF100Control``, ``_ControlID=WBF100Control``,
  ``_ActionID=TE001``, the text field ``imei`` and the submit button
  ``ACT_TE001`` labelled 「 確 認 」 (§3.2).
- ``POST /WBF/icv``: an old table-based page whose verdict is the text of
  ``<font size="8" color="#666666">`` at ``body/div[1]/table[2]/tr[2]/td/font``,
  between the logo and the copyright, the layout of the recorded pages under
  ``tests/carriers/fixtures/softbank/``. No IMEI and no wording are printed (none
  has been reported, §3.2).

Symbols: ○, **▲** (U+25B2, not △), × and **－** (U+FF0D) for no record (§3.2 item 5).

Choices where the reference is silent:

- Encoding: Shift_JIS (cp932 bytes, which is what makes U+FF0D possible), declared in
  the header and in ``<meta>`` (§3.2 item 7 leaves it open). The POST body is read as
  form-urlencoded cp932, as a browser sends a Shift_JIS page's form.
- The four hidden fields are required with their values; a POST without them gets
  「不正な操作が行われました」 (HTTP 200), not a result. ``ACT_TE001`` is optional (the
  c. 2016 scraper sent it, but nothing says the server checks it). No cookie needed.
- Input: 15 ASCII digits after trimming blanks; anything else shows the form again
  (HTTP 200) with a red error line in the sandbox's wording.
"""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import ClassVar

from starlette.requests import Request

from akarom.domain import Carrier, Status
from akarom.sandbox._site import Context, Handler, Page, Site, esc, read_form

__all__ = ["SoftbankSite"]

PATH = "/WBF/icv"

_IMEI = re.compile(r"[0-9]{15}")
HIDDEN_FIELDS = MappingProxyType(
    {
        "_PageID": "WBF001000",
        "_DataStoreID": "DSWBF100Control",
        "_ControlID": "WBF100Control",
        "_ActionID": "TE001",
    }
)

_TITLE_TABLE = (
    '<table width="600" border="0" cellspacing="0" cellpadding="4">'
    '<tr><td bgcolor="#cccccc"><b>ネットワーク利用制限携帯電話機の確認</b></td></tr></table>\n'
)

_RESULT = """<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">
<html lang="ja">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS">
<title>ネットワーク利用制限携帯電話機の確認</title>
</head>
<body bgcolor="#FFFFFF">
<div align="center">
<table width="600" border="0" cellspacing="0" cellpadding="0">
<tr><td><img src="/WBF/img/logo_softbank.gif" alt="SoftBank" width="120" height="30"></td></tr>
</table>
<table width="600" border="0" cellspacing="0" cellpadding="4">
<tr><td><font size="3"><b>ネットワーク利用制限携帯電話機の確認結果</b></font></td></tr>
<tr><td align="center"><font size="8" color="#666666">{symbol}</font></td></tr>
<tr><td><font size="2"><a href="/WBF/icv">別の製造番号を確認する</a></font></td></tr>
</table>
<table width="600" border="0" cellspacing="0" cellpadding="0">
<tr><td align="right"><font size="2">Copyright SoftBank Corp. All rights reserved.</font></td></tr>
</table>
</div>
</body>
</html>
"""


class SoftbankSite(Site):
    """SoftBank's ``/WBF/icv``: the form on GET, the ``font size=8`` verdict on POST."""

    carrier: ClassVar[Carrier] = Carrier.SOFTBANK
    entry_path: ClassVar[str] = PATH
    charset: ClassVar[str] = "Shift_JIS"
    codec: ClassVar[str] = "cp932"
    title: ClassVar[str] = "ソフトバンク"
    default_symbols = MappingProxyType(
        {
            Status.OK: "○",
            Status.PENDING: "▲",
            Status.RESTRICTED: "×",
            Status.UNREGISTERED: "－",
        }
    )

    def routes(self) -> list[tuple[str, tuple[str, ...], Handler]]:
        return [(PATH, ("GET", "POST"), self.icv)]

    def _page(self, content: str) -> str:
        return (
            '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">\n<html>\n<head>\n'
            f'<meta http-equiv="Content-Type" content="text/html; charset={self.charset}">\n'
            "<title>ネットワーク利用制限携帯電話機の確認｜ソフトバンク</title>\n</head>\n"
            f'<body bgcolor="#ffffff" text="#333333">\n<div align="center">\n{_TITLE_TABLE}'
            f"{content}</div>\n</body>\n</html>\n"
        )

    def _form(self, *, error: str | None = None, imei: str = "") -> str:
        hidden = "".join(
            f'<input type="hidden" name="{name}" value="{value}">\n'
            for name, value in HIDDEN_FIELDS.items()
        )
        message = f'<tr><td><font color="#ff0000">{esc(error)}</font></td></tr>\n' if error else ""
        return self._page(
            f'<form name="WBF100Control" method="post" action="{PATH}">\n'
            '<table width="600" border="0" cellspacing="0" cellpadding="4">\n'
            "<tr><td>製造番号（IMEI）15桁を半角数字で入力し、「確認」を選択してください。</td></tr>\n"
            f"{message}"
            "<tr><td>製造番号（IMEI）："
            f'<input type="text" name="imei" size="20" maxlength="15" value="{esc(imei)}">'
            "</td></tr>\n"
            '<tr><td align="center"><input type="submit" name="ACT_TE001" value=" 確 認 ">'
            f"</td></tr>\n</table>\n{hidden}</form>\n"
        )

    async def icv(self, request: Request, context: Context) -> Page:
        """The form (GET) or the answer to it (POST)."""
        if request.method == "GET":
            return self.html(self._form(), outcome="form")
        fields = await read_form(request, self.codec)
        if any(fields.get(name) != value for name, value in HIDDEN_FIELDS.items()):
            content = (
                '<table width="600" border="0" cellspacing="0" cellpadding="4">\n'
                '<tr><td><font color="#ff0000">不正な操作が行われました。'
                "お手数ですが、はじめから操作をやり直してください。</font></td></tr>\n"
                f'<tr><td><a href="{PATH}">ネットワーク利用制限携帯電話機の確認へ</a></td></tr>\n'
                "</table>\n"
            )
            return self.html(self._page(content), outcome="bad hidden fields")
        imei = fields.get("imei", "").strip()
        if not imei:
            error = "製造番号（IMEI）を入力してください。"
        elif not _IMEI.fullmatch(imei):
            error = "製造番号（IMEI）は15桁の半角数字で入力してください。"
        else:
            status = context.status_of(imei)
            symbol = esc(self.symbol(context, status))
            return self.html(_RESULT.format(symbol=symbol), outcome=f"result {status}")
        return self.html(self._form(error=error, imei=imei), outcome="invalid imei")
