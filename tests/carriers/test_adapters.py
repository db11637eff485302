"""Every adapter case in every adapter's ``TESTS``, replayed offline, plus registry invariants."""

from __future__ import annotations

import sys

import httpx
import pytest

from akarom.carriers import ADAPTERS, AdapterCase, CarrierAdapter, adapter_class
from akarom.domain import Carrier, Status
from akarom.errors import Blocked, CarrierError, CarrierUnavailable, Maintenance, ParseError
from tests.carriers.replay import FIXTURES, Replay

CASES = [
    pytest.param(adapter, case, id=f"{adapter.CARRIER}-{case.name}")
    for adapter in ADAPTERS
    for case in adapter.TESTS
    if not case.online
]


@pytest.mark.parametrize(("adapter", "case"), CASES)
async def test_recorded_case(adapter: type[CarrierAdapter], case: AdapterCase) -> None:
    if case.skip:
        pytest.skip(case.skip)
    replay = Replay.load(adapter.CARRIER, case.name, case.imei)
    async with httpx.AsyncClient(transport=replay.transport()) as client:
        check = adapter(client).check(case.imei)
        if isinstance(case.expect, Status):
            observation = await check
            assert observation.reading.status is case.expect
            if case.symbol is not None:
                assert observation.reading.symbol == case.symbol
            assert len(observation.pages) == sum(1 for s in replay.steps if "raise" not in s)
        else:
            with pytest.raises(case.expect) as raised:
                await check
            assert raised.value.carrier is adapter.CARRIER
            if any("raise" not in step for step in replay.steps):
                assert raised.value.pages, "a failed check keeps the pages it saw"
    replay.assert_all_used()


RESULT_CASES = [
    param
    for param in CASES
    if isinstance(param.values[1].expect, Status) and not param.values[1].skip
]


@pytest.mark.parametrize(("adapter", "case"), RESULT_CASES)
def test_parse_result_is_pure_on_the_recorded_page(
    adapter: type[CarrierAdapter], case: AdapterCase
) -> None:
    """The answer page alone gives the answer: parsing needs no network and no state."""
    page = Replay.load(adapter.CARRIER, case.name, case.imei).result_page()
    assert adapter.parse_result(page, case.imei).status is case.expect


def test_every_carrier_has_exactly_one_adapter() -> None:
    assert sorted(a.CARRIER for a in ADAPTERS) == sorted(Carrier)
    for carrier in Carrier:
        assert adapter_class(carrier).CARRIER is carrier


@pytest.mark.parametrize("adapter", ADAPTERS, ids=lambda a: a.CARRIER)
def test_adapter_declares_its_contract(adapter: type[CarrierAdapter]) -> None:
    assert adapter.__doc__
    assert sys.modules[adapter.__module__].__doc__
    assert adapter.DISPLAY_NAME
    assert adapter.VERSION
    assert adapter.ENTRY_PATH.startswith("/")
    assert adapter.BASE_URL.startswith(("http://", "https://"))
    assert adapter.MIN_INTERVAL >= 1.0
    assert 0 < adapter.TIMEOUT <= 60


@pytest.mark.parametrize("adapter", ADAPTERS, ids=lambda a: a.CARRIER)
def test_every_status_and_failure_has_a_recorded_case(adapter: type[CarrierAdapter]) -> None:
    expected = {case.expect for case in adapter.TESTS}
    for status in (Status.OK, Status.PENDING, Status.RESTRICTED, Status.UNREGISTERED):
        assert status in expected, f"{adapter.CARRIER}: no case for {status}"
    for error in (Blocked, Maintenance, ParseError, CarrierUnavailable):
        assert error in expected, f"{adapter.CARRIER}: no case for {error.__name__}"
    assert all(isinstance(e, Status) or issubclass(e, CarrierError) for e in expected), (
        "expect is a Status or a CarrierError"
    )


def test_every_fixture_folder_is_used_and_every_case_has_one() -> None:
    declared = {(a.CARRIER.value, c.name) for a in ADAPTERS for c in a.TESTS}
    on_disk = {
        (folder.parent.name, folder.name) for folder in FIXTURES.glob("*/*") if folder.is_dir()
    }
    assert declared == on_disk
    for adapter in ADAPTERS:
        names = [case.name for case in adapter.TESTS]
        assert len(names) == len(set(names)), f"{adapter.CARRIER}: duplicate case names"
