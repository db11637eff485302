"""Records of the 赤ロム guarantee (a mixin of ``Store``):
intakes, guarantees, status changes and claims.

Personal data arrives sealed (``akarom.sealing``) and leaves sealed: the storage never
sees a name or an address, only ciphertext bound to its row. A sealed value needs its
row's id (the associated data), so a row is inserted first and sealed in the same
transaction, through the ``seal`` callback the service passes in.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from akarom.domain import Carrier, Status
from akarom.sealing import Sealed
from akarom.storage._records import Records
from akarom.storage.tables import Claim, ClaimAction, Guarantee, Intake, StatusChange

__all__ = [
    "ClaimStatus",
    "GuaranteeKind",
    "GuaranteeRecords",
    "GuaranteeStatus",
    "NewGuarantee",
    "NewIntake",
    "StoredChange",
    "StoredClaim",
    "StoredClaimAction",
    "StoredGuarantee",
    "StoredIntake",
    "customer_context",
    "open_claim",
    "seller_context",
]


class GuaranteeKind(StrEnum):
    """What the dealer promised: 赤ロム永久保証, a year's return or exchange, or its own."""

    LIFETIME_RED = "lifetime_red"
    RETURN_1Y = "return_1y"
    OWN = "own"


class GuaranteeStatus(StrEnum):
    ACTIVE = "active"
    CLAIMED = "claimed"
    ENDED = "ended"


class ClaimStatus(StrEnum):
    """``open`` until the dealer settles it by exchange, refund, or a rejection with reason."""

    OPEN = "open"
    EXCHANGE = "exchange"
    REFUND = "refund"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True, kw_only=True)
class NewIntake:
    dealer_id: int
    imei: str
    bought_on: date
    price: int
    model: str | None
    features: str | None
    verdict: str
    observation_ids: tuple[int, ...]
    recorded_by: str
    recorded_at: datetime
    retain_until: date


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredIntake:
    id: int
    dealer_id: int
    imei: str
    bought_on: date
    price: int
    model: str | None
    features: str | None
    verdict: str
    observation_ids: tuple[int, ...]
    recorded_by: str
    recorded_at: datetime
    retain_until: date
    erased_at: datetime | None
    erased_by: str | None
    seller: Sealed | None  # None once erased


@dataclass(frozen=True, slots=True, kw_only=True)
class NewGuarantee:
    dealer_id: int
    imei: str
    order_ref: str
    sold_on: date
    price: int | None
    kind: GuaranteeKind
    terms: str | None
    term_until: date | None
    baseline_verdict: str
    baseline_ids: tuple[int, ...]
    intake_id: int | None
    created_by: str
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredGuarantee:
    id: int
    dealer_id: int
    imei: str
    order_ref: str
    sold_on: date
    price: int | None
    kind: GuaranteeKind
    terms: str | None
    term_until: date | None
    baseline_verdict: str
    baseline_ids: tuple[int, ...]
    intake_id: int | None
    status: GuaranteeStatus
    created_by: str
    created_at: datetime
    customer: Sealed | None

    def covers(self, on: date) -> bool:
        """Whether the promise still holds ``on`` that day (not ended, within its term)."""
        if self.status is GuaranteeStatus.ENDED:
            return False
        return self.term_until is None or on <= self.term_until


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredChange:
    """A status change on a guaranteed device (``status_changes``)."""

    id: int
    guarantee_id: int
    carrier: Carrier
    before_status: Status
    after_status: Status
    before_observation_id: int | None
    after_observation_id: int
    detected_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredClaimAction:
    action: str
    note: str | None
    actor: str
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredClaim:
    id: int
    guarantee_id: int
    change_id: int | None
    status: ClaimStatus
    reason: str | None
    opened_at: datetime
    closed_at: datetime | None
    actions: tuple[StoredClaimAction, ...]


def seller_context(intake_id: int) -> str:
    """The sealing context of an intake's seller (``akarom.sealing``)."""
    return f"intakes.seller:{intake_id}"


def customer_context(guarantee_id: int) -> str:
    """The sealing context of a guarantee's customer contact."""
    return f"guarantees.customer:{guarantee_id}"


#: Seals a record's personal data for the row id it is given (``akarom.sealing``).
SealFor = Callable[[int], Sealed]


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def _sealed(ciphertext: bytes | None, wrapped: bytes | None) -> Sealed | None:
    if ciphertext is None or wrapped is None:
        return None
    return Sealed(ciphertext, wrapped)


def _intake(row: Intake) -> StoredIntake:
    return StoredIntake(
        id=row.id,
        dealer_id=row.dealer_id,
        imei=row.imei,
        bought_on=row.bought_on,
        price=row.price,
        model=row.model,
        features=row.features,
        verdict=row.verdict,
        observation_ids=tuple(row.observation_ids),
        recorded_by=row.recorded_by,
        recorded_at=row.recorded_at,
        retain_until=row.retain_until,
        erased_at=_utc(row.erased_at),
        erased_by=row.erased_by,
        seller=_sealed(row.seller_sealed, row.seller_key),
    )


def _guarantee(row: Guarantee) -> StoredGuarantee:
    return StoredGuarantee(
        id=row.id,
        dealer_id=row.dealer_id,
        imei=row.imei,
        order_ref=row.order_ref,
        sold_on=row.sold_on,
        price=row.price,
        kind=GuaranteeKind(row.kind),
        terms=row.terms,
        term_until=row.term_until,
        baseline_verdict=row.baseline_verdict,
        baseline_ids=tuple(row.baseline_ids),
        intake_id=row.intake_id,
        status=GuaranteeStatus(row.status),
        created_by=row.created_by,
        created_at=row.created_at,
        customer=_sealed(row.customer_sealed, row.customer_key),
    )


def _change(row: StatusChange) -> StoredChange:
    return StoredChange(
        id=row.id,
        guarantee_id=row.guarantee_id,
        carrier=Carrier(row.carrier),
        before_status=Status(row.before_status),
        after_status=Status(row.after_status),
        before_observation_id=row.before_observation_id,
        after_observation_id=row.after_observation_id,
        detected_at=row.detected_at,
        acknowledged_at=_utc(row.acknowledged_at),
        acknowledged_by=row.acknowledged_by,
    )


def _dealers_guarantees(
    query: Select[Any], dealer_id: int, *, imei: str | None, order_ref: str | None
) -> Select[Any]:
    """``query`` narrowed to the dealer's guarantees (of one device, or one order)."""
    query = query.where(Guarantee.dealer_id == dealer_id)
    if imei is not None:
        query = query.where(Guarantee.imei == imei)
    if order_ref is not None:
        query = query.where(Guarantee.order_ref == order_ref)
    return query


def _claim(session: Session, row: Claim) -> StoredClaim:
    actions = session.scalars(
        select(ClaimAction).where(ClaimAction.claim_id == row.id).order_by(ClaimAction.id)
    )
    return StoredClaim(
        id=row.id,
        guarantee_id=row.guarantee_id,
        change_id=row.change_id,
        status=ClaimStatus(row.status),
        reason=row.reason,
        opened_at=row.opened_at,
        closed_at=_utc(row.closed_at),
        actions=tuple(
            StoredClaimAction(action=a.action, note=a.note, actor=a.actor, at=a.at) for a in actions
        ),
    )


def open_claim(
    session: Session, guarantee_id: int, change_id: int | None, *, actor: str, at: datetime
) -> int | None:
    """Open the guarantee's claim inside the caller's transaction; None if it has one.

    The guarantee becomes ``claimed``: the device stays watched (every later answer
    joins the claim's evidence) but no second claim opens.
    """
    if session.scalar(select(Claim.id).where(Claim.guarantee_id == guarantee_id)) is not None:
        return None
    claim = Claim(guarantee_id=guarantee_id, change_id=change_id, status="open", opened_at=at)
    session.add(claim)
    session.flush()
    session.add(ClaimAction(claim_id=claim.id, action="opened", note=None, actor=actor, at=at))
    session.execute(update(Guarantee).where(Guarantee.id == guarantee_id).values(status="claimed"))
    session.flush()
    return claim.id


class GuaranteeRecords(Records):
    """Intakes, guarantees, status changes and claims, as ``Store`` methods."""

    # --- intakes

    def add_intake(self, intake: NewIntake, seal: SealFor) -> StoredIntake:
        """Record a device bought in, its seller sealed for the new row (one transaction)."""
        with self._writing("record the intake") as session:
            row = Intake(
                dealer_id=intake.dealer_id,
                imei=intake.imei,
                bought_on=intake.bought_on,
                price=intake.price,
                model=intake.model,
                features=intake.features,
                verdict=intake.verdict,
                observation_ids=list(intake.observation_ids),
                recorded_by=intake.recorded_by,
                recorded_at=intake.recorded_at,
                retain_until=intake.retain_until,
            )
            session.add(row)
            session.flush()
            sealed = seal(row.id)
            row.seller_sealed, row.seller_key = sealed.ciphertext, sealed.wrapped_key
            session.flush()
            return _intake(row)

    def intake(self, dealer_id: int, intake_id: int) -> StoredIntake | None:
        with self._reading("read the intake") as session:
            row = session.scalar(
                select(Intake).where(Intake.id == intake_id, Intake.dealer_id == dealer_id)
            )
            return None if row is None else _intake(row)

    def intakes(self, dealer_id: int, *, imei: str | None = None) -> list[StoredIntake]:
        """The dealer's intakes, oldest first (of one device with ``imei``)."""
        query = select(Intake).where(Intake.dealer_id == dealer_id)
        if imei is not None:
            query = query.where(Intake.imei == imei)
        with self._reading("read the intakes") as session:
            return [_intake(row) for row in session.scalars(query.order_by(Intake.id))]

    def erase_intake_seller(
        self, dealer_id: int, intake_id: int, *, on: date, by: str, at: datetime
    ) -> bool:
        """Shred the seller's sealed record once its retention has passed (``on`` ≥
        ``retain_until``); False when it has not, or is gone already. Who and when stay."""
        with self._writing("erase the seller's record") as session:
            done = session.execute(
                update(Intake)
                .where(
                    Intake.id == intake_id,
                    Intake.dealer_id == dealer_id,
                    Intake.retain_until <= on,
                    Intake.erased_at.is_(None),
                )
                .values(seller_sealed=None, seller_key=None, erased_at=at, erased_by=by)
            )
            erased = bool(getattr(done, "rowcount", 0) == 1)
        if erased:
            self._forget_freed_pages(Intake.__tablename__)
        return erased

    # --- guarantees

    def add_guarantee(
        self,
        guarantee: NewGuarantee,
        seal: SealFor | None,
        *,
        watch: Callable[[Session, StoredGuarantee], None] | None = None,
    ) -> StoredGuarantee | None:
        """Register a sale under guarantee; None when the dealer already used its order
        reference. ``seal`` seals the customer's contact for the new row; ``watch`` puts
        the device under the monitor in the same transaction."""
        with self._writing("register the guarantee") as session:
            taken = session.scalar(
                select(Guarantee.id).where(
                    Guarantee.dealer_id == guarantee.dealer_id,
                    Guarantee.order_ref == guarantee.order_ref,
                )
            )
            if taken is not None:
                return None
            row = Guarantee(
                dealer_id=guarantee.dealer_id,
                imei=guarantee.imei,
                order_ref=guarantee.order_ref,
                sold_on=guarantee.sold_on,
                price=guarantee.price,
                kind=guarantee.kind.value,
                terms=guarantee.terms,
                term_until=guarantee.term_until,
                baseline_verdict=guarantee.baseline_verdict,
                baseline_ids=list(guarantee.baseline_ids),
                intake_id=guarantee.intake_id,
                status=GuaranteeStatus.ACTIVE.value,
                created_by=guarantee.created_by,
                created_at=guarantee.created_at,
            )
            session.add(row)
            session.flush()
            if seal is not None:
                sealed = seal(row.id)
                row.customer_sealed, row.customer_key = sealed.ciphertext, sealed.wrapped_key
                session.flush()
            stored = _guarantee(row)
            if watch is not None:
                watch(session, stored)
            return stored

    def guarantee(self, dealer_id: int, guarantee_id: int) -> StoredGuarantee | None:
        with self._reading("read the guarantee") as session:
            row = session.scalar(
                select(Guarantee).where(
                    Guarantee.id == guarantee_id, Guarantee.dealer_id == dealer_id
                )
            )
            return None if row is None else _guarantee(row)

    def guarantees(
        self,
        dealer_id: int,
        *,
        imei: str | None = None,
        order_ref: str | None = None,
        ids: Collection[int] | None = None,
        before: int | None = None,
        limit: int | None = None,
    ) -> list[StoredGuarantee]:
        """The dealer's guarantees, newest first (of one device, one order, or ``ids``);
        a page of at most ``limit`` with ids below ``before``."""
        query = _dealers_guarantees(select(Guarantee), dealer_id, imei=imei, order_ref=order_ref)
        if ids is not None:
            query = query.where(Guarantee.id.in_(ids))
        if before is not None:
            query = query.where(Guarantee.id < before)
        query = query.order_by(Guarantee.id.desc()).limit(limit)
        with self._reading("read the guarantees") as session:
            return [_guarantee(row) for row in session.scalars(query)]

    def count_guarantees(
        self, dealer_id: int, *, imei: str | None = None, order_ref: str | None = None
    ) -> int:
        """How many of the dealer's guarantees ``guarantees`` would list without a limit."""
        query = select(func.count()).select_from(Guarantee)
        query = _dealers_guarantees(query, dealer_id, imei=imei, order_ref=order_ref)
        with self._reading("count the guarantees") as session:
            return int(session.scalar(query) or 0)

    # --- status changes

    def changes(
        self,
        dealer_id: int,
        *,
        open_only: bool = False,
        change_id: int | None = None,
        before: int | None = None,
        limit: int | None = None,
    ) -> list[StoredChange]:
        """The dealer's status changes, newest first (``open_only``: not acknowledged;
        ``change_id``: that one); a page of at most ``limit`` with ids below ``before``."""
        query = (
            select(StatusChange)
            .join(Guarantee, Guarantee.id == StatusChange.guarantee_id)
            .where(Guarantee.dealer_id == dealer_id)
        )
        if open_only:
            query = query.where(StatusChange.acknowledged_at.is_(None))
        if change_id is not None:
            query = query.where(StatusChange.id == change_id)
        if before is not None:
            query = query.where(StatusChange.id < before)
        query = query.order_by(StatusChange.id.desc()).limit(limit)
        with self._reading("read the status changes") as session:
            return [_change(row) for row in session.scalars(query)]

    def guarantee_changes(self, guarantee_id: int) -> list[StoredChange]:
        with self._reading("read the status changes") as session:
            rows = session.scalars(
                select(StatusChange)
                .where(StatusChange.guarantee_id == guarantee_id)
                .order_by(StatusChange.id)
            )
            return [_change(row) for row in rows]

    def acknowledge_change(self, dealer_id: int, change_id: int, *, by: str, at: datetime) -> bool:
        """Mark a change seen by the dealer's staff; False if not the dealer's or seen."""
        owned = select(Guarantee.id).where(Guarantee.dealer_id == dealer_id)
        with self._writing("acknowledge the change") as session:
            done = session.execute(
                update(StatusChange)
                .where(
                    StatusChange.id == change_id,
                    StatusChange.guarantee_id.in_(owned),
                    StatusChange.acknowledged_at.is_(None),
                )
                .values(acknowledged_at=at, acknowledged_by=by)
            )
            return bool(getattr(done, "rowcount", 0) == 1)

    # --- claims

    def claim_of(self, dealer_id: int, claim_id: int) -> StoredClaim | None:
        with self._reading("read the claim") as session:
            row = session.scalar(
                select(Claim)
                .join(Guarantee, Guarantee.id == Claim.guarantee_id)
                .where(Claim.id == claim_id, Guarantee.dealer_id == dealer_id)
            )
            return None if row is None else _claim(session, row)

    def claims(self, dealer_id: int, *, open_only: bool = False) -> list[StoredClaim]:
        query = (
            select(Claim)
            .join(Guarantee, Guarantee.id == Claim.guarantee_id)
            .where(Guarantee.dealer_id == dealer_id)
        )
        if open_only:
            query = query.where(Claim.status == ClaimStatus.OPEN.value)
        with self._reading("read the claims") as session:
            rows = session.scalars(query.order_by(Claim.id.desc()))
            return [_claim(session, row) for row in rows]

    def open_claim_by_hand(
        self, dealer_id: int, guarantee_id: int, *, actor: str, at: datetime
    ) -> int | None:
        """A claim the staff open themselves (the customer called first); None if the
        guarantee is not the dealer's or has a claim."""
        with self._writing("open the claim") as session:
            owned = session.scalar(
                select(Guarantee.id).where(
                    Guarantee.id == guarantee_id, Guarantee.dealer_id == dealer_id
                )
            )
            if owned is None:
                return None
            return open_claim(session, guarantee_id, None, actor=actor, at=at)

    def settle_claim(
        self,
        dealer_id: int,
        claim_id: int,
        *,
        action: str,
        note: str | None,
        actor: str,
        at: datetime,
        settles_as: ClaimStatus | None,
    ) -> StoredClaim | None:
        """Record an action on an open claim (``settles_as``: it closes it so); None when
        the claim is not the dealer's or no longer open."""
        with self._writing("act on the claim") as session:
            row = session.scalar(
                select(Claim)
                .join(Guarantee, Guarantee.id == Claim.guarantee_id)
                .where(Claim.id == claim_id, Guarantee.dealer_id == dealer_id)
                .with_for_update()
            )
            if row is None or row.status != ClaimStatus.OPEN.value:
                return None
            session.add(ClaimAction(claim_id=row.id, action=action, note=note, actor=actor, at=at))
            if settles_as is not None:
                row.status = settles_as.value
                row.closed_at = at
                if settles_as is ClaimStatus.REJECTED:
                    row.reason = note
            session.flush()
            return _claim(session, row)

    def guarantees_on(self, session: Session, imei: str) -> Sequence[StoredGuarantee]:
        """Every guarantee on ``imei`` not ended, inside the caller's transaction (the
        monitor's: a change is told to every dealer that sold the device)."""
        rows = session.scalars(
            select(Guarantee)
            .where(Guarantee.imei == imei, Guarantee.status != GuaranteeStatus.ENDED.value)
            .order_by(Guarantee.id)
        )
        return [_guarantee(row) for row in rows]
