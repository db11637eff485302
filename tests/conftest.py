"""Fixtures shared by the command-line tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from hypothesis import strategies as st
from typer.testing import CliRunner

from akarom.cli import app
from akarom.domain import Carrier
from akarom.sandbox import create_app, parse_scenario
from tests.cli_support import free_port
from tests.services.conftest import DEVICES

# The carrier list is not an Enum: hypothesis draws carriers from it in its own order.
st.register_type_strategy(Carrier, st.deferred(lambda: st.sampled_from(tuple(Carrier))))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``slow`` tests (the release set) run only when asked for with ``-m slow``."""
    if "slow" in (config.getoption("markexpr") or ""):
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]


@contextmanager
def serving(scenario: dict[str, Any]) -> Iterator[str]:
    """A real sandbox server for ``scenario`` on a loopback port; yields its URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(parse_scenario(scenario)), host="127.0.0.1", port=port, log_level="warning"
        )
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


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    """The sandbox for this module: Rakuten in maintenance, so some answers stay open."""
    with serving(
        {"seed": 1, "carriers": {"rakuten": {"mode": "maintenance"}}, "devices": DEVICES}
    ) as url:
        yield url


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
