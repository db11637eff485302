"""``python -m bench [--quick] [--only NAME]...``: run the benchmarks, print and record them.

A full run rewrites each benchmark's section of docs/benchmarks.md (with the date,
the machine, the command and how long it took); ``--quick`` is a smoke run over
smaller inputs and writes nothing unless ``--write`` is given.
"""

from __future__ import annotations

import argparse
import compileall
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from akarom.domain import JST
from bench import bulk, cpu, economy, memory, monitor, startup, web, workers
from bench._machine import CpuMeter, describe, source_state
from bench._report import Outcome, update_doc

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
SOURCE = Path(__file__).resolve().parents[1] / "src" / "akarom"

Benchmark = Callable[[bool, Path], Outcome]
BENCHMARKS: dict[str, tuple[str, Benchmark]] = {
    module.NAME: (module.TITLE, module.run)
    for module in (bulk, startup, economy, cpu, memory, web, workers, monitor)
}
#: Sections of benchmarks that no longer exist, removed from the doc on the next write:
#: ``throughput`` measured bulk inside the bench's process on the skewed mix only,
#: which hid what ``bulk`` now measures as a user meets it.
RETIRED = ("throughput",)


def _arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="akarom's benchmarks against the carrier sandbox (docs/benchmarks.md).",
        epilog="benchmarks: "
        + "; ".join(f"{name}: {title}" for name, (title, _) in BENCHMARKS.items()),
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=list(BENCHMARKS),
        metavar="NAME",
        help="run only this benchmark (repeatable): " + ", ".join(BENCHMARKS),
    )
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run on small inputs (writes no doc)"
    )
    write = parser.add_mutually_exclusive_group()
    write.add_argument("--write", action="store_true", help="record a --quick run in the doc too")
    write.add_argument("--no-write", action="store_true", help="print only; leave the doc alone")
    parser.add_argument("--doc", type=Path, default=DOC, help=f"the doc to update ({DOC.name})")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(sys.argv[1:] if argv is None else argv)
    chosen = args.only or list(BENCHMARKS)
    command = shlex.join([".venv/bin/python", "-m", "bench", *(sys.argv[1:])])
    machine = describe()
    source = source_state()
    print(f"{machine}\n")
    # Byte-compile akarom as `pip install` does, so that every command measured starts
    # from .pyc files even where PYTHONDONTWRITEBYTECODE is set (a user's install has them).
    compileall.compile_dir(SOURCE, quiet=1)
    began = time.monotonic()
    outcomes = []
    for name in chosen:
        title, benchmark = BENCHMARKS[name]
        print(f"== {name}: {title}", flush=True)
        meter = CpuMeter()
        with tempfile.TemporaryDirectory(prefix=f"akarom-bench-{name}-") as folder:
            outcome = benchmark(args.quick, Path(folder))
        # Other processes on the machine slow the figures down: say how busy it was.
        others = meter.others()
        busy = (
            f"other processes used {others / outcome.seconds:.0%} of one core meanwhile"
            if others is not None
            else "the CPU use of other processes is unknown"
        )
        print(f"({outcome.seconds:.0f} s; {busy})\n", flush=True)
        outcomes.append((outcome, busy))
    total = time.monotonic() - began
    print(f"all done in {total:.0f} s")
    if source_state() != source:
        # Subprocesses (the sandbox, akarom bulk) import src/ when they start.
        print("warning: src/ changed while the benchmarks ran; the figures mix versions")
        machine += " (**src/ changed during the run: the figures mix versions**)"
    if args.no_write or (args.quick and not args.write):
        return 0
    when = datetime.now(JST).strftime("%Y-%m-%d %H:%M JST")
    run_line = (
        f"_Last run {when}: `{command}`, {len(chosen)} benchmark(s) in {total / 60:.1f} min, "
        f"on {machine}._"
    )
    sections = [("run", f"## Last run\n\n{run_line}")]
    for outcome, busy in outcomes:
        stamp = (
            f"_Measured {when} with `{command}` in {outcome.seconds:.0f} s, on {machine}; {busy}._"
        )
        sections.append((outcome.name, f"## {outcome.title}\n\n{stamp}\n\n{outcome.body}"))
    update_doc(args.doc, sections, order=["run", *BENCHMARKS], retired=RETIRED)
    print(f"wrote {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
