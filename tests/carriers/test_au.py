"""au adapter behaviour beyond the generated fixture replays (carrier-sites.md §2)."""

from __future__ import annotations

import re
from dataclasses import replace
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from akarom.carriers._base import Page
from akarom.carriers._template import Reason
from akarom.carriers.au import WORDINGS, AuAdapter
from akarom.domain import Carrier, Status
from akarom.errors import (
    Blocked,
    CaptchaRequired,
    Maintenance,
    ParseError,
    RateLimited,
)
from tests.carriers.pages import answer_page, page_text, recorded, with_text
from tests.carriers.replay import FIXTURES, Replay

SJIS = {"content-type": "text/html; charset=Shift_JIS"}
FORM_URL = "https://my.au.com/cmn/WCV009001/WCE009001.hc"
IMEI = "352099001761481"

OK_WORDING = WORDINGS[Status.OK][0]
PENDING_WORDING = WORDINGS[Status.PENDING][0]
RESTRICTED_WORDING = WORDINGS[Status.RESTRICTED][0]
UNREGISTERED_WORDING = WORDINGS[Status.UNREGISTERED][0]

# The items of the recorded answer 〇 about IMEI (tests/carriers/fixtures/au/ok).
_ECHO_ITEM = (
    '<li class="list_item"><div class="list_heading">製造番号（IMEI）</div>'
    f'<div class="list_details">{IMEI}</div></li>'
)
_STATUS_HEADING = '<div class="list_heading">状態</div>'
_DETAILS = f'<div class="list_details">〇{OK_WORDING}</div>'
_STATUS_ITEM = f'<li class="list_item">{_STATUS_HEADING}{_DETAILS}</li>'
_DATE_ITEM = (
    '<li class="list_item"><div class="list_heading">照会日</div>'
    '<div class="list_details">2026年11月26日</div></li>'
)
# An item the template does not know: heading or details other than its own.
_ITEM_REASONS = {Reason.STRUCTURE, Reason.TEXT}


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


def _changed(page: Page, *changes: tuple[str, str]) -> Page:
    """``page`` with each ``(old, new)`` written in; ``old`` must be there exactly once."""
    text = page_text(page)
    for old, new in changes:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return with_text(page, text)


def _answer(*changes: tuple[str, str]) -> Page:
    """au's recorded answer 〇 about ``IMEI``, changed only as a test needs."""
    return _changed(recorded(Carrier.AU, "ok"), *changes)


def _result(details: str) -> Page:
    """The recorded answer with ``details`` in its 状態 item."""
    return _answer((_DETAILS, f'<div class="list_details">{details}</div>'))


def _listing(*items: str) -> Page:
    """The recorded answer whose result list holds ``items``, in that order."""
    page = recorded(Carrier.AU, "ok")
    text, found = re.subn(
        r'(<ul class="list">).*?(</ul>)',
        lambda m: m.group(1) + "\n" + "\n".join(items) + "\n" + m.group(2),
        page_text(page),
        flags=re.S,
    )
    assert found == 1
    return with_text(page, text)


def _recorded_form() -> bytes:
    replay = Replay.load("au", "ok", IMEI)
    return replay.body(replay.steps[0])


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
    result = answer_page(Carrier.AU, IMEI, "〇").content

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = form.encode("cp932") if request.method == "GET" else result
        return httpx.Response(200, headers=SJIS, content=body)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        adapter = AuAdapter(client, base_url="http://127.0.0.1:8765/")
        observation = await adapter.check(IMEI)
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
    assert sent == {"label": "照会", "imei": IMEI}


async def test_a_get_form_sends_its_fields_in_the_query() -> None:
    seen: list[httpx.Request] = []
    form = _form(
        '<input type="hidden" name="k" value="v"><input id="imei" name="imei">',
        attrs='name="nextForm" method="get"',
        action="/cmn/WCV009002/WCE009002.hc",
    )
    result = answer_page(Carrier.AU, IMEI, "△").content

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            return httpx.Response(200, headers=SJIS, content=form.encode("cp932"))
        return httpx.Response(200, headers=SJIS, content=result)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        observation = await AuAdapter(client).check(IMEI)
    assert observation.reading.status is Status.PENDING
    url = urlsplit(str(seen[1].url))
    assert seen[1].method == "GET"
    assert dict(parse_qsl(url.query)) == {"k": "v", "imei": IMEI}


# --- reading the answer ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("details", "status", "symbol", "message"),
    [
        (f"〇{OK_WORDING}", Status.OK, "〇", OK_WORDING),
        (f"○\u3000{OK_WORDING}", Status.OK, "○", OK_WORDING),
        (f"<span>○</span><br>{OK_WORDING}", Status.OK, "○", OK_WORDING),
        (f"&#x3007;{OK_WORDING}", Status.OK, "〇", OK_WORDING),
        (f"<b>△</b> <strong>{PENDING_WORDING}</strong>", Status.PENDING, "△", PENDING_WORDING),
        (f"×：{RESTRICTED_WORDING}", Status.RESTRICTED, "×", RESTRICTED_WORDING),
        (f"×<!-- 結果 -->{RESTRICTED_WORDING}", Status.RESTRICTED, "×", RESTRICTED_WORDING),
        ("ー", Status.UNREGISTERED, "ー", None),
        (f"ー {UNREGISTERED_WORDING}", Status.UNREGISTERED, "ー", UNREGISTERED_WORDING),
        (f"ー{UNREGISTERED_WORDING}", Status.UNREGISTERED, "ー", UNREGISTERED_WORDING),
        (
            f"<span>ー</span><span>{UNREGISTERED_WORDING}</span>",
            Status.UNREGISTERED,
            "ー",
            UNREGISTERED_WORDING,
        ),
        (f"－\n\t{UNREGISTERED_WORDING}", Status.UNREGISTERED, "－", UNREGISTERED_WORDING),
        (f"-<br>{UNREGISTERED_WORDING}", Status.UNREGISTERED, "-", UNREGISTERED_WORDING),
        ("\n\u3000 △ \n", Status.PENDING, "△", None),
        ("&nbsp;×&nbsp;", Status.RESTRICTED, "×", None),
    ],
)
def test_reads_the_symbol_and_the_wording(details, status, symbol, message) -> None:
    reading = AuAdapter.parse_result(_result(details), IMEI)
    assert (reading.status, reading.symbol, reading.message) == (status, symbol, message)


@pytest.mark.parametrize(
    "details",
    [
        "",
        "   \u3000 ",
        "◎ご利用いただけます",
        "●",
        "0",
        "x",
        "状態：〇",
        f"ご利用いただけます 〇{OK_WORDING}",
        "〇&#x20E0;",  # a combining mark over the symbol
        f"○&#x0338;{OK_WORDING}",
        "×&#xFE0F;",
    ],
)
def test_anything_else_in_the_details_is_a_parse_error(details: str) -> None:
    """The details start with exactly one known symbol, unaltered, or nothing is read."""
    with pytest.raises(ParseError) as raised:
        AuAdapter.parse_result(_result(details), IMEI)
    assert raised.value.field == Reason.SYMBOL


@pytest.mark.parametrize(
    "details",
    [
        "ーク利用制限の対象外です",  # the tail of ネットワーク: a word fragment
        "ーネットワーク利用制限",
        "-equiv",
        "-11-26",
        "－1件",
        "&#x2212;１",
        "〇二六年",
        "〇〇",  # a second symbol
        "××",
        f"× 〇{OK_WORDING}",
        "〇ご利用いただけます。",  # a part of au's sentence
        "○\u3000ネットワーク利用制限の対象外です",
        "ー 製造番号が確認できません",
        "-（記録なし）",
        f"〇{RESTRICTED_WORDING}",  # the sentence for another status
        f"×{OK_WORDING}",
        f"△ {UNREGISTERED_WORDING}",
        f"ー{PENDING_WORDING}",
    ],
)
def test_a_wording_au_does_not_print_with_that_symbol_is_a_parse_error(details: str) -> None:
    """Only au's own sentence for the status shown may follow the symbol."""
    with pytest.raises(ParseError) as raised:
        AuAdapter.parse_result(_result(details), IMEI)
    assert raised.value.field == Reason.WORDING


@pytest.mark.parametrize(
    ("details", "reason"),
    [
        (f"<p>△</p><p>{PENDING_WORDING}</p>", Reason.STRUCTURE),  # not simple inline markup
        (f"<s>×</s>〇{OK_WORDING}", Reason.STRUCTURE),
        (f'<span class="hidden">×</span>〇{OK_WORDING}', Reason.HIDDEN),
        (f"<span hidden>×</span>〇{OK_WORDING}", Reason.HIDDEN),
        (f'<span style="display:none">×</span>〇{OK_WORDING}', Reason.HIDDEN),
        (f'<span style="color:#fff">〇</span>×{RESTRICTED_WORDING}', Reason.HIDDEN),
    ],
)
def test_markup_that_hides_or_is_not_simple_inline_is_a_parse_error(details, reason) -> None:
    """Hidden, struck or block markup in the details may change what a person reads there."""
    with pytest.raises(ParseError) as raised:
        AuAdapter.parse_result(_result(details), IMEI)
    assert raised.value.field == reason


@pytest.mark.parametrize(
    "change",
    [
        ('<ul class="list">', "<UL CLASS='list'>"),
        (_DETAILS, f"<div class=list_details>〇{OK_WORDING}</div>"),
        ('<ul class="list">', '<ul data-count="2" class="list list_result" id="result">'),
        (_STATUS_HEADING, '<div data-key="status" class="txt_bold list_heading">状態</div>'),
        (_STATUS_HEADING, '<div class="list_heading">\n\u3000状態\u3000\n</div>'),
        (_STATUS_HEADING, '<div class="list_heading">&#x72B6;&#x614B;</div>'),
        (_STATUS_HEADING, '<div class="list_heading"><b>状態</b><!-- 結果 --></div>'),
        (f">{IMEI}<", ">35-209900-176148-1<"),
        (f">{IMEI}<", ">&#51;5 209900 176148 1<"),
        ("製造番号（IMEI）", "\n製造番号（IMEI/MEID）\n"),
        ("</ul>", f"{_DATE_ITEM}\n</ul>"),
    ],
    ids=[
        "tag-case-and-quoting",
        "unquoted-class",
        "extra-classes-data-and-id",
        "attribute-order",
        "blanks-around-heading",
        "character-references",
        "inline-markup-and-comment-in-heading",
        "hyphenated-echo",
        "spaced-echo-by-reference",
        "meid-heading",
        "date-item",
    ],
)
def test_ordinary_variations_of_the_recorded_answer_are_read(change: tuple[str, str]) -> None:
    """Markup that changes nothing a person sees never stops the answer being read."""
    reading = AuAdapter.parse_result(_answer(change), IMEI)
    assert (reading.status, reading.symbol, reading.message) == (Status.OK, "〇", OK_WORDING)


@pytest.mark.parametrize(
    ("headers", "meta", "encoding"),
    [
        (SJIS, "", "cp932"),
        ({"content-type": "text/html"}, '<meta charset="Shift_JIS">', "cp932"),
        ({"content-type": "text/html; charset=UTF-8"}, "", "utf-8"),
        ({}, '<meta http-equiv="Content-Type" content="text/html; charset=UTF-8">', "utf-8"),
    ],
    ids=["sjis-header-only", "sjis-meta-only", "utf8-header-only", "utf8-meta-only"],
)
def test_the_answer_is_read_in_the_charset_it_declares(headers, meta, encoding) -> None:
    """The charset may be declared in the header or in a meta tag only."""
    recorded_meta = '<meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS">'
    page = _answer((recorded_meta, meta))
    page = replace(page, headers=headers, content=page_text(page).encode(encoding))
    assert AuAdapter.parse_result(page, IMEI).status is Status.OK


def test_the_status_item_is_found_by_its_heading_not_its_position() -> None:
    status_item = _STATUS_ITEM.replace(f"〇{OK_WORDING}", f"×{RESTRICTED_WORDING}")
    page = _listing(status_item, _DATE_ITEM, _ECHO_ITEM)
    assert AuAdapter.parse_result(page, IMEI).status is Status.RESTRICTED


@pytest.mark.parametrize(
    "heading", ["SIMロック解除状態", "状態（ネットワーク利用制限）", "ご利用状態"]
)
def test_a_heading_that_merely_contains_the_status_heading_is_a_parse_error(heading) -> None:
    """Only the item headed exactly 状態 holds the answer; an item au never showed is drift."""
    other = _STATUS_ITEM.replace("状態", heading)
    for page in (_listing(_ECHO_ITEM, other), _listing(_ECHO_ITEM, _STATUS_ITEM, other)):
        with pytest.raises(ParseError) as raised:
            AuAdapter.parse_result(page, IMEI)
        assert raised.value.field in _ITEM_REASONS


@pytest.mark.parametrize(
    "items",
    [
        (_ECHO_ITEM, _STATUS_ITEM, _STATUS_ITEM.replace(f"〇{OK_WORDING}", "×")),
        (_ECHO_ITEM, _STATUS_ITEM.replace(f"〇{OK_WORDING}", "×"), _STATUS_ITEM, _DATE_ITEM),
    ],
    ids=["two-status-items", "two-status-items-and-a-date"],
)
def test_two_status_items_are_a_parse_error(items: tuple[str, ...]) -> None:
    """Two answers on one page: neither is read."""
    with pytest.raises(ParseError) as raised:
        AuAdapter.parse_result(_listing(*items), IMEI)
    assert raised.value.field in _ITEM_REASONS


def test_a_status_item_with_two_details_is_a_parse_error() -> None:
    with pytest.raises(ParseError) as raised:
        AuAdapter.parse_result(
            _answer((_DETAILS, _DETAILS + '<div class="list_details">×</div>')), IMEI
        )
    assert raised.value.field == Reason.STRUCTURE


def test_a_notice_instead_of_the_list_is_a_parse_error() -> None:
    page = Replay.load("au", "notice_instead_of_result", "356938035643809").result_page()
    with pytest.raises(ParseError):
        AuAdapter.parse_result(page, "356938035643809")


def test_a_notice_instead_of_the_list_is_quoted_in_the_parse_error() -> None:
    page = Replay.load("au", "notice_instead_of_result", "356938035643809").result_page()
    with pytest.raises(ParseError) as raised:
        AuAdapter.parse_result(page, "356938035643809")
    assert "入力内容をご確認ください。" in str(raised.value)


# --- the IMEI echo --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("echo", "imei"),
    [
        ("352099001761481", "352099001761481"),
        ("35-209900-176148-1", "352099001761481"),
        ("35 209900 176148 1", "352099001761481"),
        ("３５２０９９００１７６１４８１", "352099001761481"),
        ("a0000000002329", "A0000000002329"),
        ("A0000000002329", "a0000000002329"),
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
        # The whole IMEI asked, or the answer is not known to be about it:
        ("35209900176148", "352099001761481"),  # shortened
        ("3520990017614812", "352099001761481"),  # an IMEISV
        ("35209900176****", "352099001761481"),  # masked
        ("3520990", "352099001761481"),  # too short to name a device
        ("352099001761481（IMEI）", "352099001761481"),  # annotated
    ],
)
async def test_an_echo_of_another_or_a_partial_number_is_a_parse_error(echo, imei) -> None:
    with pytest.raises(ParseError) as raised:
        await _check_with_echo(echo, imei)
    assert raised.value.field == Reason.ECHO
    assert len(raised.value.pages) == 2


async def _check_with_echo(echo: str, imei: str) -> Status:
    form = _recorded_form()
    result = answer_page(Carrier.AU, echo, "〇").content

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, headers=SJIS, content=form)
        return httpx.Response(200, headers=SJIS, content=result)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        return (await AuAdapter(client).check(imei)).reading.status


def test_the_echo_is_read_from_the_recorded_page() -> None:
    page = Replay.load("au", "meid_ok", "A0000000002329").result_page()
    assert AuAdapter.recognise(page, "A0000000002329")["echo"] == "A0000000002329"
    with pytest.raises(ParseError) as raised:
        AuAdapter.parse_result(page, "A0000000002330")
    assert raised.value.field == Reason.ECHO


def test_an_answer_without_the_imei_echo_is_a_parse_error() -> None:
    """au always names the device it answers for; an answer that does not is not read."""
    with pytest.raises(ParseError):
        AuAdapter.parse_result(_listing(_STATUS_ITEM), IMEI)
    with pytest.raises(ParseError):
        AuAdapter.parse_result(_listing(_STATUS_ITEM, _DATE_ITEM), IMEI)


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
    """A result list that mentions 画像認証 or メンテナンス is drift, never a screen."""
    answer = answer_page(Carrier.AU, IMEI, "〇")
    AuAdapter.screen_page(answer)
    assert AuAdapter.parse_result(answer, IMEI).status is Status.OK
    page = _answer(("</ul>", "<li>画像認証 メンテナンス</li></ul>"))
    AuAdapter.screen_page(page)
    with pytest.raises(ParseError) as raised:
        AuAdapter.parse_result(page, IMEI)
    assert raised.value.field in _ITEM_REASONS


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
