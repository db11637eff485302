"""The monitor under a frozen clock, against the sandbox: a × is noticed, alerted and
claimed; the budget holds; an unanswered re-check changes nothing."""

from __future__ import annotations

import itertools
import logging
import os
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine

from akarom.config import Settings
from akarom.domain import Carrier, Status
from akarom.sealing import Sealer
from akarom.services.advising import load_advice_rules
from akarom.services.alerts import add_email_target
from akarom.services.guarantees import SaleRequest, register_sale
from akarom.services.monitor import Monitor, released
from akarom.storage import Store
from akarom.storage.guarantees import ClaimStatus, GuaranteeKind, GuaranteeStatus
from tests.services.conftest import OK_AT_DOCOMO, PENDING_AT_DOCOMO, Sandboxed

START = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 10:00 in Japan


@pytest.fixture
def dealer(store: Store) -> int:
    return store.create_dealer("中古スマホ堂").id


def _sell(store: Store, dealer: int, imei: str, order: str, tmp_path: Path, **kw: object) -> int:
    rules = load_advice_rules(Settings.from_env({"AKAROM_DATA_DIR": str(tmp_path / "r")}))
    request = SaleRequest(imei, order, START.date(), price=90_000, **kw)  # type: ignore[arg-type]
    return register_sale(store, Sealer(os.urandom(32)), rules, dealer, request, by="佐藤").id


async def _baseline(checker, imei: str) -> None:  # type: ignore[no-untyped-def]
    report = await checker.check(imei, carriers=[Carrier.DOCOMO], fresh=True)
    assert report.results[0].status is not Status.UNKNOWN


async def test_a_pending_device_turning_red_is_noticed_alerted_and_claimed(
    sandboxed: Sandboxed, store: Store, dealer: int, tmp_path: Path
) -> None:
    with time_machine.travel(START, tick=True) as clock:
        async with sandboxed(store=store) as (checker, sandbox):
            await _baseline(checker, PENDING_AT_DOCOMO)
            guarantee_id = _sell(store, dealer, PENDING_AT_DOCOMO, "A-1", tmp_path)
            add_email_target(store, "中古スマホ堂", "shop@example.jp")
            monitor = Monitor(checker.settings, store, checker, rng=random.Random(1))

            first = await monitor.once()  # the same day: nothing is due yet
            assert sum(c.asked for c in first.carriers) == 0

            clock.move_to(START + timedelta(days=2))
            await sandbox.put(
                f"/_sandbox/devices/{PENDING_AT_DOCOMO}", json={"docomo": "restricted"}
            )
            found = await monitor.once()
    docomo = next(c for c in found.carriers if c.carrier is Carrier.DOCOMO)
    assert (docomo.asked, docomo.answered, len(docomo.changes), len(docomo.claims)) == (1, 1, 1, 1)
    [change] = store.changes(dealer, open_only=True)
    assert (change.before_status, change.after_status) == (Status.PENDING, Status.RESTRICTED)
    assert change.guarantee_id == guarantee_id
    history = store.history(PENDING_AT_DOCOMO)
    assert change.after_observation_id == history[-1].id  # the answer, with its evidence
    assert change.before_observation_id == history[0].id
    [alert] = store.deliveries(change.id, dealer_id=dealer)  # in the outbox with the change
    assert alert.channel == "email"
    [claim] = store.claims(dealer)
    assert claim.status is ClaimStatus.OPEN
    assert claim.change_id == change.id
    assert [a.actor for a in claim.actions] == ["monitor"]
    guarantee = store.guarantee(dealer, guarantee_id)
    assert guarantee is not None
    assert guarantee.status is GuaranteeStatus.CLAIMED


async def test_a_device_is_never_asked_again_within_a_day(
    sandboxed: Sandboxed, store: Store, dealer: int, tmp_path: Path
) -> None:
    with time_machine.travel(START, tick=True) as clock:
        async with sandboxed(store=store) as (checker, _):
            await _baseline(checker, OK_AT_DOCOMO)
            _sell(store, dealer, OK_AT_DOCOMO, "B-1", tmp_path)
            monitor = Monitor(checker.settings, store, checker, rng=random.Random(2))
            asked = []
            for hours in range(24, 24 * 6, 3):
                clock.move_to(START + timedelta(hours=hours))
                done = await monitor.once()
                asked += [START + timedelta(hours=hours)] * sum(c.asked for c in done.carriers)
    assert asked, "a device sold under guarantee is re-checked"
    gaps = [b - a for a, b in itertools.pairwise(asked)]
    assert all(gap >= timedelta(days=1) for gap in gaps)


async def test_the_budget_holds_and_what_is_left_waits_for_the_next_day(
    sandboxed: Sandboxed, store: Store, dealer: int, tmp_path: Path
) -> None:
    with time_machine.travel(START, tick=True) as clock:
        async with sandboxed(store=store, env={"AKAROM_DOCOMO_RECHECK_BUDGET": "1"}) as (
            checker,
            _,
        ):
            for imei, order in ((OK_AT_DOCOMO, "C-1"), (PENDING_AT_DOCOMO, "C-2")):
                await _baseline(checker, imei)
                _sell(store, dealer, imei, order, tmp_path)
            monitor = Monitor(checker.settings, store, checker, rng=random.Random(3))
            clock.move_to(START + timedelta(days=2))  # both due
            first = await monitor.once()
            again = await monitor.once()
            clock.move_to(START + timedelta(days=3))
            next_day = await monitor.once()

    def docomo_asked(done) -> int:  # type: ignore[no-untyped-def]
        return next(c.asked for c in done.carriers if c.carrier is Carrier.DOCOMO)

    assert (docomo_asked(first), docomo_asked(again), docomo_asked(next_day)) == (1, 0, 1)
    assert store.spent(Carrier.DOCOMO, (START + timedelta(days=2)).date()) == 1


async def test_no_answer_changes_nothing_and_a_carrier_down_is_said_once(
    sandboxed: Sandboxed,
    store: Store,
    dealer: int,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="akarom.monitor")
    with time_machine.travel(START, tick=True) as clock:
        async with sandboxed(store=store) as (checker, sandbox):
            imeis = ["352099001761481", "351756051523993", "356938035643809"]
            await sandbox.put(f"/_sandbox/devices/{imeis[2]}", json={"docomo": "ok"})
            for number, imei in enumerate(imeis):
                await _baseline(checker, imei)
                _sell(store, dealer, imei, f"D-{number}", tmp_path)
            monitor = Monitor(checker.settings, store, checker, rng=random.Random(4))
            await sandbox.put("/_sandbox/carriers/docomo", json={"mode": "maintenance"})
            clock.move_to(START + timedelta(days=2))
            down = await monitor.once()
            await monitor.once()  # still down: not said again
            await sandbox.put("/_sandbox/carriers/docomo", json={"mode": "normal"})
            clock.move_to(START + timedelta(days=3))
            back = await monitor.once()
    docomo = next(c for c in down.carriers if c.carrier is Carrier.DOCOMO)
    assert (docomo.asked, docomo.unanswered, docomo.changes) == (3, 3, [])
    assert store.changes(dealer) == []
    assert next(c for c in back.carriers if c.carrier is Carrier.DOCOMO).answered == 3
    said = [r.getMessage() for r in caplog.records if r.name == "akarom.monitor"]
    assert sum("not answering" in line for line in said) == 1
    assert sum("answering again" in line for line in said) == 1


def test_the_day_s_budget_is_released_across_the_japan_day() -> None:
    midnight = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # 00:00 JST
    figures = [released(2400, midnight + timedelta(hours=h)) for h in range(25)]
    assert figures[0] == 100
    assert figures[11] == 1200
    assert figures[23] == 2400
    assert figures == [*sorted(figures[:24]), 100]  # the next day starts again


async def test_a_guarantee_past_its_term_is_told_the_change_but_opens_no_claim(
    sandboxed: Sandboxed, store: Store, dealer: int, tmp_path: Path
) -> None:
    with time_machine.travel(START, tick=True) as clock:
        async with sandboxed(store=store) as (checker, sandbox):
            await _baseline(checker, OK_AT_DOCOMO)
            _sell(
                store,
                dealer,
                OK_AT_DOCOMO,
                "E-1",
                tmp_path,
                kind=GuaranteeKind.RETURN_1Y,
                term_until=START.date() + timedelta(days=1),
            )
            monitor = Monitor(checker.settings, store, checker, rng=random.Random(5))
            clock.move_to(START + timedelta(days=3))
            await sandbox.put(f"/_sandbox/devices/{OK_AT_DOCOMO}", json={"docomo": "restricted"})
            done = await monitor.once()
    docomo = next(c for c in done.carriers if c.carrier is Carrier.DOCOMO)
    assert (len(docomo.changes), docomo.claims) == (1, [])
    assert store.claims(dealer) == []
