"""Intakes, sales under guarantee and claims, as a dealer's staff meet them."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from akarom.config import Settings
from akarom.domain import Carrier, Status
from akarom.errors import UsageError
from akarom.sealing import Sealer, SealError
from akarom.services.advising import load_advice_rules
from akarom.services.guarantees import (
    CustomerContact,
    GuaranteeRefused,
    IntakeRequest,
    SaleRequest,
    SellerIdentity,
    act_on_claim,
    claim_file,
    customer_of,
    erase_seller,
    export_intakes,
    record_intake,
    register_sale,
    seller_of,
)
from akarom.services.workspace_guarantees import guarantee_desk
from akarom.storage import Store
from akarom.storage.guarantees import ClaimStatus, GuaranteeKind
from tests.storage.helpers import IMEI, OTHER_TAC, SAME_TAC, observation

SOLD = date(2026, 11, 27)
CHECKED = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)
SELLER = SellerIdentity(
    name="山田 太郎",
    address="東京都千代田区千代田1-1",
    occupation="会社員",
    age=34,
    confirmed_by="運転免許証",
    document_number="123456789012",
)


@pytest.fixture
def sealer() -> Sealer:
    return Sealer(os.urandom(32))


@pytest.fixture
def dealer(store: Store) -> int:
    return store.create_dealer("中古スマホ堂").id


@pytest.fixture
def rules(tmp_path: Path):  # type: ignore[no-untyped-def]
    return load_advice_rules(Settings.from_env({"AKAROM_DATA_DIR": str(tmp_path / "d")}))


def _checked(store: Store, imei: str, **statuses: Status) -> None:
    for carrier, status in statuses.items():
        store.record(observation(imei, Carrier(carrier), status, at=CHECKED))


def _database_bytes(store: Store) -> bytes:
    folder = Path(store.engine.url.database or "").parent
    return b"".join(p.read_bytes() for p in folder.iterdir() if p.is_file())


def _intake(store: Store, sealer: Sealer, dealer: int, imei: str = IMEI) -> int:
    request = IntakeRequest(imei, date(2026, 11, 20), 42_000, SELLER, model="iPhone 14")
    return record_intake(store, sealer, dealer, request, by="佐藤").id


def test_an_intake_keeps_the_seller_sealed_and_opens_only_with_the_key(
    store: Store, sealer: Sealer, dealer: int
) -> None:
    _checked(store, IMEI, docomo=Status.OK)
    intake = store.intake(dealer, _intake(store, sealer, dealer))
    assert intake is not None
    assert intake.verdict == "clear"
    assert intake.retain_until == date(2029, 11, 20)
    assert seller_of(sealer, intake) == SELLER
    stored = _database_bytes(store)
    for secret in (SELLER.name, SELLER.address, SELLER.document_number or ""):
        assert secret.encode("utf-8") not in stored
    with pytest.raises(SealError):
        seller_of(Sealer(os.urandom(32)), intake)


def test_an_intake_needs_the_check_that_cleared_it(
    store: Store, sealer: Sealer, dealer: int
) -> None:
    with pytest.raises(GuaranteeRefused) as refused:
        _intake(store, sealer, dealer)
    assert refused.value.key == "intake.never_checked"


def test_the_seller_is_erased_only_after_three_years_and_then_for_good(
    store: Store, sealer: Sealer, dealer: int
) -> None:
    _checked(store, IMEI, docomo=Status.OK)
    intake_id = _intake(store, sealer, dealer)
    before = store.intake(dealer, intake_id)
    assert before is not None
    assert before.seller is not None
    with pytest.raises(UsageError) as early:
        erase_seller(store, dealer, intake_id, by="佐藤", on=date(2029, 11, 19))
    assert early.value.key == "intake.retained"
    assert early.value.fields["until"] == "2029-11-20"
    erase_seller(store, dealer, intake_id, by="佐藤", on=date(2029, 11, 20))
    after = store.intake(dealer, intake_id)
    assert after is not None
    assert after.seller is None
    assert after.erased_by == "佐藤"
    assert seller_of(sealer, after) is None
    assert after.imei == IMEI
    assert after.price == 42_000
    stored = _database_bytes(store)
    assert before.seller.wrapped_key not in stored
    assert before.seller.ciphertext not in stored
    assert "山田" not in export_intakes(store, sealer, dealer)


def test_a_clear_device_is_guaranteed_and_watched_at_the_carrier_that_sold_it(
    store: Store, sealer: Sealer, dealer: int, rules
) -> None:  # type: ignore[no-untyped-def]
    _checked(store, IMEI, au=Status.OK)
    guarantee = register_sale(
        store,
        sealer,
        rules,
        dealer,
        SaleRequest(
            IMEI, "A-1001", SOLD, price=80_000, customer=CustomerContact("鈴木", "s@example.jp")
        ),
        by="佐藤",
    )
    assert guarantee.kind is GuaranteeKind.LIFETIME_RED
    assert guarantee.term_until is None
    assert guarantee.baseline_verdict == "clear"
    assert customer_of(sealer, guarantee) == CustomerContact("鈴木", "s@example.jp")
    risks = store.watch_risks(Carrier.AU)
    assert [(r.status, r.sold_on, r.price) for r in risks] == [(Status.OK, SOLD, 80_000)]
    assert all(store.watch_risks(c) == [] for c in Carrier if c is not Carrier.AU)


@pytest.mark.parametrize(
    ("statuses", "key"),
    [
        ({"docomo": Status.RESTRICTED}, "guarantee.refused"),
        ({"docomo": Status.UNREGISTERED}, "guarantee.refused"),  # three carriers never asked
        ({}, "guarantee.never_checked"),
    ],
    ids=["red", "incomplete", "never checked"],
)
def test_a_device_the_rules_do_not_clear_is_refused_with_the_reason(
    store: Store, sealer: Sealer, dealer: int, rules, statuses, key
) -> None:  # type: ignore[no-untyped-def]
    _checked(store, IMEI, **statuses)
    with pytest.raises(GuaranteeRefused) as refused:
        register_sale(store, sealer, rules, dealer, SaleRequest(IMEI, "A-1", SOLD), by="佐藤")
    assert refused.value.key == key
    assert store.guarantees(dealer) == []


def test_a_caution_device_may_be_sold_under_guarantee_and_is_watched(
    store: Store, sealer: Sealer, dealer: int, rules
) -> None:  # type: ignore[no-untyped-def]
    _checked(store, IMEI, softbank=Status.PENDING)
    guarantee = register_sale(
        store,
        sealer,
        rules,
        dealer,
        SaleRequest(IMEI, "B-7", SOLD, kind=GuaranteeKind.RETURN_1Y),
        by="x",
    )
    assert guarantee.baseline_verdict == "caution"
    assert guarantee.term_until == date(2027, 11, 27)
    assert [r.status for r in store.watch_risks(Carrier.SOFTBANK)] == [Status.PENDING]


def test_a_sim_free_device_is_watched_at_every_carrier(
    store: Store, sealer: Sealer, dealer: int, rules
) -> None:  # type: ignore[no-untyped-def]
    _checked(store, IMEI, **{c.value: Status.UNREGISTERED for c in Carrier})
    register_sale(store, sealer, rules, dealer, SaleRequest(IMEI, "C-1", SOLD), by="x")
    assert all(len(store.watch_risks(c)) == 1 for c in Carrier)


def test_a_stale_check_is_no_baseline_and_an_order_is_registered_once(
    store: Store, sealer: Sealer, dealer: int, rules
) -> None:  # type: ignore[no-untyped-def]
    _checked(store, IMEI, docomo=Status.OK)
    store.record(observation(OTHER_TAC, Carrier.DOCOMO, Status.OK, at=CHECKED - timedelta(60)))
    with pytest.raises(GuaranteeRefused) as stale:
        register_sale(store, sealer, rules, dealer, SaleRequest(OTHER_TAC, "D-0", SOLD), by="x")
    assert stale.value.key == "guarantee.stale_baseline"
    in_three_days = datetime.now(UTC).date() + timedelta(days=3)
    with pytest.raises(UsageError) as future:
        register_sale(store, sealer, rules, dealer, SaleRequest(IMEI, "D-9", in_three_days), by="x")
    assert future.value.key == "guarantee.date_range"
    register_sale(store, sealer, rules, dealer, SaleRequest(IMEI, "D-1", SOLD), by="x")
    with pytest.raises(UsageError) as taken:
        register_sale(store, sealer, rules, dealer, SaleRequest(IMEI, "D-1", SOLD), by="x")
    assert taken.value.key == "guarantee.order_taken"


def test_a_claim_moves_to_a_settlement_recording_who_did_what(
    store: Store, sealer: Sealer, dealer: int, rules
) -> None:  # type: ignore[no-untyped-def]
    _checked(store, IMEI, docomo=Status.OK)
    intake_id = _intake(store, sealer, dealer)
    guarantee = register_sale(
        store, sealer, rules, dealer, SaleRequest(IMEI, "E-1", SOLD, intake_id=intake_id), by="佐藤"
    )
    later = observation(IMEI, Carrier.DOCOMO, Status.RESTRICTED, at=CHECKED + timedelta(days=40))
    store.record(later)
    claim_id = store.open_claim_by_hand(dealer, guarantee.id, actor="佐藤", at=CHECKED)
    assert claim_id is not None
    assert store.open_claim_by_hand(dealer, guarantee.id, actor="佐藤", at=CHECKED) is None
    act_on_claim(store, dealer, claim_id, "note", by="佐藤", note="お客様から電話")
    with pytest.raises(UsageError) as no_reason:
        act_on_claim(store, dealer, claim_id, "reject", by="佐藤")
    assert no_reason.value.key == "claim.reason_needed"
    settled = act_on_claim(store, dealer, claim_id, "exchange", by="店長", note="同等品と交換")
    assert settled.status is ClaimStatus.EXCHANGE
    assert settled.closed_at is not None
    assert [(a.action, a.actor) for a in settled.actions] == [
        ("opened", "佐藤"),
        ("note", "佐藤"),
        ("exchange", "店長"),
    ]
    with pytest.raises(UsageError) as closed:
        act_on_claim(store, dealer, claim_id, "refund", by="店長")
    assert closed.value.key == "claim.not_open"
    case = claim_file(store, sealer, dealer, claim_id)
    assert [o.status for o in case.baseline] == [Status.OK]
    assert [o.status for o in case.since_sale] == [Status.RESTRICTED]
    assert case.seller == SELLER
    assert case.intake is not None
    assert case.intake.id == intake_id


def test_the_desk_shows_the_newest_guarantees_and_counts_all_that_match(
    store: Store, sealer: Sealer, dealer: int, rules
) -> None:  # type: ignore[no-untyped-def]
    other = store.create_dealer("別の店").id
    for number, imei in enumerate((IMEI, OTHER_TAC, SAME_TAC)):
        _checked(store, imei, au=Status.OK)
        register_sale(
            store, sealer, rules, dealer, SaleRequest(imei, f"D-{number}", SOLD), by="佐藤"
        )
    register_sale(store, sealer, rules, other, SaleRequest(IMEI, "X-1", SOLD), by="田中")
    desk = guarantee_desk(store, dealer, limit=2)
    assert [g.order_ref for g in desk.guarantees] == ["D-2", "D-1"]
    assert desk.total == 3
    one = guarantee_desk(store, dealer, imei=IMEI)
    assert ([g.order_ref for g in one.guarantees], one.total) == (["D-0"], 1)
    order = guarantee_desk(store, dealer, order_ref="D-1")
    assert ([g.imei for g in order.guarantees], order.total) == ([OTHER_TAC], 1)
    assert guarantee_desk(store, dealer, order_ref="X-1").total == 0


def test_another_dealer_sees_none_of_it(store: Store, sealer: Sealer, dealer: int, rules) -> None:  # type: ignore[no-untyped-def]
    other = store.create_dealer("別の店").id
    _checked(store, IMEI, docomo=Status.OK)
    guarantee = register_sale(store, sealer, rules, dealer, SaleRequest(IMEI, "F-1", SOLD), by="x")
    claim_id = store.open_claim_by_hand(dealer, guarantee.id, actor="x", at=CHECKED)
    assert claim_id is not None
    assert store.guarantee(other, guarantee.id) is None
    assert store.guarantees(other) == []
    assert store.open_claim_by_hand(other, guarantee.id, actor="x", at=CHECKED) is None
    with pytest.raises(UsageError):
        claim_file(store, sealer, other, claim_id)


def test_other_devices_do_not_share_a_watch(
    store: Store, sealer: Sealer, dealer: int, rules
) -> None:  # type: ignore[no-untyped-def]
    for imei, order in ((IMEI, "G-1"), (SAME_TAC, "G-2"), (OTHER_TAC, "G-3")):
        _checked(store, imei, docomo=Status.OK)
        register_sale(store, sealer, rules, dealer, SaleRequest(imei, order, SOLD), by="x")
    assert len(store.watch_risks(Carrier.DOCOMO)) == 3
