"""The alert outbox: one delivery per recipient, written with the change, claimed once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from akarom.domain import Carrier, Status
from akarom.sealing import Sealed
from akarom.storage import Store
from akarom.storage.alerts import (
    CUSTOMER,
    AlertChannel,
    enqueue_alerts,
    target_recipient,
)
from akarom.storage.tables import Delivery, Guarantee, StatusChange
from tests.storage.helpers import IMEI, T0, observation


def fake_seal(context: str) -> Sealed:
    """Storage never opens a sealed value: any bytes do here."""
    return Sealed(b"sealed:" + context.encode(), b"key")


def add_guarantee(
    store: Store,
    dealer_id: int,
    *,
    imei: str = IMEI,
    order_ref: str = "A-0001",
    seal: Callable[[str], Sealed] | None = None,
) -> int:
    """A guarantee row, inserted directly; ``seal`` seals the customer contact once the
    row has its id (called with ``guarantees.customer:<id>``)."""
    with Session(store.engine) as session, session.begin():
        row = Guarantee(
            dealer_id=dealer_id,
            imei=imei,
            order_ref=order_ref,
            sold_on=date(2026, 11, 1),
            price=48000,
            kind="lifetime_red",
            term_until=None,
            baseline_verdict="caution",
            baseline_ids=[],
            status="active",
            created_by="tanaka",
            created_at=T0,
        )
        session.add(row)
        session.flush()
        if seal is not None:
            sealed = seal(f"guarantees.customer:{row.id}")
            row.customer_sealed, row.customer_key = sealed.ciphertext, sealed.wrapped_key
        return row.id


def add_change(
    store: Store,
    guarantee_id: int,
    *,
    imei: str = IMEI,
    carrier: Carrier = Carrier.DOCOMO,
    before: Status = Status.PENDING,
    after: Status = Status.RESTRICTED,
    at: datetime = T0,
    enqueue: bool = True,
) -> int:
    """Two observations and the change between them, its alerts enqueued in the same
    transaction, as the monitor does."""
    first = store.record(observation(imei, carrier, before, at=at - timedelta(days=3)))
    second = store.record(observation(imei, carrier, after, at=at - timedelta(minutes=1)))
    with Session(store.engine) as session, session.begin():
        change = StatusChange(
            guarantee_id=guarantee_id,
            carrier=carrier.value,
            before_status=before.value,
            after_status=after.value,
            before_observation_id=first.id,
            after_observation_id=second.id,
            detected_at=at,
        )
        session.add(change)
        session.flush()
        if enqueue:
            enqueue_alerts(session, change.id)
        return change.id


def test_a_change_is_enqueued_once_for_each_enabled_target_and_the_customer(
    store: Store,
) -> None:
    dealer = store.create_dealer("中古スマホ堂")
    other = store.create_dealer("よその店")
    hook = store.add_alert_target(
        dealer.id, "webhook", "https://hooks.example.jp/a", seal=fake_seal
    )
    mail = store.add_alert_target(dealer.id, AlertChannel.EMAIL, "shop@example.jp")
    gone = store.add_alert_target(dealer.id, AlertChannel.EMAIL, "old@example.jp")
    assert store.disable_alert_target(dealer.id, gone.id)
    store.add_alert_target(other.id, AlertChannel.EMAIL, "other@example.jp")
    guarantee = add_guarantee(store, dealer.id, seal=fake_seal)

    change = add_change(store, guarantee)

    queued = store.deliveries(change, dealer_id=dealer.id)
    assert [(d.channel, d.recipient) for d in queued] == [
        (AlertChannel.WEBHOOK, target_recipient(hook.id)),
        (AlertChannel.EMAIL, target_recipient(mail.id)),
        (AlertChannel.EMAIL, CUSTOMER),
    ]
    assert all(d.open and d.attempts == 0 and d.next_attempt_at == T0 for d in queued)
    assert [d.target_id for d in queued] == [hook.id, mail.id, None]
    # Enqueued again (a monitor retrying its transaction's work): nothing new.
    assert store.enqueue_alerts(change) == 0
    assert store.deliveries(change, dealer_id=dealer.id) == queued
    assert store.deliveries(change, dealer_id=other.id) == []  # not the other dealer's


def test_the_alerts_are_committed_with_the_change_or_not_at_all(store: Store) -> None:
    dealer = store.create_dealer("A")
    store.add_alert_target(dealer.id, AlertChannel.EMAIL, "shop@example.jp")
    guarantee = add_guarantee(store, dealer.id)
    first = store.record(observation(at=T0))

    def monitor_transaction() -> None:
        with Session(store.engine) as session, session.begin():
            change = StatusChange(
                guarantee_id=guarantee,
                carrier="docomo",
                before_status="ok",
                after_status="restricted",
                before_observation_id=None,
                after_observation_id=first.id,
                detected_at=T0,
            )
            session.add(change)
            session.flush()
            assert enqueue_alerts(session, change.id) == 1
            raise RuntimeError("the monitor's transaction fails after enqueueing")

    with pytest.raises(RuntimeError):
        monitor_transaction()
    with Session(store.engine) as session:
        assert session.query(StatusChange).count() == 0
        assert session.query(Delivery).count() == 0


def test_the_customer_is_written_to_only_when_a_contact_may_hold_an_address(
    store: Store,
) -> None:
    dealer = store.create_dealer("A")
    without = add_guarantee(store, dealer.id, order_ref="no-contact")
    assert store.enqueue_alerts(add_change(store, without, enqueue=False)) == 0

    sealed = add_guarantee(store, dealer.id, order_ref="phone-only", seal=fake_seal)
    seen: list[tuple[int, bytes]] = []

    def no_email(guarantee_id: int, contact: Sealed) -> bool:
        seen.append((guarantee_id, contact.ciphertext))
        return False

    change = add_change(store, sealed, enqueue=False)
    assert store.enqueue_alerts(change, customer_check=no_email) == 0
    assert seen == [(sealed, b"sealed:guarantees.customer:%d" % sealed)]
    assert store.enqueue_alerts(change, customer_check=lambda *_: True) == 1


def test_an_unknown_change_cannot_be_enqueued(store: Store) -> None:
    with pytest.raises(LookupError, match="no status change 99"):
        store.enqueue_alerts(99)


def test_due_deliveries_are_claimed_by_one_sender_until_the_lease_runs_out(store: Store) -> None:
    dealer = store.create_dealer("A")
    store.add_alert_target(dealer.id, AlertChannel.EMAIL, "shop@example.jp")
    early = add_change(store, add_guarantee(store, dealer.id, order_ref="1"), at=T0)
    later = add_change(
        store, add_guarantee(store, dealer.id, order_ref="2"), at=T0 + timedelta(hours=1)
    )

    assert store.claim_due_deliveries(T0 - timedelta(seconds=1)) == []
    [claimed] = store.claim_due_deliveries(T0 + timedelta(minutes=1))
    assert claimed.change_id == early
    assert claimed.next_attempt_at == T0  # as it was when claimed
    # Leased: another sender finds nothing, until the lease (5 min) has passed.
    assert store.claim_due_deliveries(T0 + timedelta(minutes=2)) == []
    again = store.claim_due_deliveries(T0 + timedelta(minutes=7), limit=1)
    assert [d.id for d in again] == [claimed.id]
    both = store.claim_due_deliveries(T0 + timedelta(hours=2))
    assert [d.change_id for d in both] == [early, later]


def test_an_outcome_is_recorded_once_and_closes_the_delivery(store: Store) -> None:
    dealer = store.create_dealer("A")
    store.add_alert_target(dealer.id, AlertChannel.EMAIL, "a@example.jp")
    store.add_alert_target(dealer.id, AlertChannel.EMAIL, "b@example.jp")
    change = add_change(store, add_guarantee(store, dealer.id))
    first, second = store.deliveries(change, dealer_id=dealer.id)
    retry_at = T0 + timedelta(seconds=30)

    assert store.mark_failed(first.id, error="HTTP 503", next_attempt_at=retry_at)
    assert store.mark_delivered(first.id, at=retry_at)
    assert not store.mark_failed(first.id, error="late", next_attempt_at=retry_at)
    delivered = store.delivery(first.id)
    assert delivered is not None
    assert (delivered.attempts, delivered.delivered_at, delivered.next_attempt_at) == (
        2,
        retry_at,
        None,
    )
    assert delivered.last_error is None
    assert not delivered.open

    assert store.mark_given_up(second.id, error="target disabled", at=T0, attempted=False)
    assert not store.mark_delivered(second.id, at=T0)
    given_up = store.delivery(second.id)
    assert given_up is not None
    assert (given_up.attempts, given_up.given_up_at, given_up.last_error) == (
        0,
        T0,
        "target disabled",
    )
    assert store.claim_due_deliveries(T0 + timedelta(days=9)) == []


def test_a_change_alert_holds_what_a_message_says(store: Store) -> None:
    dealer = store.create_dealer("中古スマホ堂")
    other = store.create_dealer("よその店")
    guarantee = add_guarantee(store, dealer.id, order_ref="注文-7", seal=fake_seal)
    change = add_change(
        store, guarantee, carrier=Carrier.AU, before=Status.OK, after=Status.RESTRICTED
    )

    alert = store.change_alert(change)
    assert alert is not None
    assert alert == store.change_alert(change, dealer_id=dealer.id)
    assert store.change_alert(change, dealer_id=other.id) is None
    assert store.change_alert(change + 1) is None
    assert (alert.dealer, alert.order_ref, alert.imei, alert.carrier) == (
        "中古スマホ堂",
        "注文-7",
        IMEI,
        Carrier.AU,
    )
    assert (alert.before_status, alert.after_status) == (Status.OK, Status.RESTRICTED)
    assert alert.before_checked_at == T0 - timedelta(days=3)
    assert alert.after_checked_at == T0 - timedelta(minutes=1)
    assert alert.detected_at == T0
    assert alert.detected_at.tzinfo is UTC
    assert alert.customer_sealed == b"sealed:guarantees.customer:%d" % guarantee
    assert "sealed" not in repr(alert)


def test_alert_targets_belong_to_their_dealer(store: Store) -> None:
    dealer = store.create_dealer("A")
    other = store.create_dealer("B")
    contexts: list[str] = []

    def seal(context: str) -> Sealed:
        contexts.append(context)
        return Sealed(b"secret", b"key")

    hook = store.add_alert_target(
        dealer.id, "webhook", "https://hooks.example.jp/", seal=seal, at=T0
    )
    assert contexts == [f"alert_targets.secret:{hook.id}"]  # sealed once the id was known
    assert (hook.secret_sealed, hook.secret_key, hook.created_at) == (b"secret", b"key", T0)
    assert "secret" not in repr(hook)
    assert store.alert_target(dealer.id, hook.id) == hook
    assert store.alert_target(other.id, hook.id) is None
    assert not store.disable_alert_target(other.id, hook.id)  # not B's to disable
    assert store.alert_targets(other.id) == []

    assert store.disable_alert_target(dealer.id, hook.id, at=T0 + timedelta(days=1))
    assert not store.disable_alert_target(dealer.id, hook.id)  # once
    [listed] = store.alert_targets(dealer.id)
    assert listed.disabled_at == T0 + timedelta(days=1)
    assert not listed.active

    with pytest.raises(ValueError, match="signing secret"):
        store.add_alert_target(dealer.id, AlertChannel.WEBHOOK, "https://x.example.jp/")
    with pytest.raises(ValueError, match="timezone-aware"):
        store.add_alert_target(
            dealer.id,
            AlertChannel.EMAIL,
            "a@example.jp",
            at=datetime(2026, 1, 1),  # noqa: DTZ001  # refusing a naive time is the point
        )
