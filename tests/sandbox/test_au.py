"""au's pages: nextForm with hidden fields, the li.list_item result, MEIDs, Forbidden."""

from __future__ import annotations

from collections.abc import Callable

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

FORM = "/cmn/WCV009001/WCE009001.hc"
ACTION = "/cmn/WCV009002/WCE009002.hc"
IMEI = "353325101234569"


async def submit(client: httpx.AsyncClient, imei: str) -> httpx.Response:
    """Do what a form-following client does: GET, copy every input, POST."""
    form_page = await client.get(FORM)
    fields = form_fields(form_page, "form[name=nextForm]")
    fields["imei"] = imei
    return await client.post(ACTION, data=fields)


def list_items(response: httpx.Response) -> list[tuple[str, str]]:
    return [
        (
            item.css_first(".list_heading").text(strip=True),  # type: ignore[union-attr]
            item.css_first(".list_details").text(strip=True),  # type: ignore[union-attr]
        )
        for item in tree(response).css("li.list_item")
    ]


async def test_form(make_app: Callable[..., Starlette]) -> None:
    async with open_client(make_app()) as client:
        response = await client.get(FORM)
    assert response.status_code == 200
    assert header_charset(response) == "Shift_JIS"
    assert meta_charset(response) == "Shift_JIS"
    page = tree(response)
    form = page.css_first("form[name=nextForm]")
    assert form is not None
    assert form.attributes["action"] == ACTION
    assert form.attributes["method"] == "post"
    imei_input = form.css_first("input#imei")
    assert imei_input is not None
    assert imei_input.attributes["name"] == "imei"
    assert imei_input.attributes["type"] == "text"
    assert form.css_first(".btnPrimary") is not None
    assert "execSubmit('nextForm', checkImei, null)" in text(response)
    hidden = form.css("input[type=hidden]")
    assert len(hidden) >= 2
    assert not looks_like_result(text(response))


async def test_token_is_new_at_every_get(make_app: Callable[..., Starlette]) -> None:
    async with open_client(make_app()) as client:
        first = form_fields(await client.get(FORM), "form[name=nextForm]")
        second = form_fields(await client.get(FORM), "form[name=nextForm]")
    changed = {name for name in first if name != "imei" and first[name] != second[name]}
    assert changed == {"TOKEN"}


@pytest.mark.parametrize(
    ("status", "symbol"),
    [("ok", "〇"), ("pending", "△"), ("restricted", "×"), ("unregistered", "ー")],
)
async def test_result(make_app: Callable[..., Starlette], status: str, symbol: str) -> None:
    app = make_app({"devices": {IMEI: {"au": status}}})
    async with open_client(app) as client:
        response = await submit(client, IMEI)
    assert response.status_code == 200
    assert header_charset(response) == "Shift_JIS"
    items = list_items(response)
    assert len(items) == 2
    assert items[0] == ("製造番号（IMEI）", IMEI)
    heading, details = items[1]
    assert heading == "状態"
    assert details[0] == symbol
    assert len(details) > 2  # the symbol, then explanatory text
    assert symbol.encode("cp932") in response.content


async def test_meid_is_accepted(make_app: Callable[..., Starlette]) -> None:
    app = make_app({"devices": {"A1000012345678": {"au": "ok"}}})
    async with open_client(app) as client:
        response = await submit(client, "a1000012345678")
    items = list_items(response)
    assert items[0] == ("製造番号（IMEI）", "A1000012345678")
    assert items[1][1].startswith("〇")


@pytest.mark.parametrize("imei", ["", "12345", "35332510123456X", "3533251012345690"])
async def test_invalid_imei_shows_the_form_again(
    make_app: Callable[..., Starlette], imei: str
) -> None:
    async with open_client(make_app()) as client:
        response = await submit(client, imei)
    assert response.status_code == 200
    assert list_items(response) == []
    assert tree(response).css_first("form[name=nextForm]") is not None
    error = tree(response).css_first("p.txtError")
    assert error is not None
    assert "IMEI/MEID" in error.text()


@pytest.mark.parametrize("missing", ["TOKEN", "SCREEN_ID", "FUNC_ID"])
async def test_hidden_fields_are_required(make_app: Callable[..., Starlette], missing: str) -> None:
    app = make_app({"default": "ok"})
    async with open_client(app) as client:
        fields = form_fields(await client.get(FORM), "form[name=nextForm]")
        fields["imei"] = IMEI
        del fields[missing]
        response = await client.post(ACTION, data=fields)
    assert response.status_code == 200
    assert not looks_like_result(text(response))
    assert "不正な画面遷移" in text(response)


async def test_a_made_up_token_is_refused(make_app: Callable[..., Starlette]) -> None:
    async with open_client(make_app({"default": "ok"})) as client:
        fields = form_fields(await client.get(FORM), "form[name=nextForm]")
        fields.update(imei=IMEI, TOKEN="0" * 32)
        response = await client.post(ACTION, data=fields)
        assert not looks_like_result(text(response))
        only_imei = await client.post(ACTION, data={"imei": IMEI})
        assert not looks_like_result(text(only_imei))


async def test_tokens_do_not_survive_reset(make_app: Callable[..., Starlette]) -> None:
    async with open_client(make_app({"default": "ok"})) as client:
        fields = form_fields(await client.get(FORM), "form[name=nextForm]")
        fields["imei"] = IMEI
        await client.post("/_sandbox/reset")
        response = await client.post(ACTION, data=fields)
    assert "不正な画面遷移" in text(response)


async def test_forbidden_page_is_aus_own(make_app: Callable[..., Starlette]) -> None:
    app = make_app({"carriers": {"au": {"mode": "blocked"}}})
    async with open_client(app) as client:
        response = await client.get(FORM)
    assert response.status_code == 403
    assert header_charset(response) == "Shift_JIS"
    body = text(response)
    assert '<meta name="robots" content="noindex,nofollow,noarchive">' in body
    assert "<title>Forbidden | auお客さまサポート</title>" in body
    assert "要求されたページへのアクセスが禁止されています。" in body
    assert "要求されたページへのアクセスが禁止されています。".encode("cp932") in response.content
