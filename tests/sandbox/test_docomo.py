"""docomo's pages: Shift_JIS, the top page, the form, the three result panels, captcha."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from starlette.applications import Starlette

from tests.sandbox.helpers import (
    header_charset,
    looks_like_result,
    meta_charset,
    open_client,
    text,
    texts,
    tree,
)

IMEI = "352099001761481"
DEVICES = {
    "352099001761481": {"docomo": "ok"},
    "356938035643809": {"docomo": "pending"},
    "353325101234569": {"docomo": "restricted"},
}


async def test_top_page_sets_session_and_links_to_search(
    make_app: Callable[..., Starlette],
) -> None:
    async with open_client(make_app()) as client:
        response = await client.get("/top.php")
    assert response.status_code == 200
    assert header_charset(response) == "Shift_JIS"
    assert meta_charset(response) == "Shift_JIS"
    assert "PHPSESSID=" in response.headers["set-cookie"]
    body = text(response)
    assert "XHTML 1.0 Transitional" in body
    assert "<title>ネットワーク利用制限携帯電話機確認サイト</title>" in body
    page = tree(response)
    link = page.css_first("a.h2-button")
    assert link is not None
    assert link.attributes["href"] == "search.php"
    assert page.css_first("#mainspace #header a.logo") is not None
    assert len(page.css("div.panel.outst li")) == 4
    assert page.css("form") == []
    assert not looks_like_result(body)


async def test_search_form(make_app: Callable[..., Starlette]) -> None:
    async with open_client(make_app()) as client:
        response = await client.get("/search.php")
    assert response.status_code == 200
    form = tree(response).css_first("form")
    assert form is not None
    assert form.attributes["method"] == "post"
    assert form.attributes["action"] == "search.php"
    assert form.css_first("input[name=productno]") is not None
    assert form.css_first("input[name=attestationkey]") is None
    assert not looks_like_result(text(response))


@pytest.mark.parametrize(
    ("imei", "symbol", "wording"),
    [
        ("352099001761481", "○", "ネットワーク利用制限の対象外です。"),
        ("356938035643809", "△", "代金債務の不履行等により利用制限となる可能性があります。"),
        ("353325101234569", "×", "利用制限中です。"),
        ("358754098765431", "-", "IMEI（製造番号）が確認できません。"),
    ],
)
async def test_result_panels(
    make_app: Callable[..., Starlette], imei: str, symbol: str, wording: str
) -> None:
    async with open_client(make_app({"devices": DEVICES})) as client:
        # No cookie, no prior GET: scrapers POST directly (§1.4).
        response = await client.post("/search.php", data={"productno": imei})
    assert response.status_code == 200
    assert header_charset(response) == "Shift_JIS"
    assert meta_charset(response) == "Shift_JIS"
    panels = texts(response, "div.result-panel")
    assert len(panels) == 3
    assert panels[0] == imei
    assert panels[1] == symbol
    assert panels[2].endswith("日")
    body = text(response)
    assert body.index("製造番号") < body.index("ネットワーク利用制限のステータス")
    assert body.index("ネットワーク利用制限のステータス") < body.index("製造番号の検索日")
    for label in ("製造番号", "ネットワーク利用制限のステータス", "製造番号の検索日"):
        assert label not in "".join(panels)
    assert wording in body


async def test_shift_jis_bytes(make_app: Callable[..., Starlette]) -> None:
    async with open_client(make_app({"devices": DEVICES})) as client:
        response = await client.post("/search.php", data={"productno": IMEI})
    assert "○".encode("cp932") in response.content
    assert "製造番号".encode("cp932") in response.content
    with pytest.raises(UnicodeDecodeError):
        response.content.decode("utf-8")


async def test_unregistered_is_an_ascii_hyphen(make_app: Callable[..., Starlette]) -> None:
    async with open_client(make_app()) as client:
        response = await client.post("/search.php", data={"productno": IMEI})
    assert b'<div class="result-panel">-</div>' in response.content


@pytest.mark.parametrize("productno", ["", "35209900176148", "35-209900-176148-1", "abc"])
async def test_invalid_imei_shows_the_form_again(
    make_app: Callable[..., Starlette], productno: str
) -> None:
    async with open_client(make_app()) as client:
        response = await client.post("/search.php", data={"productno": productno})
    assert response.status_code == 200
    page = tree(response)
    assert page.css("div.result-panel") == []
    assert page.css_first("input[name=productno]") is not None
    error = page.css_first("p.error-message")
    assert error is not None
    assert "IMEI（製造番号）" in error.text()


async def test_symbol_override(make_app: Callable[..., Starlette]) -> None:
    app = make_app({"default": "ok", "carriers": {"docomo": {"symbols": {"ok": "◯"}}}})
    async with open_client(app) as client:
        response = await client.post("/search.php", data={"productno": IMEI})
    assert texts(response, "div.result-panel")[1] == "◯"


async def test_captcha_mode_replays_the_legacy_flow(make_app: Callable[..., Starlette]) -> None:
    app = make_app({"default": "ok", "carriers": {"docomo": {"mode": "captcha"}}})
    async with open_client(app) as client:
        # A client that POSTs only productno gets the captcha form, not an answer.
        response = await client.post("/search.php", data={"productno": IMEI})
        assert response.status_code == 200
        assert not looks_like_result(text(response))
        form = tree(response)
        image = form.css_first('img[src="gifcat/call.php"]')
        assert image is not None
        assert form.css_first("input[name=attestationkey]") is not None

        landing = await client.get("/top.php")
        assert landing.status_code == 200
        search = await client.get("/search.php")
        assert tree(search).css_first('img[src="gifcat/call.php"]') is not None
        assert client.cookies.get("PHPSESSID")

        gif = await client.get("/gifcat/call.php")
        assert gif.headers["content-type"] == "image/gif"
        assert gif.content.startswith(b"GIF89a")
        code = gif.headers["x-sandbox-captcha"]
        assert code.isdigit()

        wrong = await client.post(
            "/search.php", data={"productno": IMEI, "attestationkey": "x" + code}
        )
        assert not looks_like_result(text(wrong))
        assert "画像認証の数字が正しくありません" in text(wrong)

        code = (await client.get("/gifcat/call.php")).headers["x-sandbox-captcha"]
        right = await client.post("/search.php", data={"productno": IMEI, "attestationkey": code})
        assert texts(right, "div.result-panel")[1] == "○"

        # Each code answers one POST only.
        again = await client.post("/search.php", data={"productno": IMEI, "attestationkey": code})
        assert not looks_like_result(text(again))


async def test_captcha_needs_the_session_cookie(make_app: Callable[..., Starlette]) -> None:
    app = make_app({"carriers": {"docomo": {"mode": "captcha"}}})
    async with open_client(app) as client:
        code = (await client.get("/gifcat/call.php")).headers["x-sandbox-captcha"]
        client.cookies.clear()
        response = await client.post(
            "/search.php", data={"productno": IMEI, "attestationkey": code}
        )
    assert not looks_like_result(text(response))
