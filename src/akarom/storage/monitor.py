"""Records of the 赤ロム guarantee (a mixin of ``Store``):
the monitor's watches and its daily budget per carrier.

A watch is one device at one carrier (the one that sold it; all four for a SIM-free
device), shared by every guarantee on it. ``claim_due`` takes the next watches due in
one transaction with the day's budget row locked, so that any number of monitors never
spend more than the budget nor ask one device twice: on PostgreSQL the budget row is
locked ``FOR UPDATE`` and the watches taken ``FOR UPDATE SKIP LOCKED``; on SQLite every
write transaction is ``BEGIN IMMEDIATE`` already. Taken watches are pushed out by a
lease, so a monitor that dies mid-way leaves them to come back on their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from akarom.domain import Carrier, Status
from akarom.storage._records import Records, dialect_insert
from akarom.storage.guarantees import GuaranteeStatus
from akarom.storage.tables import Guarantee, RecheckBudget, StatusChange, Watch

__all__ = ["DueWatch", "MonitorRecords", "WatchRisk", "watch_device"]


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchRisk:
    """What the re-check policy weighs for one watch: its status, the newest sale of
    the device and the dearest price it was sold at (None: not given)."""

    watch_id: int
    status: Status
    sold_on: date
    price: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class DueWatch:
    """A watch taken for a re-check now."""

    id: int
    imei: str
    carrier: Carrier
    last_status: Status
    last_observation_id: int | None
    last_checked_at: datetime
    failures: int


def watch_device(
    session: Session,
    *,
    imei: str,
    carrier: Carrier,
    status: Status,
    observation_id: int | None,
    checked_at: datetime,
    next_due_at: datetime,
) -> None:
    """Watch ``imei`` at ``carrier`` from this answer on (inside the caller's transaction).

    A device already watched keeps its newest answer and the sooner of the two due
    times: a second sale never postpones the re-check of the first.
    """
    row = session.scalar(select(Watch).where(Watch.imei == imei, Watch.carrier == carrier.value))
    if row is None:
        session.add(
            Watch(
                imei=imei,
                carrier=carrier.value,
                last_status=status.value,
                last_observation_id=observation_id,
                last_checked_at=checked_at,
                next_due_at=next_due_at,
                failures=0,
                active=True,
            )
        )
        session.flush()
        return
    row.active = True
    if checked_at > row.last_checked_at.astimezone(UTC):
        row.last_status = status.value
        row.last_observation_id = observation_id
        row.last_checked_at = checked_at
    row.next_due_at = min(row.next_due_at.astimezone(UTC), next_due_at)
    session.flush()


def _day_row(session: Session, carrier: Carrier, day: date) -> RecheckBudget:
    """The carrier's budget row for ``day``, locked; a new day's row starts with the
    carrier's state as the last day left it (down stays down across midnight)."""
    mine = (RecheckBudget.carrier == carrier.value, RecheckBudget.day == day)
    row = session.scalar(select(RecheckBudget).where(*mine).with_for_update())
    if row is not None:
        return row
    before = session.scalar(
        select(RecheckBudget.down_since)
        .where(RecheckBudget.carrier == carrier.value, RecheckBudget.day < day)
        .order_by(RecheckBudget.day.desc())
        .limit(1)
    )
    # Two monitors may start the day at once: one inserts, the other finds its row.
    session.execute(
        dialect_insert(session.get_bind().dialect.name)(RecheckBudget)
        .values(carrier=carrier.value, day=day, spent=0, down_since=before)
        .on_conflict_do_nothing()
    )
    found = session.scalar(select(RecheckBudget).where(*mine).with_for_update())
    assert found is not None
    return found


def _due(row: Watch) -> DueWatch:
    return DueWatch(
        id=row.id,
        imei=row.imei,
        carrier=Carrier(row.carrier),
        last_status=Status(row.last_status),
        last_observation_id=row.last_observation_id,
        last_checked_at=row.last_checked_at,
        failures=row.failures,
    )


class MonitorRecords(Records):
    """The monitor's watches and budget, as ``Store`` methods."""

    def watch_risks(self, carrier: Carrier) -> list[WatchRisk]:
        """Every active watch at ``carrier`` with what its risk is weighed by."""
        query = (
            select(
                Watch.id,
                Watch.last_status,
                func.max(Guarantee.sold_on),
                func.max(Guarantee.price),
            )
            .join(Guarantee, Guarantee.imei == Watch.imei)
            .where(
                Watch.carrier == carrier.value,
                Watch.active.is_(True),
                Guarantee.status != GuaranteeStatus.ENDED.value,
            )
            .group_by(Watch.id, Watch.last_status)
        )
        with self._reading("read the watches") as session:
            return [
                WatchRisk(watch_id=w, status=Status(s), sold_on=sold, price=price)
                for w, s, sold, price in session.execute(query)
            ]

    def spent(self, carrier: Carrier, day: date) -> int:
        """Re-checks already taken at ``carrier`` on ``day`` (a Japan day)."""
        with self._reading("read the budget") as session:
            spent = session.scalar(
                select(RecheckBudget.spent).where(
                    RecheckBudget.carrier == carrier.value, RecheckBudget.day == day
                )
            )
            return spent or 0

    def claim_due(
        self,
        carrier: Carrier,
        *,
        now: datetime,
        day: date,
        budget: int,
        most: int,
        lease: timedelta,
    ) -> list[DueWatch]:
        """Take up to ``most`` watches due by ``now`` at ``carrier``, never past ``budget``
        for ``day``, in due order; each is pushed out by ``lease`` and counted spent."""
        with self._writing("take the watches due") as session:
            row = _day_row(session, carrier, day)
            allowance = min(most, budget - row.spent)
            if allowance <= 0:
                return []
            watches = list(
                session.scalars(
                    select(Watch)
                    .where(
                        Watch.carrier == carrier.value,
                        Watch.active.is_(True),
                        Watch.next_due_at <= now,
                    )
                    .order_by(Watch.next_due_at, Watch.id)
                    .limit(allowance)
                    .with_for_update(skip_locked=True)
                )
            )
            for watch in watches:
                watch.next_due_at = now + lease
            row.spent += len(watches)
            session.flush()
            return [_due(watch) for watch in watches]

    def refund(self, carrier: Carrier, day: date, count: int) -> None:
        """Give back ``count`` re-checks taken but not asked (the monitor stopped first)."""
        if count <= 0:
            return
        with self._writing("give back the budget") as session:
            session.execute(
                update(RecheckBudget)
                .where(RecheckBudget.carrier == carrier.value, RecheckBudget.day == day)
                .values(
                    spent=case((RecheckBudget.spent > count, RecheckBudget.spent - count), else_=0)
                )
            )

    def recheck_failed(self, watch_id: int, *, next_due_at: datetime) -> None:
        """No answer this time (``unknown``): the last answer stands, asked again later."""
        with self._writing("note the failed re-check") as session:
            session.execute(
                update(Watch)
                .where(Watch.id == watch_id)
                .values(failures=Watch.failures + 1, next_due_at=next_due_at)
            )

    def recheck_answered(
        self,
        watch: DueWatch,
        *,
        status: Status,
        observation_id: int,
        checked_at: datetime,
        next_due_at: datetime,
        on_change: Callable[[Session, int, int], None],
    ) -> list[int]:
        """Keep a re-check's answer; when it differs from the last one, write one status
        change per guarantee on the device and call ``on_change(session, change id,
        guarantee id)`` for each (alerts, claims) in the same transaction. Returns the
        ids of the changes written."""
        changes: list[int] = []
        with self._writing("keep the re-check's answer") as session:
            session.execute(
                update(Watch)
                .where(Watch.id == watch.id)
                .values(
                    last_status=status.value,
                    last_observation_id=observation_id,
                    last_checked_at=checked_at,
                    next_due_at=next_due_at,
                    failures=0,
                )
            )
            if status is watch.last_status:
                return changes
            guarantees = session.scalars(
                select(Guarantee.id).where(
                    Guarantee.imei == watch.imei,
                    Guarantee.status != GuaranteeStatus.ENDED.value,
                )
            )
            for guarantee_id in list(guarantees):
                change = StatusChange(
                    guarantee_id=guarantee_id,
                    carrier=watch.carrier.value,
                    before_status=watch.last_status.value,
                    after_status=status.value,
                    before_observation_id=watch.last_observation_id,
                    after_observation_id=observation_id,
                    detected_at=checked_at,
                )
                session.add(change)
                session.flush()
                on_change(session, change.id, guarantee_id)
                changes.append(change.id)
            return changes

    def carrier_down_since(self, carrier: Carrier) -> datetime | None:
        """Since when the monitor has found ``carrier`` down (None: up), across restarts."""
        with self._reading("read the carrier's state") as session:
            since = session.scalar(
                select(RecheckBudget.down_since)
                .where(RecheckBudget.carrier == carrier.value)
                .order_by(RecheckBudget.day.desc())
                .limit(1)
            )
            return None if since is None else since.astimezone(UTC)

    def mark_carrier(self, carrier: Carrier, day: date, *, down_since: datetime | None) -> None:
        """Note ``carrier`` down since a moment, or up again (None), on ``day``'s row."""
        with self._writing("note the carrier's state") as session:
            _day_row(session, carrier, day).down_since = down_since
            session.flush()  # the session rides on the write transaction: flush before it ends
