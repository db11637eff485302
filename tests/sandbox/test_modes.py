"""Every page of every carrier in every mode that is not an answer: never a result."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from akarom.domain import Carrier
from tests.sandbox.helpers import header_charset, looks_like_result, open_client, text, tree

IMEI = "352099001761481"
SOFTBANK_FIELDS = {
    "_PageID": "WBF001000",
    "_DataStoreID": "DSWBF100Control",
    "_ControlID": "WBF100Control",
    "_ActionID": "TE001",
    "imei": IMEI,
}
# (method, path, form data) for every page a client asks for.
REQUESTS: dict[Carrier, list[tuple[str, str, dict[str, str] | None]]] = {
    Carrier.DOCOMO: [
        ("GET", "/top.php", None),
        ("GET", "/search.php", None),
        ("POST", "/search.php", {"productno": IMEI}),
    ],
    Carrier.AU: [
        ("GET", "/cmn/WCV009001/WCE009001.hc", None),
        ("POST", "/cmn/WCV009002/WCE009002.hc", {"imei": IMEI}),
    ],
    Carrier.SOFTBANK: [
        ("GET", "/WBF/icv", None),
        ("POST", "/WBF/icv", SOFTBANK_FIELDS),
    ],
    Carrier.RAKUTEN: [
        ("GET", "/restriction/", None),
        ("GET", f"/restriction/eir/v1/rest-api/public/imei/{IMEI}", None),
    ],
}
CHARSETS = {
    Carrier.DOCOMO: "Shift_JIS",
    Carrier.AU: "Shift_JIS",
    Carrier.SOFTBANK: "Shift_JIS",
    Carrier.RAKUTEN: "UTF-8",
}
CASES = [
    (carrier, method, path, data)
    for carrier, requests in REQUESTS.items()
    for method, path, data in requests
]


def scenario(carrier: Carrier, **settings: Any) -> dict[str, Any]:
    return {"default": "restricted", "carriers": {carrier.value: settings}}


async def fetch(
    app: Starlette, method: str, path: str, data: dict[str, str] | None
) -> httpx.Response:
    async with open_client(app) as client:
        return await client.request(method, path, data=data)


@pytest.mark.parametrize(("carrier", "method", "path", "data"), CASES)
async def test_normal_answers(
    make_app: Callable[..., Starlette],
    carrier: Carrier,
    method: str,
    path: str,
    data: dict[str, str] | None,
) -> None:
    response = await fetch(make_app(scenario(carrier)), method, path, data)
    assert response.status_code == 200


@pytest.mark.parametrize(("carrier", "method", "path", "data"), CASES)
async def test_blocked(
    make_app: Callable[..., Starlette],
    carrier: Carrier,
    method: str,
    path: str,
    data: dict[str, str] | None,
) -> None:
    response = await fetch(make_app(scenario(carrier, mode="blocked")), method, path, data)
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert header_charset(response) == CHARSETS[carrier]
    assert "Forbidden" in text(response)
    assert not looks_like_result(text(response))


@pytest.mark.parametrize(("carrier", "method", "path", "data"), CASES)
async def test_maintenance(
    make_app: Callable[..., Starlette],
    carrier: Carrier,
    method: str,
    path: str,
    data: dict[str, str] | None,
) -> None:
    response = await fetch(make_app(scenario(carrier, mode="maintenance")), method, path, data)
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) > 0
    assert response.headers["content-type"].startswith("text/html")
    assert header_charset(response) == CHARSETS[carrier]
    assert "ただいまシステムメンテナンス中です" in text(response)
    assert "メンテナンス".encode("cp932" if carrier is not Carrier.RAKUTEN else "utf-8") in (
        response.content
    )
    assert not looks_like_result(text(response))


@pytest.mark.parametrize(
    ("carrier", "method", "path", "data"),
    [case for case in CASES if case[0] is not Carrier.DOCOMO],
)
async def test_captcha_interstitial(
    make_app: Callable[..., Starlette],
    carrier: Carrier,
    method: str,
    path: str,
    data: dict[str, str] | None,
) -> None:
    response = await fetch(make_app(scenario(carrier, mode="captcha")), method, path, data)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert header_charset(response) == CHARSETS[carrier]
    page = tree(response)
    assert "画像認証" in text(response)
    image = page.css_first('img[src="/_sandbox/captcha.gif"]')
    assert image is not None
    assert image.attributes["alt"] == "captcha"
    assert page.css_first("input[name=captcha]") is not None
    assert not looks_like_result(text(response))


async def test_docomo_captcha_leaves_the_top_page_alone(
    make_app: Callable[..., Starlette],
) -> None:
    app = make_app(scenario(Carrier.DOCOMO, mode="captcha"))
    top = await fetch(app, "GET", "/top.php", None)
    assert "画像認証" not in text(top)
    search = await fetch(app, "GET", "/search.php", None)
    assert tree(search).css_first("input[name=attestationkey]") is not None


async def test_captcha_image(make_app: Callable[..., Starlette]) -> None:
    response = await fetch(make_app(), "GET", "/_sandbox/captcha.gif", None)
    assert response.headers["content-type"] == "image/gif"
    assert response.content.startswith(b"GIF89a")


@pytest.mark.parametrize(("carrier", "method", "path", "data"), CASES)
async def test_server_errors(
    make_app: Callable[..., Starlette],
    carrier: Carrier,
    method: str,
    path: str,
    data: dict[str, str] | None,
) -> None:
    response = await fetch(make_app(scenario(carrier, error_rate=1)), method, path, data)
    assert response.status_code in (500, 502, 503)
    assert "メンテナンス" not in text(response)
    assert not looks_like_result(text(response))
