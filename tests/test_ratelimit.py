"""The politeness limiter, on a virtual clock (no real sleeping)."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from akarom.ratelimit import RateLimiter, SpacingLedger


class VirtualClock:
    """Time that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


async def _run(limiter: RateLimiter, clock: VirtualClock, tasks: int, hold: float = 0.0):
    starts: list[float] = []
    in_flight = 0
    most_in_flight = 0

    async def request() -> None:
        nonlocal in_flight, most_in_flight
        async with limiter.slot():
            starts.append(clock())
            in_flight += 1
            most_in_flight = max(most_in_flight, in_flight)
            await asyncio.sleep(0)
            in_flight -= 1

    await asyncio.gather(*(request() for _ in range(tasks)))
    return starts, most_in_flight


@pytest.mark.parametrize(("rate", "concurrency", "tasks"), [(0.5, 1, 5), (5, 1, 20), (2, 3, 12)])
async def test_starts_are_spaced_however_many_tasks_wait(rate, concurrency, tasks) -> None:
    clock = VirtualClock()
    limiter = RateLimiter(rate, concurrency, clock=clock, sleep=clock.sleep)
    starts, most_in_flight = await _run(limiter, clock, tasks)
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert len(starts) == tasks
    assert all(gap >= 1 / rate - 1e-9 for gap in gaps)
    assert most_in_flight <= concurrency
    # Not slower than needed either: the last start is exactly (n-1) intervals in.
    assert starts[-1] == pytest.approx((tasks - 1) / rate)


async def test_defer_holds_everyone_back() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(10, 1, clock=clock, sleep=clock.sleep)
    async with limiter.slot():
        pass
    limiter.defer(30)
    starts, _ = await _run(limiter, clock, 2)
    assert starts[0] >= 30
    assert starts[1] - starts[0] >= 0.1 - 1e-9


async def test_the_gap_counts_from_when_the_request_really_left() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(1, clock=clock, sleep=clock.sleep)
    async with limiter.slot():
        clock.now += 0.4  # connecting took a while
        await limiter.sent()
    starts, _ = await _run(limiter, clock, 1)
    assert starts == [pytest.approx(1.4)]


async def test_a_steady_lead_does_not_stretch_the_gap() -> None:
    """Every request leaving 10 ms after its slot opens still leaves one interval apart."""
    clock = VirtualClock()
    limiter = RateLimiter(2, clock=clock, sleep=clock.sleep)
    sends = []
    for _ in range(60):
        async with limiter.slot():
            clock.now += 0.01
            await limiter.sent()
            sends.append(clock.now)
    gaps = [later - earlier for earlier, later in itertools.pairwise(sends)]
    assert min(gaps) >= 0.5 - 1e-9
    assert gaps[-1] == pytest.approx(0.5)  # once the usual lead is known, no more


def test_nonsense_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        RateLimiter(0)
    with pytest.raises(ValueError, match="positive"):
        RateLimiter(1, 0)


async def test_processes_sharing_a_ledger_keep_the_gap_between_them(tmp_path) -> None:
    """Two limiters on one ledger stand for two ``akarom`` processes asking one carrier."""
    ledger_a = SpacingLedger(tmp_path, "docomo@https://nw-restriction.nttdocomo.co.jp")
    ledger_b = SpacingLedger(tmp_path, "docomo@https://nw-restriction.nttdocomo.co.jp")
    first, second = RateLimiter(5, ledger=ledger_a), RateLimiter(5, ledger=ledger_b)
    starts: list[float] = []

    async def request(limiter: RateLimiter) -> None:
        async with limiter.slot():
            starts.append(time.time())

    await asyncio.gather(*(request(limiter) for limiter in (first, second) * 3))
    starts.sort()
    assert all(later - earlier >= 0.2 - 0.01 for earlier, later in itertools.pairwise(starts))


async def test_a_deferral_in_one_process_holds_back_the_other(tmp_path) -> None:
    first = RateLimiter(100, ledger=SpacingLedger(tmp_path, "au@x"))
    second = RateLimiter(100, ledger=SpacingLedger(tmp_path, "au@x"))
    first.defer(0.3)
    began = time.time()
    async with second.slot():
        assert time.time() - began >= 0.3 - 0.01


def test_ledgers_are_per_carrier_and_host(tmp_path) -> None:
    assert SpacingLedger(tmp_path, "au@a").path != SpacingLedger(tmp_path, "au@b").path
