"""deploy/: what an operator relies on in the compose file and the systemd units."""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
GRACE_S = 25  # a worker needs this long to hand its running job back to the queue


def compose_services() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    services: dict[str, Any] = data["services"]
    return services


def unit(name: str) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment, method-assign]  # keys keep their case
    parser.read_string((DEPLOY / "systemd" / name).read_text(encoding="utf-8"))
    return parser["Service"]


def seconds(duration: str) -> int:
    """Compose's ``1m30s`` or ``30s``, or systemd's plain seconds."""
    assert duration.strip(), "empty duration"
    match = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s?)?", duration.strip())
    assert match, duration
    return int(match.group(1) or 0) * 60 + int(match.group(2) or 0)


def test_compose_worker_runs_several_and_stops_gracefully() -> None:
    worker = compose_services()["worker"]
    assert worker["command"][:2] == ["akarom", "worker"]
    assert worker["deploy"]["replicas"] >= 2
    assert worker["stop_signal"] == "SIGTERM"
    assert seconds(worker["stop_grace_period"]) >= GRACE_S


def test_compose_web_and_workers_share_one_postgresql_database() -> None:
    services = compose_services()
    web, worker = services["web"], services["worker"]
    assert web["command"][:2] == ["akarom", "serve"]
    url = web["environment"]["AKAROM_DATABASE_URL"]
    assert url == worker["environment"]["AKAROM_DATABASE_URL"]
    assert url.startswith("postgresql+psycopg://")
    assert "@postgres:5432/" in url  # the compose service, by name
    for service in (web, worker):
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["postgres"]["image"].startswith("postgres:")


def test_units_run_akarom_and_stop_gracefully() -> None:
    web, worker = unit("akarom-web.service"), unit("akarom-worker@.service")
    assert shlex.split(web["ExecStart"])[1] == "serve"
    worker_command = shlex.split(worker["ExecStart"])
    assert Path(worker_command[0]).name == "akarom"
    assert worker_command[1] == "worker"
    for service in (web, worker):
        assert service["KillSignal"] == "SIGTERM"
        assert seconds(service["TimeoutStopSec"]) >= GRACE_S
        assert service["EnvironmentFile"] == "/etc/akarom/env"
        assert service["User"] == "akarom"
