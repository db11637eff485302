"""Helpers for tests that run the ``akarom`` command and a real sandbox server."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def json_lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def start_sandbox(
    scenario: Path, port: int, env: dict[str, str], log_path: Path
) -> subprocess.Popen[bytes]:
    """``akarom sandbox`` in a subprocess, its log written to ``log_path``.

    Not a pipe: the sandbox logs every request, and a pipe nobody reads fills up and
    stops the server mid-test.
    """
    log = log_path.open("wb")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "akarom",
            "sandbox",
            "--scenario",
            str(scenario),
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    log.close()
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/_sandbox/stats", timeout=1)
            return server
        except httpx.TransportError:
            logged = log_path.read_text(errors="replace")
            assert server.poll() is None, logged
            assert time.monotonic() < deadline, f"sandbox did not start: {logged}"
            time.sleep(0.1)


def stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    server.wait(timeout=10)
