"""Bulk as a user runs it: ``akarom bulk`` as its own process, start to exit, on two carrier mixes.

Each run is the console script a dealer types, ``akarom bulk 在庫.csv -o 結果.csv``,
with the settings given as a user gives them (``AKAROM_RATE_LIMIT``,
``AKAROM_CONCURRENCY``, ``AKAROM_CARRIERS_URL``), against the sandbox served by
another process. Its wall time is measured around the process, from start to exit:
start-up, reading the sheet, every check, writing the report and the interpreter's
teardown are all in it, as they are in what a user waits for.

Two mixes of sellers (``bench/_fleet.py``), because a scheduler can look fine on one
and not the other: **uniform** (a quarter each for docomo, au, SoftBank and Rakuten,
nothing SIM-free: every carrier's limit binds at once, so a carrier whose pipe runs dry
while devices queue at another costs time at once) and **skewed** (40 % docomo, 30 %
au, 20 % SoftBank, 5 % Rakuten and 5 % SIM-free, which every carrier must answer:
docomo alone sets the pace). Three sizes each (400, 2,000 and 10,000 devices; 100 and
200 with ``--quick``), every device once, no キャリア column: akarom has to work out
each seller itself.

**The least time the limits permit** is set by the busiest carrier, from the sandbox's
count of the requests it received (form pages included): requests spaced evenly at
the limit need ``(requests − 1) / rate``, and the last answer one more latency. It
counts only the requests actually made, so asking the wrong carrier first does not
make the ratio look worse; that shows in the carrier checks per device instead.

Per run: wall ÷ least time; requests refused with HTTP 429; HTTP requests per
device; carrier checks (the carriers whose column in the report holds a symbol) per
carrier device once its model is known (every device but the first of its TAC in
the sheet: the first has to be probed, the rest should not cost more than their
seller); CPU (user + system, from ``wait4``) of the akarom process per device and
per carrier check, start-up included; peak resident set; and the teardown, from the
last output (the summary printed, or the report's last write) to exit.

Each run gets its own data folder whose database was made beforehand by one
``akarom check`` of a device no sheet holds (not timed): an installed akarom with a
database, but knowing nothing of these models. The first command's database creation
is measured in the start-up benchmark instead.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from akarom.domain import Carrier
from bench import _process
from bench._fleet import (
    SKEWED_SHARES,
    UNIFORM_SHARES,
    Device,
    Fleet,
    ReportRow,
    read_report,
    scenario_devices,
    write_sheet,
)
from bench._process import AKAROM, Finished
from bench._report import Outcome, at_most, markdown_table
from bench._sandbox import AgainstLimits, CarrierStats, Sandbox, akarom_env

__all__ = ["NAME", "TITLE", "run"]

NAME = "bulk"
TITLE = "Bulk as a user runs it: `akarom bulk`, start to exit, on two carrier mixes"

LATENCY_MS = 100.0
RATE_PER_S = 20.0
#: Requests in flight per carrier: rate × latency = 2 keeps a carrier busy; four times
#: that leaves room for the form pages and scheduling noise, so latency never limits.
CONCURRENCY = 8
SIZES = (400, 2000, 10_000)
QUICK_SIZES = (100, 200)
MIXES: Mapping[str, Mapping[Carrier | None, float]] = {
    "uniform": UNIFORM_SHARES,
    "skewed": SKEWED_SHARES,
}
#: Checked once into each new data folder to create its database; TAC 49015420 is
#: no fleet model's (their TACs start 35), so it teaches akarom nothing about them.
PREPARING_IMEI = "490154203237518"
CHECKS_GOAL = 1.05


def ratio_goal(devices: int) -> float | None:
    """The issue's goal for wall ÷ least time at this size (none below 400 devices)."""
    if devices >= 2000:
        return 1.05
    if devices >= 400:
        return 1.15
    return None


@dataclass(frozen=True, slots=True)
class Measured(AgainstLimits):
    """One bulk run: the devices of its sheet, the process, the sandbox's counters, the report."""

    mix: str
    devices: Sequence[Device]
    process: Finished
    stats: Mapping[Carrier, CarrierStats]
    rows: Sequence[ReportRow]
    RATE_PER_S: ClassVar[float] = RATE_PER_S
    LATENCY_MS: ClassVar[float] = LATENCY_MS

    @property
    def wall(self) -> float:
        return self.process.wall_s

    @property
    def requests(self) -> int:
        return sum(s.requests for s in self.stats.values())

    @property
    def complete(self) -> bool:
        """The process exited 0 and the report has every row (else the figures mean little)."""
        return self.process.exit_code == 0 and len(self.rows) == len(self.devices)

    @property
    def carrier_checks(self) -> int:
        return sum(len(row.asked) for row in self.rows)

    @property
    def incomplete(self) -> int:
        return sum(1 for row in self.rows if row.verdict == "incomplete")

    @property
    def checks_once_known(self) -> float:
        """Carrier checks per carrier device, every device but the first of its TAC."""
        seen: set[str] = set()
        counts = []
        for device, row in zip(self.devices, self.rows, strict=False):
            if device.seller is not None and device.model.tac in seen:
                counts.append(len(row.asked))
            seen.add(device.model.tac)
        return statistics.mean(counts) if counts else math.nan


def run(quick: bool, workdir: Path) -> Outcome:
    began = time.monotonic()
    sizes = QUICK_SIZES if quick else SIZES
    fleet = Fleet(seed=2026)
    # One fleet for both mixes: IMEIs never repeat, so one scenario holds them all.
    devices = {mix: fleet.devices(max(sizes), shares=shares) for mix, shares in MIXES.items()}
    limits = {"latency_ms": LATENCY_MS, "rate_limit_per_s": RATE_PER_S}
    scenario = {
        "seed": 7,
        "default": "unregistered",
        "carriers": {carrier.value: limits for carrier in Carrier},
        "devices": scenario_devices(d for group in devices.values() for d in group),
    }
    results: list[Measured] = []
    with Sandbox(scenario, workdir) as sandbox:
        for size in sizes:
            for mix in MIXES:
                measured = _measure(sandbox, workdir, mix, devices[mix][:size])
                results.append(measured)
                _print(measured)
    return Outcome(NAME, TITLE, _body(sizes, results), time.monotonic() - began)


def _measure(sandbox: Sandbox, workdir: Path, mix: str, devices: Sequence[Device]) -> Measured:
    folder = workdir / f"{mix}-{len(devices)}"
    folder.mkdir()
    sheet, report = folder / "在庫.csv", folder / "結果.csv"
    write_sheet(sheet, devices)
    env = akarom_env(sandbox.url, folder / "data", rate_limit=RATE_PER_S, concurrency=CONCURRENCY)
    prepared = _process.run([AKAROM, "check", PREPARING_IMEI, "--carrier", "docomo"], env)
    if prepared.exit_code not in (0, 3, 4, 5):
        print(f"preparing the database failed (exit {prepared.exit_code}):\n{prepared.tail()}")
    sandbox.reset()
    process = _process.run([AKAROM, "bulk", str(sheet), "-o", str(report)], env, last_write=report)
    stats = sandbox.stats()
    rows = list(read_report(report)) if report.exists() else []
    measured = Measured(mix, devices, process, stats, rows)
    if not measured.complete:
        print(
            f"akarom bulk exited {process.exit_code} with {len(rows):,} of {len(devices):,} "
            f"report rows:\n{process.tail()}"
        )
    return measured


def _print(m: Measured) -> None:
    teardown = f"{m.process.teardown_s:.2f} s" if m.process.teardown_s is not None else "?"
    print(
        f"{m.mix} {len(m.devices):,}: wall {m.process.wall_s:.1f} s, least {m.bound:.1f} s "
        f"({m.busiest.value}), ratio {m.ratio:.3f}; 429s {m.rejected}; "
        f"{m.requests / len(m.devices):.3f} requests/device; "
        f"{m.checks_once_known:.3f} checks/carrier device once known; "
        f"CPU {m.process.cpu_s * 1000 / len(m.devices):.2f} ms/device; "
        f"peak RSS {m.process.peak_rss_mb:.0f} MB; teardown {teardown}"
        + ("" if m.complete else f"; **exit {m.process.exit_code}**"),
        flush=True,
    )


def _body(sizes: Sequence[int], results: Sequence[Measured]) -> str:
    timing = markdown_table(
        [
            "mix",
            "devices",
            "wall time (start to exit)",
            "least time (busiest carrier)",
            "**wall ÷ least time**",
            "goal",
            "teardown (last output → exit)",
        ],
        [
            [
                m.mix,
                f"{len(m.devices):,}",
                f"{m.process.wall_s:.1f} s"
                + ("" if m.complete else f" (exit {m.process.exit_code})"),
                f"{m.bound:.1f} s ({m.busiest.value})",
                f"**{m.ratio:.3f}**",
                at_most(m.ratio, ratio_goal(len(m.devices))),
                f"{m.process.teardown_s:.2f} s" if m.process.teardown_s is not None else "?",
            ]
            for m in results
        ],
    )
    cost = markdown_table(
        [
            "mix",
            "devices",
            "refused (429)",
            "incomplete rows",
            "HTTP requests / device",
            "carrier checks / device",
            "**carrier checks / carrier device once its model is known**",
            "CPU / device",
            "CPU / carrier check",
            "peak RSS",
        ],
        [
            [
                m.mix,
                f"{len(m.devices):,}",
                f"**{m.rejected}**" + ("" if m.rejected == 0 else " (goal 0)"),
                f"{m.incomplete:,}",
                f"{m.requests / len(m.devices):.3f}",
                f"{m.carrier_checks / len(m.devices):.3f}",
                f"**{m.checks_once_known:.3f}** ({at_most(m.checks_once_known, CHECKS_GOAL)})",
                f"{m.process.cpu_s * 1000 / len(m.devices):.2f} ms",
                f"{m.process.cpu_s * 1000 / max(m.carrier_checks, 1):.2f} ms",
                f"{m.process.peak_rss_mb:.0f} MB",
            ]
            for m in results
        ],
    )
    largest = [m for m in results if len(m.devices) == max(sizes)]
    carriers = "\n\n".join(
        f"{m.mix}, {len(m.devices):,} devices:\n\n"
        + markdown_table(
            ["carrier", "HTTP requests", "refused (429)", "peak requests/s", "least time"],
            [
                [
                    carrier.value,
                    f"{s.requests:,}",
                    s.rejected_rate_limit,
                    s.max_rate_per_s,
                    f"{m.least_time(carrier):.1f} s",
                ]
                for carrier, s in m.stats.items()
            ],
        )
        for m in largest
    )
    goals_met = all(
        m.complete
        and m.rejected == 0
        and m.checks_once_known <= CHECKS_GOAL
        and ((goal := ratio_goal(len(m.devices))) is None or m.ratio <= goal)
        for m in results
    )
    return f"""\
`akarom bulk 在庫.csv -o 結果.csv` as its own process, timed from start to exit; the
sandbox in another process with every carrier at `latency_ms: {LATENCY_MS:g}` and
`rate_limit_per_s: {RATE_PER_S:g}`; akarom given `AKAROM_RATE_LIMIT={RATE_PER_S:g}`,
`AKAROM_CONCURRENCY={CONCURRENCY}` (rate × latency is {RATE_PER_S * LATENCY_MS / 1000:g}, so
latency never limits), `AKAROM_CARRIERS_URL` and a data folder with a database that knows
none of the models. Sheets: cp932 CSV (管理番号, 製造番号, 機種), every device once, no
キャリア column. Mixes (`bench/_fleet.py`): **uniform**, a quarter each at docomo, au,
SoftBank and Rakuten (every carrier's limit binds at once); **skewed**, 40 % docomo, 30 %
au, 20 % SoftBank, 5 % Rakuten, 5 % SIM-free (asked everywhere).

**Least time** = (requests the busiest carrier received − 1) / {RATE_PER_S:g} per second +
{LATENCY_MS:g} ms: requests spaced evenly at the limit, the last answered one latency later,
counted by the sandbox (form pages included). Start-up and teardown are not in it and are
in the wall time. Goals: wall ÷ least time ≤ 1.05 at 2,000 and 10,000 devices, ≤ 1.15 at
400, on both mixes; 0 requests refused; ≤ {CHECKS_GOAL:g} carrier checks per carrier device
once its model is known (every carrier device but the first of its TAC in the sheet).
All met in this run: **{"yes" if goals_met else "no"}**.

{timing}

{cost}

CPU is the akarom process's user + system time (`wait4`) over the whole run, start-up
included, per device and per carrier check (a carrier column with a symbol in the
report). Peak RSS is the kernel's `ru_maxrss` for that process. Teardown is the time from
its last output (the summary it prints, or the report's last write, whichever is later)
to its exit: time the user waits after the answer is there.

The largest runs by carrier (peak requests/s is the sandbox's busiest trailing second):

{carriers}

{_fit(results)}
"""


def _fit(results: Sequence[Measured]) -> str:
    """wall ≈ fixed + pace × least time per mix: separates the per-run cost from the pacing."""
    lines = []
    for mix in MIXES:
        runs = [m for m in results if m.mix == mix and m.complete]
        if len({len(m.devices) for m in runs}) < 2:
            continue
        pace, fixed = statistics.linear_regression(
            [m.bound for m in runs], [m.process.wall_s for m in runs]
        )
        lines.append(
            f"* {mix}: wall ≈ {fixed:.1f} s + {pace:.3f} × least time (from "
            + ", ".join(f"{len(m.devices):,}" for m in runs)
            + " devices)"
        )
    if not lines:
        return ""
    return (
        "Where the time above the bound goes, from a straight line through each mix's runs: "
        "the fixed part is paid once per run (start-up, the first answers, the last ones, "
        "teardown); a pace above 1 is time the limits allowed but akarom left unused "
        "throughout (timers firing late on a busy event loop, devices waiting at a full "
        "carrier while another carrier's pipe runs dry).\n\n" + "\n".join(lines)
    )
