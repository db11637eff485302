"""Scenario files: the examples load, defaults hold, and bad input names what is wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from akarom.domain import Carrier, Status
from akarom.sandbox import Mode, Scenario, load_scenario, parse_scenario

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_defaults_without_a_file() -> None:
    scenario = load_scenario(None)
    assert scenario == Scenario()
    assert scenario.seed == 0
    assert scenario.default is Status.UNREGISTERED
    assert set(scenario.carriers) == set(Carrier)
    for settings in scenario.carriers.values():
        assert settings.mode is Mode.NORMAL
        assert settings.latency_ms == settings.jitter_ms == settings.error_rate == 0
        assert settings.rate_limit_per_s == 0
    assert scenario.status_at("352099001761481", Carrier.DOCOMO, 0) is Status.UNREGISTERED


def test_example_scenario() -> None:
    scenario = load_scenario(EXAMPLES / "scenario.yaml")
    assert scenario.seed == 7
    statuses = {
        scenario.status_at(imei, carrier, 0) for imei in scenario.devices for carrier in Carrier
    }
    assert statuses == {Status.OK, Status.PENDING, Status.RESTRICTED, Status.UNREGISTERED}
    assert any(device.changes for device in scenario.devices.values())
    assert any(s.latency_ms > 0 for s in scenario.carriers.values())
    assert any(s.rate_limit_per_s > 0 for s in scenario.carriers.values())
    assert scenario.status_at("356938035643809", Carrier.SOFTBANK, 29.9) is Status.PENDING
    assert scenario.status_at("356938035643809", Carrier.SOFTBANK, 30) is Status.RESTRICTED
    assert scenario.status_at("a1000012345678", Carrier.AU, 0) is Status.OK  # MEID, any case


def test_fault_scenario() -> None:
    scenario = load_scenario(EXAMPLES / "scenario-faults.yaml")
    modes = {carrier: settings.mode for carrier, settings in scenario.carriers.items()}
    assert Mode.BLOCKED in modes.values()
    assert Mode.MAINTENANCE in modes.values()


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing\n", encoding="utf-8")
    assert load_scenario(path) == Scenario()


def test_full_carrier_settings() -> None:
    scenario = parse_scenario(
        {
            "carriers": {
                "au": {
                    "latency_ms": 120,
                    "jitter_ms": 40.5,
                    "rate_limit_per_s": 0.5,
                    "error_rate": 1,
                    "mode": "captcha",
                    "symbols": {"ok": "○", "unregistered": "－"},
                },
                "docomo": None,
            }
        }
    )
    au = scenario.carriers[Carrier.AU]
    assert (au.latency_ms, au.jitter_ms, au.rate_limit_per_s, au.error_rate) == (
        120,
        40.5,
        0.5,
        1,
    )
    assert au.mode is Mode.CAPTCHA
    assert au.symbols == {Status.OK: "○", Status.UNREGISTERED: "－"}
    assert scenario.carriers[Carrier.DOCOMO].mode is Mode.NORMAL


def test_changes_apply_in_time_order() -> None:
    scenario = parse_scenario(
        {
            "default": "ok",
            "devices": {
                "352099001761481": {
                    "docomo": "pending",
                    "changes": [
                        {"after_s": 60, "docomo": "ok"},
                        {"after_s": 10, "docomo": "restricted", "au": "pending"},
                    ],
                }
            },
        }
    )
    at = scenario.status_at
    assert at("352099001761481", Carrier.DOCOMO, 0) is Status.PENDING
    assert at("352099001761481", Carrier.AU, 0) is Status.OK  # the default
    assert at("352099001761481", Carrier.DOCOMO, 10) is Status.RESTRICTED
    assert at("352099001761481", Carrier.AU, 10) is Status.PENDING
    assert at("352099001761481", Carrier.DOCOMO, 60) is Status.OK
    assert at("356938035643809", Carrier.DOCOMO, 0) is Status.OK


BAD: list[tuple[Any, str]] = [
    ({"sede": 1}, r"scenario: unknown key 'sede'"),
    ({"seed": "7"}, r"seed: must be an integer, got '7'"),
    ({"seed": True}, r"seed: must be an integer"),
    ({"default": "clean"}, r"default: unknown status 'clean'"),
    ({"default": "unknown"}, r"default: unknown status 'unknown'"),
    ({"carriers": ["docomo"]}, r"carriers: must be a mapping"),
    ({"carriers": {"kddi": {}}}, r"carriers: unknown carrier 'kddi'"),
    ({"carriers": {"au": {"latency": 5}}}, r"carriers\.au: unknown key 'latency'"),
    ({"carriers": {"au": {"latency_ms": -1}}}, r"carriers\.au\.latency_ms: .*>= 0, got -1"),
    ({"carriers": {"au": {"jitter_ms": "fast"}}}, r"carriers\.au\.jitter_ms: must be a number"),
    ({"carriers": {"au": {"rate_limit_per_s": -2}}}, r"carriers\.au\.rate_limit_per_s"),
    ({"carriers": {"au": {"error_rate": 1.5}}}, r"carriers\.au\.error_rate: .*between 0 and 1"),
    ({"carriers": {"au": {"latency_ms": float("nan")}}}, r"carriers\.au\.latency_ms: .*finite"),
    ({"carriers": {"au": {"mode": "down"}}}, r"carriers\.au\.mode: unknown mode 'down'"),
    ({"carriers": {"au": {"symbols": {"bad": "○"}}}}, r"carriers\.au\.symbols: unknown status"),
    ({"carriers": {"au": {"symbols": {"ok": ""}}}}, r"carriers\.au\.symbols\.ok: .*non-empty"),
    ({"carriers": {"au": {"symbols": {"restricted": "✕"}}}}, r"encoding \(Shift_JIS\)"),
    ({"carriers": {"rakuten": {"symbols": {"ok": "○"}}}}, r"rakuten answers numeric status"),
    ({"devices": {352099001761481: {}}}, r"devices: key 352099001761481 must be a quoted string"),
    ({"devices": {"3520990017614": {}}}, r"devices: key '3520990017614' is not a 15-digit"),
    ({"devices": {"imei": {}}}, r"is not a 15-digit IMEI or a 14-hex-digit MEID"),
    ({"devices": {"352099001761481": "ok"}}, r"devices\.352099001761481: must be a mapping"),
    ({"devices": {"352099001761481": {"ntt": "ok"}}}, r"unknown carrier 'ntt'"),
    ({"devices": {"352099001761481": {"au": "red"}}}, r"devices\.352099001761481\.au: unknown"),
    (
        {"devices": {"352099001761481": {"changes": {"after_s": 1}}}},
        r"devices\.352099001761481\.changes: must be a list",
    ),
    (
        {"devices": {"352099001761481": {"changes": [{"au": "ok"}]}}},
        r"changes\[0\]: missing after_s",
    ),
    (
        {"devices": {"352099001761481": {"changes": [{"after_s": -3, "au": "ok"}]}}},
        r"changes\[0\]\.after_s: .*>= 0",
    ),
    (
        {"devices": {"352099001761481": {"changes": [{"after_s": 3}]}}},
        r"changes\[0\]: names no carrier status",
    ),
    (
        {"devices": {"a1000012345678": {}, "A1000012345678": {}}},
        r"listed twice",
    ),
]


@pytest.mark.parametrize(("data", "message"), BAD)
def test_bad_input_names_the_problem(data: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_scenario(data)


def test_not_a_mapping() -> None:
    with pytest.raises(ValueError, match="a scenario is a mapping"):
        parse_scenario(["seed"])  # type: ignore[arg-type]


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("carriers:\n  docomo: {mode: sleepy}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.yaml: carriers\.docomo\.mode: unknown mode"):
        load_scenario(path)
    path.write_text("devices: {352099001761481: {docomo: ok}}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="must be a quoted string"):
        load_scenario(path)
    path.write_text("carriers: [\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.yaml: not valid YAML"):
        load_scenario(path)
    path.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ValueError, match="a scenario is a mapping of keys, got list"):
        load_scenario(path)
    with pytest.raises(FileNotFoundError):
        load_scenario(tmp_path / "missing.yaml")
