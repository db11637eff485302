"""SoftBank's /WBF/icv: the hidden fields, the font size=8 verdict, ▲ and －, cp932 bodies."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

import httpx
import pytest
from starlette.applications import Starlette

from tests.sandbox.helpers import (
    form_fields,
    header_charset,
    looks_like_result,
    meta_charset,
    open_client,
    text,
    tree,
)

PATH = "/WBF/icv"
IMEI = "356938035643809"
HIDDEN = {
    "_PageID": "WBF001000",
    "_DataStoreID": "DSWBF100Control",
    "_ControlID": "WBF100Control",
    "_ActionID": "TE001",
}


def verdict(response: httpx.Response) -> str:
    node = tree(response).css_first('font[size="8"][color="#666666"]')
    assert node is not None, text(response)
    return node.text()


async def test_form(make_app: Callable[..., Starlette]) -> None:
    async with open_client(make_app()) as client:
        response = await client.get(PATH, params={"lbk": "14"})
    assert response.status_code == 200
    assert header_charset(response) == "Shift_JIS"
    assert meta_charset(response) == "Shift_JIS"
    page = tree(response)
    forms = page.css("form")
    assert len(forms) == 1
    assert forms[0].attributes["action"] == PATH
    assert forms[0].attributes["method"] == "post"
    fields = form_fields(response, "form")
    assert fields == {**HIDDEN, "imei": ""}
    button = page.css_first("input[type=submit]")
    assert button is not None
    assert button.attributes["name"] == "ACT_TE001"
    assert button.attributes["value"] == " 確 認 "
    assert not looks_like_result(text(response))


@pytest.mark.parametrize(
    ("status", "symbol"),
    [("ok", "○"), ("pending", "▲"), ("restricted", "×"), ("unregistered", "－")],
)
async def test_result(make_app: Callable[..., Starlette], status: str, symbol: str) -> None:
    app = make_app({"devices": {IMEI: {"softbank": status}}})
    async with open_client(app) as client:
        response = await client.post(PATH, data={**HIDDEN, "imei": IMEI, "ACT_TE001": " 確 認 "})
    assert response.status_code == 200
    assert header_charset(response) == "Shift_JIS"
    assert verdict(response) == symbol
    assert f'<font size="8" color="#666666">{symbol}</font>'.encode("cp932") in response.content
    # The verdict sits where the scrapers' XPath looks: body/div[1]/table[2]/tr[2]/td/font.
    tables = tree(response).css("body > div > table")
    assert tables[1].css("tr")[1].css_first("td > font") is not None


async def test_no_record_is_the_full_width_minus(make_app: Callable[..., Starlette]) -> None:
    async with open_client(make_app()) as client:
        response = await client.post(PATH, data={**HIDDEN, "imei": IMEI})
    assert verdict(response) == "\uff0d"
    assert b"\x81\x7c" in response.content  # － in cp932


async def test_shift_jis_form_body(make_app: Callable[..., Starlette]) -> None:
    """A browser posts a Shift_JIS page's form in Shift_JIS, button label included."""
    body = "&".join(f"{k}={v}" for k, v in HIDDEN.items())
    body += f"&imei={IMEI}&ACT_TE001={quote(' 確 認 ', encoding='cp932')}"
    app = make_app({"default": "restricted"})
    async with open_client(app) as client:
        response = await client.post(
            f"{PATH}?lbk=14",
            content=body.encode("ascii"),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert verdict(response) == "×"


@pytest.mark.parametrize("missing", sorted(HIDDEN))
async def test_hidden_fields_are_required(make_app: Callable[..., Starlette], missing: str) -> None:
    fields = {**HIDDEN, "imei": IMEI}
    del fields[missing]
    async with open_client(make_app({"default": "ok"})) as client:
        response = await client.post(PATH, data=fields)
    assert response.status_code == 200
    assert not looks_like_result(text(response))
    assert "不正な操作" in text(response)


async def test_wrong_hidden_value_is_refused(make_app: Callable[..., Starlette]) -> None:
    async with open_client(make_app({"default": "ok"})) as client:
        response = await client.post(PATH, data={**HIDDEN, "_PageID": "WBF000000", "imei": IMEI})
    assert not looks_like_result(text(response))


@pytest.mark.parametrize("imei", ["", "３５６９３８０３５６４３８０９", "35693803564380"])
async def test_invalid_imei_shows_the_form_again(
    make_app: Callable[..., Starlette], imei: str
) -> None:
    async with open_client(make_app({"default": "ok"})) as client:
        response = await client.post(PATH, data={**HIDDEN, "imei": imei})
    assert response.status_code == 200
    assert not looks_like_result(text(response))
    assert tree(response).css_first("input[name=imei]") is not None
    assert "製造番号（IMEI）" in text(response)
