"""Rakuten Mobile's 「ネットワーク利用制限の確認」 as the sandbox serves it.

Real site: ``https://network.mobile.rakuten.co.jp`` (carrier-sites.md §4).

- ``GET /restriction/``: the single-page app's shell (UTF-8): input ``#imei``
  (``name="imei"``), button ``#search`` carrying ``is-disabled`` until the input holds
  15 digits, and an empty ``#search-result``. Its small script calls the JSON endpoint
  and renders ``ul > li[2] > dl > dd`` with the symbol, so a browser can drive it.
- ``GET /restriction/eir/v1/rest-api/public/imei/{imei}``: JSON
  ``{"imei": "<imei>", "status": N}``.

**Unverified assumption, shared with the adapter.** The only source (§4,
gogojojo318/imei_checker2, 2025-12) maps ``status`` 0→○ (``ok``), 1→△ (``pending``),
2→× (``restricted``). How the endpoint says "no record" is unknown; akarom assumes
**3 = no record (``unregistered``)**. The schema beyond ``status`` is unknown too.

Choices where the reference is silent: an IMEI that is not 15 ASCII digits gets HTTP
400 with ``{"error": "invalid_imei", "message": …}``; no header, cookie or token is
required. In ``blocked``, ``maintenance`` and ``captcha`` modes the JSON endpoint
answers the same HTML page as the shell (403, 503, 200), never JSON.
"""

from __future__ import annotations

import json
import re
from types import MappingProxyType
from typing import ClassVar

from starlette.requests import Request

from akarom.domain import Carrier, Status
from akarom.sandbox._site import Context, Handler, Page, Site

__all__ = ["STATUS_CODES", "RakutenSite"]

SHELL_PATH = "/restriction/"
API_PATH = "/restriction/eir/v1/rest-api/public/imei/{imei}"

# The project's reading of the numeric status (3 is an assumption, see above).
STATUS_CODES = MappingProxyType(
    {
        Status.OK: 0,
        Status.PENDING: 1,
        Status.RESTRICTED: 2,
        Status.UNREGISTERED: 3,
    }
)
_IMEI = re.compile(r"[0-9]{15}")

# Symbols are written as escapes so that the shell itself carries none.
_SHELL = """<!DOCTYPE html>
<html lang="ja">
<head>
<meta charset="UTF-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ネットワーク利用制限の確認｜楽天モバイル</title>
</head>
<body>
<div id="app">
<div class="l-container">
<section class="c-section">
<div class="c-section__inner">
<main>
<h1>ネットワーク利用制限の確認</h1>
<p>製造番号（IMEI）15桁を半角数字で入力してください。</p>
<div class="c-form">
<input type="text" id="imei" name="imei" maxlength="15" inputmode="numeric" autocomplete="off">
<button type="button" id="search" class="c-btn is-disabled" disabled>確認する</button>
</div>
<div id="search-result"></div>
</main>
</div>
</section>
</div>
</div>
<script>
(function () {
  var input = document.getElementById("imei");
  var button = document.getElementById("search");
  var result = document.getElementById("search-result");
  var SYMBOLS = ["\\u25cb", "\\u25b3", "\\u00d7", "-"];
  var TEXTS = ["利用可能です", "代金債務不履行等により利用制限となる可能性があります",
               "利用制限中です", "楽天モバイルで販売した製品ではありません"];
  function valid() { return /^[0-9]{15}$/.test(input.value); }
  function update() {
    button.disabled = !valid();
    button.classList.toggle("is-disabled", !valid());
  }
  function item(term, value) {
    var li = document.createElement("li"), dl = document.createElement("dl");
    var dt = document.createElement("dt"), dd = document.createElement("dd");
    dt.textContent = term; dd.textContent = value;
    dl.appendChild(dt); dl.appendChild(dd); li.appendChild(dl);
    return li;
  }
  function search() {
    if (!valid()) { return; }
    fetch("/restriction/eir/v1/rest-api/public/imei/" + input.value)
      .then(function (r) { return r.json(); })
      .then(function (data) {
        var ul = document.createElement("ul"), p = document.createElement("p");
        ul.appendChild(item("製造番号（IMEI）", data.imei));
        ul.appendChild(item("判定結果", SYMBOLS[data.status]));
        p.textContent = TEXTS[data.status];
        result.replaceChildren(ul, p);
      })
      .catch(function () { result.textContent = "時間をおいて再度お試しください。"; });
  }
  input.addEventListener("input", update);
  input.addEventListener("keydown", function (e) { if (e.key === "Enter") { search(); } });
  button.addEventListener("click", search);
})();
</script>
</body>
</html>
"""


class RakutenSite(Site):
    """Rakuten's check page shell and its JSON endpoint."""

    carrier: ClassVar[Carrier] = Carrier.RAKUTEN
    entry_path: ClassVar[str] = "/restriction/"
    numeric: ClassVar[bool] = True  # the JSON carries 0–3, not ○ △ × -
    charset: ClassVar[str] = "UTF-8"
    codec: ClassVar[str] = "utf-8"
    title: ClassVar[str] = "楽天モバイル"

    def routes(self) -> list[tuple[str, tuple[str, ...], Handler]]:
        return [
            (SHELL_PATH, ("GET",), self.shell),
            (API_PATH, ("GET",), self.api),
        ]

    async def shell(self, request: Request, context: Context) -> Page:
        """The static single-page-app shell."""
        return self.html(_SHELL, outcome="page")

    async def api(self, request: Request, context: Context) -> Page:
        """``{"imei": …, "status": N}``, or HTTP 400 for an invalid IMEI."""
        imei = str(request.path_params["imei"])
        if not _IMEI.fullmatch(imei):
            body: dict[str, object] = {
                "error": "invalid_imei",
                "message": "IMEI must be 15 digits",
            }
            return _json(body, status_code=400, outcome="invalid imei")
        status = context.status_of(imei)
        return _json({"imei": imei, "status": STATUS_CODES[status]}, outcome=f"result {status}")


def _json(data: dict[str, object], *, status_code: int = 200, outcome: str) -> Page:
    return Page(
        body=json.dumps(data, ensure_ascii=False).encode("utf-8"),
        content_type="application/json",
        status_code=status_code,
        outcome=outcome,
    )
