"""Rakuten adapter behaviour beyond the generated replays (carrier-sites.md §4).

The generic mutation tests skip Rakuten's pages (the symbol is a number in JSON, not
printed text), so the JSON is attacked here: any ``status`` value, any document, cut
bodies, other HTTP statuses. Only an HTTP 200 JSON object whose ``status`` is exactly
the integer 0, 1, 2 or 3 is ever an answer.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from akarom.carriers._base import Page, Reading
from akarom.carriers.rakuten import API_PATH, STATUS_CODES, RakutenAdapter
from akarom.domain import Status
from akarom.errors import (
    Blocked,
    CaptchaRequired,
    CarrierError,
    CarrierRejected,
    Maintenance,
    ParseError,
)

IMEI = "352099001761481"
URL = "https://network.mobile.rakuten.co.jp" + API_PATH.format(imei=IMEI)
JSON = {"content-type": "application/json"}

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


def _page(body: bytes | str, *, status: int = 200, headers=None, url: str = URL) -> Page:
    content = body.encode("utf-8") if isinstance(body, str) else body
    return Page("GET", url, status, JSON if headers is None else headers, content)


def _outcome(page: Page) -> Reading | None:
    try:
        return RakutenAdapter.parse_result(page)
    except CarrierError:
        return None


def _is_status(value: Any) -> bool:
    return type(value) is int and value in (0, 1, 2, 3)


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
    reading = RakutenAdapter.parse_result(_page(json.dumps({"status": value})))
    assert (reading.status, reading.symbol, reading.message) == (status, symbol, None)


@pytest.mark.parametrize(
    "value",
    [True, False, 0.0, 1.0, 3.0, "0", "1", "3", None, [0], {"code": 0}, -1, 4, 7, 404, 2**70],
)
def test_values_that_look_like_a_status_are_not_one(value: Any) -> None:
    with pytest.raises(ParseError) as raised:
        RakutenAdapter.parse_result(_page(json.dumps({"status": value})))
    assert raised.value.field == "status"


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
    if outcome is not None:
        assert isinstance(document, dict)
        assert _is_status(document["status"])
        assert outcome.status is STATUS_CODES[document["status"]]


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
        document = json.loads(body.decode("utf-8"))
        assert _is_status(document["status"])


@pytest.mark.parametrize(
    "http_status", [201, 204, 301, 302, 304, 401, 403, 404, 410, 429, 500, 503]
)
@pytest.mark.parametrize("value", [0, 3])
def test_a_reply_other_than_http_200_is_never_an_answer(http_status: int, value: int) -> None:
    """A moved endpoint's 404 (or anything but 200) must not read as - or ○."""
    page = _page(json.dumps({"status": value}), status=http_status)
    with pytest.raises(ParseError) as raised:
        RakutenAdapter.parse_result(page)
    assert raised.value.field == "http status"


def test_http_400_is_the_site_refusing_the_imei() -> None:
    page = _page('{"status":400,"message":"invalid imei"}', status=400)
    with pytest.raises(CarrierRejected, match="invalid imei"):
        RakutenAdapter.parse_result(page)


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
        "\ufeff" + '{"status":0}',
        '{"status":0',
        "<html><body>0</body></html>",
    ],
)
def test_bodies_without_a_top_level_status(body: str) -> None:
    assert _outcome(_page(body)) is None


# --- the IMEI echo and the wording -------------------------------------------------------


@pytest.mark.parametrize(
    "echo",
    [
        IMEI,
        IMEI[:14],
        int(IMEI),
        f" {IMEI} ",
        "35-209900-176148-1",
        "３５２０９９００１７６１４８１",
    ],
)
def test_an_echo_of_the_asked_imei_is_accepted(echo: Any) -> None:
    page = _page(json.dumps({"imei": echo, "status": 2}))
    assert RakutenAdapter.parse_result(page).status is Status.RESTRICTED


def test_a_null_echo_is_ignored() -> None:
    assert RakutenAdapter.parse_result(_page('{"imei":null,"status":1}')).status is Status.PENDING


@pytest.mark.parametrize("echo", ["356938035643809", "3520990017614", "", True, 0, [IMEI], {}])
def test_an_echo_of_anything_else_is_a_parse_error(echo: Any) -> None:
    with pytest.raises(ParseError) as raised:
        RakutenAdapter.parse_result(_page(json.dumps({"imei": echo, "status": 0})))
    assert raised.value.field == "imei echo"


def test_without_the_imei_in_the_url_the_echo_is_not_compared() -> None:
    page = _page('{"imei":"356938035643809","status":0}', url="https://carrier.test/other")
    assert RakutenAdapter.parse_result(page).status is Status.OK


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"status": 1, "message": " 分割払い中です "}, "分割払い中です"),
        ({"status": 1, "message": "", "statusText": "確認中"}, "確認中"),
        ({"status": 1, "description": "x", "message": "y"}, "y"),
        ({"status": 1, "message": 5}, None),
        ({"status": 1, "error": "ignored"}, None),
    ],
)
def test_the_wording_comes_from_a_message_field(document: dict[str, Any], message) -> None:
    assert RakutenAdapter.parse_result(_page(json.dumps(document))).message == message


# --- screening: HTML where JSON belongs ----------------------------------------------------

HTML = {"content-type": "text/html; charset=UTF-8"}


def test_json_is_never_screened() -> None:
    page = _page('{"message":"メンテナンス 画像認証 captcha","status":0}')
    RakutenAdapter.screen_page(page)
    assert RakutenAdapter.parse_result(page).status is Status.OK


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
    with pytest.raises(ParseError):
        RakutenAdapter.parse_result(page)


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
