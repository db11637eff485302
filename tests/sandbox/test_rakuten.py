"""Rakuten: the SPA shell and the JSON endpoint (status 0/1/2, and the assumed 3)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from starlette.applications import Starlette

from tests.sandbox.helpers import header_charset, meta_charset, open_client, text, tree

API = "/restriction/eir/v1/rest-api/public/imei/"
IMEI = "353911109876541"


async def test_shell(make_app: Callable[..., Starlette]) -> None:
    async with open_client(make_app()) as client:
        response = await client.get("/restriction/")
    assert response.status_code == 200
    assert header_charset(response) == "UTF-8"
    assert meta_charset(response) == "UTF-8"
    page = tree(response)
    imei = page.css_first("#imei")
    assert imei is not None
    assert imei.attributes["name"] == "imei"
    button = page.css_first("#search")
    assert button is not None
    assert "is-disabled" in str(button.attributes["class"]).split()
    result = page.css_first("#search-result")
    assert result is not None
    assert result.text(strip=True) == ""
    assert not any(symbol in text(response) for symbol in "○△×")


@pytest.mark.parametrize(
    ("status", "code"), [("ok", 0), ("pending", 1), ("restricted", 2), ("unregistered", 3)]
)
async def test_json(make_app: Callable[..., Starlette], status: str, code: int) -> None:
    app = make_app({"devices": {IMEI: {"rakuten": status}}})
    async with open_client(app) as client:
        response = await client.get(API + IMEI)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"imei": IMEI, "status": code}


@pytest.mark.parametrize("imei", ["12345", "35391110987654x", "3539111098765410"])
async def test_invalid_imei_is_400(make_app: Callable[..., Starlette], imei: str) -> None:
    async with open_client(make_app()) as client:
        response = await client.get(API + imei)
    assert response.status_code == 400
    data = response.json()
    assert data["error"] == "invalid_imei"
    assert "status" not in data
