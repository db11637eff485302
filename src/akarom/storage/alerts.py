"""Records of the 赤ロム guarantee (a mixin of ``Store``):
where alerts go (alert targets) and the outbox of deliveries.

**The outbox.** When the monitor finds a guaranteed device's status changed, it
inserts a ``status_changes`` row and, in the same transaction, calls
``enqueue_alerts(session, change_id)``: one ``deliveries`` row per recipient (every
enabled target of the guarantee's dealer, and the customer when the sealed contact
may hold an e-mail address). The change and its alerts are then committed together
or not at all, and the unique key (change, channel, recipient) means a change is
never enqueued twice, however often the function is called.

``services.alerts.deliver_due`` sends them: ``claim_due_deliveries`` takes the due
rows and pushes their ``next_attempt_at`` out by a lease (a crashed sender's rows
come back on their own; on PostgreSQL ``FOR UPDATE SKIP LOCKED`` keeps two senders
apart), then ``mark_delivered`` / ``mark_failed`` / ``mark_given_up`` record the
outcome, each only while the row is still open.

Nothing here can open a sealed value (storage does not import ``akarom.sealing``): a
webhook's signing secret is sealed by the caller's ``seal`` function once the row has
its id, and sealed values are handed back as bytes for the services to open.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, aliased

from akarom.domain import Carrier, Status
from akarom.sealing import Sealed
from akarom.storage._records import Records, dialect_insert
from akarom.storage.tables import (
    AlertTarget,
    Dealer,
    Delivery,
    Guarantee,
    Observation,
    StatusChange,
)

__all__ = [
    "CUSTOMER",
    "AlertChannel",
    "AlertRecords",
    "ChangeAlert",
    "CustomerCheck",
    "StoredAlertTarget",
    "StoredDelivery",
    "enqueue_alerts",
    "secret_context",
    "target_recipient",
]

#: ``deliveries.recipient`` of the guarantee's customer (the address is sealed).
CUSTOMER = "customer"

#: How long a claimed delivery is kept from other senders (more than a batch takes).
DEFAULT_LEASE = timedelta(minutes=5)


class AlertChannel(StrEnum):
    """How an alert travels."""

    WEBHOOK = "webhook"
    EMAIL = "email"


def target_recipient(target_id: int) -> str:
    """``deliveries.recipient`` of a dealer's alert target."""
    return f"target:{target_id}"


def secret_context(target_id: int) -> str:
    """The sealing context of a webhook target's signing secret."""
    return f"alert_targets.secret:{target_id}"


#: Says whether a guarantee's sealed customer contact holds an e-mail address
#: (given the guarantee's id and the sealed value); ``services.alerts.customer_check``.
CustomerCheck = Callable[[int, Sealed], bool]


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredAlertTarget:
    """Where a dealer's alerts go. The sealed secret (webhooks) is kept out of reprs."""

    id: int
    dealer_id: int
    channel: AlertChannel
    address: str
    created_at: datetime
    disabled_at: datetime | None
    secret_sealed: bytes | None = field(default=None, repr=False)
    secret_key: bytes | None = field(default=None, repr=False)

    @property
    def active(self) -> bool:
        return self.disabled_at is None


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredDelivery:
    """One alert of the outbox: to whom, how, and how its sending went."""

    id: int
    change_id: int
    channel: AlertChannel
    recipient: str
    attempts: int
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    given_up_at: datetime | None
    last_error: str | None

    @property
    def target_id(self) -> int | None:
        """The alert target's id; None for the customer."""
        prefix, _, number = self.recipient.partition(":")
        return int(number) if prefix == "target" and number.isdecimal() else None

    @property
    def open(self) -> bool:
        """Still to be sent: neither delivered nor given up."""
        return self.delivered_at is None and self.given_up_at is None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeAlert:
    """What an alert about one status change says (``Store.change_alert``).

    ``before_checked_at`` is None when no earlier answer is kept. The customer's
    contact stays sealed (``customer_context(guarantee_id)``), out of reprs.
    """

    change_id: int
    guarantee_id: int
    dealer_id: int
    dealer: str
    order_ref: str
    imei: str
    carrier: Carrier
    before_status: Status
    after_status: Status
    before_checked_at: datetime | None
    after_checked_at: datetime
    detected_at: datetime
    customer_sealed: bytes | None = field(default=None, repr=False)
    customer_key: bytes | None = field(default=None, repr=False)


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def _aware(name: str, value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, not {value!r}")
    return value


def _target(row: AlertTarget) -> StoredAlertTarget:
    return StoredAlertTarget(
        id=row.id,
        dealer_id=row.dealer_id,
        channel=AlertChannel(row.channel),
        address=row.address,
        created_at=row.created_at.astimezone(UTC),
        disabled_at=_utc(row.disabled_at),
        secret_sealed=row.secret_sealed,
        secret_key=row.secret_key,
    )


def _delivery(row: Delivery) -> StoredDelivery:
    return StoredDelivery(
        id=row.id,
        change_id=row.change_id,
        channel=AlertChannel(row.channel),
        recipient=row.recipient,
        attempts=row.attempts,
        next_attempt_at=_utc(row.next_attempt_at),
        delivered_at=_utc(row.delivered_at),
        given_up_at=_utc(row.given_up_at),
        last_error=row.last_error,
    )


def enqueue_alerts(
    session: Session, change_id: int, *, customer_check: CustomerCheck | None = None
) -> int:
    """Add the change's deliveries in the caller's transaction; how many were new.

    One per enabled alert target of the guarantee's dealer (``target:<id>``, by the
    target's channel), and one e-mail to ``customer`` when the guarantee holds a
    sealed contact and ``customer_check`` (if given) says it has an address; without
    a check, the address is looked for when sending. Each is due at the change's
    ``detected_at``. Calling it again for the same change adds nothing (the unique
    key); a target added since is added. ``LookupError`` for an unknown change.
    """
    found = session.execute(
        select(
            StatusChange.detected_at,
            Guarantee.id,
            Guarantee.dealer_id,
            Guarantee.customer_sealed,
            Guarantee.customer_key,
        )
        .join(Guarantee, Guarantee.id == StatusChange.guarantee_id)
        .where(StatusChange.id == change_id)
    ).first()
    if found is None:
        raise LookupError(f"there is no status change {change_id}")
    detected_at, guarantee_id, dealer_id, customer_sealed, customer_key = found
    targets = session.execute(
        select(AlertTarget.id, AlertTarget.channel)
        .where(AlertTarget.dealer_id == dealer_id, AlertTarget.disabled_at.is_(None))
        .order_by(AlertTarget.id)
    ).all()
    recipients = [(channel, target_recipient(target_id)) for target_id, channel in targets]
    if customer_sealed is not None and customer_key is not None:
        sealed = Sealed(customer_sealed, customer_key)
        if customer_check is None or customer_check(guarantee_id, sealed):
            recipients.append((AlertChannel.EMAIL.value, CUSTOMER))
    if not recipients:
        return 0
    statement = (
        dialect_insert(session.get_bind().dialect.name)(Delivery)
        .values(
            [
                {
                    "change_id": change_id,
                    "channel": channel,
                    "recipient": recipient,
                    "attempts": 0,
                    "next_attempt_at": detected_at,
                }
                for channel, recipient in recipients
            ]
        )
        .on_conflict_do_nothing(index_elements=["change_id", "channel", "recipient"])
        .returning(Delivery.id)
    )
    return len(session.scalars(statement).all())


class AlertRecords(Records):
    """where alerts go (alert targets) and the outbox of deliveries, as ``Store`` methods."""

    # -- alert targets (a dealer's own: every query names the dealer) -----------------

    def add_alert_target(
        self,
        dealer_id: int,
        channel: AlertChannel | str,
        address: str,
        *,
        seal: Callable[[str], Sealed] | None = None,
        at: datetime | None = None,
    ) -> StoredAlertTarget:
        """Add where the dealer's alerts go. A webhook needs ``seal``: it is called with
        the sealing context (``secret_context(id)``, once the row has its id) and returns
        the sealed signing secret, stored in the same transaction."""
        chosen = AlertChannel(channel)
        at = _aware("at", at or datetime.now(UTC))
        if chosen is AlertChannel.WEBHOOK and seal is None:
            raise ValueError("a webhook target needs its signing secret sealed")
        with self._writing("add the alert target") as session:
            row = AlertTarget(
                dealer_id=dealer_id, channel=chosen.value, address=address, created_at=at
            )
            session.add(row)
            session.flush()  # the id is part of the sealing context
            if seal is not None:
                sealed = seal(secret_context(row.id))
                row.secret_sealed = sealed.ciphertext
                row.secret_key = sealed.wrapped_key
                session.flush()
            return _target(row)

    def alert_targets(self, dealer_id: int) -> list[StoredAlertTarget]:
        """The dealer's alert targets, disabled ones too, oldest first."""
        with self._reading("read the alert targets") as session:
            rows = session.scalars(
                select(AlertTarget)
                .where(AlertTarget.dealer_id == dealer_id)
                .order_by(AlertTarget.id)
            )
            return [_target(row) for row in rows]

    def alert_target(self, dealer_id: int, target_id: int) -> StoredAlertTarget | None:
        """The dealer's target with that id; None when it is not the dealer's."""
        with self._reading("read the alert target") as session:
            row = session.scalars(
                select(AlertTarget).where(
                    AlertTarget.id == target_id, AlertTarget.dealer_id == dealer_id
                )
            ).first()
            return None if row is None else _target(row)

    def disable_alert_target(
        self, dealer_id: int, target_id: int, *, at: datetime | None = None
    ) -> bool:
        """Stop sending to the dealer's target; whether this call disabled it.

        Deliveries already queued for it are given up when their turn comes.
        """
        at = _aware("at", at or datetime.now(UTC))
        with self._writing("disable the alert target") as session:
            done = session.execute(
                update(AlertTarget)
                .where(
                    AlertTarget.id == target_id,
                    AlertTarget.dealer_id == dealer_id,
                    AlertTarget.disabled_at.is_(None),
                )
                .values(disabled_at=at)
            )
            return bool(getattr(done, "rowcount", 0))

    # -- the outbox -----------------------------------------------------------------

    def enqueue_alerts(self, change_id: int, *, customer_check: CustomerCheck | None = None) -> int:
        """``enqueue_alerts`` in a transaction of its own (the monitor calls the
        module's function inside its own)."""
        with self._writing("enqueue the alerts") as session:
            return enqueue_alerts(session, change_id, customer_check=customer_check)

    def claim_due_deliveries(
        self, now: datetime, *, limit: int = 100, lease: timedelta = DEFAULT_LEASE
    ) -> list[StoredDelivery]:
        """The open deliveries due at ``now``, oldest due first, kept from other senders
        for ``lease`` (their ``next_attempt_at`` moves to ``now + lease``; what is not
        marked by then comes back). The returned rows show the due time they had."""
        now = _aware("now", now)
        with self._writing("claim the due alerts") as session:
            rows = list(
                session.scalars(
                    select(Delivery)
                    .where(
                        Delivery.next_attempt_at <= now,
                        Delivery.delivered_at.is_(None),
                        Delivery.given_up_at.is_(None),
                    )
                    .order_by(Delivery.next_attempt_at, Delivery.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            )
            claimed = [_delivery(row) for row in rows]
            for row in rows:
                row.next_attempt_at = now + lease
            session.flush()  # the session is discarded, the connection's transaction kept
            return claimed

    def deliveries(self, change_id: int, *, dealer_id: int) -> list[StoredDelivery]:
        """The alerts of one of the dealer's changes, in the order they were queued."""
        with self._reading("read the alerts") as session:
            rows = session.scalars(
                select(Delivery)
                .join(StatusChange, StatusChange.id == Delivery.change_id)
                .join(Guarantee, Guarantee.id == StatusChange.guarantee_id)
                .where(Delivery.change_id == change_id, Guarantee.dealer_id == dealer_id)
                .order_by(Delivery.id)
            )
            return [_delivery(row) for row in rows]

    def delivery(self, delivery_id: int) -> StoredDelivery | None:
        """One delivery by id (the sender's view, across dealers)."""
        with self._reading("read the alert") as session:
            row = session.get(Delivery, delivery_id)
            return None if row is None else _delivery(row)

    def _close_delivery(
        self, delivery_id: int, doing: str, *, attempted: bool, values: dict[str, Any]
    ) -> bool:
        """Set ``values`` on an open delivery, counting an attempt when ``attempted``."""
        with self._writing(doing) as session:
            if attempted:
                values["attempts"] = Delivery.attempts + 1
            done = session.execute(
                update(Delivery)
                .where(
                    Delivery.id == delivery_id,
                    Delivery.delivered_at.is_(None),
                    Delivery.given_up_at.is_(None),
                )
                .values(**values)
            )
            return bool(getattr(done, "rowcount", 0))

    def mark_delivered(self, delivery_id: int, *, at: datetime) -> bool:
        """Record that the alert arrived (an attempt); whether the delivery was open."""
        return self._close_delivery(
            delivery_id,
            "record the alert as delivered",
            attempted=True,
            values={"delivered_at": _aware("at", at), "next_attempt_at": None, "last_error": None},
        )

    def mark_failed(self, delivery_id: int, *, error: str, next_attempt_at: datetime) -> bool:
        """Record a failed attempt and when to try again; whether the delivery was open."""
        return self._close_delivery(
            delivery_id,
            "record the failed alert",
            attempted=True,
            values={
                "next_attempt_at": _aware("next_attempt_at", next_attempt_at),
                "last_error": error,
            },
        )

    def mark_given_up(
        self, delivery_id: int, *, error: str, at: datetime, attempted: bool = True
    ) -> bool:
        """Stop trying, saying why (``attempted``: this was an attempt, counted)."""
        return self._close_delivery(
            delivery_id,
            "give up the alert",
            attempted=attempted,
            values={"given_up_at": _aware("at", at), "next_attempt_at": None, "last_error": error},
        )

    # -- what a message says ----------------------------------------------------------

    def change_alert(self, change_id: int, *, dealer_id: int | None = None) -> ChangeAlert | None:
        """What an alert about the change says; None when there is no such change (or,
        with ``dealer_id``, when it is not that dealer's). The outbox's sender, which
        works for every dealer, leaves ``dealer_id`` out."""
        before = aliased(Observation)
        after = aliased(Observation)
        query = (
            select(
                StatusChange,
                Guarantee.dealer_id,
                Dealer.name,
                Guarantee.order_ref,
                Guarantee.imei,
                Guarantee.customer_sealed,
                Guarantee.customer_key,
                before.checked_at,
                after.checked_at,
            )
            .join(Guarantee, Guarantee.id == StatusChange.guarantee_id)
            .join(Dealer, Dealer.id == Guarantee.dealer_id)
            .join(after, after.id == StatusChange.after_observation_id)
            .outerjoin(before, before.id == StatusChange.before_observation_id)
            .where(StatusChange.id == change_id)
        )
        if dealer_id is not None:
            query = query.where(Guarantee.dealer_id == dealer_id)
        with self._reading("read the status change") as session:
            found = session.execute(query).first()
            if found is None:
                return None
            change, owner, name, order_ref, imei, sealed, key, before_at, after_at = found
            return ChangeAlert(
                change_id=change.id,
                guarantee_id=change.guarantee_id,
                dealer_id=owner,
                dealer=name,
                order_ref=order_ref,
                imei=imei,
                carrier=Carrier(change.carrier),
                before_status=Status(change.before_status),
                after_status=Status(change.after_status),
                before_checked_at=_utc(before_at),
                after_checked_at=after_at.astimezone(UTC),
                detected_at=change.detected_at.astimezone(UTC),
                customer_sealed=sealed,
                customer_key=key,
            )
