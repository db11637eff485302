"""au adapter behaviour beyond the generated fixture replays (carrier-sites.md §2)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from akarom.carriers._base import Page
from akarom.carriers.au import AuAdapter
from akarom.domain import Status
from akarom.errors import (
    Blocked,
    CaptchaRequired,
    Maintenance,
    ParseError,
    RateLimited,
)
from tests.carriers.replay import FIXTURES, Replay

SJIS = {"content-type": "text/html; charset=Shift_JIS"}
FORM_URL = "https://my.au.com/cmn/WCV009001/WCE009001.hc"


def _page(html: str, *, headers=None, url=FORM_URL, status=200, encoding="cp932") -> Page:
    return Page(
        method="GET",
        url=url,
        status_code=status,
        headers=SJIS if headers is None else headers,
        content=html.encode(encoding),
    )


def _form(inner: str, attrs: str = 'name="nextForm" method="post"', action: str | None = None):
    action_attr = f' action="{action}"' if action is not None else ""
    return f"<html><body><form {attrs}{action_attr}>{inner}</form></body></html>"


def _result(details: str, *, echo: str | None = "352099001761481", extra: str = "") -> Page:
    echo_item = (
        f'<li class="list_item"><div class="list_heading">製造番号</div>'
        f'<div class="list_details">{echo}</div></li>'
        if echo is not None
        else ""
    )
    html = (
        "<html><body><div><div><ul>"
        f"{echo_item}"
        f'<li class="list_item"><div class="list_heading">状態</div>'
        f'<div class="list_details">{details}</div></li>{extra}'
        "</ul></div></div></body></html>"
    )
    return _page(html, url="https://my.au.com/cmn/WCV009002/WCE009002.hc")


# --- the form: hidden fields, the IMEI input's name, the action -------------------------


def test_every_hidden_field_goes_back_with_the_imei() -> None:
    page = _page(
        _form(
            '<input type="hidden" name="screenId" value="WCE009001">'
            '<input type="hidden" name="token" value="abc">'
            '<input type="hidden" name="empty">'
            '<input type="text" id="imei" name="imei" value="">',
            action="/cmn/WCV009002/WCE009002.hc",
        )
    )
    method, path, fields, encoding = AuAdapter.form_submission(page, "352099001761481")
    assert method == "POST"
    assert path == "/cmn/WCV009002/WCE009002.hc"
    assert fields == {
        "screenId": "WCE009001",
        "token": "abc",
        "empty": "",
        "imei": "352099001761481",
    }
    assert encoding == "cp932"


@pytest.mark.parametrize(
    ("inputs", "name"),
    [
        ('<input type="text" id="imei" name="imei">', "imei"),
        ('<input type="text" id="imei" name="IMEI">', "IMEI"),
        ('<input type="text" id="IMEI" name="imeiNo">', "imeiNo"),
        ('<input type="text" name="IMEI">', "IMEI"),
        ('<input type="text" name="serial">', "imei"),
        ("", "imei"),
    ],
)
def test_the_imei_goes_in_the_input_the_page_names(inputs: str, name: str) -> None:
    page = _page(_form(inputs, action="/cmn/WCV009002/WCE009002.hc"))
    _, _, fields, _ = AuAdapter.form_submission(page, "352099001761481")
    assert fields[name] == "352099001761481"


@pytest.mark.parametrize(
    ("action", "path"),
    [
        ("/cmn/WCV009002/WCE009002.hc", "/cmn/WCV009002/WCE009002.hc"),
        ("../WCV009002/WCE009002.hc", "/cmn/WCV009002/WCE009002.hc"),
        ("https://my.au.com/cmn/WCV009002/WCE009002.hc", "/cmn/WCV009002/WCE009002.hc"),
        ("WCE009002.hc?x=1", "/cmn/WCV009001/WCE009002.hc?x=1"),
    ],
)
def test_the_action_is_resolved_against_the_form_page(action: str, path: str) -> None:
    page = _page(_form('<input id="imei" name="imei">', action=action))
    assert AuAdapter.form_submission(page, "352099001761481")[1] == path


def test_a_form_found_by_its_action_when_it_has_no_name() -> None:
    page = _page(
        "<html><body><form name='search' action='/search'></form>"
        "<form method='post' action='/cmn/WCV009002/WCE009002.hc'>"
        "<input type='hidden' name='k' value='v'></form></body></html>"
    )
    _, path, fields, _ = AuAdapter.form_submission(page, "352099001761481")
    assert path == "/cmn/WCV009002/WCE009002.hc"
    assert fields["k"] == "v"


@pytest.mark.parametrize("action", [None, "", "#", "javascript:void(0)"])
def test_a_form_without_a_usable_action_is_a_parse_error(action: str | None) -> None:
    page = _page(_form('<input id="imei" name="imei">', action=action))
    with pytest.raises(ParseError) as raised:
        AuAdapter.form_submission(page, "352099001761481")
    assert raised.value.field == "form action"


def test_no_form_is_a_parse_error() -> None:
    with pytest.raises(ParseError) as raised:
        AuAdapter.form_submission(_page("<html><body><p>x</p></body></html>"), "1")
    assert raised.value.field == "form"


@pytest.mark.parametrize(
    ("headers", "meta", "body_encoding", "expected"),
    [
        (SJIS, "", "cp932", "cp932"),
        ({"content-type": "text/html; charset=UTF-8"}, "", "utf-8", "utf-8"),
        ({"content-type": "text/html"}, '<meta charset="utf-8">', "utf-8", "utf-8"),
        ({"content-type": "text/html"}, '<meta charset="Shift_JIS">', "cp932", "cp932"),
        ({}, "", "cp932", "cp932"),
    ],
)
def test_the_form_goes_back_in_the_page_charset(headers, meta, body_encoding, expected) -> None:
    html = meta + _form(
        '<input type="hidden" name="label" value="照会">', action="/cmn/WCV009002/WCE009002.hc"
    )
    page = _page(html, headers=headers, encoding=body_encoding)
    _, _, fields, encoding = AuAdapter.form_submission(page, "352099001761481")
    assert encoding == expected
    assert fields["label"] == "照会"


async def test_posts_to_the_given_host_and_encodes_in_shift_jis() -> None:
    """An absolute action on my.au.com is followed on the host the adapter was given."""
    seen: list[httpx.Request] = []
    form = (
        '<html><head><meta charset="Shift_JIS"></head><body>'
        '<form name="nextForm" method="post" action="https://my.au.com/cmn/WCV009002/WCE009002.hc">'
        '<input type="hidden" name="label" value="照会"><input id="imei" name="imei"></form>'
        "</body></html>"
    )
    result = _result("〇ご利用いただけます").content

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = form.encode("cp932") if request.method == "GET" else result
        return httpx.Response(200, headers=SJIS, content=body)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        adapter = AuAdapter(client, base_url="http://127.0.0.1:8765/")
        observation = await adapter.check("352099001761481")
    assert observation.reading.status is Status.OK
    assert [str(r.url) for r in seen] == [
        "http://127.0.0.1:8765/cmn/WCV009001/WCE009001.hc",
        "http://127.0.0.1:8765/cmn/WCV009002/WCE009002.hc",
    ]
    post = seen[1]
    assert post.headers["content-type"] == "application/x-www-form-urlencoded"
    assert post.headers["referer"] == "http://127.0.0.1:8765/cmn/WCV009001/WCE009001.hc"
    assert b"label=%8F%C6%89%EF" in post.content  # 照会 in Shift_JIS
    sent = dict(parse_qsl(post.content.decode("ascii"), encoding="cp932"))
    assert sent == {"label": "照会", "imei": "352099001761481"}


async def test_a_get_form_sends_its_fields_in_the_query() -> None:
    seen: list[httpx.Request] = []
    form = _form(
        '<input type="hidden" name="k" value="v"><input id="imei" name="imei">',
        attrs='name="nextForm" method="get"',
        action="/cmn/WCV009002/WCE009002.hc",
    )

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            return httpx.Response(200, headers=SJIS, content=form.encode("cp932"))
        return httpx.Response(200, headers=SJIS, content=_result("△ ご利用いただけます").content)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        observation = await AuAdapter(client).check("352099001761481")
    assert observation.reading.status is Status.PENDING
    url = urlsplit(str(seen[1].url))
    assert seen[1].method == "GET"
    assert dict(parse_qsl(url.query)) == {"k": "v", "imei": "352099001761481"}


# --- reading the answer ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("details", "status", "symbol", "message"),
    [
        ("〇ご利用いただけます。", Status.OK, "〇", "ご利用いただけます。"),
        (
            "○\u3000ネットワーク利用制限の対象外です",
            Status.OK,
            "○",
            "ネットワーク利用制限の対象外です",
        ),
        (
            "<span>○</span><br>ネットワーク利用制限の対象外です",
            Status.OK,
            "○",
            "ネットワーク利用制限の対象外です",
        ),
        ("<p>△</p><p>代金のお支払い中です。</p>", Status.PENDING, "△", "代金のお支払い中です。"),
        ("×：利用制限中です", Status.RESTRICTED, "×", "利用制限中です"),
        ("ー", Status.UNREGISTERED, "ー", None),
        ("ー 製造番号が確認できません", Status.UNREGISTERED, "ー", "製造番号が確認できません"),
        ("ー製造番号が確認できません", Status.UNREGISTERED, "ー", "製造番号が確認できません"),
        ("<span>ー</span><span>ネットワーク</span>", Status.UNREGISTERED, "ー", "ネットワーク"),
        ("－\n\t確認できません", Status.UNREGISTERED, "－", "確認できません"),
        ("-<br>確認できません", Status.UNREGISTERED, "-", "確認できません"),
        ("-（記録なし）", Status.UNREGISTERED, "-", "（記録なし）"),
        ("\n\u3000 △ \n", Status.PENDING, "△", None),
    ],
)
def test_reads_the_symbol_and_the_wording(details, status, symbol, message) -> None:
    reading = AuAdapter.parse_result(_result(details))
    assert (reading.status, reading.symbol) == (status, symbol)
    if message is not None:
        assert reading.message == message


@pytest.mark.parametrize(
    "details",
    [
        "",
        "   \u3000 ",
        "ーク利用制限の対象外です",  # the tail of ネットワーク: a word fragment
        "ーネットワーク利用制限",  # ー glued to katakana: refused (known cost, see module doc)
        "-equiv",
        "-11-26",
        "－1件",
        "−１",
        "〇二六年",
        "〇〇",
        "××",
        "◎ご利用いただけます",
        "●",
        "0",
        "x",
        "状態：〇",
        "ご利用いただけます 〇",
    ],
)
def test_anything_else_in_the_details_is_a_parse_error(details: str) -> None:
    with pytest.raises(ParseError) as raised:
        AuAdapter.parse_result(_result(details))
    assert raised.value.field == "symbol"


def test_the_status_item_is_found_by_its_heading_not_its_position() -> None:
    extra = (
        '<li class="list_item"><div class="list_heading">照会日</div>'
        '<div class="list_details">2026年11月26日</div></li>'
    )
    page = _result("×利用制限中です", echo=None, extra=extra)
    assert AuAdapter.parse_result(page).status is Status.RESTRICTED


def test_two_status_items_are_a_parse_error() -> None:
    extra = (
        '<li class="list_item"><div class="list_heading">状態</div>'
        '<div class="list_details">×</div></li>'
    )
    with pytest.raises(ParseError) as raised:
        AuAdapter.parse_result(_result("〇", extra=extra))
    assert raised.value.field == "status item"


def test_a_status_item_with_two_details_is_a_parse_error() -> None:
    with pytest.raises(ParseError) as raised:
        AuAdapter.parse_result(_result('〇</div><div class="list_details">×'))
    assert raised.value.field == "status details"


def test_a_notice_instead_of_the_list_is_quoted_in_the_parse_error() -> None:
    page = Replay.load("au", "notice_instead_of_result", "356938035643809").result_page()
    with pytest.raises(ParseError) as raised:
        AuAdapter.parse_result(page)
    assert raised.value.field == "result list"
    assert "入力内容をご確認ください。" in str(raised.value)


# --- the IMEI echo --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("echo", "imei"),
    [
        ("352099001761481", "352099001761481"),
        ("35-209900-176148-1", "352099001761481"),
        ("３５２０９９００１７６１４８１", "352099001761481"),
        ("35209900176148", "352099001761481"),
        ("3520990017614812", "352099001761481"),  # an IMEISV: same first 14 digits
        ("35209900176****", "352099001761481"),  # masked digits are not compared
        ("a0000000002329", "A0000000002329"),
        ("A0000000002329", "a0000000002329"),
        ("3520990", "352099001761481"),  # too short to compare
    ],
)
async def test_an_echo_of_the_same_device_is_accepted(echo: str, imei: str) -> None:
    assert await _check_with_echo(echo, imei) is Status.OK


@pytest.mark.parametrize(
    ("echo", "imei"),
    [
        ("356938035643809", "352099001761481"),
        ("352099001761491", "352099001761481"),
        ("A0000000002330", "A0000000002329"),
    ],
)
async def test_an_echo_of_another_device_is_a_parse_error(echo: str, imei: str) -> None:
    with pytest.raises(ParseError) as raised:
        await _check_with_echo(echo, imei)
    assert raised.value.field == "imei echo"
    assert len(raised.value.pages) == 2


async def _check_with_echo(echo: str, imei: str) -> Status:
    form = _form('<input id="imei" name="imei">', action="/cmn/WCV009002/WCE009002.hc")
    result = _result("〇ご利用いただけます", echo=echo)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, headers=SJIS, content=form.encode("cp932"))
        return httpx.Response(200, headers=SJIS, content=result.content)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        return (await AuAdapter(client).check(imei)).reading.status


def test_the_echo_is_read_from_the_recorded_page() -> None:
    page = Replay.load("au", "meid_ok", "A0000000002329").result_page()
    assert AuAdapter.echoed_id(page) == "A0000000002329"
    assert AuAdapter.echoed_id(_result("〇", echo=None)) is None


# --- pages that are not answers --------------------------------------------------------


def _fixture_page(case: str, body: str) -> bytes:
    return (FIXTURES / "au" / case / body).read_bytes()


@pytest.mark.parametrize("status", [200, 403, 404, 500])
def test_the_forbidden_page_is_blocked_whatever_its_status(status: int) -> None:
    content = _fixture_page("forbidden_403", "01-forbidden.html")
    page = Page("GET", FORM_URL, status, SJIS, content)
    with pytest.raises(Blocked):
        AuAdapter.screen_page(page)


def test_the_form_page_with_a_maintenance_notice_is_not_a_maintenance_page() -> None:
    """The form warns of weekly メンテナンス and links to メンテナンス情報; it is still the form."""
    page = Page("GET", FORM_URL, 200, SJIS, _fixture_page("ok", "01-form.html"))
    assert "メンテナンス".encode("cp932") in page.content
    AuAdapter.screen_page(page)


@pytest.mark.parametrize(
    "html",
    [
        "<html><head><title>メンテナンスのお知らせ</title></head><body></body></html>",
        "<html><body><h2>システムメンテナンス中</h2><form action='/x'></form></body></html>",
        "<html><body><p>ただいまメンテナンス中です。</p></body></html>",
    ],
)
def test_maintenance_pages(html: str) -> None:
    with pytest.raises(Maintenance):
        AuAdapter.screen_page(_page(html))


@pytest.mark.parametrize(
    "html",
    [
        "<html><body><p><a href='/m'>メンテナンス情報</a></p></body></html>",
        "<html><body><form action='/x'></form><p>メンテナンスのため停止する場合があります</p>"
        "</body></html>",
        "<html><body><script>var m = 'メンテナンス';</script></body></html>",
        "<html><body><form name='nextForm' action='/cmn/WCV009002/WCE009002.hc'>"
        "<input id='imei' name='imei'></form><script>var s = '画像認証';</script></body></html>",
    ],
)
def test_a_mere_mention_of_maintenance_or_captcha_is_not_a_screen(html: str) -> None:
    AuAdapter.screen_page(_page(html))


@pytest.mark.parametrize(
    "inner",
    [
        "<p>画像認証</p>",
        '<img src="/cmn/Captcha.jpg">',
        '<input name="captcha_code">',
        '<div class="g-recaptcha"></div>',
        '<iframe src="https://www.google.com/recaptcha/api2/anchor"></iframe>',
    ],
)
def test_captcha_markers(inner: str) -> None:
    with pytest.raises(CaptchaRequired):
        AuAdapter.screen_page(_page(_form(inner, action="/cmn/WCV009002/WCE009002.hc")))


def test_a_result_page_is_never_screened_as_captcha_or_maintenance() -> None:
    page = _result("〇ご利用いただけます", extra="<li>画像認証 メンテナンス</li>")
    AuAdapter.screen_page(page)
    assert AuAdapter.parse_result(page).status is Status.OK


async def test_429_carries_retry_after() -> None:
    replay = Replay.load("au", "rate_limited", "490154203237518")
    async with httpx.AsyncClient(transport=replay.transport()) as client:
        with pytest.raises(RateLimited) as raised:
            await AuAdapter(client).check("490154203237518")
    assert raised.value.retry_after == 120.0
    assert raised.value.pages[0].status_code == 429


async def test_the_reading_keeps_the_wording_of_the_recorded_page() -> None:
    replay = Replay.load("au", "pending", "490154203237518")
    async with httpx.AsyncClient(transport=replay.transport()) as client:
        observation = await AuAdapter(client).check("490154203237518")
    assert observation.reading.symbol == "△"
    assert observation.reading.message is not None
    assert observation.reading.message.startswith("ご利用いただけますが")
    assert observation.adapter_version == AuAdapter.VERSION
