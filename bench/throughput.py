"""Bulk throughput: a 2,000-device sheet against slow, rate-limited carriers.

The sandbox answers every request after 150 ms and refuses (HTTP 429) any request
over ``rate_limit_per_s`` per carrier; akarom is given the same rate
(``AKAROM_RATE_LIMIT``) and enough requests in flight per carrier
(``AKAROM_CONCURRENCY``, at least rate × latency) that latency is not what limits
it. The least time the limits permit is set by the busiest carrier: its ``n``
requests cannot start less than ``1 / rate`` apart, and the last one still takes a
latency to answer: ``(n - 1) / rate + latency``. The figure is the bulk run's wall
time against that bound (goal: within 5 %), and the sandbox's count of rejected
requests (goal: 0). The same run is then repeated with the cross-process spacing
ledger off, to show how much of any time above the bound the ledger accounts for.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from akarom.domain import Carrier
from akarom.services.bulk import BulkSummary
from akarom.storage import Store
from bench._akarom import DEFAULT_IN_FLIGHT, answer_gaps, bulk
from bench._fleet import Fleet, scenario_devices, write_sheet
from bench._report import Outcome, markdown_table
from bench._sandbox import CarrierStats, Sandbox, akarom_env

__all__ = ["NAME", "TITLE", "run"]

NAME = "throughput"
TITLE = "Bulk of 2,000 devices: wall time against the carriers' limits"

LATENCY_MS = 150.0
RATE_PER_S = 20.0
#: Requests in flight per carrier: rate × latency = 3 keeps a carrier busy; twice
#: that and more absorbs the form GETs and the scheduling noise.
CONCURRENCY = 8
HINT_SHARE = 0.4


@dataclass(frozen=True, slots=True)
class Measured:
    """One bulk run: its summary, the sandbox's counters, the busiest carrier's gaps."""

    summary: BulkSummary
    stats: dict[Carrier, CarrierStats]
    busiest: Carrier
    gaps: list[float]

    def bound(self, carrier: Carrier) -> float:
        """The least time ``carrier``'s limit permits for the requests it received."""
        requests = self.stats[carrier].requests
        return (requests - 1) / RATE_PER_S + LATENCY_MS / 1000 if requests else 0.0

    @property
    def ratio(self) -> float:
        bound = self.bound(self.busiest)
        return self.summary.elapsed_s / bound if bound else math.nan

    @property
    def rejected(self) -> int:
        return sum(s.rejected_rate_limit for s in self.stats.values())

    @property
    def mean_gap_ms(self) -> float:
        return statistics.mean(self.gaps) * 1000


def _measure(sandbox: Sandbox, sheet: Path, folder: Path, *, share_limits: bool = True) -> Measured:
    sandbox.reset()
    env = akarom_env(sandbox.url, folder, rate_limit=RATE_PER_S, concurrency=CONCURRENCY)
    with Store.open(None, folder) as store:
        summary = bulk(
            env, store, sheet, folder / "report.csv", fresh=True, share_limits=share_limits
        )
        stats = sandbox.stats()
        busiest = max(stats, key=lambda c: stats[c].requests)
        return Measured(summary, stats, busiest, answer_gaps(store, busiest))


def run(quick: bool, workdir: Path) -> Outcome:
    began = time.monotonic()
    count = 200 if quick else 2000
    devices = Fleet(seed=2026).devices(count)
    sheet = workdir / "stock.csv"
    write_sheet(sheet, devices, hint_share=HINT_SHARE)
    limits = {"latency_ms": LATENCY_MS, "rate_limit_per_s": RATE_PER_S}
    scenario = {
        "seed": 7,
        "default": "unregistered",
        "carriers": {carrier.value: limits for carrier in Carrier},
        "devices": scenario_devices(devices),
    }
    with Sandbox(scenario, workdir) as sandbox:
        main = _measure(sandbox, sheet, workdir / "data")
        _print(main, "akarom bulk")
        unshared = _measure(sandbox, sheet, workdir / "unshared", share_limits=False)
        _print(unshared, "without the cross-process ledger")
    return Outcome(NAME, TITLE, _body(count, main, unshared), time.monotonic() - began)


def _table(measured: Measured) -> str:
    return markdown_table(
        ["carrier", "HTTP requests", "rejected (429)", "peak requests/s", "least time"],
        [
            [
                carrier.value,
                f"{s.requests:,}",
                s.rejected_rate_limit,
                s.max_rate_per_s,
                f"{measured.bound(carrier):.1f} s",
            ]
            for carrier, s in measured.stats.items()
        ],
    )


def _print(measured: Measured, label: str) -> None:
    print(f"{label}:\n{_table(measured)}")
    print(
        f"wall {measured.summary.elapsed_s:.1f} s, least time "
        f"{measured.bound(measured.busiest):.1f} s ({measured.busiest.value}), ratio "
        f"{measured.ratio:.3f}; rejected {measured.rejected}; mean gap between "
        f"{measured.busiest.value}'s answers {measured.mean_gap_ms:.1f} ms",
        flush=True,
    )


def _body(count: int, main: Measured, unshared: Measured) -> str:
    summary, busiest = main.summary, main.busiest
    bound, wall = main.bound(busiest), summary.elapsed_s
    spacing = 1000 / RATE_PER_S
    gap_median = statistics.median(main.gaps) * 1000
    gap_p95 = statistics.quantiles(main.gaps, n=20)[-1] * 1000
    requests = sum(s.requests for s in main.stats.values())
    verdicts = ", ".join(f"{v} {n:,}" for v, n in summary.verdicts.most_common())
    goal_time = "met" if main.ratio <= 1.05 else "**missed**"
    goal_rejected = "met" if main.rejected == 0 else "**missed**"
    return f"""\
Setup: {count:,} devices (the mix of `bench/_fleet.py`: 40 % docomo, 30 % au, 20 % SoftBank,
5 % Rakuten, 5 % SIM-free; a キャリア hint on {HINT_SHARE:.0%} of rows), cp932 CSV.
Sandbox: every carrier `latency_ms: {LATENCY_MS:g}`, `rate_limit_per_s: {RATE_PER_S:g}`.
akarom: `AKAROM_RATE_LIMIT={RATE_PER_S:g}`, `AKAROM_CONCURRENCY={CONCURRENCY}`, `run_bulk`
with its default {DEFAULT_IN_FLIGHT} devices in flight, `fresh=True` on an empty database.

| figure | measured | goal |
| :--- | ---: | :--- |
| wall time of the bulk run | {wall:.1f} s | |
| least time the limits permit ({busiest.value}: (requests − 1) / {RATE_PER_S:g} + \
{LATENCY_MS:g} ms) | {bound:.1f} s | |
| **wall time / least time** | **{main.ratio:.3f}** | ≤ 1.05: {goal_time} |
| **requests refused for the rate limit (429)** | **{main.rejected}** | 0: {goal_rejected} |
| HTTP requests, all carriers | {requests:,} | |
| devices checked / carrier checks | {summary.devices_checked:,} / \
{summary.carrier_checks:,} | |
| rows per second | {summary.rows / wall:.1f} | |

{_table(main)}

Verdicts: {verdicts}.

Spacing of {busiest.value}'s requests, from the times its answers arrived (evidence pages;
the sandbox's latency is constant, so answer gaps are request gaps): mean
{main.mean_gap_ms:.1f} ms, median {gap_median:.1f} ms, 95th percentile {gap_p95:.1f} ms, where
the limit allows one every {spacing:.0f} ms. The wall time is about (requests − 1) × mean
gap + a latency, plus the run's start and end, so every millisecond of mean gap above
{spacing:.0f} ms costs {1 / spacing:.0%} of the figure. The sandbox answers in a fixed time and
refused nothing: a gap above {spacing:.0f} ms is time akarom's rate limiter leaves unused.

Diagnosis, the same run with the cross-process spacing ledger turned off
(`Checker(share_limits=False)`; `akarom bulk` always has it on): wall time / least time
**{unshared.ratio:.3f}**, mean gap {unshared.mean_gap_ms:.1f} ms, {unshared.rejected} requests
refused. The difference between the two runs is what the ledger (a locked file, read and
written through a worker thread for every request) adds to each gap; what is left above
{spacing:.0f} ms without it is the in-process limiter's own bookkeeping and the event
loop's delays.
"""
