"""What the figures were measured on: CPU, cores, RAM, OS, Python, akarom's commit, how
fast the CPU ran (``cpu_reference_ms``), and how much CPU other processes took meanwhile
(a busy machine slows every figure)."""

from __future__ import annotations

import hashlib
import os
import platform
import resource
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CpuMeter", "describe", "source_state"]

ROOT = Path(__file__).resolve().parents[1]


def _proc_field(path: str, name: str) -> str | None:
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return None


def _os_name() -> str:
    pretty = None
    try:
        for line in Path("/etc/os-release").read_text(encoding="utf-8").splitlines():
            if line.startswith("PRETTY_NAME="):
                pretty = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return f"{pretty or platform.system()} (kernel {platform.release()})"


def source_state() -> str:
    """HEAD, and a digest of the uncommitted changes under src/ (to notice edits mid-run)."""
    try:
        diff = subprocess.run(
            ["git", "diff", "HEAD", "--", "src"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{_commit()} {hashlib.sha256(diff).hexdigest()[:12]}"


def _commit() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "src"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head} + uncommitted changes in src/" if dirty else head


def describe() -> str:
    """One line: CPU model, cores, RAM, OS, Python version, akarom commit."""
    cpu = _proc_field("/proc/cpuinfo", "model name") or platform.processor() or "unknown CPU"
    memory = _proc_field("/proc/meminfo", "MemTotal")
    ram = f"{int(memory.split()[0]) / 1024 / 1024:.1f} GiB RAM" if memory else "RAM unknown"
    return (
        f"{cpu}, {os.cpu_count()} cores, {ram}; {_os_name()}; "
        f"Python {platform.python_version()}; akarom at {_commit()}; "
        f"CPU reference {cpu_reference_ms():.0f} ms"
    )


def cpu_reference_ms() -> float:
    """How long a fixed pure-Python workload takes here: the best of five, in ms.

    The same CPU model name can run at very different speeds on a shared host (one
    day's runs measured every CPU figure 2.3–2.8 × the day before's, akarom unchanged).
    The workload takes the same steps on every run, so two runs' figures compare
    only as far as their references agree.
    """
    best = float("inf")
    for _ in range(5):
        began = time.perf_counter()
        total = 0
        for number in range(1_000_000):
            total += number % 7
        best = min(best, time.perf_counter() - began)
    return best * 1000


def _busy_seconds() -> float | None:
    """CPU seconds all processes have used since boot (``/proc/stat``), if readable."""
    try:
        first = Path("/proc/stat").read_text(encoding="ascii").splitlines()[0].split()
    except OSError:
        return None
    ticks = [int(value) for value in first[1:]]
    idle = ticks[3] + ticks[4]  # idle, iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _our_seconds() -> float:
    """CPU seconds of this process and of its children that have been waited for."""
    ours = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        ours += usage.ru_utime + usage.ru_stime
    return ours


@dataclass
class CpuMeter:
    """CPU seconds other processes used between ``CpuMeter()`` and ``others()``.

    Everything the machine did minus what this process and its (finished) children
    did: the sandbox and ``akarom bulk`` subprocesses count as ours once reaped.
    """

    _busy: float | None = field(default_factory=_busy_seconds)
    _ours: float = field(default_factory=_our_seconds)

    def others(self) -> float | None:
        busy = _busy_seconds()
        if busy is None or self._busy is None:
            return None
        return max(0.0, (busy - self._busy) - (_our_seconds() - self._ours))
