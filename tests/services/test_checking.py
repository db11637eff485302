"""The services every interface calls: typed requests in, typed outcomes out."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from akarom.advice import Seller, Sim, load_rules
from akarom.config import Settings
from akarom.domain import Carrier, Verdict
from akarom.errors import InvalidImei, StorageError, UsageError
from akarom.services.advising import Circumstances, circumstances
from akarom.services.checking import (
    BulkRequest,
    CheckOutcome,
    CheckRequest,
    check_devices,
    check_table,
    stored_outcome,
)
from akarom.services.history import read_history
from akarom.services.manual import ManualReading, manual_target, record_reading
from akarom.services.options import Role, SellerKind, SimLock, carrier_named, carriers_named
from akarom.services.validation import validate, validation_json
from tests.conftest import serving
from tests.services.conftest import (
    DEALER_RULES,
    DEVICES,
    OK_AT_DOCOMO,
    OK_AT_RAKUTEN,
    PENDING_AT_SOFTBANK,
    RESTRICTED_AT_AU,
    UNREGISTERED,
)


@pytest.fixture(scope="module")
def sandbox_url():
    with serving({"seed": 5, "devices": DEVICES}) as url:
        yield url


def _settings(tmp_path: Path, url: str = "http://127.0.0.1:9", **env: str) -> Settings:
    return Settings.from_env(
        {
            "AKAROM_DATA_DIR": str(tmp_path),
            "AKAROM_CARRIERS_URL": url,
            "AKAROM_RATE_LIMIT": "50",
            **env,
        }
    )


async def test_a_check_gives_each_device_its_advice_per_role(tmp_path, sandbox_url) -> None:
    request = CheckRequest(
        imeis=(OK_AT_DOCOMO, "35-693803-564380-9", "352099001761482"),
        carriers=(Carrier.DOCOMO, Carrier.SOFTBANK),
        roles=(Role.DEALER, Role.BUYER),
        circumstances=Circumstances(bought_on=date(2026, 11, 1)),
        on=date(2026, 11, 27),
    )
    outcome = await check_devices(_settings(tmp_path, sandbox_url), request)
    assert [d.report.input for d in outcome.devices] == list(request.imeis)
    assert [d.report.verdict for d in outcome.devices] == [
        Verdict.CLEAR,
        Verdict.CAUTION,
        Verdict.INVALID,
    ]
    for device in outcome.devices:
        assert [advice.role for advice in device.advice] == [Role.DEALER, Role.BUYER]
        assert all(advice.on == date(2026, 11, 27) for advice in device.advice)
    asked = {r.carrier for d in outcome.devices for r in d.report.results if not r.skipped}
    assert asked <= {Carrier.DOCOMO, Carrier.SOFTBANK}
    assert set(outcome.manual_urls) == set(Carrier)
    assert all(url.startswith(sandbox_url) for url in outcome.manual_urls.values())
    again = await check_devices(_settings(tmp_path, sandbox_url), request)
    (docomo,) = (r for r in again.devices[0].report.results if r.carrier is Carrier.DOCOMO)
    assert docomo.source is not None
    assert docomo.source.value == "cache"  # the first check's answer was stored


async def test_a_dealers_rules_decide_the_advice(tmp_path, sandbox_url) -> None:
    ours = tmp_path / "ours.yaml"
    ours.write_text(DEALER_RULES, encoding="utf-8")
    request = CheckRequest(
        imeis=(PENDING_AT_SOFTBANK,), roles=(Role.DEALER,), rules=load_rules(override=ours)
    )
    outcome = await check_devices(_settings(tmp_path, sandbox_url), request)
    (buyback, *_) = outcome.devices[0].advice[0].situations
    assert buyback.decision.outcome.price_factor == 0.3


async def test_a_check_with_an_unusable_database_asks_no_carrier(tmp_path) -> None:
    (tmp_path / "akarom.sqlite3").write_bytes(b"garbage" * 100)
    with pytest.raises(StorageError):  # the carriers' URL answers nothing: never asked
        await check_devices(_settings(tmp_path), CheckRequest(imeis=(OK_AT_DOCOMO,)))


async def test_a_bulk_request_is_run_whole(tmp_path, sandbox_url) -> None:
    source, output = tmp_path / "in.csv", tmp_path / "out.csv"
    source.write_text(f"IMEI\n{OK_AT_DOCOMO}\n12345\n", encoding="utf-8")
    request = BulkRequest(input=source, output=output, role=Role.BUYER, lang="en")
    seen: list[tuple[int, int]] = []
    summary = await check_table(
        _settings(tmp_path, sandbox_url),
        request,
        on_progress=lambda done, total: seen.append((done, total)),
    )
    assert (summary.rows, summary.verdicts["clear"], summary.verdicts["invalid"]) == (2, 1, 1)
    assert seen[-1] == (2, 2)
    header = output.read_text(encoding="utf-8-sig").splitlines()[0]
    assert header.endswith("purchase,advice,advice_rules")


@given(st.lists(st.text(max_size=20), max_size=5))
def test_validate_never_raises_and_keeps_the_order(values: list[str]) -> None:
    checked = validate(values)
    assert [line.input for line in checked] == values
    for line in checked:
        assert line.valid == (line.error is None) == (line.identity is not None)
        assert line.as_json("ja") == validation_json(line.input, "ja")
        assert set(line.as_json("en")) == {
            "input",
            "valid",
            "imei",
            "kind",
            "tac",
            "error",
            "message",
        }


def test_carrier_names_are_ids_brands_or_a_usage_error() -> None:
    assert carriers_named(["ahamo", "docomo", "povo"]) == (Carrier.DOCOMO, Carrier.AU)
    with pytest.raises(UsageError) as unknown:
        carrier_named("mvno")
    assert unknown.value.fields["value"] == "mvno"


def test_manual_input_is_checked_before_the_database_is_opened(tmp_path) -> None:
    settings = _settings(tmp_path)
    target = manual_target(settings, "35-209900-176148-1", "ahamo")
    assert (target.imei, target.carrier) == (OK_AT_DOCOMO, Carrier.DOCOMO)
    assert target.url.startswith("http://127.0.0.1:9/")
    with pytest.raises(InvalidImei) as invalid:
        manual_target(settings, "12345", "docomo")
    assert invalid.value.value == "12345"
    with pytest.raises(UsageError, match="unknown carrier"):
        manual_target(settings, OK_AT_DOCOMO, "mvno")
    for symbol, by in (("O", "suzuki"), ("○", "  ")):
        with pytest.raises(UsageError):
            record_reading(settings, ManualReading(OK_AT_DOCOMO, Carrier.AU, symbol, by))
    assert not (tmp_path / "akarom.sqlite3").exists()
    recorded = record_reading(
        settings, ManualReading(OK_AT_DOCOMO, Carrier.AU, " ▲ ", "suzuki", "分割払い中")
    )
    assert (recorded.symbol, recorded.printed_symbol) == ("△", "▲")
    history = read_history(settings, "35 209900 176148 1", evidence=tmp_path / "evidence")
    assert history.imei == OK_AT_DOCOMO
    (entry,) = history.entries
    assert (entry.observation.entered_by, entry.observation.message) == ("suzuki", "分割払い中")
    assert history.exported == ()  # a reading by hand keeps no page


def test_the_options_choices_are_the_advice_engines_words() -> None:
    """``--sim`` and ``--seller`` offer exactly what the rules can be told, and say it so."""
    assert [choice.value for choice in SimLock] == [sim.value for sim in Sim]
    assert [choice.value for choice in SellerKind] == [seller.value for seller in Seller]
    told = circumstances(
        sim=SimLock.UNLOCKED, seller=SellerKind.STORE, bought="昨日", today=date(2026, 3, 1)
    )
    assert told == Circumstances(sim=Sim.UNLOCKED, bought_on=date(2026, 2, 28), seller=Seller.STORE)
    assert (told.after_repair, told.compensates) == (None, None)  # not said is not "no"


# -- a check answered from the store alone --------------------------------------------

STORED = (OK_AT_DOCOMO, PENDING_AT_SOFTBANK, RESTRICTED_AT_AU, UNREGISTERED, OK_AT_RAKUTEN)
#: Asked only at docomo, where it has no record: the other carriers still have to answer.
HALF_ASKED = "351756051523985"


@pytest.fixture(scope="module")
def answered(tmp_path_factory, sandbox_url) -> Path:
    """A data folder whose store holds every carrier's answer for ``STORED`` (asked
    today at the sandbox) and docomo's alone for ``HALF_ASKED``."""
    folder = tmp_path_factory.mktemp("answered")
    settings = _settings(folder, sandbox_url)
    asyncio.run(check_devices(settings, CheckRequest(imeis=STORED, all_carriers=True)))
    half = CheckRequest(imeis=(HALF_ASKED,), carriers=(Carrier.DOCOMO,))
    asyncio.run(check_devices(settings, half))
    return folder


def _seen(outcome: CheckOutcome) -> list[object]:
    """What a person is shown of an outcome (an invalid input's error by its words)."""
    return [
        (replace(device.report, invalid=None), repr(device.report.invalid), device.advice)
        for device in outcome.devices
    ]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    imeis=st.lists(
        st.sampled_from([*STORED, HALF_ASKED, "35-209900-176148-1", "1234", "352099001761482"]),
        min_size=1,
        max_size=4,
    ),
    carriers=st.none() | st.lists(st.sampled_from(list(Carrier)), min_size=1, max_size=4),
    all_carriers=st.booleans(),
    roles=st.lists(st.sampled_from(list(Role)), min_size=1, max_size=3, unique=True),
    bought=st.none() | st.dates(date(2026, 1, 1), date(2026, 11, 30)),
)
def test_a_check_answered_from_the_store_is_the_check(
    answered: Path,
    imeis: list[str],
    carriers: list[Carrier] | None,
    all_carriers: bool,
    roles: list[Role],
    bought: date | None,
) -> None:
    """Whenever the stored answers settle a request, the outcome is the one the checker
    gives (with no carrier to reach: any request sent would be an unknown answer)."""
    request = CheckRequest(
        imeis=tuple(imeis),
        carriers=None if carriers is None else tuple(carriers),
        all_carriers=all_carriers,
        roles=tuple(roles),
        circumstances=Circumstances(bought_on=bought),
        on=date(2026, 11, 30),
    )
    unreachable = _settings(answered)
    stored = stored_outcome(unreachable, request)
    event("answered from the store" if stored is not None else "left to the checker")
    if stored is None:
        return
    checked = asyncio.run(check_devices(unreachable, request))
    assert _seen(stored) == _seen(checked)
    assert stored.on == checked.on
    assert all(device.report.verdict is not Verdict.INCOMPLETE for device in stored.devices)


def test_what_the_store_does_not_settle_is_left_to_the_checker(answered: Path, tmp_path) -> None:
    settings = _settings(answered)
    assert stored_outcome(settings, CheckRequest(imeis=(OK_AT_DOCOMO,))) is not None
    for request in [
        CheckRequest(imeis=(OK_AT_DOCOMO,), fresh=True),
        CheckRequest(imeis=(OK_AT_DOCOMO, HALF_ASKED)),  # docomo alone said "-"
        CheckRequest(imeis=("352099001761507",)),  # never checked
        CheckRequest(imeis=(UNREGISTERED,), carriers=(Carrier.AU,)),  # "-" at au alone: open
        CheckRequest(imeis=("A0000012345678",)),  # a MEID: the adapters say who takes it
    ]:
        assert stored_outcome(settings, request) is None, request
    named = _settings(answered, AKAROM_DATABASE_URL=f"sqlite:///{answered / 'akarom.sqlite3'}")
    assert stored_outcome(named, CheckRequest(imeis=(OK_AT_DOCOMO,))) is None
    assert stored_outcome(_settings(tmp_path), CheckRequest(imeis=(OK_AT_DOCOMO,))) is None
    assert not (tmp_path / "akarom.sqlite3").exists()


def test_invalid_input_alone_needs_no_database(tmp_path) -> None:
    outcome = stored_outcome(_settings(tmp_path), CheckRequest(imeis=("1234", "abc")))
    assert outcome is not None
    assert [device.report.verdict for device in outcome.devices] == [Verdict.INVALID] * 2
    assert not list(tmp_path.iterdir())
