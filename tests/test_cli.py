"""The ``akarom`` command as a person or a script uses it (INTERFACES.md §3)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner

from akarom.cli import app
from akarom.sandbox import create_app, parse_scenario
from tests.services.conftest import (
    DEVICES,
    OK_AT_DOCOMO,
    PENDING_AT_SOFTBANK,
    RESTRICTED_AT_AU,
    UNREGISTERED,
)

EXAMPLES = Path(__file__).parent.parent / "examples"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    """A real sandbox server on a loopback port, for the duration of this module."""
    scenario = parse_scenario(
        {"seed": 1, "carriers": {"rakuten": {"mode": "maintenance"}}, "devices": DEVICES}
    )
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(scenario), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "sandbox did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def run(tmp_path: Path, sandbox_url: str):
    def invoke(*args: str, **env: str):
        environment = {
            "AKAROM_CARRIERS_URL": sandbox_url,
            "AKAROM_RATE_LIMIT": "50",
            "AKAROM_DATA_DIR": str(tmp_path),
            "AKAROM_LANG": "",
            **env,
        }
        return CliRunner().invoke(app, list(args), env=environment)

    return invoke


def _lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_validate_json_is_one_object_per_value(run) -> None:
    result = run("validate", "--json", "35-209900-176148-1", "352099001761482", "3568680000414120")
    assert result.exit_code == 1
    good, bad, imeisv = _lines(result.stdout)
    assert good == {
        "input": "35-209900-176148-1",
        "valid": True,
        "imei": "352099001761481",
        "kind": "imei",
        "tac": "35209900",
        "error": None,
        "message": None,
    }
    assert bad["valid"] is False
    assert bad["error"] == "checksum"
    assert "チェック" in bad["message"]
    assert imeisv["kind"] == "imeisv"
    assert len(imeisv["imei"]) == 15


def test_validate_exits_0_when_all_are_valid_and_speaks_english_on_request(run) -> None:
    assert run("validate", "３５２０９９００１７６１４８１").exit_code == 0
    english = run("validate", "--lang", "en", "1234")
    assert english.exit_code == 1
    assert "wrong number of digits" in english.stdout


def test_check_json_follows_the_contract(run) -> None:
    result = run("check", "--json", OK_AT_DOCOMO, "--carrier", "ahamo")
    assert result.exit_code == 0, result.output
    (line,) = _lines(result.stdout)
    assert set(line) == {"input", "imei", "verdict", "origin_carrier", "results", "advice"}
    assert line["verdict"] == "clear"
    assert line["origin_carrier"] == "docomo"
    (docomo,) = line["results"]
    assert set(docomo) == {
        "carrier",
        "status",
        "symbol",
        "checked_at",
        "source",
        "message",
        "error",
    }
    assert (docomo["status"], docomo["symbol"], docomo["source"]) == ("ok", "○", "live")
    assert docomo["checked_at"].endswith("+09:00")
    assert line["advice"]["summary"]
    assert isinstance(line["advice"]["actions"], list)


@pytest.mark.parametrize(
    ("imei", "code", "verdict"),
    [
        (PENDING_AT_SOFTBANK, 3, "caution"),
        (RESTRICTED_AT_AU, 4, "red"),
        (UNREGISTERED, 5, "incomplete"),  # rakuten is in maintenance
        ("352099001761482", 2, "invalid"),
    ],
)
def test_check_exit_codes(run, imei, code, verdict) -> None:
    result = run("check", "--json", imei)
    assert result.exit_code == code, result.output
    assert _lines(result.stdout)[0]["verdict"] == verdict


def test_with_several_devices_the_highest_exit_code_wins(run) -> None:
    result = run("check", "--json", PENDING_AT_SOFTBANK, RESTRICTED_AT_AU)
    assert result.exit_code == 4
    assert [line["verdict"] for line in _lines(result.stdout)] == ["caution", "red"]
    # Rakuten is in maintenance, so a device nobody claims stays open, and an open
    # answer (5) outranks every other.
    result = run("check", "--json", RESTRICTED_AT_AU, UNREGISTERED)
    assert result.exit_code == 5
    assert [line["verdict"] for line in _lines(result.stdout)] == ["red", "incomplete"]


def test_human_output_is_japanese_and_explains_each_carrier(run) -> None:
    result = run("check", UNREGISTERED)
    assert result.exit_code == 5
    assert "判定" in result.stdout
    assert "メンテナンス" in result.stdout  # why rakuten gave no answer
    assert "記録なし" in result.stdout  # what - means


def test_human_output_in_english(run) -> None:
    result = run("check", "--lang", "en", RESTRICTED_AT_AU, "--all-carriers")
    assert result.exit_code == 4
    assert "Red: the device is restricted" in result.stdout
    assert "Do not buy it" in result.stdout


def test_an_unknown_carrier_name_is_a_usage_error(run) -> None:
    result = run("check", OK_AT_DOCOMO, "--carrier", "mvno")
    assert result.exit_code == 2
    assert "unknown carrier" in result.output


def test_a_bad_setting_is_a_usage_error(run) -> None:
    result = run("check", OK_AT_DOCOMO, AKAROM_RATE_LIMIT="fast")
    assert result.exit_code == 2
    assert "AKAROM_RATE_LIMIT" in result.output


def _start_sandbox(scenario: Path, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
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
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/_sandbox/stats", timeout=1)
            return server
        except httpx.TransportError:
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            assert time.monotonic() < deadline, "sandbox did not start"
            time.sleep(0.1)


def _stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    server.wait(timeout=10)
    if server.stderr:
        server.stderr.close()


def test_the_sandbox_command_serves_what_check_reads(tmp_path: Path) -> None:
    """The README path: start ``akarom sandbox`` with a scenario, point ``check`` at it."""
    port = _free_port()
    env = {**os.environ, "AKAROM_DATA_DIR": str(tmp_path)}
    server = _start_sandbox(EXAMPLES / "scenario.yaml", port, env)
    try:
        check = subprocess.run(
            [sys.executable, "-m", "akarom", "check", "--json", "353325101234569"],
            env={
                **env,
                "AKAROM_CARRIERS_URL": f"http://127.0.0.1:{port}",
                "AKAROM_RATE_LIMIT": "1",
            },
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert check.returncode == 4, check.stderr
        assert json.loads(check.stdout)["verdict"] == "red"
    finally:
        _stop(server)


def test_back_to_back_commands_share_the_carriers_rate_limit(tmp_path: Path) -> None:
    """Two ``akarom check`` processes in a row leave au the same gap as one would."""
    scenario = tmp_path / "limits.yaml"
    scenario.write_text("carriers:\n  au: {rate_limit_per_s: 1}\n", encoding="utf-8")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "AKAROM_DATA_DIR": str(tmp_path)}
    server = _start_sandbox(scenario, port, env)
    try:
        for _ in range(2):
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "akarom",
                    "check",
                    "--fresh",
                    "--carrier",
                    "au",
                    UNREGISTERED,
                ],
                env={**env, "AKAROM_CARRIERS_URL": url, "AKAROM_AU_RATE_LIMIT": "1"},
                capture_output=True,
                timeout=60,
                check=False,
            )
        au = httpx.get(f"{url}/_sandbox/stats").json()["carriers"]["au"]
    finally:
        _stop(server)
    assert au["requests"] == 4  # form + submit, twice
    assert au["rejected_rate_limit"] == 0
