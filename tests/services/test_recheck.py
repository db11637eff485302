"""The re-check policy: who is asked again when, within a carrier's daily budget."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from akarom.domain import Status
from akarom.services.recheck import (
    CAP_LIMIT_DAYS,
    CAP_MIN_DAYS,
    DEFAULT_PRICE_YEN,
    FLOOR_DAYS,
    MIN_GAP_DAYS,
    SHARE,
    Plan,
    cap_days,
    days_since_sale,
    fit_k,
    fit_plan,
    gap_days,
    interval_days,
    jittered,
    next_due,
    planned_checks,
    risk_weight,
)

statuses = st.sampled_from(list(Status))
ages = st.floats(min_value=0, max_value=3 * 365)
prices = st.one_of(st.none(), st.integers(min_value=1_000, max_value=400_000))
weights = st.floats(min_value=0, max_value=1e6, allow_nan=False)
budgets = st.integers(min_value=1, max_value=5_000)
ks = st.floats(min_value=0, max_value=1e4, allow_nan=False)
bounds = st.tuples(st.floats(min_value=1, max_value=10), st.floats(min_value=0, max_value=100)).map(
    lambda pair: (pair[0], pair[0] + pair[1])
)


@st.composite
def books(draw: st.DrawFn) -> list[float]:
    """One carrier's watches as the policy weighs them."""
    rows = draw(st.lists(st.tuples(statuses, ages, prices), min_size=1, max_size=200))
    return [risk_weight(status, age, price) for status, age, price in rows]


@given(weights, ks, bounds)
def test_an_interval_stays_between_the_floor_and_the_cap(
    weight: float, k: float, bound: tuple[float, float]
) -> None:
    floor, cap = bound
    assert floor <= interval_days(weight, k, floor, cap) <= cap


@given(weights, weights, ks, bounds)
def test_a_riskier_watch_never_waits_longer(
    one: float, other: float, k: float, bound: tuple[float, float]
) -> None:
    lighter, heavier = sorted((one, other))
    floor, cap = bound
    assert interval_days(heavier, k, floor, cap) <= interval_days(lighter, k, floor, cap)


@given(books(), budgets)
def test_the_fitted_plan_spends_the_budget_and_no_more(book: list[float], budget: int) -> None:
    cap = cap_days(len(book), budget)
    k = fit_k(book, budget)
    spent = planned_checks(book, k, floor=FLOOR_DAYS, cap=cap)
    if len(book) / cap > SHARE * budget:  # past 87 devices a request: all wait the cap
        assert spent == pytest.approx(len(book) / cap)
        return
    assert spent <= SHARE * budget * (1 + 1e-9)
    if len(book) / FLOOR_DAYS > SHARE * budget:  # not every watch fits at the floor
        assert spent >= 0.95 * budget
    else:  # every watch is asked daily, the least interval there is
        assert spent == pytest.approx(len(book))


@given(books(), budgets, budgets)
def test_a_larger_budget_never_asks_less_often(book: list[float], one: int, other: int) -> None:
    smaller, larger = sorted((one, other))
    assert fit_k(book, larger) <= fit_k(book, smaller)


def test_the_cap_follows_the_book_and_the_budget() -> None:
    assert cap_days(40_000, 2_000) == 80  # 4 round-robin cycles of 20 days
    assert cap_days(40_000, 20_000) == CAP_MIN_DAYS
    assert cap_days(400_000, 2_000) == CAP_LIMIT_DAYS
    assert cap_days(10, 0) == CAP_LIMIT_DAYS


@given(ages, prices, st.floats(min_value=0, max_value=1e4))
def test_pending_is_asked_far_more_often_than_paid_off(
    age: float, price: int | None, stretch: float
) -> None:
    pending = risk_weight(Status.PENDING, age, price)
    paid = risk_weight(Status.OK, age, price)
    # any k at which △ is not pressed against the floor
    k = FLOOR_DAYS * pending**0.5 * (1 + stretch)
    assert interval_days(paid, k) >= min(CAP_LIMIT_DAYS, 3 * interval_days(pending, k))


def test_a_fitted_plan_puts_pending_devices_first() -> None:
    rng = random.Random(5)
    book = [(Status.PENDING if i % 4 == 0 else Status.OK, i % 365, 40_000) for i in range(8_000)]
    plan = fit_plan([risk_weight(*watch) for watch in book], budget_per_day=400)
    for age in (3, 60, 300):
        pending = gap_days(plan, Status.PENDING, age, 40_000, rng)
        paid = gap_days(plan, Status.OK, age, 40_000, rng)
        assert paid > 3 * pending, (age, pending, paid)


@given(statuses, ages, ages, prices)
def test_a_recent_sale_is_asked_no_less_often(
    status: Status, one: float, other: float, price: int | None
) -> None:
    recent, old = sorted((one, other))
    assert risk_weight(status, recent, price) >= risk_weight(status, old, price)


def test_a_pending_device_sold_last_week_comes_before_one_sold_last_year() -> None:
    for status in (Status.PENDING, Status.OK):
        assert risk_weight(status, 7, 40_000) > 1.5 * risk_weight(status, 365, 40_000)


def test_no_record_just_after_a_sale_is_asked_soon_and_later_seldom() -> None:
    # "-" at the seller days after a sale: most likely a sale not yet reflected
    assert risk_weight(Status.UNREGISTERED, 2, None) > 10 * risk_weight(Status.OK, 2, None)
    # months later: a SIM-free phone, no likelier to change than a paid-off one
    assert risk_weight(Status.UNREGISTERED, 90, None) < risk_weight(Status.OK, 90, None)


@given(statuses, ages, st.integers(min_value=1, max_value=400_000))
def test_a_dearer_phone_weighs_more(status: Status, age: float, price: int) -> None:
    assert risk_weight(status, age, price + 1_000) > risk_weight(status, age, price) > 0


def test_an_unknown_price_counts_as_the_default() -> None:
    assert risk_weight(Status.OK, 10, None) == risk_weight(Status.OK, 10, DEFAULT_PRICE_YEN)
    assert risk_weight(Status.OK, 10, 0) == risk_weight(Status.OK, 10, DEFAULT_PRICE_YEN)


@given(st.floats(min_value=0, max_value=1e3), st.integers(), st.floats(min_value=0, max_value=0.9))
def test_jitter_stays_within_its_spread(interval: float, seed: int, spread: float) -> None:
    moved = jittered(interval, random.Random(seed), spread)
    assert interval * (1 - spread) - 1e-9 <= moved <= interval * (1 + spread) + 1e-9


@given(
    statuses,
    prices,
    ks,
    bounds,
    st.integers(),
    st.datetimes(
        min_value=datetime(2020, 1, 1),  # noqa: DTZ001  # hypothesis bounds are naive
        max_value=datetime(2035, 1, 1),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
    st.integers(min_value=-3, max_value=2_000),
)
def test_never_asked_again_within_a_day(
    status: Status,
    price: int | None,
    k: float,
    bound: tuple[float, float],
    seed: int,
    checked_at: datetime,
    days_before: int,
) -> None:
    floor, cap = bound
    plan = Plan(k=k, floor=floor, cap=cap)
    sold_on = checked_at.date() - timedelta(days=days_before)
    due = next_due(
        plan,
        checked_at=checked_at,
        status=status,
        sold_on=sold_on,
        price_yen=price,
        rng=random.Random(seed),
    )
    assert due - checked_at >= timedelta(days=MIN_GAP_DAYS)
    assert due - checked_at <= timedelta(days=cap * (1 + plan.spread)) + timedelta(microseconds=1)


def test_an_unanswered_check_is_asked_again_after_a_day() -> None:
    plan = Plan(k=1e6, cap=80)  # every answered watch would wait the cap
    checked_at = datetime(2026, 12, 1, 3, tzinfo=UTC)
    due = next_due(
        plan,
        checked_at=checked_at,
        status=Status.UNKNOWN,
        sold_on=date(2026, 1, 1),
        price_yen=None,
        rng=random.Random(0),
    )
    assert timedelta(days=1) <= due - checked_at <= timedelta(days=1.1)


def test_the_next_due_time_counts_the_sale_in_japan_and_needs_a_timezone() -> None:
    plan = Plan(k=30.0)
    rng = random.Random(0)
    # 2026-12-01 00:30 JST is the sale day itself in Japan: 0.02 days after the sale
    just_sold = datetime(2026, 11, 30, 15, 30, tzinfo=UTC)
    due = next_due(
        plan,
        checked_at=just_sold,
        status=Status.PENDING,
        sold_on=date(2026, 12, 1),
        price_yen=40_000,
        rng=random.Random(0),
    )
    expected = gap_days(plan, Status.PENDING, 0.5 / 24, 40_000, rng)
    assert (due - just_sold) / timedelta(days=1) == pytest.approx(expected)
    assert days_since_sale(date(2026, 12, 1), just_sold) == pytest.approx(0.5 / 24)
    with pytest.raises(ValueError, match="timezone"):
        next_due(
            plan,
            checked_at=datetime(2026, 12, 1),  # noqa: DTZ001  # the mistake under test
            status=Status.OK,
            sold_on=date(2026, 12, 1),
            price_yen=None,
            rng=rng,
        )


def test_a_plan_never_goes_below_a_day() -> None:
    with pytest.raises(ValueError, match="not a plan"):
        Plan(k=1.0, floor=0.5)
    with pytest.raises(ValueError, match="floor"):
        interval_days(1.0, 1.0, floor=10, cap=5)


@given(books(), st.integers(min_value=0, max_value=5_000))
def test_a_book_smaller_than_the_budget_is_asked_daily(book: list[float], spare: int) -> None:
    plan = fit_plan(book, len(book) / SHARE + spare)
    assert all(interval_days(w, plan.k, plan.floor, plan.cap) == FLOOR_DAYS for w in book)
