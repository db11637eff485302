"""The carrier sandbox served for real: uvicorn in a subprocess, on a loopback port.

The parent binds the listening socket (port 0: the kernel picks a free port, with
no race) and hands it to the child, which serves ``akarom.sandbox.create_app`` on
it. A subprocess, not a thread: on a small machine a sandbox in akarom's own
interpreter would compete with it for the GIL and distort every timing. The
sandbox logs nothing per request (its INFO lines would cost the child CPU).

Run as a module, this file is the child: ``python -m bench._sandbox FD SCENARIO``.
"""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar

import httpx

from akarom.domain import Carrier
from bench._process import answers_soon

__all__ = ["CarrierStats", "Sandbox", "akarom_env"]

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True, slots=True)
class CarrierStats:
    """One carrier's counters from ``GET /_sandbox/stats``."""

    requests: int
    rejected_rate_limit: int
    max_rate_per_s: int
    max_in_flight: int = 0


class AgainstLimits:
    """A run's figures against the carriers' limits, from the sandbox's counters.

    A mixin for a run record with ``stats`` (the sandbox's counters), ``wall_s`` and
    class constants ``RATE_PER_S`` and ``LATENCY_MS`` (what the sandbox was set to).
    """

    __slots__ = ()
    stats: Mapping[Carrier, CarrierStats]
    RATE_PER_S: ClassVar[float]
    LATENCY_MS: ClassVar[float]

    @property
    def wall(self) -> float:
        raise NotImplementedError

    def least_time(self, carrier: Carrier) -> float:
        """What ``carrier``'s requests need at the limit: the gaps, and one answer."""
        requests = self.stats[carrier].requests
        return (requests - 1) / self.RATE_PER_S + self.LATENCY_MS / 1000 if requests else 0.0

    @property
    def busiest(self) -> Carrier:
        return max(self.stats, key=lambda carrier: self.stats[carrier].requests)

    @property
    def bound(self) -> float:
        return self.least_time(self.busiest)

    @property
    def ratio(self) -> float:
        return self.wall / self.bound if self.bound else math.nan

    @property
    def rejected(self) -> int:
        return sum(s.rejected_rate_limit for s in self.stats.values())


class Sandbox:
    """``with Sandbox(scenario, folder) as sandbox:``; ``sandbox.url`` is what akarom is given."""

    def __init__(self, scenario: Mapping[str, Any], folder: Path) -> None:
        self.scenario_path = folder / "scenario.json"  # JSON is YAML: load_scenario reads it
        self.scenario_path.write_text(json.dumps(scenario), encoding="utf-8")
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._process: subprocess.Popen[bytes] | None = None
        self._admin = httpx.Client(base_url=self.url, timeout=30.0)

    def __enter__(self) -> Sandbox:
        fd = self._listener.fileno()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench._sandbox", str(fd), str(self.scenario_path)],
            cwd=ROOT,
            pass_fds=(fd,),
        )
        # The socket already listens, so this waits in its backlog until uvicorn serves.
        if answers_soon(
            lambda: self._admin.get("/_sandbox/stats").raise_for_status(), self._process
        ):
            return self
        self.__exit__(None, None, None)
        raise RuntimeError("the sandbox did not start")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._admin.close()
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._listener.close()

    def stats(self) -> dict[Carrier, CarrierStats]:
        response = self._admin.get("/_sandbox/stats")
        response.raise_for_status()
        return {
            Carrier(name): CarrierStats(**counters)
            for name, counters in response.json()["carriers"].items()
        }

    def reset(self) -> None:
        """Back to the scenario: statuses, counters, rate windows, uptime."""
        self._admin.post("/_sandbox/reset").raise_for_status()

    def configure(self, carrier: Carrier, **settings: Any) -> None:
        self._admin.put(f"/_sandbox/carriers/{carrier.value}", json=settings).raise_for_status()


def akarom_env(
    sandbox_url: str, data_dir: Path, *, rate_limit: float, concurrency: int
) -> dict[str, str]:
    """The environment that points akarom at the sandbox, with its own data folder."""
    return {
        "AKAROM_CARRIERS_URL": sandbox_url,
        "AKAROM_DATA_DIR": str(data_dir),
        "AKAROM_RATE_LIMIT": f"{rate_limit:g}",
        "AKAROM_CONCURRENCY": str(concurrency),
        "AKAROM_LANG": "en",
    }


def _serve(fd: int, scenario_path: Path) -> None:
    import uvicorn

    from akarom.sandbox import create_app, load_scenario
    from akarom.sandbox.app import freeze_for_serving

    app = create_app(load_scenario(scenario_path))
    freeze_for_serving()
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[socket.socket(fileno=fd)])


if __name__ == "__main__":
    _serve(int(sys.argv[1]), Path(sys.argv[2]))
