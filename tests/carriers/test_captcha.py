"""A person answers docomo's captcha (carrier-sites.md §1.3); akarom never answers one.

The sandbox runs docomo's legacy captcha flow in process. It also sends each image's
code in the header ``X-Sandbox-Captcha``, which no real site has: only these tests
read it, playing the person who reads the image.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from akarom.carriers import ADAPTERS, CaptchaChallenge, CarrierAdapter, Page
from akarom.carriers._template import Reason
from akarom.carriers.docomo import WORDINGS, CaptchaForm, DocomoAdapter
from akarom.domain import Carrier, Status
from akarom.errors import CaptchaFailed, CaptchaRequired, Maintenance, ParseError
from akarom.http import build_client
from akarom.ratelimit import RateLimiter
from akarom.sandbox import create_app, parse_scenario
from tests.carriers.replay import Replay

IMEI = "352099001761481"
SANDBOX = "http://sandbox.test"
SRC = Path(__file__).parents[2] / "src" / "akarom"
_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


@asynccontextmanager
async def _docomo(
    mode: str = "captcha", status: str = "restricted"
) -> AsyncIterator[tuple[DocomoAdapter, httpx.AsyncClient]]:
    """docomo's adapter on a cookie-keeping client over the sandbox, and an admin client."""
    scenario = {"carriers": {"docomo": {"mode": mode}}, "devices": {IMEI: {"docomo": status}}}
    transport = httpx.ASGITransport(app=create_app(parse_scenario(scenario)))
    async with (
        httpx.AsyncClient(transport=transport, base_url=SANDBOX) as admin,
        build_client(RateLimiter(1000), transport=transport) as client,
    ):
        yield DocomoAdapter(client, base_url=SANDBOX), admin


async def _requests(admin: httpx.AsyncClient) -> int:
    stats = (await admin.get("/_sandbox/stats")).json()["carriers"]
    return int(stats["docomo"]["requests"])


def _read_image(challenge: CaptchaChallenge) -> str:
    """What the person reads off the image (the sandbox's test-only header)."""
    (image,) = [page for page in challenge.pages if page.url.endswith("/gifcat/call.php")]
    return image.headers["x-sandbox-captcha"]


def _wrong(code: str) -> str:
    return code[:-1] + str((int(code[-1]) + 1) % 10)


def _flow(page: Page) -> tuple[str, str]:
    return page.method, httpx.URL(page.url).path


# --- against the sandbox -----------------------------------------------------------


@pytest.mark.parametrize(
    "status", [Status.RESTRICTED, Status.OK, Status.PENDING, Status.UNREGISTERED]
)
async def test_a_right_answer_gives_the_status_and_keeps_every_page(status: Status) -> None:
    async with _docomo(status=status.value) as (adapter, admin):
        challenge = await adapter.captcha_challenge(IMEI)
        assert challenge is not None
        observation = await adapter.answer_captcha(challenge, _read_image(challenge))
        assert await _requests(admin) == 3
    assert observation.reading.status is status
    assert observation.reading.message in WORDINGS[status]  # the whole result page was read
    assert (observation.carrier, observation.imei) == (Carrier.DOCOMO, IMEI)
    assert observation.adapter_version == DocomoAdapter.VERSION
    assert [_flow(page) for page in observation.pages] == [
        ("GET", "/search.php"),
        ("GET", "/gifcat/call.php"),
        ("POST", "/search.php"),
    ]
    assert observation.pages[:2] == challenge.pages
    assert observation.started_at <= observation.pages[0].fetched_at


async def test_the_challenge_is_the_image_as_served() -> None:
    async with _docomo() as (adapter, _):
        challenge = await adapter.captcha_challenge(IMEI)
    assert challenge is not None
    assert (challenge.carrier, challenge.imei) == (Carrier.DOCOMO, IMEI)
    assert challenge.image.startswith(b"GIF8")
    assert challenge.media_type == "image/gif"
    assert challenge.image == challenge.pages[-1].content
    assert "GIF8" not in repr(challenge)  # the bytes stay out of logs


async def test_full_width_digits_and_blanks_are_what_a_person_may_type() -> None:
    async with _docomo() as (adapter, _):
        challenge = await adapter.captcha_challenge(IMEI)
        assert challenge is not None
        code = _read_image(challenge)
        typed = f" {code[:2]}\u3000{code[2:]} ".translate(_FULL_WIDTH)
        observation = await adapter.answer_captcha(challenge, typed)
    assert observation.reading.status is Status.RESTRICTED


async def test_a_wrong_answer_raises_captcha_failed_with_the_pages() -> None:
    async with _docomo() as (adapter, admin):
        challenge = await adapter.captcha_challenge(IMEI)
        assert challenge is not None
        with pytest.raises(CaptchaFailed) as raised:
            await adapter.answer_captcha(challenge, _wrong(_read_image(challenge)))
        assert await _requests(admin) == 3
    err = raised.value
    assert isinstance(err, CaptchaRequired)
    assert err.code == "captcha"
    assert err.carrier is Carrier.DOCOMO
    assert [_flow(page) for page in err.pages][-1] == ("POST", "/search.php")
    assert len(err.pages) == 3


async def test_after_a_wrong_answer_a_new_challenge_can_be_answered() -> None:
    async with _docomo() as (adapter, _):
        first = await adapter.captcha_challenge(IMEI)
        assert first is not None
        with pytest.raises(CaptchaFailed):
            await adapter.answer_captcha(first, _wrong(_read_image(first)))
        second = await adapter.captcha_challenge(IMEI)
        assert second is not None
        observation = await adapter.answer_captcha(second, _read_image(second))
    assert observation.reading.status is Status.RESTRICTED


@pytest.mark.parametrize(
    "typed", ["", "   ", "4821a", "48-213", "48.213", "四八二一三", "٤٨٢١٣", "abcde"]
)
async def test_an_answer_that_is_not_digits_is_refused_before_any_request(typed: str) -> None:
    async with _docomo() as (adapter, admin):
        challenge = await adapter.captcha_challenge(IMEI)
        assert challenge is not None
        with pytest.raises(ValueError, match="digits only"):
            await adapter.answer_captcha(challenge, typed)
        assert await _requests(admin) == 2  # the form and the image; no POST
        # The challenge is still good: nothing reached docomo.
        observation = await adapter.answer_captcha(challenge, _read_image(challenge))
    assert observation.reading.status is Status.RESTRICTED


async def test_a_challenge_takes_one_answer() -> None:
    async with _docomo() as (adapter, admin):
        challenge = await adapter.captcha_challenge(IMEI)
        assert challenge is not None
        code = _read_image(challenge)
        await adapter.answer_captcha(challenge, code)
        with pytest.raises(CaptchaFailed, match="already answered") as raised:
            await adapter.answer_captcha(challenge, code)
        assert await _requests(admin) == 3
    assert len(raised.value.pages) == 2  # the challenge's pages; no new request


async def test_a_newer_challenge_voids_the_older_one() -> None:
    """Each image gives the session a new code, so only the newest challenge can pass."""
    async with _docomo() as (adapter, admin):
        older = await adapter.captcha_challenge(IMEI)
        newer = await adapter.captcha_challenge(IMEI)
        assert older is not None
        assert newer is not None
        with pytest.raises(CaptchaFailed, match="newer one"):
            await adapter.answer_captcha(older, _read_image(older))
        assert await _requests(admin) == 4
        observation = await adapter.answer_captcha(newer, _read_image(newer))
    assert observation.reading.status is Status.RESTRICTED


async def test_check_still_raises_captcha_required() -> None:
    async with _docomo() as (adapter, _):
        with pytest.raises(CaptchaRequired) as raised:
            await adapter.check(IMEI)
    assert type(raised.value) is CaptchaRequired
    assert "does not solve captchas" in str(raised.value)


async def test_no_captcha_shown_means_none_and_check_answers() -> None:
    async with _docomo(mode="normal") as (adapter, admin):
        assert await adapter.captcha_challenge(IMEI) is None
        assert await _requests(admin) == 1  # the form only: no image, no POST
        observation = await adapter.check(IMEI)
    assert observation.reading.status is Status.RESTRICTED


async def test_the_other_screens_still_stop_a_challenge() -> None:
    async with _docomo(mode="maintenance") as (adapter, _):
        with pytest.raises(Maintenance) as raised:
            await adapter.captcha_challenge(IMEI)
    assert raised.value.carrier is Carrier.DOCOMO
    assert len(raised.value.pages) == 1


@pytest.mark.parametrize(
    "imei", ["35209900176148", "A0000012345678", "３５２０９９００１７６１４８１"]
)
async def test_an_invalid_imei_is_refused_before_any_request(imei: str) -> None:
    async with _docomo() as (adapter, admin):
        with pytest.raises(ValueError, match="15 digits"):
            await adapter.captcha_challenge(imei)
        assert await _requests(admin) == 0


# --- answered elsewhere: a challenge is data -----------------------------------------


@asynccontextmanager
async def _two_docomos() -> AsyncIterator[tuple[DocomoAdapter, DocomoAdapter, httpx.AsyncClient]]:
    """Two docomo adapters, each on its own client and cookie jar, over one sandbox."""
    scenario = {"carriers": {"docomo": {"mode": "captcha"}}, "devices": {IMEI: {"docomo": "ok"}}}
    transport = httpx.ASGITransport(app=create_app(parse_scenario(scenario)))
    async with (
        httpx.AsyncClient(transport=transport, base_url=SANDBOX) as admin,
        build_client(RateLimiter(1000), transport=transport) as first,
        build_client(RateLimiter(1000), transport=transport) as second,
    ):
        yield DocomoAdapter(first, base_url=SANDBOX), DocomoAdapter(second, base_url=SANDBOX), admin


def _stored(challenge: CaptchaChallenge) -> CaptchaChallenge:
    """The challenge as another process rebuilds it: its data through JSON, no pages."""
    session = json.loads(json.dumps(challenge.session))
    return replace(challenge, session=session, pages=())


async def test_another_client_answers_a_challenge_from_its_stored_session() -> None:
    async with _two_docomos() as (shown_here, answered_there, admin):
        challenge = await shown_here.captcha_challenge(IMEI)
        assert challenge is not None
        observation = await answered_there.answer_captcha(
            _stored(challenge), _read_image(challenge)
        )
        assert await _requests(admin) == 3
    assert observation.reading.status is Status.OK
    assert [_flow(page) for page in observation.pages] == [("POST", "/search.php")]
    assert observation.started_at == challenge.started_at
    assert not answered_there.client.cookies  # the session was sent, not adopted


async def test_the_session_is_what_makes_the_answer_count() -> None:
    """Without the session's cookie docomo cannot know which image was answered."""
    async with _two_docomos() as (shown_here, answered_there, _):
        challenge = await shown_here.captcha_challenge(IMEI)
        assert challenge is not None
        cookieless = replace(_stored(challenge), session={**challenge.session, "cookie": None})
        with pytest.raises(CaptchaFailed, match="did not take the answer"):
            await answered_there.answer_captcha(cookieless, _read_image(challenge))


async def test_a_wrong_answer_from_elsewhere_then_a_new_challenge() -> None:
    async with _two_docomos() as (shown_here, answered_there, _):
        first = await shown_here.captcha_challenge(IMEI)
        assert first is not None
        with pytest.raises(CaptchaFailed):
            await answered_there.answer_captcha(_stored(first), _wrong(_read_image(first)))
        second = await shown_here.captcha_challenge(IMEI)
        assert second is not None
        observation = await answered_there.answer_captcha(_stored(second), _read_image(second))
    assert observation.reading.status is Status.OK


def test_a_challenge_keeps_its_session_out_of_logs() -> None:
    challenge = CaptchaChallenge(
        carrier=Carrier.DOCOMO,
        imei=IMEI,
        image=b"GIF89a",
        media_type="image/gif",
        session={"token": "t", "cookie": "PHPSESSID=secret", "action": "/search.php", "fields": {}},
    )
    assert "secret" not in repr(challenge)
    assert "GIF89a" not in repr(challenge)


@pytest.mark.parametrize(
    "session",
    [
        {},
        {"token": "t", "cookie": None, "action": "https://elsewhere.example/", "fields": {}},
        {"token": "t", "cookie": None, "action": "/search.php", "fields": {"a": 1}},
        {"token": "", "cookie": None, "action": "/search.php", "fields": {}},
        {"token": "t", "cookie": 5, "action": "/search.php", "fields": {}},
    ],
)
async def test_a_session_that_is_not_docomos_is_refused_before_any_request(
    session: dict[str, object],
) -> None:
    async with _docomo() as (adapter, admin):
        challenge = await adapter.captcha_challenge(IMEI)
        assert challenge is not None
        with pytest.raises(ValueError, match="not the session"):
            await adapter.answer_captcha(replace(challenge, session=session), "12345")
        assert await _requests(admin) == 2


async def test_a_challenge_of_another_carrier_is_refused() -> None:
    async with _docomo() as (adapter, admin):
        challenge = await adapter.captcha_challenge(IMEI)
        assert challenge is not None
        with pytest.raises(ValueError, match="au captcha"):
            await adapter.answer_captcha(replace(challenge, carrier=Carrier.AU), "12345")
        assert await _requests(admin) == 2


@given(st.text(max_size=12))
def test_a_captcha_answer_is_ascii_digits_or_refused(typed: str) -> None:
    try:
        sent = DocomoAdapter.captcha_answer(typed)
    except ValueError:
        return
    assert sent.isascii()
    assert sent.isdigit()


# --- adapters without a captcha flow -------------------------------------------------


@pytest.mark.parametrize(
    "adapter", [a for a in ADAPTERS if a is not DocomoAdapter], ids=lambda a: a.CARRIER
)
async def test_no_other_carrier_has_a_captcha_flow(adapter: type[CarrierAdapter]) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"no request expected, got {request.method} {request.url}")

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as client:
        with pytest.raises(CaptchaRequired, match="check by hand") as raised:
            await adapter(client).captcha_challenge(IMEI)
    assert type(raised.value) is CaptchaRequired
    assert raised.value.carrier is adapter.CARRIER
    assert raised.value.pages == ()
    with pytest.raises(ValueError, match="no captcha"):
        adapter.captcha_answer("12345")
    challenge = CaptchaChallenge(
        carrier=adapter.CARRIER, imei=IMEI, image=b"", media_type="image/gif", session={}
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as client:
        with pytest.raises(CaptchaRequired, match="check by hand"):
            await adapter(client).answer_captcha(challenge, "12345")


def test_the_product_never_reads_the_sandbox_code() -> None:
    """Only tests may read ``X-Sandbox-Captcha``: no code outside the sandbox names it."""
    for module in SRC.rglob("*.py"):
        if "sandbox" in module.relative_to(SRC).parts:
            continue
        text = module.read_text(encoding="utf-8")
        code = re.sub(r'"""(.|\n)*?"""', "", text)  # docstrings may explain it
        assert "x-sandbox" not in code.lower(), module


# --- recorded flows ----------------------------------------------------------------


class _Recording(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await self.inner.handle_async_request(request)


async def test_recorded_flow_answered_in_one_session() -> None:
    replay = Replay.flow("docomo", "captcha-answered", IMEI)
    recording = _Recording(replay.transport())
    async with httpx.AsyncClient(transport=recording) as client:
        adapter = DocomoAdapter(client)
        challenge = await adapter.captcha_challenge(IMEI)
        assert challenge is not None
        observation = await adapter.answer_captcha(challenge, "４８２１３")
    replay.assert_all_used()  # also checked productno and attestationkey in cp932
    assert observation.reading.status is Status.RESTRICTED
    assert len(observation.pages) == 3
    form, image, answer = recording.requests
    search = "https://nw-restriction.nttdocomo.co.jp/search.php"
    assert form.headers["referer"] == "https://nw-restriction.nttdocomo.co.jp/top.php"
    assert image.headers["referer"] == search
    assert answer.headers["referer"] == search
    for request in (image, answer):
        assert request.headers["cookie"] == "PHPSESSID=5e55101d0c0ffee0ddba11cafe"
    assert answer.content == b"productno=352099001761481&attestationkey=48213"


async def test_a_recorded_answer_about_another_imei_is_refused() -> None:
    """The answer to a captcha is read as ``check`` reads one: it must name the IMEI asked."""
    other = "353287081234565"
    replay = Replay.flow("docomo", "captcha-answered", other)  # docomo answers for IMEI
    async with httpx.AsyncClient(transport=replay.transport()) as client:
        adapter = DocomoAdapter(client)
        challenge = await adapter.captcha_challenge(other)
        assert challenge is not None
        with pytest.raises(ParseError) as raised:
            await adapter.answer_captcha(challenge, "48213")
    replay.assert_all_used()
    assert raised.value.field == Reason.ECHO
    assert IMEI in str(raised.value)
    assert len(raised.value.pages) == 3


async def test_recorded_flow_with_a_wrong_answer() -> None:
    replay = Replay.flow("docomo", "captcha-wrong", IMEI)
    async with httpx.AsyncClient(transport=replay.transport()) as client:
        adapter = DocomoAdapter(client)
        challenge = await adapter.captcha_challenge(IMEI)
        assert challenge is not None
        with pytest.raises(CaptchaFailed) as raised:
            await adapter.answer_captcha(challenge, "99999")
    replay.assert_all_used()
    assert len(raised.value.pages) == 3


# --- the pure readers ----------------------------------------------------------------


def _page(html: str, path: str = "/search.php") -> Page:
    body = f'<html><head><meta charset="Shift_JIS"></head><body>{html}</body></html>'
    return Page("GET", "https://x" + path, 200, {}, body.encode("cp932"))


def test_the_recorded_captcha_form_is_read() -> None:
    page = Replay.load("docomo", "captcha", IMEI).result_page()
    form = DocomoAdapter.read_captcha_form(page)
    assert form == CaptchaForm(
        fields={"productno": "", "attestationkey": ""},
        action="/search.php",
        image="/gifcat/call.php",
    )


def test_hidden_fields_of_the_captcha_form_are_sent_back() -> None:
    page = _page(
        '<form method="post" action="search.php?x=1"><input type="hidden" name="t" value="9">'
        '<input name="productno"><img src="gifcat/call.php?r=2">'
        '<input name="attestationkey"></form>'
    )
    form = DocomoAdapter.read_captcha_form(page)
    assert form == CaptchaForm({"t": "9"}, "/search.php?x=1", "/gifcat/call.php?r=2")


def test_the_plain_search_form_means_no_captcha() -> None:
    page = _page('<form method="post" action="search.php"><input name="productno"></form>')
    assert DocomoAdapter.read_captcha_form(page) is None


@pytest.mark.parametrize(
    ("html", "missing"),
    [
        ('<div class="result-panel">×</div>', "neither the captcha nor the search form"),
        (
            '<form action="search.php"><input name="productno"><img src="gifcat/call.php"></form>',
            "the attestationkey field",
        ),
        (
            '<form action="search.php"><input name="productno">'
            '<input name="attestationkey"></form>',
            "the gifcat/call.php image",
        ),
        (
            '<img src="gifcat/call.php"><form action="elsewhere.php">'
            '<input name="attestationkey"></form>',
            "a form posting to search.php",
        ),
    ],
)
def test_a_captcha_page_the_flow_cannot_use_is_a_parse_error(html: str, missing: str) -> None:
    with pytest.raises(ParseError, match=missing) as raised:
        DocomoAdapter.read_captcha_form(_page(html))
    assert raised.value.field == "captcha form"


def test_an_image_that_is_not_one_is_a_parse_error() -> None:
    page = Page("GET", "https://x/gifcat/call.php", 200, {"content-type": "text/html"}, b"<p>")
    with pytest.raises(ParseError, match="not an image") as raised:
        DocomoAdapter.captcha_media_type(page)
    assert raised.value.field == "captcha image"
    png = Page("GET", "https://x/gifcat/call.php", 200, {}, b"\x89PNG\r\n\x1a\n....")
    assert DocomoAdapter.captcha_media_type(png) == "image/png"
