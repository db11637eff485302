"""Rakuten adapter behaviour beyond the generated replays (carrier-sites.md §4).

The generic mutation tests skip Rakuten's pages (the symbol is a number in JSON, not
printed text), so the JSON is attacked here: any ``status`` value, any document, cut
bodies, other HTTP statuses, other keys, other echoes. Only an HTTP 200
``application/json`` object whose ``status`` is exactly the integer 0, 1, 2 or 3,
beside at most the IMEI asked (``imei``) and a known sentence (``message``), is ever
an answer.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from akarom.carriers._base import Page, Reading
from akarom.carriers._template import Reason
from akarom.carriers.rakuten import API_PATH, STATUS_CODES, WORDINGS, RakutenAdapter
from akarom.domain import Carrier, Status
from akarom.errors import (
    Blocked,
    CaptchaRequired,
    CarrierError,
    CarrierRejected,
    Maintenance,
    ParseError,
)
from tests.carriers.pages import answer_page, recorded

IMEI = "352099001761481"
OTHER_IMEI = "356938035643809"
JSON = {"content-type": "application/json"}
#: The one known sentence (for status 1, pending).
WORDING = WORDINGS[Status.PENDING][0]
#: The keys an answer may hold.
KEYS = {"status", "imei", "message"}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
#: Objects made of the answer's own keys, each value right or nearly right.
answer_like = st.fixed_dictionaries(
    {"status": st.sampled_from([0, 1, 2, 3]) | st.sampled_from([-1, 4, True, 0.0, "0", None])},
    optional={
        "imei": st.sampled_from([IMEI, int(IMEI)])
        | st.sampled_from([OTHER_IMEI, IMEI[:14], f" {IMEI}", None, True]),
        "message": st.sampled_from([WORDING, f" {WORDING} "])
        | st.sampled_from(["分割払い中です", "", 5, None]),
    },
)


def _page(
    body: bytes | str,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    url: str | None = None,
) -> Page:
    """The recorded answer about ``IMEI`` with another body (and status, headers or URL)."""
    page = recorded(Carrier.RAKUTEN, "ok")
    content = body.encode("utf-8") if isinstance(body, str) else body
    return replace(
        page,
        status_code=status,
        headers=JSON if headers is None else headers,
        content=content,
        url=url or page.url,
    )


def _outcome(page: Page, imei: str = IMEI) -> Reading | None:
    try:
        return RakutenAdapter.parse_result(page, imei)
    except CarrierError:
        return None


def _is_status(value: Any) -> bool:
    return type(value) is int and value in (0, 1, 2, 3)


def _is_answer(document: Any) -> bool:
    """What the endpoint may say: an exact status, the IMEI asked, the sentence for it."""
    if not isinstance(document, dict) or not set(document) <= KEYS or "status" not in document:
        return False
    if not _is_status(document["status"]):
        return False
    echo = document.get("imei", IMEI)
    if type(echo) not in (str, int) or str(echo) != IMEI:
        return False
    if "message" in document:
        return _wording(document) is not None
    return True


def _wording(document: dict[str, Any]) -> str | None:
    """The known sentence ``document["message"]`` is (blanks aside), if it is one."""
    message = document["message"]
    known = WORDINGS.get(STATUS_CODES[document["status"]], ())
    if not isinstance(message, str):
        return None
    return next((w for w in known if "".join(w.split()) == "".join(message.split())), None)


# --- the numeric status -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "status", "symbol"),
    [
        (0, Status.OK, "○"),
        (1, Status.PENDING, "△"),
        (2, Status.RESTRICTED, "×"),
        (3, Status.UNREGISTERED, "-"),
    ],
)
def test_each_status_number(value: int, status: Status, symbol: str) -> None:
    reading = RakutenAdapter.parse_result(_page(json.dumps({"status": value})), IMEI)
    assert (reading.status, reading.symbol, reading.message) == (status, symbol, None)
    echoed = RakutenAdapter.parse_result(answer_page(Carrier.RAKUTEN, IMEI, symbol), IMEI)
    assert (echoed.status, echoed.symbol) == (status, symbol)


@pytest.mark.parametrize(
    "body",
    [
        '{"status":0,"imei":"352099001761481"}',  # key order
        '{\n  "imei" : "352099001761481" ,\n  "status" : 0\n}\n',  # whitespace
        "\ufeff" + '{"imei":"352099001761481","status":0}',  # a UTF-8 byte order mark
        '{"\\u0069mei":"\\u0033\\u00352099001761481","st\\u0061tus":0}',  # \u escapes
    ],
)
def test_the_json_may_be_written_in_any_ordinary_way(body: str) -> None:
    assert RakutenAdapter.parse_result(_page(body), IMEI).status is Status.OK


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8"],
)
def test_json_served_as_json_is_read(content_type: str) -> None:
    page = _page('{"status":2}', headers={"content-type": content_type})
    assert RakutenAdapter.parse_result(page, IMEI).status is Status.RESTRICTED


@pytest.mark.parametrize(
    "value",
    [True, False, 0.0, 1.0, 3.0, "0", "1", "3", None, [0], {"code": 0}, -1, 4, 7, 404, 2**70],
)
def test_values_that_look_like_a_status_are_not_one(value: Any) -> None:
    with pytest.raises(ParseError) as raised:
        RakutenAdapter.parse_result(_page(json.dumps({"status": value})), IMEI)
    assert raised.value.field == Reason.SYMBOL


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        ("-0", Reason.SYMBOL),
        ("0e0", Reason.SYMBOL),
        ("1E0", Reason.SYMBOL),
        ("0.00", Reason.SYMBOL),
        ("00", Reason.JSON),
        ("01", Reason.JSON),
        ("NaN", Reason.JSON),
        ("Infinity", Reason.JSON),
    ],
)
def test_a_status_not_written_plainly_is_not_one(written: str, reason: Reason) -> None:
    """0 written as ``-0`` or ``0e0`` is not the 0 the endpoint sends."""
    with pytest.raises(ParseError) as raised:
        RakutenAdapter.parse_result(_page(f'{{"status":{written}}}'), IMEI)
    assert raised.value.field == reason


@settings(max_examples=300, derandomize=True)
@given(value=json_values)
def test_any_status_value_is_an_answer_only_when_exactly_0_to_3(value: Any) -> None:
    body = json.dumps({"imei": IMEI, "status": value})
    outcome = _outcome(_page(body))
    if _is_status(value):
        assert outcome is not None
        assert outcome.status is STATUS_CODES[value]
    else:
        assert outcome is None


@settings(max_examples=300, derandomize=True)
@given(document=json_values)
def test_any_json_document_is_an_answer_only_with_an_exact_status(document: Any) -> None:
    outcome = _outcome(_page(json.dumps(document)))
    assert (outcome is not None) is _is_answer(document)
    if outcome is not None:
        assert outcome.status is STATUS_CODES[document["status"]]


@settings(max_examples=300, derandomize=True)
@given(document=answer_like)
def test_an_answer_shaped_object_is_an_answer_only_when_every_key_is_right(
    document: dict[str, Any],
) -> None:
    """status 0–3, the IMEI asked if echoed, a known sentence if any, no other key."""
    outcome = _outcome(_page(json.dumps(document)))
    assert (outcome is not None) is _is_answer(document)
    if outcome is not None:
        assert outcome.status is STATUS_CODES[document["status"]]
        assert outcome.message == (_wording(document) if "message" in document else None)


@settings(max_examples=200, derandomize=True)
@given(
    status=st.sampled_from([0, 1, 2, 3]),
    extra=st.dictionaries(st.text(max_size=8).filter(lambda k: k != "status"), json_values),
    data=st.data(),
)
def test_a_cut_body_is_never_an_answer(status: int, extra: dict[str, Any], data) -> None:
    extra.pop("imei", None)
    body = json.dumps({**extra, "status": status}).encode("utf-8")
    cut = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
    assert _outcome(_page(body[:cut])) is None


@settings(max_examples=200, derandomize=True)
@given(body=st.binary(max_size=64))
def test_arbitrary_bytes_are_never_misread(body: bytes) -> None:
    outcome = _outcome(_page(body))
    if outcome is not None:
        document = json.loads(body.decode("utf-8-sig"))
        assert _is_answer(document)
        assert outcome.status is STATUS_CODES[document["status"]]


@pytest.mark.parametrize(
    "http_status", [201, 204, 301, 302, 304, 401, 403, 404, 410, 429, 500, 503]
)
@pytest.mark.parametrize("value", [0, 3])
def test_a_reply_other_than_http_200_is_never_an_answer(http_status: int, value: int) -> None:
    """A moved endpoint's 404 (or anything but 200) must not read as - or ○."""
    page = _page(json.dumps({"status": value}), status=http_status)
    with pytest.raises(ParseError) as raised:
        RakutenAdapter.parse_result(page, IMEI)
    assert raised.value.field == "http status"


def test_http_400_is_the_site_refusing_the_imei() -> None:
    page = _page('{"status":400,"message":"invalid imei"}', status=400)
    with pytest.raises(CarrierRejected, match="invalid imei"):
        RakutenAdapter.parse_result(page, IMEI)


@pytest.mark.parametrize(
    "body",
    [
        "",
        "null",
        "0",
        "[0]",
        '"0"',
        "{}",
        '{"Status":0}',
        '{"data":{"status":0}}',
        '{"status":0',
        "<html><body>0</body></html>",
    ],
)
def test_bodies_without_a_top_level_status(body: str) -> None:
    with pytest.raises(ParseError) as raised:
        RakutenAdapter.parse_result(_page(body), IMEI)
    assert raised.value.field == Reason.JSON


@pytest.mark.parametrize(
    "body",
    [
        '{"status":0,"error":"Internal Server Error"}',
        '{"status":0,"result":"OK"}',
        '{"status":0,"code":0}',
        '{"status":0,"statusText":"確認中"}',
        '{"status":0,"imei":"352099001761481","data":null}',
        '{"status":0,"status":2}',
        '{"status":2,"status":0}',
        '{"imei":"352099001761481","imei":"352099001761481","status":0}',
        '{"status":0,"score":NaN}',
    ],
)
def test_an_object_of_another_shape_is_refused(body: str) -> None:
    """Any key besides status, imei and message, a key twice, or NaN: not the answer."""
    with pytest.raises(ParseError) as raised:
        RakutenAdapter.parse_result(_page(body), IMEI)
    assert raised.value.field == Reason.JSON


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"status": 1, "message": WORDING}, ensure_ascii=False).encode("cp932"),
        '{"status":0}'.encode("utf-16"),
        b'{"status":0,"imei":"\xff"}',
    ],
)
def test_a_body_that_is_not_utf_8_is_refused(body: bytes) -> None:
    with pytest.raises(ParseError) as raised:
        RakutenAdapter.parse_result(_page(body), IMEI)
    assert raised.value.field == Reason.JSON


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"content-type": "text/plain"},
        {"content-type": "text/json"},
        {"content-type": "text/html; charset=UTF-8"},
        {"content-type": "application/problem+json"},
    ],
)
def test_json_served_as_something_else_is_refused(headers: dict[str, str]) -> None:
    with pytest.raises(ParseError) as raised:
        RakutenAdapter.parse_result(_page('{"status":0}', headers=headers), IMEI)
    assert raised.value.field == Reason.JSON


# --- the IMEI echo and the wording -------------------------------------------------------


@pytest.mark.parametrize("echo", [IMEI, int(IMEI)])
def test_an_echo_of_the_asked_imei_is_accepted(echo: Any) -> None:
    page = _page(json.dumps({"imei": echo, "status": 2}))
    assert RakutenAdapter.parse_result(page, IMEI).status is Status.RESTRICTED


def test_a_null_echo_is_refused() -> None:
    with pytest.raises(ParseError) as raised:
        RakutenAdapter.parse_result(_page('{"imei":null,"status":1}'), IMEI)
    assert raised.value.field == Reason.ECHO


@pytest.mark.parametrize(
    "echo",
    [
        OTHER_IMEI,
        "3520990017614",
        IMEI[:14],
        f" {IMEI} ",
        "35-209900-176148-1",
        "３５２０９９００１７６１４８１",
        IMEI + "00",
        "",
        True,
        0,
        [IMEI],
        {},
    ],
)
def test_an_echo_of_anything_else_is_a_parse_error(echo: Any) -> None:
    """The echo must be the IMEI asked, exactly: not shortened, padded or re-typed."""
    with pytest.raises(ParseError) as raised:
        RakutenAdapter.parse_result(_page(json.dumps({"imei": echo, "status": 0})), IMEI)
    assert raised.value.field == Reason.ECHO


@pytest.mark.parametrize(
    "url",
    [
        "https://carrier.test/other",
        "https://network.mobile.rakuten.co.jp" + API_PATH.format(imei=OTHER_IMEI),
    ],
)
def test_the_echo_is_compared_with_the_imei_asked_whatever_the_url(url: str) -> None:
    """The IMEI asked decides, never the URL the answer came from (a redirect may move it)."""
    other = _page(json.dumps({"imei": OTHER_IMEI, "status": 0}), url=url)
    with pytest.raises(ParseError) as raised:
        RakutenAdapter.parse_result(other, IMEI)
    assert raised.value.field == Reason.ECHO
    asked = _page(json.dumps({"imei": IMEI, "status": 0}), url=url)
    assert RakutenAdapter.parse_result(asked, IMEI).status is Status.OK


async def _check_redirected(echo: str) -> Status:
    """Check ``IMEI`` at a site that redirects it to ``OTHER_IMEI``'s URL, answering ``echo``."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(IMEI):
            return httpx.Response(302, headers={"location": API_PATH.format(imei=OTHER_IMEI)})
        return httpx.Response(200, headers=JSON, content=json.dumps({"imei": echo, "status": 0}))

    transport = httpx.MockTransport(handler)
    async with httpx.AsyncClient(transport=transport, follow_redirects=True) as client:
        adapter = RakutenAdapter(client, base_url="http://127.0.0.1:8765")
        return (await adapter.check(IMEI)).reading.status


async def test_after_a_redirect_an_answer_for_another_imei_is_refused() -> None:
    """Redirected to another IMEI's URL, the answer about that IMEI is not ours."""
    with pytest.raises(ParseError) as raised:
        await _check_redirected(OTHER_IMEI)
    assert raised.value.field == Reason.ECHO
    assert raised.value.pages[-1].url.endswith(OTHER_IMEI)


async def test_after_a_redirect_an_answer_for_the_imei_asked_is_read() -> None:
    assert await _check_redirected(IMEI) is Status.OK


@pytest.mark.parametrize(
    "document",
    [
        {"status": 1, "message": WORDING},
        {"message": WORDING, "imei": IMEI, "status": 1},
        {"status": 1, "message": f"  {WORDING}\n"},
    ],
)
def test_a_known_wording_is_the_message(document: dict[str, Any]) -> None:
    reading = RakutenAdapter.parse_result(_page(json.dumps(document)), IMEI)
    assert (reading.status, reading.message) == (Status.PENDING, WORDING)
    page = answer_page(Carrier.RAKUTEN, IMEI, "△", wording=WORDING)
    assert RakutenAdapter.parse_result(page, IMEI).message == WORDING


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ({"status": 1, "message": " 分割払い中です "}, Reason.WORDING),
        ({"status": 1, "message": ""}, Reason.WORDING),
        ({"status": 1, "message": 5}, Reason.WORDING),
        ({"status": 1, "message": None}, Reason.WORDING),
        ({"status": 0, "message": WORDING}, Reason.WORDING),  # the sentence for pending, with ○
        ({"status": 1, "message": "", "statusText": "確認中"}, Reason.JSON),
        ({"status": 1, "description": "x", "message": WORDING}, Reason.JSON),
        ({"status": 1, "error": "ignored"}, Reason.JSON),
    ],
)
def test_any_other_wording_is_refused(document: dict[str, Any], reason: Reason) -> None:
    """Only a sentence Rakuten is known to send, for the status sent, is read as its wording."""
    with pytest.raises(ParseError) as raised:
        RakutenAdapter.parse_result(_page(json.dumps(document)), IMEI)
    assert raised.value.field == reason


# --- screening: HTML where JSON belongs ----------------------------------------------------

HTML = {"content-type": "text/html; charset=UTF-8"}


def test_json_is_never_screened() -> None:
    """JSON mentioning maintenance or a captcha is no screen: an unknown wording, refused."""
    page = _page('{"message":"メンテナンス 画像認証 captcha","status":0}')
    RakutenAdapter.screen_page(page)
    with pytest.raises(ParseError) as raised:
        RakutenAdapter.parse_result(page, IMEI)
    assert raised.value.field == Reason.WORDING


@pytest.mark.parametrize(
    ("html", "error"),
    [
        ("<html><body><h1>メンテナンス中</h1></body></html>", Maintenance),
        ("<p>画像認証を行ってください</p>", CaptchaRequired),
        ('<html><body><div><iframe src="https://x/recaptcha/api2"></iframe></div></body></html>',
         CaptchaRequired),
        ("<html><head><title>Access Denied</title></head><body></body></html>", Blocked),
        ("<html><head><title>403 Forbidden</title></head><body></body></html>", Blocked),
    ],
)  # fmt: skip
def test_html_pages_are_screened(html: str, error: type[CarrierError]) -> None:
    with pytest.raises(error):
        RakutenAdapter.screen_page(_page(html, headers=HTML))


@pytest.mark.parametrize(
    "html",
    [
        '<html><head><script src="https://www.google.com/recaptcha/api.js"></script></head>'
        '<body><div id="root"></div><script>var t="メンテナンス";</script></body></html>',
        "<html><body><div id='root'></div></body></html>",
    ],
)
def test_the_app_shell_is_not_mistaken_for_a_screen(html: str) -> None:
    page = _page(html, headers=HTML)
    RakutenAdapter.screen_page(page)
    with pytest.raises(ParseError) as raised:
        RakutenAdapter.parse_result(page, IMEI)
    assert raised.value.field == Reason.JSON


def test_html_without_a_content_type_is_screened_by_its_first_byte() -> None:
    with pytest.raises(Maintenance):
        RakutenAdapter.screen_page(_page("  <html><body>メンテナンス</body></html>", headers={}))


# --- the request -----------------------------------------------------------------------------


async def test_the_request_asks_for_json_on_the_given_host() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, headers=JSON, content=b'{"status":3}')

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        observation = await RakutenAdapter(client, base_url="http://127.0.0.1:8765").check(IMEI)
    assert observation.reading.status is Status.UNREGISTERED
    assert observation.reading.symbol == "-"
    (request,) = seen
    assert request.method == "GET"
    assert (
        str(request.url) == f"http://127.0.0.1:8765/restriction/eir/v1/rest-api/public/imei/{IMEI}"
    )
    assert request.headers["accept"] == "application/json"
    assert request.headers["referer"] == "http://127.0.0.1:8765/restriction/"


@pytest.mark.parametrize(
    ("status", "body", "error", "field"),
    [
        (400, b'{"status":400,"message":"invalid imei"}', CarrierRejected, None),
        (400, b"<html><body>Bad Request</body></html>", CarrierRejected, None),
        (404, b'{"status":3}', ParseError, "http status"),
        (302, b"", ParseError, "http status"),
    ],
)
async def test_http_errors(status: int, body: bytes, error: type[CarrierError], field) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers=JSON, content=body)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(error) as raised:
            await RakutenAdapter(client).check(IMEI)
    assert type(raised.value) is error
    assert raised.value.pages[0].status_code == status
    if field is not None:
        assert raised.value.field == field
