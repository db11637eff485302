"""docomo behaviour the generated adapter tests do not cover (carrier-sites.md §1)."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest

from akarom.carriers import Page
from akarom.carriers._template import Reason
from akarom.carriers.docomo import DocomoAdapter
from akarom.domain import Carrier, Status
from akarom.errors import (
    Blocked,
    CaptchaRequired,
    CarrierRejected,
    CarrierUnavailable,
    Maintenance,
    ParseError,
    RateLimited,
)
from tests.carriers.pages import answer_page, page_text, with_text
from tests.carriers.replay import Replay

IMEI = "352099001761481"
_META = '<meta http-equiv="Content-Type" content="text/html; charset=shift_jis" />'
_FAQ = '<p><a href="faq.html">よくあるご質問</a></p>'
_STATUS_LABEL = "<h5>ネットワーク利用制限のステータス</h5>"
# The three labelled panels of the recorded page answering ○ (tests/carriers/pages.py).
_LABELLED_PANELS = (
    "<h5>製造番号</h5>\n"
    f'<div class="result-panel">{IMEI}</div>\n'
    f"{_STATUS_LABEL}\n"
    '<div class="result-panel">○</div>\n'
    "<h5>製造番号の検索日</h5>\n"
    '<div class="result-panel">2026年11月26日</div>\n'
)


def _fixture(case: str, imei: str = IMEI) -> Replay:
    return Replay.load("docomo", case, imei)


def _panel(content: str) -> str:
    return f'<div class="result-panel">{content}</div>'


def _answer(symbol: str, wording: str | bool = True) -> Page:
    """docomo's recorded result page answering ``symbol`` about ``IMEI``."""
    return answer_page(Carrier.DOCOMO, IMEI, symbol, wording=wording)


def _page(content: bytes, status: int = 200) -> Page:
    return Page("POST", "https://x/search.php", status, {"content-type": "text/html"}, content)


def _changed(page: Page, old: str, new: str) -> Page:
    """``page`` with ``old`` (which it holds exactly once) written as ``new``."""
    text = page_text(page)
    assert text.count(old) == 1, old
    return with_text(page, text.replace(old, new))


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
    body = _answer("△").content
    async with httpx.AsyncClient(transport=_serving(body, seen)) as client:
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
    assert raised.value.field == Reason.ECHO
    assert "353287081234565" in str(raised.value)
    assert len(raised.value.pages) == 1


@pytest.mark.parametrize(
    "echo",
    [
        "352099001761481",
        "35-209900-176148-1",  # printed as on the label (dejima.biz, §1.7)
        "35 209900 176148 1",
        "３５２０９９００１７６１４８１",  # full width
    ],
)
async def test_an_echo_of_our_imei_is_accepted_however_printed(echo: str) -> None:
    seen: list[httpx.Request] = []
    body = _changed(_answer("×"), _panel(IMEI), _panel(echo)).content
    async with httpx.AsyncClient(transport=_serving(body, seen)) as client:
        reading = (await DocomoAdapter(client).check(IMEI)).reading
    assert reading.status is Status.RESTRICTED


@pytest.mark.parametrize(
    "echo",
    [
        "35209900176148",  # 14 digits, no check digit
        "3520990017614801",  # IMEISV
        "35209900176****",  # masked
        "352099001761481（ご本人確認済）",  # annotated
        "製造番号：352099001761481",  # labelled inside the panel
    ],
)
async def test_an_echo_that_is_not_our_whole_imei_is_refused(echo: str) -> None:
    """Only the whole IMEI asked about shows the answer is about our device."""
    seen: list[httpx.Request] = []
    body = _changed(_answer("×"), _panel(IMEI), _panel(echo)).content
    async with httpx.AsyncClient(transport=_serving(body, seen)) as client:
        with pytest.raises(ParseError) as raised:
            await DocomoAdapter(client).check(IMEI)
    assert raised.value.field == Reason.ECHO
    assert len(raised.value.pages) == 1


@pytest.mark.parametrize(
    ("echo_panel", "reason"),
    [(_panel("製造番号：非表示"), Reason.ECHO), ("", Reason.STRUCTURE)],
    ids=["echo-hidden", "echo-panel-removed"],
)
def test_an_answer_that_does_not_name_our_imei_is_refused(echo_panel: str, reason: Reason) -> None:
    """The IMEI panel is part of docomo's answer: a page without our IMEI gives no answer."""
    page = _changed(_answer("○"), _panel(IMEI) + "\n", echo_panel)
    with pytest.raises(ParseError) as raised:
        DocomoAdapter.parse_result(page, IMEI)
    assert raised.value.field == reason


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
    reading = DocomoAdapter.parse_result(_fixture(case).result_page(), IMEI)
    assert reading.message == message


@pytest.mark.parametrize(
    ("symbol", "wording"),
    [
        ("○", "利用制限中です。"),
        ("×", "ネットワーク利用制限の対象外です。"),
        ("○", "ご利用いただけます。"),  # a sentence docomo is not known to print
    ],
)
def test_a_wording_for_another_status_is_refused(symbol: str, wording: str) -> None:
    """A page whose sentence contradicts its symbol (or is unknown) gives no answer."""
    with pytest.raises(ParseError) as raised:
        DocomoAdapter.parse_result(_answer(symbol, wording=wording), IMEI)
    assert raised.value.field == Reason.WORDING


@pytest.mark.parametrize(
    ("panel", "symbol"),
    [
        ("\n  ◯\n", "◯"),
        ("\u3000-\u3000", "-"),
        ("<span> △ </span>", "△"),
        ("\t×", "×"),
        ("<b>×</b>", "×"),
        ("<strong>\n△\n</strong>", "△"),
        ("<br>○<br>", "○"),
        ('<span class="big">○</span>', "○"),
        ("&#215;", "×"),
        ("&#x25CB;", "○"),
        ("<!-- status -->△", "△"),
    ],
)
def test_blanks_and_inline_markup_around_the_symbol(panel: str, symbol: str) -> None:
    page = _changed(_answer(symbol), _panel(symbol), _panel(panel))
    reading = DocomoAdapter.parse_result(page, IMEI)
    assert reading.symbol == symbol


@pytest.mark.parametrize(
    "markup",
    [
        "<div class='result-panel'>×</div>",
        "<div class=result-panel>×</div>",
        '<DIV CLASS="result-panel">×</DIV>',
        '<div class="status result-panel  big">×</div>',
        '<div\n  lang="ja" id="status"\n  class="result-panel">×</div>',
    ],
)
def test_the_panel_may_be_written_in_other_ways(markup: str) -> None:
    """Quoting, case, attribute order and extra class names do not change the answer."""
    page = _changed(_answer("×"), _panel("×"), markup)
    assert DocomoAdapter.parse_result(page, IMEI).status is Status.RESTRICTED


@pytest.mark.parametrize(
    ("panel", "reason"),
    [
        ("○ 利用可", Reason.SYMBOL),
        ("○○", Reason.SYMBOL),
        ("&#9675;?", Reason.SYMBOL),
        ("<img src=maru.gif alt='○'>", Reason.STRUCTURE),
        ("?", Reason.SYMBOL),
        ("<br>", Reason.SYMBOL),
        ('<span class="sr-only">×</span>○', Reason.HIDDEN),
        ('<span style="color:#fff">×</span>○', Reason.HIDDEN),
    ],
)
def test_only_a_bare_symbol_is_an_answer(panel: str, reason: Reason) -> None:
    page = _changed(_answer("○"), _panel("○"), _panel(panel))
    with pytest.raises(ParseError) as raised:
        DocomoAdapter.parse_result(page, IMEI)
    assert raised.value.field == reason


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        (_STATUS_LABEL, _panel("×") + "\n" + _STATUS_LABEL, Reason.STRUCTURE),
        (_panel(IMEI), _panel("×"), Reason.ECHO),
    ],
    ids=["panel-inserted-before-the-status", "symbol-in-the-imei-panel"],
)
def test_a_symbol_outside_the_status_panel_is_refused(old: str, new: str, reason: Reason) -> None:
    """A second symbol, before the status or in the IMEI's place, makes the answer unclear."""
    page = _changed(_answer("○"), old, new)
    with pytest.raises(ParseError) as raised:
        DocomoAdapter.parse_result(page, IMEI)
    assert raised.value.field == reason


def test_one_panel_is_not_a_result() -> None:
    page = _changed(_answer("○"), _LABELLED_PANELS, _panel("○") + "\n")
    with pytest.raises(ParseError) as raised:
        DocomoAdapter.parse_result(page, IMEI)
    assert raised.value.field == Reason.STRUCTURE


def test_the_search_form_again_is_not_taken_for_a_refusal() -> None:
    """The form coming back means the flow changed: an unrecognised page, not a refusal."""
    with pytest.raises(ParseError) as raised:
        DocomoAdapter.parse_result(_fixture("search-form-again").result_page(), IMEI)
    assert not isinstance(raised.value, CarrierRejected)
    assert raised.value.field == Reason.STRUCTURE


def test_the_legacy_captcha_page_is_screened() -> None:
    with pytest.raises(CaptchaRequired):
        DocomoAdapter.screen_page(_fixture("captcha").result_page())
    only_input = _page(b'<form><input name="attestationkey"></form>')
    with pytest.raises(CaptchaRequired):
        DocomoAdapter.screen_page(only_input)


def test_a_maintenance_link_on_a_result_page_is_not_maintenance() -> None:
    """The link is no maintenance screen; but the template does not know it: no answer."""
    news = _FAQ + '\n<p><a href="m.html">メンテナンス情報</a></p>'
    page = _changed(_answer("○"), _FAQ, news)
    DocomoAdapter.screen_page(page)
    with pytest.raises(ParseError) as raised:
        DocomoAdapter.parse_result(page, IMEI)
    assert raised.value.field == Reason.STRUCTURE
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
    page = replace(_changed(_answer("△"), _META + "\n", ""), headers={})
    assert DocomoAdapter.parse_result(page, IMEI).symbol == "△"


@pytest.mark.parametrize(
    ("headers", "meta"),
    [
        ({"content-type": "text/html; charset=UTF-8"}, ""),
        ({"content-type": "text/html"}, '<meta charset="UTF-8">\n'),
        ({}, '<meta http-equiv="Content-Type" content="text/html; charset=utf-8" />\n'),
    ],
    ids=["header-only", "meta-charset-only", "meta-http-equiv-only"],
)
def test_an_encoding_declared_once_is_used(headers: dict[str, str], meta: str) -> None:
    """A page in another encoding than Shift_JIS is read as it declares, wherever it does."""
    text = page_text(_answer("×")).replace(_META + "\n", meta)
    page = replace(_answer("×"), headers=headers, content=text.encode("utf-8"))
    reading = DocomoAdapter.parse_result(page, IMEI)
    assert (reading.symbol, reading.message) == ("×", "利用制限中です。")


def test_a_forbidden_page_served_with_200_is_blocked() -> None:
    with pytest.raises(Blocked):
        DocomoAdapter.screen_page(_page(b"<html><title>403 Forbidden</title><h1>Forbidden</h1>"))
