"""``akarom serve --demo`` as a newcomer runs it: one process, every screen, "demo" on each."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.cli_support import free_port, stop

pytestmark = pytest.mark.slow


def test_serve_demo_checks_a_device_with_nothing_else_running(tmp_path: Path) -> None:
    port = free_port()
    log_path = tmp_path / "serve.log"
    env = {**os.environ, "AKAROM_DATA_DIR": str(tmp_path / "data")}
    env.pop("AKAROM_CARRIERS_URL", None)
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "akarom", "serve", "--demo", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, log_path.read_text(errors="replace")
            assert time.monotonic() < deadline, log_path.read_text(errors="replace")
            time.sleep(0.1)
        home = httpx.get(f"{base}/", timeout=10)
        assert home.status_code == 200
        assert "デモ" in home.text
        assert "Demo" in httpx.get(f"{base}/?lang=en", timeout=10).text
        assert httpx.get(f"{base}/readyz", timeout=10).status_code == 200
    finally:
        stop(server)
    logged = [
        json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")
    ]
    # Structured logs, and the demo dealer's sign-in said once at start.
    assert any("demo dealer" in entry["message"] for entry in logged)
    assert all({"time", "level", "logger", "message"} <= set(entry) for entry in logged)
