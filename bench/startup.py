"""Start-up: how long the commands that do little take, as processes, against a bare baseline.

Each command is run as a user runs it (the ``akarom`` console script of the
virtualenv, a new process each time), in rounds: every round runs every command
once, in the same order, so that a slow moment of the machine falls on all of them
alike; a first round warms the file cache and is not counted. The figure is each
command's median wall time from start to exit, and its ratio to the median of the
baseline, ``python -c "import typer, rich.console"``: the least any Typer and Rich
command can cost on this machine, so the ratio does not depend on the machine's speed.

The commands: ``akarom --help``, ``akarom validate IMEI``, ``akarom explain imei``
(all three need neither network nor database), a cached ``akarom check IMEI`` (the
same IMEI was checked once before against the sandbox, so the answer comes from the
store; the sandbox's request count proves that none was asked) and, with no goal, a
first ``akarom check`` on a new data folder (the database is created, then the four
carriers are asked on the sandbox without latency). The column "after the last
output" is the median time from the last byte printed to exit: the teardown.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import _process
from bench._process import AKAROM, PYTHON, Finished
from bench._report import Outcome, at_most, markdown_table
from bench._sandbox import Sandbox

__all__ = ["NAME", "TITLE", "run"]

NAME = "startup"
TITLE = "Start-up: commands that do little, as processes"

IMEI = "490154203237518"
ROUNDS, QUICK_ROUNDS = 11, 3


@dataclass(frozen=True, slots=True)
class Command:
    """One command to time: its label, the goal for its ratio, how to run it once."""

    label: str
    goal: float | None
    run: Callable[[int], Finished]


@dataclass
class Timings:
    command: Command
    runs: list[Finished]

    def median(self, measure: Callable[[Finished], float | None]) -> float:
        values = [v for run in self.runs if (v := measure(run)) is not None]
        return statistics.median(values) if values else float("nan")

    @property
    def failures(self) -> list[Finished]:
        return [run for run in self.runs if run.exit_code != 0]


def run(quick: bool, workdir: Path) -> Outcome:
    began = time.monotonic()
    rounds = QUICK_ROUNDS if quick else ROUNDS
    scenario = {"seed": 7, "default": "unregistered", "devices": {IMEI: {"docomo": "ok"}}}
    with Sandbox(scenario, workdir) as sandbox:
        quiet = {"AKAROM_CARRIERS_URL": sandbox.url, "AKAROM_DATA_DIR": str(workdir / "quiet")}
        cached = {**quiet, "AKAROM_DATA_DIR": str(workdir / "cached")}
        answered = _process.run([AKAROM, "check", IMEI], cached)
        if answered.exit_code != 0:
            print(f"the first check failed (exit {answered.exit_code}):\n{answered.tail()}")

        def first_check(number: int) -> Finished:
            new = {**quiet, "AKAROM_DATA_DIR": str(workdir / f"first-{number}")}
            return _process.run([AKAROM, "check", IMEI], new)

        commands = [
            Command(
                '`python -c "import typer, rich.console"` (baseline)',
                None,
                lambda _: _process.run([PYTHON, "-c", "import typer, rich.console"], quiet),
            ),
            Command("`akarom --help`", 1.5, lambda _: _process.run([AKAROM, "--help"], quiet)),
            Command(
                f"`akarom validate {IMEI}`",
                1.5,
                lambda _: _process.run([AKAROM, "validate", IMEI], quiet),
            ),
            Command(
                "`akarom explain imei`",
                1.5,
                lambda _: _process.run([AKAROM, "explain", "imei"], quiet),
            ),
            Command(
                f"`akarom check {IMEI}`, answered from the store",
                2.0,
                lambda _: _process.run([AKAROM, "check", IMEI], cached),
            ),
            Command(
                f"`akarom check {IMEI}` on a new data folder (creates the database, asks)",
                None,
                first_check,
            ),
        ]
        timings = [Timings(command, []) for command in commands]
        for number in range(rounds + 1):
            for timing in timings:
                finished = timing.command.run(number)
                if number > 0:  # round 0 warms the file cache
                    timing.runs.append(finished)
        # The cached check must not have reached a carrier: compare with the first check alone.
        sandbox.reset()
        before = sum(s.requests for s in sandbox.stats().values())
        _process.run([AKAROM, "check", IMEI], cached)
        asked_when_cached = sum(s.requests for s in sandbox.stats().values()) - before
    return Outcome(NAME, TITLE, _body(rounds, timings, asked_when_cached), time.monotonic() - began)


def _ms(seconds: float) -> str:
    return "–" if math.isnan(seconds) else f"{seconds * 1000:,.0f} ms"


def _body(rounds: int, timings: Sequence[Timings], asked_when_cached: int) -> str:
    baseline = timings[0].median(lambda run: run.wall_s)
    rows = []
    for timing in timings:
        wall = timing.median(lambda run: run.wall_s)
        ratio = wall / baseline
        failures = timing.failures
        note = f" ({len(failures)} exited {failures[0].exit_code})" if failures else ""
        rows.append(
            [
                timing.command.label + note,
                f"{wall * 1000:,.0f} ms",
                f"{min(run.wall_s for run in timing.runs) * 1000:,.0f} ms",
                f"**{ratio:.2f} ×**",
                at_most(ratio, timing.command.goal),
                f"{timing.median(lambda run: run.cpu_s) * 1000:,.0f} ms",
                _ms(timing.median(lambda run: run.teardown_s)),
                f"{timing.median(lambda run: run.peak_rss_mb):.0f} MB",
            ]
        )
        print(
            f"{timing.command.label}: median {wall * 1000:.0f} ms, {ratio:.2f} × baseline{note}",
            flush=True,
        )
    for timing in timings:
        for failure in timing.failures[:1]:
            print(f"{' '.join(failure.argv)} exited {failure.exit_code}:\n{failure.tail()}")
    table = markdown_table(
        [
            "command",
            "median wall time",
            "fastest",
            "**÷ baseline**",
            "goal",
            "CPU (median)",
            "after the last output",
            "peak RSS",
        ],
        rows,
    )
    cached = (
        "none: answered from the store"
        if asked_when_cached == 0
        else f"**{asked_when_cached}: it was not answered from the store**"
    )
    return f"""\
Each command as its own process, {rounds} rounds (every command once per round, after one
round not counted); medians. Settings: `AKAROM_CARRIERS_URL` pointing at the sandbox (no
latency) and a data folder of the benchmark's own; the language is the default (Japanese).
Carrier requests made by one more cached check after the rounds: {cached}.

{table}

Goals: `--help`, `validate` and `explain` within 1.5 × the baseline, a cached `check`
within 2 ×. The cached `check` reads its stored answers with the standard library's
`sqlite3` (`checking.stored_outcome`), not through SQLAlchemy, the adapters and an event
loop as the first check does. "After the last output" is the time from the last byte the
command printed to its exit (the interpreter's teardown): the user already has the
answer and is still waiting for the prompt.
"""
