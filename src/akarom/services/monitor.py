"""The monitor: guaranteed devices re-checked within a daily budget per carrier.

One pass (``akarom monitor once``; ``akarom monitor run`` repeats it) does, per carrier
and at the same time for all four:

1. Refits the policy's ``k`` (``services.recheck``) so the day's re-checks use the
   carrier's budget (``AKAROM_RECHECK_BUDGET``), spending where a change is likeliest
   and dearest: △ far more often than ○, recent and dear sales first.
2. Takes the watches due now (``Store.claim_due``: the budget row locked, never past
   the share of the day's budget released so far, so a day's budget is spread over the
   day instead of spent at midnight), and asks each device at that carrier only,
   through the same politeness limits as every other check (non-urgent: a person's
   check goes first).
3. Keeps each answer. A different status than last time is a status change for every
   guarantee on the device, alerted (``services.alerts``'s outbox, in the same
   transaction) and, for a × on a device still under guarantee, a claim opened with
   the evidence. No answer (``unknown``) changes nothing: the last answer stands and
   the device is asked again after a back-off; it is never read as safe.
4. Says once when a carrier stops answering and once when it is back, like a polling
   coordinator: the state is kept in the database, so a restart does not say it twice.
5. Sends the alerts that are due (``services.alerts.deliver_due``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session

from akarom.config import Settings
from akarom.domain import JST, Carrier, Status
from akarom.services import recheck
from akarom.services.alerts import DeliveryReport
from akarom.services.checks import Checker
from akarom.services.database import open_store
from akarom.storage import Store
from akarom.storage.guarantees import GuaranteeStatus, open_claim
from akarom.storage.monitor import DueWatch, WatchRisk
from akarom.storage.tables import Guarantee

__all__ = ["CarrierPass", "Monitor", "MonitorPass", "open_monitor"]

logger = logging.getLogger("akarom.monitor")

#: How long a taken watch is kept from other monitors while it is being asked.
LEASE = timedelta(hours=1)
#: A pass takes at most this many watches per carrier (the rest wait for the next pass).
MOST_PER_PASS = 200
#: After this many unanswered re-checks in a row, a carrier is said to be down.
DOWN_AFTER = 3
#: The first retry after an unanswered re-check, doubled each time, at most a day.
RETRY_AFTER = timedelta(hours=1)


@dataclass(slots=True)
class CarrierPass:
    """What one pass did at one carrier."""

    carrier: Carrier
    budget: int
    spent_before: int = 0
    asked: int = 0
    answered: int = 0
    unanswered: int = 0
    changes: list[int] = field(default_factory=list)
    claims: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class MonitorPass:
    """One pass over every carrier, and the alerts it sent."""

    at: datetime
    carriers: tuple[CarrierPass, ...]
    alerts: DeliveryReport


def japan_day(moment: datetime) -> date:
    return moment.astimezone(JST).date()


def released(budget: int, moment: datetime) -> int:
    """How much of a day's budget may be spent by ``moment``: spread evenly over the
    Japan day, an hour's worth ahead, so a pass every few minutes keeps a steady pace.

    >>> from datetime import datetime
    >>> released(2400, datetime(2026, 11, 30, 15, 0, tzinfo=UTC))  # 00:00 JST
    100
    >>> released(2400, datetime(2026, 12, 1, 14, 59, tzinfo=UTC))  # 23:59 JST
    2400
    """
    local = moment.astimezone(JST)
    elapsed = (local - local.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds()
    return min(budget, math.ceil(budget * (elapsed + 3600) / 86400))


class Monitor:
    """Re-checks guaranteed devices; ``once`` is one pass, ``run`` passes until cancelled.

    ``checker`` asks the carriers (its store must be ``store``); ``clock`` and ``rng``
    are the seams a test freezes.
    """

    def __init__(
        self,
        settings: Settings,
        store: Store,
        checker: Checker,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        rng: random.Random | None = None,
        most_per_pass: int = MOST_PER_PASS,
        deliver: Callable[[datetime], DeliveryReport] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.checker = checker
        self.clock = clock
        self.rng = rng or random.Random()
        self.most_per_pass = most_per_pass
        self.deliver = deliver
        self._plans: dict[tuple[Carrier, date], tuple[recheck.Plan, dict[int, WatchRisk]]] = {}
        self._unanswered: dict[Carrier, int] = dict.fromkeys(Carrier, 0)
        #: 1 against the live sites; below against the sandbox, whose carriers reflect a
        #: change at once (``AKAROM_RECHECK_FLOOR_S``): the whole schedule shrinks alike.
        self._scale = min(1.0, settings.recheck_floor_s / 86400.0)

    async def run(self, every: timedelta = timedelta(minutes=1)) -> None:
        """Pass after pass, ``every`` apart, until cancelled (SIGTERM, Ctrl-C)."""
        while True:
            await self.once()
            await asyncio.sleep(every.total_seconds())

    async def once(self) -> MonitorPass:
        now = self.clock()
        passes = await asyncio.gather(*(self._carrier_pass(c, now) for c in Carrier))
        alerts = DeliveryReport()
        if self.deliver is not None:  # webhooks and mail wait on the network: not here
            alerts = await asyncio.to_thread(self.deliver, self.clock())
        return MonitorPass(now, tuple(passes), alerts)

    def _plan(self, carrier: Carrier, day: date) -> tuple[recheck.Plan, dict[int, WatchRisk]]:
        """The carrier's policy and what each watch is weighed by, read and refitted once
        per Japan day (every watch of the carrier: not a query for every pass). A carrier
        with nothing watched is looked at again on the next pass."""
        key = (carrier, day)
        if key not in self._plans or not self._plans[key][1]:
            now = self.clock()
            risks = {risk.watch_id: risk for risk in self.store.watch_risks(carrier)}
            weights = [
                recheck.risk_weight(r.status, recheck.days_since_sale(r.sold_on, now), r.price)
                for r in risks.values()
            ]
            self._plans = {k: v for k, v in self._plans.items() if k[1] == day}
            self._plans[key] = (recheck.fit_plan(weights, self.settings.budget(carrier)), risks)
        return self._plans[key]

    async def _carrier_pass(self, carrier: Carrier, now: datetime) -> CarrierPass:
        day = japan_day(now)
        budget = self.settings.budget(carrier)
        done = CarrierPass(carrier, budget, spent_before=self.store.spent(carrier, day))
        plan, risks = self._plan(carrier, day)
        if not risks:
            return done
        taken = self.store.claim_due(
            carrier,
            now=now,
            day=day,
            budget=released(budget, now),
            most=self.most_per_pass,
            lease=LEASE,
        )
        asked = 0
        try:
            for watch in taken:
                asked += 1
                await self._recheck(watch, risks.get(watch.id), plan, done)
        finally:
            # Taken but not asked (cancelled mid-way): the budget goes back.
            self.store.refund(carrier, day, len(taken) - asked)
        self._say_state(carrier, day, done)
        return done

    async def _recheck(
        self, watch: DueWatch, risk: WatchRisk | None, plan: recheck.Plan, done: CarrierPass
    ) -> None:
        done.asked += 1
        report = await self.checker.check(watch.imei, carriers=[watch.carrier], fresh=True)
        result = next((r for r in report.results if r.carrier is watch.carrier), None)
        now = self.clock()
        if result is None or result.status is Status.UNKNOWN:
            done.unanswered += 1
            self._unanswered[watch.carrier] += 1
            retry = min(RETRY_AFTER * 2**watch.failures, timedelta(days=1)) * self._scale
            self.store.recheck_failed(watch.id, next_due_at=now + retry)
            return
        done.answered += 1
        self._unanswered[watch.carrier] = 0
        stored = self.store.latest(watch.imei, carriers=[watch.carrier])[watch.carrier]
        day = japan_day(now)
        next_due = recheck.next_due(
            plan,
            checked_at=stored.checked_at,
            status=result.status,
            sold_on=day if risk is None else risk.sold_on,
            price_yen=None if risk is None else risk.price,
            rng=self.rng,
        )
        next_due = stored.checked_at + (next_due - stored.checked_at) * self._scale

        def on_change(session: Session, change_id: int, guarantee_id: int) -> None:
            self._alert(session, change_id)
            if result.status is Status.RESTRICTED:
                claim = self._claim_if_covered(session, guarantee_id, change_id, now, day)
                if claim is not None:
                    done.claims.append(claim)

        changes = self.store.recheck_answered(
            watch,
            status=result.status,
            observation_id=stored.id,
            checked_at=stored.checked_at,
            next_due_at=next_due,
            on_change=on_change,
        )
        if changes:
            done.changes += changes
            logger.info(
                "%s at %s: %s → %s",
                watch.imei,
                watch.carrier.value,
                watch.last_status.symbol,
                result.status.symbol,
            )

    @staticmethod
    def _alert(session: Session, change_id: int) -> None:
        from akarom.storage.alerts import enqueue_alerts

        enqueue_alerts(session, change_id)

    @staticmethod
    def _claim_if_covered(
        session: Session, guarantee_id: int, change_id: int, now: datetime, day: date
    ) -> int | None:
        guarantee = session.get(Guarantee, guarantee_id)
        if guarantee is None or guarantee.status == GuaranteeStatus.ENDED.value:
            return None
        if guarantee.term_until is not None and day > guarantee.term_until:
            return None
        return open_claim(session, guarantee_id, change_id, actor="monitor", at=now)

    def _say_state(self, carrier: Carrier, day: date, done: CarrierPass) -> None:
        """Log once when the carrier stops answering and once when it is back."""
        down_since = self.store.carrier_down_since(carrier)
        if down_since is None and self._unanswered[carrier] >= DOWN_AFTER:
            self.store.mark_carrier(carrier, day, down_since=self.clock())
            logger.warning(
                "%s: not answering (%d re-checks in a row); the last answers stand",
                carrier.value,
                self._unanswered[carrier],
            )
        elif down_since is not None and done.answered:
            self.store.mark_carrier(carrier, day, down_since=None)
            logger.info("%s: answering again (down since %s)", carrier.value, down_since)


@asynccontextmanager
async def open_monitor(settings: Settings) -> AsyncIterator[Monitor]:
    """A monitor on the settings' database and carriers, sending alerts after each pass."""
    from akarom.services.alerts import deliver_due  # httpx and smtplib: for sending only

    with open_store(settings) as store:
        async with Checker(settings, store=store) as checker:

            def deliver(now: datetime) -> DeliveryReport:
                return deliver_due(store, settings, now=now)

            yield Monitor(settings, store, checker, deliver=deliver)
