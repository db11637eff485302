"""When to re-check a guaranteed device: the monitor's policy (pure: no I/O, no database).

A dealer's 赤ロム保証 (guarantee against the phone becoming 赤ロム) is kept by asking the
carrier that sold each device again and again, within a daily budget of requests per
carrier. Asking every device in turn (round-robin) spends most of the budget on phones
that were paid for long ago. This module spends it where a change is likeliest and
dearest (docs/decisions/guarantee.md, "Re-checking within a budget"):

* ``risk_weight``: the chance per day that a watch's status changes, by status, days
  since sale and price, times what missing it costs (the price), in yen per day;
* ``interval_days``: ``k / √weight`` between a floor of 1 day and a cap — the
  square-root rule, which minimises the expected delay cost for a fixed number of
  checks (the delay cost of a watch grows with weight × interval, and its share of the
  budget with 1 / interval);
* ``fit_k``: the ``k`` that makes one carrier's watches use ``share`` (97 %) of its
  daily budget; refitted each Japan day per carrier (``fit_plan``);
* ``next_due``: when a watch is due again after an answer, with ±10 % jitter so that
  watches do not fall due in lumps, and never within a day of the answer (a carrier
  reflects a change at most once a day).

The monitor takes due watches in due order as the budget is released across the day;
the benchmark ``python -m bench --only monitor`` simulates that against round-robin.

>>> import random
>>> pending = risk_weight(Status.PENDING, days_since_sale=10, price_yen=60_000)
>>> paid = risk_weight(Status.OK, days_since_sale=10, price_yen=60_000)
>>> interval_days(pending, k=20.0) < interval_days(paid, k=20.0)
True
>>> plan = fit_plan([pending, paid] * 1000, budget_per_day=100)
>>> round(planned_checks([pending, paid] * 1000, plan.k, floor=plan.floor, cap=plan.cap))
97
>>> gap_days(plan, Status.PENDING, 10, 60_000, random.Random(1)) >= MIN_GAP_DAYS
True
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import accumulate

from akarom.domain import JST, Status

__all__ = [
    "CAP_LIMIT_DAYS",
    "CAP_MIN_DAYS",
    "DEFAULT_PRICE_YEN",
    "FLOOR_DAYS",
    "MIN_GAP_DAYS",
    "SHARE",
    "SPREAD",
    "Plan",
    "cap_days",
    "days_since_sale",
    "fit_k",
    "fit_plan",
    "gap_days",
    "interval_days",
    "jittered",
    "next_due",
    "planned_checks",
    "risk_weight",
]

#: A carrier reflects a change at most once a day, so an answer younger than a day
#: is not worth a request (the ``watches`` rows hold the same rule).
MIN_GAP_DAYS = 1.0
#: The shortest re-check interval the policy plans (never below ``MIN_GAP_DAYS``).
FLOOR_DAYS = 1.0
#: The longest interval is ``4 × devices ÷ budget`` (a round-robin cycle is
#: ``devices ÷ budget``), but at least a month and at most three months: no
#: guaranteed device goes unasked for longer than a quarter, however large the book.
CAP_MIN_DAYS = 30.0
CAP_LIMIT_DAYS = 90.0
#: Share of the daily budget the plan spends; the rest absorbs the retries after a
#: carrier's outage and the lumps that jitter leaves.
SHARE = 0.97
#: Jitter, ± this fraction of the interval.
SPREAD = 0.10
#: The price assumed when a guarantee gives none (a mid-range used phone, 2026).
DEFAULT_PRICE_YEN = 40_000

_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class _Risk:
    """Chance per day that a watch's status changes in a way that costs the dealer:
    ``at_sale`` on the day of sale, falling towards ``later`` with ``half_life`` days."""

    at_sale: float
    later: float
    half_life: float

    def per_day(self, days_since_sale: float) -> float:
        fading = math.pow(0.5, max(days_since_sale, 0.0) / self.half_life)
        return self.later + (self.at_sale - self.later) * fading


# A deliberately rough table: no carrier publishes how often statuses change, and the
# order of the watches is what matters, not the figures. Its reasons:
# - △ (instalments still owed): an unpaid instalment turns it × within weeks of a sale
#   to a buyer who never meant to pay, so its risk is highest early, then falls to
#   that of a late default (roughly 8 % in the first two months, 12 % in a year).
# - ○ (paid off): × only by fraud or theft found later, about 0.4 % a year; a little
#   likelier in the first months.
# - - (no record): in the first days after a sale, at the carrier that sold the phone,
#   mostly a sale not yet reflected, which shows up as ○ or △ within days; a △ learnt
#   late is a × found late (the simulation in bench/monitor.py found exactly that blind
#   spot with a flat small weight), so it starts near a △ and halves every 5 days to
#   the small weight of a SIM-free device, which has no record anywhere.
# - × (restricted): the claim is already open; it is lifted rarely.
# - ? (unknown): never counted as safe, weighed as a △.
_TABLE: dict[Status, _Risk] = {
    Status.PENDING: _Risk(at_sale=1 / 700, later=1 / 5_000, half_life=30.0),
    Status.OK: _Risk(at_sale=1 / 50_000, later=1 / 100_000, half_life=90.0),
    Status.UNREGISTERED: _Risk(at_sale=1 / 1_000, later=1 / 200_000, half_life=5.0),
    Status.RESTRICTED: _Risk(at_sale=1 / 100_000, later=1 / 100_000, half_life=30.0),
}
_TABLE[Status.UNKNOWN] = _TABLE[Status.PENDING]
# A dear phone is likelier to be bought to be resold unpaid: the chance grows with
# √(price ÷ the default price), within these bounds.
_PRICE_LIKELIHOOD = (0.5, 2.0)


def risk_weight(status: Status, days_since_sale: float, price_yen: int | None) -> float:
    """Expected loss per day of leaving this watch unasked, in yen: the chance per day
    that its status changes (by status, falling with the days since the sale, higher
    for dear phones) times the price (``DEFAULT_PRICE_YEN`` when None or not positive).

    Always positive, so that every watch is asked sooner or later.
    """
    price = float(price_yen) if price_yen is not None and price_yen > 0 else DEFAULT_PRICE_YEN
    low, high = _PRICE_LIKELIHOOD
    likelihood = min(high, max(low, math.sqrt(price / DEFAULT_PRICE_YEN)))
    return _TABLE[status].per_day(days_since_sale) * likelihood * price


def cap_days(devices: int, budget_per_day: float) -> float:
    """The longest interval for one carrier: ``4 × devices ÷ budget`` days, within
    [``CAP_MIN_DAYS``, ``CAP_LIMIT_DAYS``] (the limit when there is no budget)."""
    if budget_per_day <= 0:
        return CAP_LIMIT_DAYS
    return min(CAP_LIMIT_DAYS, max(CAP_MIN_DAYS, 4.0 * devices / budget_per_day))


def interval_days(
    weight: float, k: float, floor: float = FLOOR_DAYS, cap: float = CAP_LIMIT_DAYS
) -> float:
    """Days until the next re-check: ``k / √weight`` within [floor, cap].

    A heavier watch never waits longer; a weight of 0 (or less) waits the cap.
    """
    if not floor <= cap:
        raise ValueError(f"floor {floor} is above cap {cap}")
    if not weight > 0:
        return cap
    return min(cap, max(floor, max(k, 0.0) / math.sqrt(weight)))


def planned_checks(
    weights: Iterable[float], k: float, *, floor: float = FLOOR_DAYS, cap: float = CAP_LIMIT_DAYS
) -> float:
    """Re-checks per day that these watches cost at ``k``: Σ 1 / interval."""
    return sum(1.0 / interval_days(weight, k, floor, cap) for weight in weights)


class _Spending:
    """Σ 1 / interval(k) for many weights in O(log n) per ``k``: with the roots √w
    sorted, the watches at the floor, at the cap and in between are three runs."""

    def __init__(self, weights: Sequence[float], floor: float, cap: float) -> None:
        # A day's refit weighs every watch of a carrier: kept to C-level loops.
        roots = sorted(map(math.sqrt, filter((0.0).__lt__, weights)))
        self.roots = roots
        self.sums = [0.0, *accumulate(roots)]
        self.floor, self.cap, self.idle = floor, cap, len(weights) - len(roots)

    def __call__(self, k: float) -> float:
        roots, floor, cap = self.roots, self.floor, self.cap
        # interval = k / r: at the cap when r ≤ k / cap, at the floor when r ≥ k / floor.
        at_cap = bisect.bisect_right(roots, k / cap)
        at_floor = len(roots) - bisect.bisect_left(roots, k / floor)
        between = len(roots) - at_floor
        middle = (self.sums[between] - self.sums[at_cap]) / k if between > at_cap else 0.0
        return (self.idle + at_cap) / cap + at_floor / floor + middle


def fit_k(
    weights: Sequence[float],
    budget_per_day: float,
    share: float = SHARE,
    *,
    floor: float = FLOOR_DAYS,
    cap: float | None = None,
) -> float:
    """The ``k`` at which these watches (one carrier's) cost ``share × budget_per_day``
    re-checks a day (Σ 1 / interval), found by bisection; never more than that.

    Saturated ends: when every watch at the floor costs less, the largest ``k`` that
    keeps them all there (the budget is not all spent); when every watch at the cap
    costs more, the smallest ``k`` that puts them all at the cap. The second happens
    only past ``share × cap`` devices per daily request (87 with the 90-day cap): the
    plan then asks for more than the budget, and the monitor, which never spends more
    than the budget, lets the due watches wait. A larger budget never gives a larger
    ``k``. ``cap`` None: ``cap_days``.
    """
    if cap is None:
        cap = cap_days(len(weights), budget_per_day)
    if not 0 < floor <= cap:
        raise ValueError(f"need 0 < floor {floor} ≤ cap {cap}")
    spending = _Spending(weights, floor, cap)
    roots = spending.roots
    if not roots:
        return 1.0  # no watch with a weight: every interval is the cap whatever k is
    target = share * budget_per_day
    low, high = floor * roots[0], cap * roots[-1]  # all at the floor / all at the cap
    if spending(low) <= target:
        return low
    if spending(high) > target:
        return high
    # Σ 1 / interval falls as k grows: keep spending(low) > target ≥ spending(high).
    for _ in range(200):
        middle = math.sqrt(low * high)
        if not low < middle < high or high - low <= 1e-12 * high:
            break
        if spending(middle) > target:
            low = middle
        else:
            high = middle
    return high


def jittered(interval: float, rng: random.Random, spread: float = SPREAD) -> float:
    """``interval`` stretched or shrunk at random by up to ``spread`` (a fraction), so
    that watches planned together do not fall due together."""
    return interval * (1.0 + rng.uniform(-spread, spread))


@dataclass(frozen=True, slots=True)
class Plan:
    """One carrier's re-check plan for one Japan day (``fit_plan``)."""

    k: float
    floor: float = FLOOR_DAYS
    cap: float = CAP_LIMIT_DAYS
    spread: float = SPREAD

    def __post_init__(self) -> None:
        if not (MIN_GAP_DAYS <= self.floor <= self.cap and self.k >= 0 and 0 <= self.spread < 1):
            raise ValueError(f"not a plan: {self}")


def fit_plan(weights: Sequence[float], budget_per_day: float, *, share: float = SHARE) -> Plan:
    """The day's plan for one carrier: its watches' weights (``risk_weight`` of each)
    and its daily budget give the cap (``cap_days``) and ``k`` (``fit_k``)."""
    cap = cap_days(len(weights), budget_per_day)
    return Plan(k=fit_k(weights, budget_per_day, share, cap=cap), cap=cap)


def gap_days(
    plan: Plan,
    status: Status,
    days_since_sale: float,
    price_yen: int | None,
    rng: random.Random,
) -> float:
    """Days from an answer to the watch's next re-check: its jittered interval, and
    never less than ``MIN_GAP_DAYS``. After ``unknown`` (the carrier did not answer)
    the watch is asked again after the floor: the answer it was due for is still owed.
    """
    if status == Status.UNKNOWN:
        interval = plan.floor
    else:
        interval = interval_days(
            risk_weight(status, days_since_sale, price_yen), plan.k, plan.floor, plan.cap
        )
    return max(MIN_GAP_DAYS, jittered(interval, rng, plan.spread))


def days_since_sale(sold_on: date, at: datetime) -> float:
    """Days from the start of ``sold_on`` in Japan (a sale date is a Japan date) to
    ``at`` (timezone-aware; ``ValueError`` if not): what ``risk_weight`` is given."""
    if at.tzinfo is None:
        raise ValueError("the time must be timezone-aware")
    return (at - datetime.combine(sold_on, time(), JST)) / _DAY


def next_due(
    plan: Plan,
    *,
    checked_at: datetime,
    status: Status,
    sold_on: date,
    price_yen: int | None,
    rng: random.Random,
) -> datetime:
    """When the watch answered ``status`` at ``checked_at`` (timezone-aware) is due
    again: ``checked_at + gap_days(...)``, the days since the sale counted from the
    start of ``sold_on`` in Japan. Always at least a day after ``checked_at``.
    """
    gap = gap_days(plan, status, days_since_sale(sold_on, checked_at), price_yen, rng)
    return checked_at + max(timedelta(days=gap), timedelta(days=MIN_GAP_DAYS))
