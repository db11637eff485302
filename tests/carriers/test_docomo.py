"""docomo behaviour the generated adapter tests do not cover (carrier-sites.md §1)."""

from __future__ import annotations

import httpx
import pytest

from akarom.carriers import Page
from akarom.carriers.docomo import DocomoAdapter
from akarom.domain import Status
from akarom.errors import (
    Blocked,
    CaptchaRequired,
    CarrierUnavailable,
    Maintenance,
    ParseError,
    RateLimited,
)
from tests.carriers.replay import Replay

IMEI = "352099001761481"


def _fixture(case: str, imei: str = IMEI) -> Replay:
    return Replay.load("docomo", case, imei)


def _result_html(*panels: str, extra: str = "") -> bytes:
    """A minimal result page in the reconstructed layout, Shift_JIS."""
    divs = "".join(f'<div class="result-panel">{p}</div>\n' for p in panels)
    html = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=shift_jis">'
        f"</head><body><div id=contents>{divs}{extra}</div></body></html>"
    )
    return html.encode("cp932")


def _page(content: bytes, status: int = 200) -> Page:
    return Page("POST", "https://x/search.php", status, {"content-type": "text/html"}, content)


def _serving(content: bytes, seen: list[httpx.Request], status: int = 200) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            status, headers={"Content-Type": "text/html; charset=Shift_JIS"}, content=content
        )

    return httpx.MockTransport(handle)


async def test_one_post_of_productno_and_nothing_else() -> None:
    seen: list[httpx.Request] = []
    replay = _fixture("ok")
    async with httpx.AsyncClient(transport=_serving(replay.result_page().content, seen)) as client:
        observation = await DocomoAdapter(client).check(IMEI)
    assert observation.reading.status is Status.OK
    (request,) = seen  # no GET of top.php: one request per check
    assert request.method == "POST"
    assert str(request.url) == "https://nw-restriction.nttdocomo.co.jp/search.php"
    assert request.content == b"productno=352099001761481"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.headers["referer"] == "https://nw-restriction.nttdocomo.co.jp/search.php"


async def test_a_replaced_host_keeps_the_path() -> None:
    seen: list[httpx.Request] = []
    async with httpx.AsyncClient(transport=_serving(_result_html(IMEI, "△", "x"), seen)) as client:
        adapter = DocomoAdapter(client, base_url="http://127.0.0.1:8765/")
        reading = (await adapter.check(IMEI)).reading
    assert reading.status is Status.PENDING
    assert str(seen[0].url) == "http://127.0.0.1:8765/search.php"


@pytest.mark.parametrize(
    "value",
    ["A0000012345678", "35209900176148", "3520990017614810", "３５２０９９００１７６１４８１", ""],
)
async def test_anything_but_15_ascii_digits_is_refused_before_any_request(value: str) -> None:
    seen: list[httpx.Request] = []
    async with httpx.AsyncClient(transport=_serving(b"", seen)) as client:
        with pytest.raises(ValueError, match="15 digits"):
            await DocomoAdapter(client).check(value)
    assert seen == []
    assert DocomoAdapter.ACCEPTS_MEID is False


async def test_a_result_about_another_imei_is_a_parse_error_with_the_page() -> None:
    replay = _fixture("imei-echo-mismatch")
    async with httpx.AsyncClient(transport=replay.transport()) as client:
        with pytest.raises(ParseError) as raised:
            await DocomoAdapter(client).check(IMEI)
    assert raised.value.field == "imei echo"
    assert "353287081234565" in str(raised.value)
    assert len(raised.value.pages) == 1


@pytest.mark.parametrize(
    "echo",
    [
        "352099001761481",
        "35-209900-176148-1",  # printed as on the label (dejima.biz, §1.7)
        "35 209900 176148 1",
        "35209900176148",  # 14 digits, no check digit
        "3520990017614801",  # IMEISV
        "３５２０９９００１７６１４８１",  # full width
    ],
)
async def test_an_echo_of_our_imei_is_accepted_however_printed(echo: str) -> None:
    seen: list[httpx.Request] = []
    body = _result_html(echo, "×", "2026年11月26日")
    async with httpx.AsyncClient(transport=_serving(body, seen)) as client:
        reading = (await DocomoAdapter(client).check(IMEI)).reading
    assert reading.status is Status.RESTRICTED


def test_no_echo_is_not_required() -> None:
    """The panel order is inferred (§1.4), so a page without the IMEI still answers."""
    page = _page(_result_html("製造番号：非表示", "○"))
    assert DocomoAdapter.echoed_imeis(page) == ()
    assert DocomoAdapter.parse_result(page).status is Status.OK


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("ok", "利用可（後日不正契約が認められた場合を除く）"),
        ("restricted", "利用制限中です。"),
        ("unregistered", "IMEI（製造番号）が確認できません。"),
        ("pending", None),
    ],
)
def test_wording_is_read_when_printed_and_never_invented(case: str, message: str | None) -> None:
    reading = DocomoAdapter.parse_result(_fixture(case).result_page())
    assert reading.message == message


def test_wording_for_another_status_is_not_taken() -> None:
    page = _page(_result_html(IMEI, "○", "x", extra="<p>利用制限中です。</p>"))
    assert DocomoAdapter.parse_result(page).message is None


@pytest.mark.parametrize(
    ("panel", "symbol"),
    [("\n  ◯\n", "◯"), ("\u3000-\u3000", "-"), ("<span> △ </span>", "△"), ("\t×", "×")],
)
def test_blanks_and_inline_markup_around_the_symbol(panel: str, symbol: str) -> None:
    reading = DocomoAdapter.parse_result(_page(_result_html(IMEI, panel, "x")))
    assert reading.symbol == symbol


@pytest.mark.parametrize(
    "panel", ["○ 利用可", "○○", "&#9675;?", "<img src=maru.gif alt='○'>", "?", "<br>"]
)
def test_only_a_bare_symbol_is_an_answer(panel: str) -> None:
    page = _page(_result_html(IMEI, panel, "x"))
    with pytest.raises(ParseError) as raised:
        DocomoAdapter.parse_result(page)
    assert raised.value.field == "symbol"


def test_the_symbol_is_the_second_panel_not_the_first() -> None:
    page = _page(_result_html("×", "○", "2026年11月26日"))
    assert DocomoAdapter.parse_result(page).status is Status.OK


def test_one_panel_is_not_a_result() -> None:
    with pytest.raises(ParseError) as raised:
        DocomoAdapter.parse_result(_page(_result_html("○")))
    assert raised.value.field == "result panel"


def test_the_search_form_again_is_named_but_not_taken_for_a_refusal() -> None:
    with pytest.raises(ParseError, match="search form again") as raised:
        DocomoAdapter.parse_result(_fixture("search-form-again").result_page())
    assert raised.value.field == "result panel"


def test_the_legacy_captcha_page_is_screened() -> None:
    with pytest.raises(CaptchaRequired):
        DocomoAdapter.screen_page(_fixture("captcha").result_page())
    only_input = _page(b'<form><input name="attestationkey"></form>')
    with pytest.raises(CaptchaRequired):
        DocomoAdapter.screen_page(only_input)


def test_a_maintenance_link_on_a_result_page_is_not_maintenance() -> None:
    page = _page(_result_html(IMEI, "○", "x", extra="<a href=m.html>メンテナンス情報</a>"))
    DocomoAdapter.screen_page(page)
    assert DocomoAdapter.parse_result(page).status is Status.OK
    with pytest.raises(Maintenance):
        DocomoAdapter.screen_page(_fixture("maintenance-200").result_page())


def test_screen_passes_result_pages() -> None:
    for case in ("ok", "pending", "restricted", "unregistered"):
        DocomoAdapter.screen_page(_fixture(case).result_page())


async def test_retry_after_is_passed_on() -> None:
    replay = _fixture("rate-limited")
    async with httpx.AsyncClient(transport=replay.transport()) as client:
        with pytest.raises(RateLimited) as raised:
            await DocomoAdapter(client).check(IMEI)
    assert raised.value.retry_after == 120.0


async def test_a_time_out_says_so() -> None:
    replay = _fixture("timeout")
    async with httpx.AsyncClient(transport=replay.transport()) as client:
        with pytest.raises(CarrierUnavailable) as raised:
            await DocomoAdapter(client).check(IMEI)
    assert raised.value.code == "timeout"
    assert raised.value.pages == ()


def test_an_undeclared_page_is_read_as_shift_jis() -> None:
    body = '<div class="result-panel">1</div><div class="result-panel">△</div>'.encode("cp932")
    page = Page("POST", "https://x/search.php", 200, {}, body)
    assert DocomoAdapter.parse_result(page).symbol == "△"


def test_a_forbidden_page_served_with_200_is_blocked() -> None:
    with pytest.raises(Blocked):
        DocomoAdapter.screen_page(_page(b"<html><title>403 Forbidden</title><h1>Forbidden</h1>"))
