"""The Hub: what a server holds for its whole life (services/serving.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from akarom.config import Settings
from akarom.domain import Carrier, CarrierResult, Source, Status, Verdict
from akarom.sandbox import create_app, parse_scenario
from akarom.services.challenges import ChallengeQueue
from akarom.services.checking import CheckRequest
from akarom.services.checks import ON_RESULT
from akarom.services.serving import Hub
from akarom.storage import Store
from tests.services.conftest import DEVICES, OK_AT_DOCOMO, RESTRICTED_AT_AU, SANDBOX


def _hub(
    tmp_path: Path, *, concurrency: int = 4, carriers: dict[str, object] | None = None
) -> tuple[Hub, httpx.ASGITransport]:
    """A Hub on a fresh SQLite store, the sandbox (with ``DEVICES``) as every carrier."""
    scenario = parse_scenario(
        {"seed": 7, "default": "unregistered", "carriers": carriers or {}, "devices": DEVICES}
    )
    transport = httpx.ASGITransport(app=create_app(scenario))
    settings = Settings.from_env(
        {
            "AKAROM_CARRIERS_URL": SANDBOX,
            "AKAROM_RATE_LIMIT": "1000",
            "AKAROM_CONCURRENCY": str(concurrency),
            "AKAROM_DATA_DIR": str(tmp_path),
        }
    )
    store = Store.open(None, tmp_path)
    return Hub(settings, store, transports=dict.fromkeys(Carrier, transport)), transport


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Hub, httpx.AsyncClient]]:
    hub, transport = _hub(tmp_path)
    async with httpx.AsyncClient(transport=transport, base_url=SANDBOX) as admin:
        try:
            yield hub, admin
        finally:
            await hub.aclose()


async def test_each_tenant_has_its_own_checker_and_staff_queue(served) -> None:
    hub, _ = served
    public, dealer = hub.checker(None), hub.checker(7)
    assert hub.checker(None) is public
    assert hub.checker(7) is dealer
    assert public is not dealer
    # Nobody answers captchas for the public page; a dealer's go to its own staff.
    assert public.person is None
    assert isinstance(dealer.person, ChallengeQueue)
    assert dealer.person.tenant == "7"


async def test_a_check_is_advised_and_every_answer_is_observed(served) -> None:
    hub, _ = served
    seen: list[CarrierResult] = []
    hub.observers.append(seen.append)
    request = CheckRequest(imeis=(RESTRICTED_AT_AU,), carriers=(Carrier.AU,))
    first = await hub.check(request, dealer_id=None)
    again = await hub.check(request, dealer_id=3)  # another tenant: the stored answer
    assert first.devices[0].report.verdict is Verdict.RED
    assert again.devices[0].report.results[0].source is Source.CACHE
    assert [(r.carrier, r.status, r.source) for r in seen] == [
        (Carrier.AU, Status.RESTRICTED, Source.LIVE),
        (Carrier.AU, Status.RESTRICTED, Source.CACHE),
    ]


async def test_each_carrier_answer_is_told_as_it_arrives(served) -> None:
    hub, admin = served
    await admin.put("/_sandbox/carriers/au", json={"latency_ms": 300})
    arrived: list[tuple[Carrier, float]] = []
    loop = asyncio.get_running_loop()
    began = loop.time()
    ON_RESULT.set(lambda result: arrived.append((result.carrier, loop.time() - began)))
    outcome = await hub.check(
        CheckRequest(imeis=(OK_AT_DOCOMO,), all_carriers=True), dealer_id=None
    )
    assert {carrier for carrier, _ in arrived} == set(Carrier)
    assert outcome.devices[0].report.verdict is Verdict.CLEAR
    # The fast carriers were told well before the slow one answered.
    times = dict(arrived)
    assert min(times[c] for c in Carrier if c is not Carrier.AU) < times[Carrier.AU] - 0.15


async def test_a_paused_carrier_is_asked_again_after_the_pause(served) -> None:
    """In a server, a block pauses the carrier for a while, not for the process's life."""
    hub, admin = served
    hub.pause_s = 0.3
    await admin.put("/_sandbox/carriers/au", json={"mode": "blocked"})
    request = CheckRequest(imeis=(RESTRICTED_AT_AU,), carriers=(Carrier.AU,), fresh=True)
    blocked = await hub.check(request, dealer_id=None)
    assert blocked.devices[0].report.verdict is Verdict.INCOMPLETE
    assert hub.checker(None).paused == {Carrier.AU: "blocked"}
    await admin.put("/_sandbox/carriers/au", json={"mode": "normal"})
    asked = (await admin.get("/_sandbox/stats")).json()["carriers"]["au"]["requests"]
    still = await hub.check(request, dealer_id=None)
    assert still.devices[0].report.verdict is Verdict.INCOMPLETE  # paused: not asked
    assert (await admin.get("/_sandbox/stats")).json()["carriers"]["au"]["requests"] == asked
    await asyncio.sleep(0.35)
    after = await hub.check(request, dealer_id=None)
    assert after.devices[0].report.verdict is Verdict.RED
    assert hub.checker(None).paused == {}


async def test_tenants_share_one_cap_on_requests_in_flight(tmp_path: Path) -> None:
    """Two dealers checking at once: au still sees one request at a time."""
    hub, _ = _hub(tmp_path, concurrency=1, carriers={"au": {"latency_ms": 200}})
    try:
        assert hub.checker(1).limiter(Carrier.AU) is hub.checker(2).limiter(Carrier.AU)
        loop = asyncio.get_running_loop()
        began = loop.time()
        await asyncio.gather(
            *(
                hub.check(CheckRequest(imeis=(imei,), carriers=(Carrier.AU,)), dealer_id=dealer)
                for dealer, imei in ((1, RESTRICTED_AT_AU), (2, OK_AT_DOCOMO))
            )
        )
        assert loop.time() - began >= 0.4  # one after the other, not side by side
    finally:
        await hub.aclose()
