"""Drift probes: ``probe_page`` on recorded and mutated pages, ``probe()`` on odd answers."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from akarom.carriers import ADAPTERS, CarrierAdapter, Page
from akarom.carriers.au import AuAdapter
from akarom.carriers.docomo import DocomoAdapter
from akarom.carriers.rakuten import RakutenAdapter
from akarom.carriers.softbank import SoftbankAdapter
from akarom.domain import Status
from akarom.sandbox import create_app, parse_scenario
from tests.carriers.replay import Replay

AU_FORM = "https://my.au.com/cmn/WCV009001/WCE009001.hc"
SB_FORM = "https://ct99.my.softbank.jp/WBF/icv"


def _form_pages(adapter: type[CarrierAdapter]) -> list[tuple[str, Page]]:
    """The recorded form page (the first GET) of every case that ends in an answer."""
    pages = []
    for case in adapter.TESTS:
        if not isinstance(case.expect, Status):
            continue
        replay = Replay.load(adapter.CARRIER, case.name, case.imei)
        step = replay.steps[0]
        assert step["method"] == "GET"
        headers = {k.lower(): v for k, v in step.get("headers", {}).items()}
        url = adapter.BASE_URL + step["path"]
        pages.append((case.name, Page("GET", url, step["status"], headers, replay.body(step))))
    return pages


@pytest.mark.parametrize(
    ("adapter", "name", "page"),
    [
        pytest.param(adapter, name, page, id=f"{adapter.CARRIER}-{name}")
        for adapter in (AuAdapter, SoftbankAdapter)
        for name, page in _form_pages(adapter)
    ],
)
def test_every_recorded_form_page_looks_as_expected(adapter, name, page) -> None:
    assert adapter.probe_page(page) == []


def test_probe_paths_default_to_the_entry_path() -> None:
    for adapter in ADAPTERS:
        assert adapter.PROBE_PATH == adapter.ENTRY_PATH
    assert DocomoAdapter.PROBE_EXTRA_PATHS == ("/search.php",)
    assert all(a.PROBE_EXTRA_PATHS == () for a in ADAPTERS if a is not DocomoAdapter)


def test_an_adapter_without_a_probe_is_never_reported_healthy() -> None:
    class Bare(CarrierAdapter):
        CARRIER = AuAdapter.CARRIER
        DISPLAY_NAME = "bare"
        BASE_URL = "https://example.test"
        ENTRY_PATH = "/start"
        VERSION = "0"

        async def _check(self, imei, visit):  # pragma: no cover - never called
            raise NotImplementedError

        @classmethod
        def parse_result(cls, page):  # pragma: no cover - never called
            raise NotImplementedError

    assert Bare.PROBE_PATH == "/start"
    (problem,) = Bare.probe_page(Page("GET", "https://example.test/start", 200, {}, b""))
    assert "no drift probe" in problem


# --- au ----------------------------------------------------------------------------------


def _au(html: str, headers: dict[str, str] | None = None) -> list[str]:
    headers = {"content-type": "text/html; charset=Shift_JIS"} if headers is None else headers
    return AuAdapter.probe_page(Page("GET", AU_FORM, 200, headers, html.encode("cp932")))


AU_OK = (
    '<form name="nextForm" method="post" action="/cmn/WCV009002/WCE009002.hc">'
    '<input type="hidden" name="token" value="t"><input type="text" id="imei" name="imei">'
    "</form>"
)


@pytest.mark.parametrize(
    ("html", "headers", "problem"),
    [
        (AU_OK, {"content-type": "text/html"}, "declares no charset"),
        (AU_OK.replace('name="nextForm"', 'name="other"'), None, "no form named nextForm"),
        (AU_OK.replace("WCE009002.hc", "WCE009003.hc"), None, "does not end with WCE009002.hc"),
        (AU_OK.replace('id="imei" name="imei"', 'name="serial"'), None, "no IMEI input"),
        ("<p>nothing here</p>", None, "no form named nextForm or posting to WCE009002.hc"),
    ],
)
def test_au_names_what_changed(html, headers, problem) -> None:
    assert _au(AU_OK) == []
    problems = _au(html, headers)
    assert len(problems) == 1, problems
    assert problem in problems[0]


def test_au_accepts_a_meta_charset_and_the_legacy_input_name() -> None:
    html = '<meta charset="utf-8">' + AU_OK.replace('id="imei" name="imei"', 'name="IMEI"')
    assert _au(html, {}) == []


# --- SoftBank ----------------------------------------------------------------------------


def _softbank_form() -> str:
    replay = Replay.load("softbank", "ok", "356938035643809")
    return replay.body(replay.steps[0]).decode("cp932")


def _softbank(html: str) -> list[str]:
    return SoftbankAdapter.probe_page(
        Page("GET", SB_FORM, 200, {"content-type": "text/html"}, html.encode("cp932"))
    )


@pytest.mark.parametrize("hidden", ["_PageID", "_DataStoreID", "_ControlID", "_ActionID"])
def test_softbank_names_a_missing_hidden_field(hidden: str) -> None:
    html = _softbank_form()
    line = next(line for line in html.splitlines() if f'name="{hidden}"' in line)
    assert _softbank(html.replace(line, "")) == [f"the WBF/icv form has no hidden {hidden}"]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda h: h.replace('name="imei"', 'name="serial"'), "the WBF/icv form has no imei input"),
        (
            lambda h: h.replace('name="ACT_TE001"', 'name="ACT_TE002"'),
            "the WBF/icv form has no ACT_TE001 submit button",
        ),
        (lambda h: h.replace('action="/WBF/icv"', 'action="/WBF/other"'), "no form posting to"),
        (lambda h: h.split("<form")[0], "no form posting to WBF/icv"),
    ],
)
def test_softbank_names_what_changed(change: Callable[[str], str], problem: str) -> None:
    assert _softbank(_softbank_form()) == []
    problems = _softbank(change(_softbank_form()))
    assert len(problems) == 1, problems
    assert problem in problems[0]


# --- docomo and Rakuten: the sandbox's pages, then mutated ---------------------------------


async def _sandbox_page(path: str) -> Page:
    app = create_app(parse_scenario({"seed": 1}))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sandbox.test"
    ) as client:
        return Page.from_response(await client.get(path))


def _mutated(page: Page, old: str, new: str, encoding: str) -> Page:
    text = page.content.decode(encoding)
    assert old in text
    return Page(page.method, page.url, 200, page.headers, text.replace(old, new).encode(encoding))


async def test_docomo_top_php() -> None:
    top = await _sandbox_page("/top.php")
    assert DocomoAdapter.probe_page(top) == []
    unlinked = _mutated(top, 'href="search.php"', 'href="search2.php"', "cp932")
    assert DocomoAdapter.probe_page(unlinked) == ["top.php has no link to search.php"]
    undeclared = Page("GET", top.url, 200, {}, top.content.replace(b"Shift_JIS", b"x-none"))
    assert DocomoAdapter.probe_page(undeclared) == [
        "top.php declares no charset (expected Shift_JIS)"
    ]
    utf8 = Page("GET", top.url, 200, {"content-type": "text/html; charset=UTF-8"}, top.content)
    assert DocomoAdapter.probe_page(utf8) == ["top.php declares utf-8, not Shift_JIS"]


async def test_docomo_search_php() -> None:
    search = await _sandbox_page("/search.php")
    assert DocomoAdapter.probe_page(search) == []
    renamed = _mutated(search, 'name="productno"', 'name="imei"', "cp932")
    assert DocomoAdapter.probe_page(renamed) == ["search.php has no form with a productno input"]
    moved = _mutated(search, 'action="search.php"', 'action="result.php"', "cp932")
    assert DocomoAdapter.probe_page(moved) == [
        "the productno form posts to 'result.php', not search.php"
    ]
    captcha = _mutated(
        search, "</form>", '<input type="text" name="attestationkey" /></form>', "cp932"
    )
    assert DocomoAdapter.probe_page(captcha) == [
        "search.php shows the gifcat captcha (attestationkey)"
    ]


async def test_rakuten_shell() -> None:
    shell = await _sandbox_page("/restriction/")
    assert RakutenAdapter.probe_page(shell) == []
    no_button = _mutated(shell, 'id="search"', 'id="go"', "utf-8")
    assert RakutenAdapter.probe_page(no_button) == ["the /restriction/ page has no #search button"]
    no_input = _mutated(shell, 'id="imei"', 'id="serial"', "utf-8")
    assert RakutenAdapter.probe_page(no_input) == ["the /restriction/ page has no #imei input"]


# --- probe(): what it sends, and answers that are not pages ---------------------------------


@pytest.mark.parametrize("adapter", ADAPTERS, ids=lambda a: a.CARRIER)
async def test_a_probe_only_gets_and_never_sends_an_imei(adapter) -> None:
    seen: list[httpx.Request] = []
    app = create_app(parse_scenario({"seed": 1}))
    inner = httpx.ASGITransport(app=app)

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return await inner.handle_async_request(request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        probe = await adapter(client, base_url="http://sandbox.test").probe()
    assert probe.ok, probe
    assert [r.method for r in seen] == ["GET"] * (1 + len(adapter.PROBE_EXTRA_PATHS))
    assert all(not r.content and not r.url.query for r in seen)
    assert [p.url for p in probe.pages] == [str(r.url) for r in seen]


async def test_a_moved_page_is_a_problem_naming_the_path() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, content=b"<html><title>Not Found</title></html>")

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        probe = await SoftbankAdapter(client).probe()
    assert probe.outcome == "changed"
    assert probe.problems == ("/WBF/icv: unexpected HTTP 404",)
    assert probe.status_code == 404


async def test_docomo_stops_at_the_first_page_that_is_not_one() -> None:
    top = await _sandbox_page("/top.php")

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/top.php":
            return httpx.Response(200, headers=dict(top.headers), content=top.content)
        raise httpx.ReadTimeout("no answer", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        probe = await DocomoAdapter(client).probe()
    assert (probe.outcome, probe.status_code, probe.charset) == ("timeout", 200, "cp932")
    assert probe.detail is not None
    assert probe.detail.startswith("/search.php: ")
    assert probe.problems == ()


async def test_no_answer_at_all() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        probe = await AuAdapter(client).probe()
    assert (probe.outcome, probe.status_code, probe.charset) == ("unavailable", None, None)
    assert probe.url == AU_FORM
    assert probe.as_dict()["fetched"] == []
