"""The ``akarom`` command as a person or a script uses it (INTERFACES.md §3)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.cli_support import free_port, json_lines, start_sandbox, stop
from tests.services.conftest import (
    OK_AT_DOCOMO,
    PENDING_AT_SOFTBANK,
    RESTRICTED_AT_AU,
    UNREGISTERED,
)

EXAMPLES = Path(__file__).parent.parent / "examples"


def test_validate_json_is_one_object_per_value(run) -> None:
    result = run("validate", "--json", "35-209900-176148-1", "352099001761482", "3568680000414120")
    assert result.exit_code == 1
    good, bad, imeisv = json_lines(result.stdout)
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
    (line,) = json_lines(result.stdout)
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
    assert json_lines(result.stdout)[0]["verdict"] == verdict


def test_with_several_devices_the_highest_exit_code_wins(run) -> None:
    result = run("check", "--json", PENDING_AT_SOFTBANK, RESTRICTED_AT_AU)
    assert result.exit_code == 4
    assert [line["verdict"] for line in json_lines(result.stdout)] == ["caution", "red"]
    # Rakuten is in maintenance, so a device nobody claims stays open, and an open
    # answer (5) outranks every other.
    result = run("check", "--json", RESTRICTED_AT_AU, UNREGISTERED)
    assert result.exit_code == 5
    assert [line["verdict"] for line in json_lines(result.stdout)] == ["red", "incomplete"]


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
    assert result.output == (
        "akarom: 「mvno」というキャリアは分かりません。docomo, au, softbank, rakuten か、"
        "ahamo・uq・ymobile などのブランド名で指定してください\n"
    )
    english = run("check", OK_AT_DOCOMO, "--carrier", "mvno", "--lang", "en")
    assert english.exit_code == 2
    assert "unknown carrier 'mvno'" in english.output


def test_a_bad_setting_is_a_usage_error(run) -> None:
    result = run("check", OK_AT_DOCOMO, AKAROM_RATE_LIMIT="fast")
    assert result.exit_code == 2
    assert "AKAROM_RATE_LIMIT" in result.output


def test_the_sandbox_command_serves_what_check_reads(tmp_path: Path) -> None:
    """The README path: start ``akarom sandbox`` with a scenario, point ``check`` at it."""
    port = free_port()
    env = {**os.environ, "AKAROM_DATA_DIR": str(tmp_path)}
    server = start_sandbox(EXAMPLES / "scenario.yaml", port, env, tmp_path / "sandbox.log")
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
        stop(server)


def test_back_to_back_commands_share_the_carriers_rate_limit(tmp_path: Path) -> None:
    """Two ``akarom check`` processes in a row leave au the same gap as one would."""
    scenario = tmp_path / "limits.yaml"
    scenario.write_text("carriers:\n  au: {rate_limit_per_s: 1}\n", encoding="utf-8")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "AKAROM_DATA_DIR": str(tmp_path)}
    server = start_sandbox(scenario, port, env, tmp_path / "sandbox.log")
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
        stop(server)
    assert au["requests"] == 4  # form + submit, twice
    assert au["rejected_rate_limit"] == 0
