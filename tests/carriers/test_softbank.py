"""SoftBank behaviour the generated adapter tests do not cover (carrier-sites.md §3)."""

from __future__ import annotations

from urllib.parse import parse_qsl

import httpx
import pytest

from akarom.carriers import Page
from akarom.carriers._template import Reason
from akarom.carriers.softbank import SoftbankAdapter
from akarom.domain import Carrier, Status
from akarom.errors import Blocked, CaptchaRequired, CarrierUnavailable, Maintenance, ParseError
from tests.carriers.pages import ENCODINGS, page_text, recorded, with_text
from tests.carriers.replay import Replay

IMEI = "356938035643809"
SJIS = {"Content-Type": "text/html; charset=Shift_JIS"}


def _fixture(case: str) -> Replay:
    return Replay.load("softbank", case, IMEI)


def _body(case: str, name: str) -> bytes:
    return (_fixture(case).folder / name).read_bytes()


class Site:
    """Serves a form page on GET and a result page on POST; records the requests."""

    def __init__(self, form: bytes, result: bytes, headers: dict[str, str] = SJIS) -> None:
        self.form, self.result, self.headers = form, result, headers
        self.seen: list[httpx.Request] = []

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        body = self.form if request.method == "GET" else self.result
        return httpx.Response(200, headers=self.headers, content=body)

    async def check(self, imei: str = IMEI, **kw: str) -> Status:
        async with httpx.AsyncClient(transport=self.transport()) as client:
            return (await SoftbankAdapter(client, **kw).check(imei)).reading.status


def _form_html(inputs: str, action: str = "/WBF/icv") -> bytes:
    return (
        '<html><head><meta charset="Shift_JIS"></head><body>'
        f'<form method="post" action="{action}">{inputs}</form></body></html>'
    ).encode("cp932")


_RESULT_FONT = '<font size="8" color="#666666">○</font>'


def _result(new: str, *, replacing: str = _RESULT_FONT) -> Page:
    """The recorded ○ answer page with ``replacing`` (its result font) changed to ``new``."""
    ok = recorded(Carrier.SOFTBANK, "ok")
    text = page_text(ok)
    assert replacing in text
    return with_text(ok, text.replace(replacing, new), ENCODINGS[Carrier.SOFTBANK])


def _page(content: bytes) -> Page:
    return Page("POST", "https://x/WBF/icv", 200, {"content-type": "text/html"}, content)


async def test_the_form_is_sent_back_as_a_browser_would_in_shift_jis() -> None:
    site = Site(_body("ok", "01-form.html"), _body("ok", "02-result.html"))
    assert await site.check() is Status.OK
    get, post = site.seen
    assert (get.method, str(get.url)) == ("GET", "https://ct99.my.softbank.jp/WBF/icv")
    assert (post.method, str(post.url)) == ("POST", "https://ct99.my.softbank.jp/WBF/icv")
    assert post.headers["referer"] == "https://ct99.my.softbank.jp/WBF/icv"
    assert b"ACT_TE001=+%8Am+%94F+" in post.content  # 「 確 認 」 in cp932, spaces kept
    sent = dict(parse_qsl(post.content.decode("ascii"), encoding="cp932"))
    assert sent == {
        "_PageID": "WBF001000",
        "_DataStoreID": "DSWBF100Control",
        "_ControlID": "WBF100Control",
        "_ActionID": "TE001",
        "imei": IMEI,
        "ACT_TE001": " 確 認 ",
    }


async def test_a_utf8_page_gets_its_form_in_utf8() -> None:
    headers = {"Content-Type": "text/html; charset=UTF-8"}
    site = Site(_body("utf-8", "01-form.html"), _body("utf-8", "02-result.html"), headers)
    assert await site.check() is Status.UNREGISTERED
    assert b"ACT_TE001=+%E7%A2%BA+%E8%AA%8D+" in site.seen[1].content


@pytest.mark.parametrize(
    "action",
    ["/WBF/icv?lbk=14", "https://ct99.my.softbank.jp/WBF/icv?lbk=14", "icv?lbk=14"],
)
async def test_the_action_is_followed_on_the_host_we_were_given(action: str) -> None:
    form = _form_html(
        '<input type="hidden" name="_PageID" value="WBF001000">'
        '<input type="text" name="imei"><input type="submit" name="ACT_TE001" value="送信">',
        action=action,
    )
    site = Site(form, _body("pending", "02-result.html"))
    assert await site.check(base_url="http://127.0.0.1:8765") is Status.PENDING
    assert str(site.seen[0].url) == "http://127.0.0.1:8765/WBF/icv"
    assert str(site.seen[1].url) == "http://127.0.0.1:8765/WBF/icv?lbk=14"


async def test_the_first_form_is_used_when_no_action_names_wbf_icv() -> None:
    form = _form_html(
        '<input type="hidden" name="_PageID" value="X"><input type="text" name="imei">'
        '<input type="submit" name="ACT_TE001" value="確認">',
        action="/WBF/other",
    )
    site = Site(form, _body("ok", "02-result.html"))
    assert await site.check() is Status.OK
    assert str(site.seen[1].url).endswith("/WBF/other")
    assert dict(parse_qsl(site.seen[1].content.decode("ascii")))["_PageID"] == "X"


async def test_a_lone_submit_button_stands_in_for_act_te001() -> None:
    form = _form_html(
        '<input type="text" name="imei"><input type="submit" name="ACT_X" value="OK">'
    )
    site = Site(form, _body("ok", "02-result.html"))
    assert await site.check() is Status.OK
    assert dict(parse_qsl(site.seen[1].content.decode("ascii")))["ACT_X"] == "OK"


@pytest.mark.parametrize(
    "inputs",
    [
        '<input type="submit" name="ACT_TE001" value="確認">',  # no imei input
        '<input type="text" name="imei">',  # no button
        '<input type="text" name="imei"><input type=submit name=a><input type=submit name=b>',
    ],
)
async def test_a_changed_form_fails_before_posting(inputs: str) -> None:
    site = Site(_form_html(inputs), b"")
    with pytest.raises(ParseError) as raised:
        await site.check()
    assert raised.value.field == "form"
    assert [r.method for r in site.seen] == ["GET"]
    assert len(raised.value.pages) == 1


@pytest.mark.parametrize("value", ["A0000012345678", "35693803564380", "3569380356438090", ""])
async def test_anything_but_15_digits_is_refused_before_any_request(value: str) -> None:
    site = Site(b"", b"")
    with pytest.raises(ValueError, match="15 digits"):
        await site.check(value)
    assert site.seen == []
    assert SoftbankAdapter.ACCEPTS_MEID is False


@pytest.mark.parametrize(
    ("font", "symbol"),
    [
        ('<font size="8" color="#666666">▲</font>', "▲"),
        ("<font color='#666666' size='8'>\n○\n</font>", "○"),
        ('<FONT SIZE=" 8 " COLOR="#666666">×</FONT>', "×"),
        ("<font size=8 color=#666666>\n\t\u3000▲\u3000\n</font>", "▲"),
        ('<font size="8" color="#666666"><b>－</b></font>', "－"),
        ('<font size="8" color="#666666"><span> △ </span></font>', "△"),
        ('<font size="8" color="#666666" face="MS UI Gothic">○</font>', "○"),
        ('<font size="8" color="#666666">&#9650;</font>', "▲"),
        ('<font size="8" color="#666666">&times;</font>', "×"),
        ('<!-- result --><font size="8" color="#666666"><!-- symbol -->○</font>', "○"),
        ('<font size="8" color="#cc0000">△</font>', "△"),  # another readable colour
        ('<font size="8" color="navy">×</font>', "×"),
        ('<font size="8" color="#808080">○</font>', "○"),
    ],
)
def test_the_font_node_is_found_whatever_its_attributes(font: str, symbol: str) -> None:
    assert SoftbankAdapter.parse_result(_result(font), IMEI).symbol == symbol


def test_a_page_in_utf_8_is_read_like_one_in_shift_jis() -> None:
    page = _fixture("utf-8").result_page()
    assert SoftbankAdapter.parse_result(page, IMEI).status is Status.UNREGISTERED


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        # A notice before the result: read as the result font, it holds no symbol.
        ('<font size="8" color="#000000">注意</font><font size="8" color="#666666">○</font>',
         Reason.SYMBOL),
        ('<font size="8" color="#666666">○</font><font size="8" color="#000000">注意</font>',
         Reason.STRUCTURE),
    ],
)  # fmt: skip
def test_another_size_8_font_beside_the_result_is_refused(cell: str, reason: Reason) -> None:
    """No font "wins": a second big text in the result cell is a page we do not know."""
    with pytest.raises(ParseError) as raised:
        SoftbankAdapter.parse_result(_result(cell), IMEI)
    assert raised.value.field == reason


def test_two_result_fonts_are_not_an_answer() -> None:
    cell = '<font size="8" color="#666666">○</font><font size="8" color="#666666">×</font>'
    with pytest.raises(ParseError) as raised:
        SoftbankAdapter.parse_result(_result(cell), IMEI)
    assert raised.value.field == Reason.STRUCTURE


@pytest.mark.parametrize("text", ["▲ 注意", "▼", "● ", "", "-?", "△▲"])
def test_only_a_bare_symbol_is_an_answer(text: str) -> None:
    page = _result(f'<font size="8" color="#666666">{text}</font>')
    with pytest.raises(ParseError) as raised:
        SoftbankAdapter.parse_result(page, IMEI)
    assert raised.value.field == Reason.SYMBOL


def test_the_page_text_elsewhere_is_never_read() -> None:
    """A legend or notice printing ○ does not make a page without the font node an answer."""
    with pytest.raises(ParseError) as raised:
        SoftbankAdapter.parse_result(_result("○ 利用可能 ▲ 注意 × 制限中"), IMEI)
    assert raised.value.field == Reason.TEXT


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        ('<font size="8" color="#666666">▲</font><br>残債があります', Reason.STRUCTURE),
        ('<font size="8" color="#666666">▲</font>残債があります', Reason.TEXT),
        ('<font size="8" color="#666666">▲<br>残債があります</font>', Reason.SYMBOL),
    ],
)
def test_text_beside_the_symbol_is_refused(cell: str, reason: Reason) -> None:
    """SoftBank prints no sentence with its symbol: one beside it is a page we do not know."""
    with pytest.raises(ParseError) as raised:
        SoftbankAdapter.parse_result(_result(cell), IMEI)
    assert raised.value.field == reason
    assert SoftbankAdapter.parse_result(_fixture("pending").result_page(), IMEI).message is None


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        (_RESULT_FONT, f'<font size="8" color="#666666">○ {IMEI}</font>', Reason.SYMBOL),
        (_RESULT_FONT, f"{_RESULT_FONT}<br>製造番号 {IMEI}", Reason.STRUCTURE),
        ("確認する</a></font></td></tr>",
         f"確認する</a></font></td></tr>\n<tr><td>製造番号（IMEI）{IMEI}</td></tr>",
         Reason.STRUCTURE),
    ],
)  # fmt: skip
def test_a_device_number_on_the_page_is_refused(old: str, new: str, reason: Reason) -> None:
    """SoftBank is not known to print the IMEI: a page that names one is not its answer."""
    with pytest.raises(ParseError) as raised:
        SoftbankAdapter.parse_result(_result(new, replacing=old), IMEI)
    assert raised.value.field == reason


@pytest.mark.parametrize(
    "font",
    [
        '<font size="8" color="#ffffff">×</font>',
        '<font size="8" color="#FFF">×</font>',
        '<font size="8" color="white">×</font>',
        '<font size="8" color="#fefefe">×</font>',
        '<font size="8" color="#666666"><span class="hidden">×</span>○</font>',
        '<font size="8" color="#666666"><span style="display:none">×</span>○</font>',
    ],
)
def test_a_symbol_nobody_can_see_is_refused(font: str) -> None:
    """White on white, or markup that hides a symbol, is refused rather than read."""
    with pytest.raises(ParseError) as raised:
        SoftbankAdapter.parse_result(_result(font), IMEI)
    assert raised.value.field == Reason.HIDDEN


def test_the_form_coming_back_is_named() -> None:
    with pytest.raises(ParseError, match=r"\bform\b") as raised:
        SoftbankAdapter.parse_result(_fixture("form-again").result_page(), IMEI)
    assert raised.value.field == Reason.STRUCTURE


def test_a_maintenance_notice_on_the_form_page_does_not_stop_the_check() -> None:
    form = _form_html('<p>メンテナンスのお知らせ</p><input type="text" name="imei">')
    SoftbankAdapter.screen_page(_page(form))
    with pytest.raises(Maintenance):
        SoftbankAdapter.screen_page(_fixture("maintenance-200").result_page())


@pytest.mark.parametrize(
    "html",
    [
        '<form><img src="/WBF/Captcha.jpg"><input name="imei"></form>',
        '<div class="g-recaptcha" data-sitekey="x"></div>',
        "<p>画像認証の文字を入力してください</p>",
    ],
)
def test_captcha_markers_are_screened(html: str) -> None:
    with pytest.raises(CaptchaRequired):
        SoftbankAdapter.screen_page(_page(html.encode("cp932")))


def test_screen_passes_form_and_result_pages() -> None:
    for case in ("ok", "pending", "restricted", "unregistered", "utf-8"):
        replay = _fixture(case)
        SoftbankAdapter.screen_page(replay.result_page())
        form = Page("GET", "https://x/WBF/icv", 200, SJIS, replay.body(replay.steps[0]))
        SoftbankAdapter.screen_page(form)


async def test_a_time_out_on_the_post_keeps_the_form_page() -> None:
    replay = _fixture("timeout")
    async with httpx.AsyncClient(transport=replay.transport()) as client:
        with pytest.raises(CarrierUnavailable) as raised:
            await SoftbankAdapter(client).check(IMEI)
    assert raised.value.code == "timeout"
    assert [page.method for page in raised.value.pages] == ["GET"]


def test_an_access_denied_page_served_with_200_is_blocked() -> None:
    with pytest.raises(Blocked):
        SoftbankAdapter.screen_page(_page(b"<HTML><TITLE>Access Denied</TITLE></HTML>"))
