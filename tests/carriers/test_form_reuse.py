"""au and SoftBank keep their check form between checks (``carriers/_reuse.py``).

Recorded runs (``tests/carriers/runs/``) replay several checks through one adapter;
the sandbox, in process, counts what a run of checks really costs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from akarom import errors
from akarom.carriers import Page
from akarom.carriers._reuse import CheckForm, FormKeepingAdapter
from akarom.carriers.au import AuAdapter
from akarom.carriers.softbank import SoftbankAdapter
from akarom.config import Settings
from akarom.domain import Carrier, Status
from akarom.sandbox import create_app, parse_scenario
from akarom.services import Checker, RetryPolicy
from tests.carriers.pages import answer_page
from tests.carriers.replay import RUNS, Replay

ADAPTERS: dict[str, type[FormKeepingAdapter]] = {"au": AuAdapter, "softbank": SoftbankAdapter}
SANDBOX = "http://sandbox.test"
IMEIS = [
    "352099001761481",
    "356938035643809",
    "490154203237518",
    "353879234252633",
    "354178036859789",
]


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


RUN_FILES = sorted(RUNS.glob("*/*.json"))


def _expected(name: str) -> Status | type[errors.CarrierError]:
    """A status value (``ok``) or the name of an error (``ParseError``)."""
    if name in {status.value for status in Status}:
        return Status(name)
    error = getattr(errors, name)
    assert isinstance(error, type)
    assert issubclass(error, errors.CarrierError)
    return error


@pytest.mark.parametrize("path", RUN_FILES, ids=lambda p: f"{p.parent.name}-{p.stem}")
async def test_recorded_run(path: Path) -> None:
    replay = Replay.run(path.parent.name, path.stem)
    clock = Clock()
    async with httpx.AsyncClient(transport=replay.transport()) as client:
        adapter = ADAPTERS[path.parent.name](client, clock=clock)
        for number, check in enumerate(replay.checks, 1):
            clock.now += check.get("after_s", 0)
            expect = _expected(check["expect"])
            if isinstance(expect, Status):
                observation = await adapter.check(check["imei"])
                assert observation.reading.status is expect, number
                pages = observation.pages
            else:
                with pytest.raises(expect) as raised:
                    await adapter.check(check["imei"])
                pages = raised.value.pages
            assert [page.method for page in pages] == check["methods"], number
    replay.assert_all_used()


def test_every_run_body_is_used() -> None:
    used = {
        (path.parent.name, step["body"])
        for path in RUN_FILES
        for step in json.loads(path.read_text(encoding="utf-8"))["steps"]
        if "case" not in step and step.get("body")
    }
    on_disk = {(p.parent.name, p.name) for p in RUNS.glob("*/*") if p.suffix != ".json"}
    assert used == on_disk


# --- the kept form ---------------------------------------------------------------------


def test_a_check_form_is_immutable() -> None:
    replay = Replay.load("softbank", "ok", "356938035643809")
    content = replay.body(replay.steps[0])
    form = SoftbankAdapter.read_check_form(Page("GET", "https://x/WBF/icv", 200, {}, content))
    with pytest.raises(dataclasses.FrozenInstanceError):
        form.path = "/elsewhere"  # type: ignore[misc]
    sent = form.submission("356938035643809")
    sent["_PageID"] = "changed"
    assert dict(form.fields)["_PageID"] == "WBF001000"
    assert form.button == ("ACT_TE001", " 確 認 ")


class Site:
    """au's form and recorded answer, any number of times; counts requests, can stall the GET."""

    FORM = (
        '<html><head><meta charset="Shift_JIS"></head><body>'
        '<form name="nextForm" method="post" action="/cmn/WCV009002/WCE009002.hc">'
        '<input type="hidden" name="token" value="t{n}"><input id="imei" name="imei">'
        "</form></body></html>"
    )

    def __init__(self) -> None:
        self.seen: list[httpx.Request] = []
        self.gets = 0

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        await asyncio.sleep(0.01)  # every exchange takes a while, as on a network
        headers = {"content-type": "text/html; charset=Shift_JIS"}
        if request.method == "GET":
            self.gets += 1
            return httpx.Response(200, headers=headers, content=self.FORM.format(n=self.gets))
        imei = dict(httpx.QueryParams(request.content.decode("ascii")))["imei"]
        result = answer_page(Carrier.AU, imei, "〇")
        return httpx.Response(200, headers=headers, content=result.content)


async def test_concurrent_checks_without_a_form_share_one_get() -> None:
    """A bulk run starts many checks at once: one fetches the form, the others reuse it."""
    site = Site()
    async with httpx.AsyncClient(transport=site.transport()) as client:
        adapter = AuAdapter(client)
        observations = await asyncio.gather(*(adapter.check(imei) for imei in IMEIS))
    assert all(o.reading.status is Status.OK for o in observations)
    assert [r.method for r in site.seen].count("GET") == 1
    assert len(site.seen) == len(IMEIS) + 1


async def test_a_dropped_form_never_drops_a_newer_one() -> None:
    async with httpx.AsyncClient(transport=Site().transport()) as client:
        adapter = AuAdapter(client)
        await adapter.check(IMEIS[0])
        old = adapter.kept_form
        assert old is not None
        newer = dataclasses.replace(old, fields=(("token", "newer"),))
        adapter._kept = newer
        adapter._drop(old)
        assert adapter.kept_form is newer


async def test_forget_form_makes_the_next_check_get_one() -> None:
    site = Site()
    async with httpx.AsyncClient(transport=site.transport()) as client:
        adapter = AuAdapter(client)
        await adapter.check(IMEIS[0])
        adapter.forget_form()
        await adapter.check(IMEIS[1])
    assert [r.method for r in site.seen] == ["GET", "POST", "GET", "POST"]


async def test_the_kept_form_ages_on_the_injected_clock() -> None:
    clock = Clock()
    async with httpx.AsyncClient(transport=Site().transport()) as client:
        adapter = AuAdapter(client, clock=clock)
        await adapter.check(IMEIS[0])
        form = adapter.kept_form
        assert isinstance(form, CheckForm)
        assert form.read_at == clock.now
        clock.now += AuAdapter.FORM_TTL - 0.001
        assert adapter.kept_form is form
        clock.now += 0.001
        assert adapter.kept_form is None


# --- against the sandbox, in process ---------------------------------------------------


def _sandbox(**carriers: Any) -> tuple[httpx.ASGITransport, httpx.AsyncClient]:
    app = create_app(parse_scenario({"seed": 3, "default": "unregistered", "carriers": carriers}))
    transport = httpx.ASGITransport(app=app)
    return transport, httpx.AsyncClient(transport=transport, base_url=SANDBOX)


async def _requests(admin: httpx.AsyncClient, carrier: str) -> int:
    stats = (await admin.get("/_sandbox/stats")).json()["carriers"]
    return int(stats[carrier]["requests"])


@pytest.mark.parametrize("name", ["au", "softbank"])
async def test_five_devices_cost_six_requests(name: str) -> None:
    transport, admin = _sandbox()
    async with admin, httpx.AsyncClient(transport=transport) as client:
        adapter = ADAPTERS[name](client, base_url=SANDBOX)
        for imei in IMEIS:
            observation = await adapter.check(imei)
            assert observation.reading.status is Status.UNREGISTERED
        assert await _requests(admin, name) == 6  # without reuse: 10


async def test_five_devices_at_au_through_the_checker_cost_six_requests(tmp_path: Path) -> None:
    """check_many starts every device at once; the cold start still GETs the form once."""
    transport, admin = _sandbox()
    settings = Settings.from_env(
        {
            "AKAROM_CARRIERS_URL": SANDBOX,
            "AKAROM_RATE_LIMIT": "1000",
            "AKAROM_CONCURRENCY": "4",
            "AKAROM_DATA_DIR": str(tmp_path),
        }
    )
    checker = Checker(
        settings,
        transports=dict.fromkeys(Carrier, transport),
        retry=RetryPolicy(attempts=1),
        share_limits=False,
    )
    async with admin, checker:
        reports = await checker.check_many(IMEIS, carriers=[Carrier.AU])
        au = [next(r for r in report.results if r.carrier is Carrier.AU) for report in reports]
        assert all(result.status is Status.UNREGISTERED for result in au)
        assert await _requests(admin, "au") == 6


async def test_an_expired_au_token_costs_one_post_then_a_fresh_form() -> None:
    """The sandbox forgets its tokens on reset: the kept form's POST gets 不正な画面遷移."""
    transport, admin = _sandbox()
    async with admin, httpx.AsyncClient(transport=transport) as client:
        await admin.put(f"/_sandbox/devices/{IMEIS[1]}", json={"au": "restricted"})
        adapter = AuAdapter(client, base_url=SANDBOX)
        await adapter.check(IMEIS[0])
        await admin.post("/_sandbox/reset")  # stats back to 0, every TOKEN forgotten
        await admin.put(f"/_sandbox/devices/{IMEIS[1]}", json={"au": "restricted"})
        observation = await adapter.check(IMEIS[1])
        assert await _requests(admin, "au") == 3
    assert observation.reading.status is Status.RESTRICTED
    assert [page.method for page in observation.pages] == ["POST", "GET", "POST"]
    assert "不正な画面遷移です".encode("cp932") in observation.pages[0].content


@pytest.mark.parametrize(
    ("name", "mode", "error"),
    [
        ("au", "blocked", errors.Blocked),
        ("au", "maintenance", errors.Maintenance),
        ("au", "captcha", errors.CaptchaRequired),
        ("softbank", "blocked", errors.Blocked),
        ("softbank", "maintenance", errors.Maintenance),
        ("softbank", "captcha", errors.CaptchaRequired),
    ],
)
async def test_a_screen_on_the_kept_forms_post_propagates_at_once(name, mode, error) -> None:
    transport, admin = _sandbox()
    async with admin, httpx.AsyncClient(transport=transport) as client:
        adapter = ADAPTERS[name](client, base_url=SANDBOX)
        await adapter.check(IMEIS[0])
        await admin.put(f"/_sandbox/carriers/{name}", json={"mode": mode})
        with pytest.raises(error) as raised:
            await adapter.check(IMEIS[1])
        assert [page.method for page in raised.value.pages] == ["POST"]
        assert adapter.kept_form is not None
        await admin.put(f"/_sandbox/carriers/{name}", json={"mode": "normal"})
        observation = await adapter.check(IMEIS[1])
    assert [page.method for page in observation.pages] == ["POST"]
