"""akarom as a user runs it: the ``akarom`` console script as its own process, start to exit.

``run`` starts a command, reads everything it prints (stdout and stderr, through one
pipe, noting when the last byte arrived), reaps it with ``os.wait4`` (the kernel's
resource usage of that one process: user and system CPU, peak resident set) and
returns what a user would have met: the wall time from start to exit, and the part
of it after the last output (the *teardown*: the user already has the answer and is
still waiting for the prompt).

The commands are started by a small *spawner* process, not by the bench itself. On
Linux a child's peak resident set (``ru_maxrss``) starts at its parent's when it is
forked, before it executes the command: a bench that has loaded SQLAlchemy and held
thousands of devices would lend its own 100 MB to every command it started, and a
20 MB command would read as 100. The spawner (``python -m bench._process``) imports
only the standard library, so what it lends is less than any command it runs; it
times and reaps each command itself and answers with the figures, one JSON line per
command.

The environment is the bench's own with every inherited ``AKAROM_*`` variable removed
and the given ones added, so a setting in the shell that runs the bench cannot
leak into a figure.
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["AKAROM", "PYTHON", "Finished", "environment", "run"]

#: The console script a user runs, next to this interpreter in the virtualenv.
AKAROM = str(Path(sys.executable).parent / "akarom")
PYTHON = sys.executable
ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True, slots=True)
class Finished:
    """One finished process: how it ended and what it cost."""

    argv: tuple[str, ...]
    exit_code: int
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    #: Seconds from the last output (a byte printed, or ``last_write``'s mtime) to exit.
    teardown_s: float | None
    output: str
    #: ``(seconds since start, resident set in KiB)``, when sampling was asked for.
    rss_samples: tuple[tuple[float, int], ...] = ()

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.output.splitlines()[-lines:])


def answers_soon(
    ask: Callable[[], Any], process: subprocess.Popen[bytes], within_s: float = 60.0
) -> bool:
    """Whether a server just started answers ``ask`` (an HTTP call that raises on a
    failure) before ``process`` ends or ``within_s`` pass: asked every 0.1 s."""
    import httpx  # only the benches that start a server

    deadline = time.monotonic() + within_s
    while True:
        try:
            ask()
            return True
        except httpx.HTTPError:
            if process.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.1)


def environment(settings: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without ``AKAROM_*``, plus ``settings``."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("AKAROM_")}
    return {**inherited, **settings}


def run(
    argv: Sequence[str],
    settings: Mapping[str, str],
    *,
    last_write: Path | None = None,
    rss_every_s: float | None = None,
    timeout_s: float = 3600.0,
) -> Finished:
    """Run ``argv`` to its exit with the ``settings`` environment (see the module docstring).

    ``last_write`` is a file the command writes last (a bulk report): its mtime counts
    as output for the teardown. ``rss_every_s`` samples the resident set from
    ``/proc`` meanwhile (the spawner then polls instead of blocking in ``wait4``).
    Raises ``TimeoutError`` (after killing it) when it runs longer than ``timeout_s``.
    """
    request = {
        "argv": list(argv),
        "env": environment(settings),
        "last_write": str(last_write) if last_write is not None else None,
        "rss_every_s": rss_every_s,
        "timeout_s": timeout_s,
    }
    answer = _spawner().ask(request)
    if "error" in answer:
        raise TimeoutError(answer["error"])
    return Finished(
        **{
            **answer,
            "argv": tuple(answer["argv"]),
            "rss_samples": tuple(tuple(sample) for sample in answer["rss_samples"]),
        }
    )


class _Spawner:
    """The spawner process and its pipes; one request at a time."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench._process"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self._lock = threading.Lock()

    def ask(self, request: Mapping[str, Any]) -> dict[str, Any]:
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        with self._lock:
            self._process.stdin.write(json.dumps(request) + "\n")
            self._process.stdin.flush()
            line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"the bench's spawner ended (exit {self._process.wait()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


_started: list[_Spawner] = []


def _spawner() -> _Spawner:
    if not _started:
        _started.append(_Spawner())
        atexit.register(_started[0].close)
    return _started[0]


def _execute(
    argv: Sequence[str],
    env: Mapping[str, str],
    last_write: str | None,
    rss_every_s: float | None,
    timeout_s: float,
) -> dict[str, Any]:
    """In the spawner: run one command and measure it (the fields of ``Finished``)."""
    clock_offset = time.time() - time.monotonic()
    began = time.monotonic()
    process = subprocess.Popen(
        list(argv),
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert process.stdout is not None
    chunks: list[bytes] = []
    printed_last: float | None = None

    def drain(fd: int) -> None:
        nonlocal printed_last
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
            printed_last = time.monotonic()

    reader = threading.Thread(target=drain, args=(process.stdout.fileno(),), daemon=True)
    reader.start()
    timed_out = threading.Event()

    def stop() -> None:
        timed_out.set()
        process.kill()

    overrun = threading.Timer(timeout_s, stop)
    overrun.start()
    samples: list[tuple[float, int]] = []
    try:
        while True:
            # Reap it here: wait4 gives this one process's rusage, not every child's.
            # Blocking unless sampling: a poll's sleep would add to the wall time.
            pid, status, usage = os.wait4(process.pid, os.WNOHANG if rss_every_s else 0)
            if pid:
                break
            rss = _rss_kib(process.pid)
            if rss is not None:
                samples.append((time.monotonic() - began, rss))
            time.sleep(rss_every_s or 0.0)
    except BaseException:
        process.kill()
        os.wait4(process.pid, 0)
        process.returncode = -9  # reaped here; tell Popen so that it does not wait again
        raise
    finally:
        overrun.cancel()
    ended = time.monotonic()
    process.returncode = os.waitstatus_to_exitcode(status)
    reader.join()
    process.stdout.close()
    if timed_out.is_set():
        return {"error": f"{argv[0]} ran longer than {timeout_s:.0f} s and was killed"}
    written_last = None
    if last_write is not None and os.path.exists(last_write):
        written_last = os.stat(last_write).st_mtime - clock_offset
    outputs = [t for t in (printed_last, written_last) if t is not None]
    finished = Finished(
        argv=tuple(argv),
        exit_code=process.returncode,
        wall_s=ended - began,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss * 1024 / 1e6,  # Linux reports KiB
        teardown_s=max(0.0, ended - max(outputs)) if outputs else None,
        output=b"".join(chunks).decode("utf-8", errors="replace"),
        rss_samples=tuple(samples),
    )
    return asdict(finished)


def _rss_kib(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def _serve() -> None:
    """The spawner's loop: one JSON request per line in, one JSON answer per line out."""
    for line in sys.stdin:
        request = json.loads(line)
        answer = _execute(
            request["argv"],
            request["env"],
            request["last_write"],
            request["rss_every_s"],
            request["timeout_s"],
        )
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    _serve()
