"""A fleet for real: the carrier sandbox, ``akarom worker`` processes and one ``akarom
serve``, every one a subprocess of its own, all on one fresh PostgreSQL schema.

Each process gets its own ``AKAROM_DATA_DIR`` (``<tmp>/<name>/data``): nothing a
worker keeps in its folder may be needed by another (a batch resumed elsewhere, a
report served by the web process), which is what a fleet on several machines needs.
Every other setting is the same for all: the sandbox as every carrier, at most
``RATE`` requests per second and ``CONCURRENCY`` in flight at each carrier, which
the fleet as a whole must keep (``akarom.storage.pace``).

The sandbox is ``akarom sandbox`` with its request log in a file: besides its
``/_sandbox/stats`` counters, the log tells a check's answer (``result …``) from the
pages around it (a form, a top page), so a test can count how many times the
carriers were asked about a device, not only how many requests they served.

The dealers and their API keys are made in-process (``services.accounts``), which
also migrates the fresh schema before any process starts; after that the tests
speak to the fleet only over HTTP, as a dealer's program does.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from bench._fleet import Device, scenario_devices, write_sheet

from akarom.domain import Carrier
from akarom.services.accounts import create_api_key, create_dealer
from akarom.storage import LiveWorker, Store
from tests.cli_support import free_port

# The storage suite's PostgreSQL fixtures: a fresh schema per test, and a missing
# server fails (not skips) under CI=true.
from tests.storage.conftest import postgres_admin, postgres_url  # noqa: F401

#: What akarom is told, and what the sandbox enforces, at every carrier.
RATE = 20
CONCURRENCY = 2
LATENCY_MS = 20
#: Workers in the fleet.
WORKERS = 3
PASSWORD = "correct horse battery"

_REQUEST_LINE = re.compile(
    r"\b(?P<carrier>docomo|au|softbank|rakuten) (?P<method>[A-Z]+) (?P<path>\S+) "
    r"-> (?P<status>\d{3}) (?P<outcome>.*?)\s*$"
)


def scenario(devices: Sequence[Device], **carriers: Mapping[str, Any]) -> dict[str, Any]:
    """Every carrier at ``RATE``/s and ``LATENCY_MS`` (``carriers`` adds to one), knowing
    ``devices``; anything else is unregistered."""
    settings: dict[str, dict[str, Any]] = {
        carrier.value: {"rate_limit_per_s": RATE, "latency_ms": LATENCY_MS} for carrier in Carrier
    }
    for name, extra in carriers.items():
        settings[name] |= dict(extra)
    return {
        "seed": 1,
        "default": "unregistered",
        "carriers": settings,
        "devices": scenario_devices(devices),
    }


class SandboxProcess:
    """``akarom sandbox --scenario FILE --port P``, its log in ``folder/sandbox.log``."""

    def __init__(self, scenario: Mapping[str, Any], folder: Path) -> None:
        self.scenario_path = folder / "scenario.json"  # JSON is YAML: the sandbox reads it
        self.scenario_path.write_text(json.dumps(scenario), encoding="utf-8")
        self.log_path = folder / "sandbox.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.admin = httpx.Client(base_url=self.url, timeout=30.0)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, env: Mapping[str, str]) -> None:
        command = [sys.executable, "-m", "akarom", "sandbox"]
        options = ["--scenario", str(self.scenario_path), "--port", str(self.port)]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [*command, *options],
                # Its log goes through Rich, which wraps at 80 columns off a terminal.
                env=dict(env) | {"COLUMNS": "400"},
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                self.admin.get("/_sandbox/stats").raise_for_status()
                return
            except httpx.TransportError:
                log_text = self.log_path.read_text(errors="replace")
                assert self.process.poll() is None, f"the sandbox stopped:\n{log_text}"
                assert time.monotonic() < deadline, f"the sandbox did not start:\n{log_text}"
                time.sleep(0.1)

    def stop(self) -> None:
        self.admin.close()
        if self.process is not None:
            _stop(self.process)

    def stats(self) -> dict[Carrier, dict[str, int]]:
        """``/_sandbox/stats`` per carrier: requests (refused ones too),
        rejected_rate_limit, max_rate_per_s, max_in_flight."""
        response = self.admin.get("/_sandbox/stats")
        response.raise_for_status()
        return {Carrier(name): dict(c) for name, c in response.json()["carriers"].items()}

    def configure(self, carrier: Carrier, **settings: Any) -> None:
        self.admin.put(f"/_sandbox/carriers/{carrier.value}", json=settings).raise_for_status()

    def logged(self) -> list[dict[str, str]]:
        """Every carrier request logged so far (carrier, method, path, status, outcome)."""
        lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        return [m.groupdict() for line in lines if (m := _REQUEST_LINE.search(line))]

    def answers(self) -> Counter[Carrier]:
        """How many times each carrier answered a check (a ``result`` page, accepted)."""
        return Counter(
            Carrier(r["carrier"]) for r in self.logged() if r["outcome"].startswith("result ")
        )


@dataclass
class Process:
    """One akarom process of the fleet."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@dataclass
class Deployment:
    """The fleet of one test: sandbox, workers, web process, dealers' keys."""

    root: Path
    database_url: str
    sandbox: SandboxProcess
    store: Store
    keys: dict[str, str] = field(default_factory=dict)
    workers: list[Process] = field(default_factory=list)
    web: Process | None = None
    api: httpx.Client | None = None

    # -- processes ---------------------------------------------------------------------

    def env(self, name: str) -> dict[str, str]:
        """The environment every process shares, with ``name``'s own data folder."""
        data_dir = self.root / name / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        base = {key: value for key, value in os.environ.items() if not key.startswith("AKAROM_")}
        return base | {
            "AKAROM_DATABASE_URL": self.database_url,
            "AKAROM_CARRIERS_URL": self.sandbox.url,
            "AKAROM_DATA_DIR": str(data_dir),
            "AKAROM_RATE_LIMIT": str(RATE),
            "AKAROM_CONCURRENCY": str(CONCURRENCY),
            "AKAROM_SECRET_KEY": "fleet-tests-secret-key-0123456789abcdef",
            "AKAROM_LANG": "en",
        }

    def _spawn(self, name: str, *args: str) -> Process:
        log_path = self.root / f"{name}.log"
        with log_path.open("wb") as log:
            popen = subprocess.Popen(
                [sys.executable, "-m", "akarom", *args],
                env=self.env(name),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return Process(name, popen, log_path)

    def start_workers(self, count: int, *args: str) -> list[Process]:
        """``count`` more ``akarom worker ARGS``; returns once each has reported itself."""
        started = [
            self._spawn(f"worker{len(self.workers) + i}", "worker", *args) for i in range(count)
        ]
        self.workers += started
        pids = {process.pid for process in started}
        self.wait_for(
            lambda: pids <= {pid for pid, _ in self.live_workers()},
            30,
            "the workers did not report themselves",
        )
        return started

    def start_web(self) -> httpx.Client:
        """``akarom serve``; returns a client for it once ``/healthz`` answers."""
        port = free_port()
        self.web = self._spawn("web", "serve", "--port", str(port))
        self.api = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60.0)
        self.wait_for(self._healthy, 30, "the web process did not answer /healthz")
        return self.api

    def _healthy(self) -> bool:
        assert self.api is not None
        try:
            return self.api.get("/healthz").status_code == 200
        except httpx.TransportError:
            return False

    def wait_for(self, condition: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            for process in self.processes():
                assert process.popen.poll() is None or process.popen.returncode in (
                    0,
                    -signal.SIGKILL,
                ), f"{process.name} exited {process.popen.returncode}:\n{process.log()[-4000:]}"
            assert time.monotonic() < deadline, f"{what} within {timeout} s\n{self.logs()}"
            time.sleep(0.1)

    def processes(self) -> list[Process]:
        return self.workers + ([self.web] if self.web is not None else [])

    def live_workers(self) -> list[tuple[int, LiveWorker]]:
        """The ``workers`` rows of ``akarom worker`` processes, with their pid."""
        return [
            (int(worker.name.rsplit(":", 1)[1]), worker)
            for worker in self.store.live_workers()
            if worker.kind == "worker"
        ]

    def logs(self, tail: int = 3000) -> str:
        return "\n".join(f"--- {p.name}:\n{p.log()[-tail:]}" for p in self.processes())

    def stop(self) -> None:
        if self.api is not None:
            self.api.close()
        running = [p.popen for p in self.processes() if p.popen.poll() is None]
        for popen in running:
            popen.terminate()
        deadline = time.monotonic() + 30
        for popen in running:
            try:
                popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait()

    # -- dealers and the REST API ------------------------------------------------------

    def add_dealer(self, name: str) -> str:
        """A dealer and an API key of its own; returns the key."""
        create_dealer(self.store, name, f"admin-{name.lower()}@example.jp", PASSWORD)
        _, self.keys[name] = create_api_key(self.store, name, "fleet tests")
        return self.keys[name]

    def auth(self, dealer: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[dealer]}"}

    def post_batch(self, dealer: str, devices: Sequence[Device]) -> str:
        """Upload a dealer's stock sheet (cp932 CSV, as Excel saves it); the batch's id."""
        assert self.api is not None
        sheet = self.root / f"{dealer}-{len(devices)}-{time.monotonic_ns()}.csv"
        write_sheet(sheet, devices)
        response = self.api.post(
            "/api/v1/batches",
            headers=self.auth(dealer),
            files={"file": (sheet.name, sheet.read_bytes(), "text/csv")},
        )
        assert response.status_code == 202, response.text
        batch_id: str = response.json()["id"]
        return batch_id

    def batch(self, dealer: str, batch_id: str) -> dict[str, Any]:
        assert self.api is not None
        response = self.api.get(f"/api/v1/batches/{batch_id}", headers=self.auth(dealer))
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def wait_finished(self, dealer: str, batch_id: str, timeout: float) -> dict[str, Any]:
        """The batch once it is done, failed or cancelled (fails after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            body = self.batch(dealer, batch_id)
            if body["status"] in ("done", "failed", "cancelled"):
                return body
            assert time.monotonic() < deadline, (
                f"batch {batch_id} still {body} after {timeout} s\n{self.logs()}"
            )
            time.sleep(0.25)

    def report(self, dealer: str, batch_id: str) -> list[dict[str, str]]:
        """The batch's CSV report (UTF-8 with BOM), one dict per data row."""
        assert self.api is not None
        response = self.api.get(
            f"/api/v1/batches/{batch_id}/results",
            params={"format": "csv"},
            headers=self.auth(dealer),
        )
        assert response.status_code == 200, response.text
        text = response.content.decode("utf-8-sig")
        return list(csv.DictReader(io.StringIO(text, newline="")))

    def check(self, dealer: str, imei: str) -> dict[str, Any]:
        """``POST /api/v1/checks``: one device, now."""
        assert self.api is not None
        response = self.api.post("/api/v1/checks", headers=self.auth(dealer), json={"imei": imei})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


def _stop(process: subprocess.Popen[bytes], *, within: float = 30.0) -> None:
    """SIGTERM (once: a second one is not the same request), then SIGKILL after ``within``."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
    try:
        process.wait(timeout=within)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def deploy(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """``deploy(devices, dealers=("A", "B"), workers=3, worker_args=())``: the sandbox
    knowing ``devices``, the dealers with keys, the workers and the web process, all
    started; stopped after the test (SIGTERM, then SIGKILL after 30 s), before its
    schema is dropped."""
    database_url: str = request.getfixturevalue("postgres_url")
    made: list[Deployment] = []

    def start(
        devices: Sequence[Device],
        *,
        dealers: Sequence[str] = ("A", "B"),
        workers: int = WORKERS,
        worker_args: Sequence[str] = (),
        carriers: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> Deployment:
        assert not made, "one deployment per test"
        sandbox = SandboxProcess(scenario(devices, **(carriers or {})), tmp_path)
        store = Store.open(database_url, tmp_path / "tests" / "data")  # migrates the schema
        deployment = Deployment(tmp_path, database_url, sandbox, store)
        made.append(deployment)
        sandbox.start(deployment.env("sandbox"))
        for name in dealers:
            deployment.add_dealer(name)
        deployment.start_workers(workers, *worker_args)
        deployment.start_web()
        return deployment

    try:
        yield start
    finally:
        for deployment in made:
            with contextlib.suppress(Exception):
                deployment.stop()
            deployment.sandbox.stop()
            deployment.store.close()
