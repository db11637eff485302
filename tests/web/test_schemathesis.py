"""Schema-driven fuzzing of ``/api/v1``: whatever a client sends, never a server error.

Schemathesis reads ``/openapi.json`` and sends what the schema allows (and some of
what it does not) to every operation, with a live key, against a real server on a
loopback port (the app's lifespan runs once, as in production).
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from akarom.domain import Carrier
from akarom.services.accounts import create_api_key, create_dealer
from akarom.services.serving import Hub
from akarom.web.app import create_app
from tests.cli_support import free_port
from tests.web.conftest import PASSWORD, sandbox_app, web_settings


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The app on a loopback port, its carriers the sandbox; yields its URL and a key."""
    data_dir: Path = tmp_path_factory.mktemp("fuzz")
    keys: list[str] = []

    def with_dealer(hub: Hub) -> None:
        create_dealer(hub.store, "fuzz", "fuzz@example.jp", PASSWORD)
        keys.append(create_api_key(hub.store, "fuzz", "fuzzing")[1])

    sandbox = httpx.ASGITransport(app=sandbox_app())
    app = create_app(
        web_settings(data_dir), transports=dict.fromkeys(Carrier, sandbox), on_start=with_dealer
    )
    app.state.api_limits = {"read": "100000/minute", "work": "100000/minute"}
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", keys[0]
    server.should_exit = True
    thread.join(timeout=20)


def _document() -> dict[str, Any]:
    """The app's OpenAPI document, as ``/openapi.json`` serves it (no lifespan needed)."""
    with tempfile.TemporaryDirectory() as data_dir:
        return create_app(web_settings(Path(data_dir))).openapi()


schema = schemathesis.openapi.from_dict(_document()).include(path_regex="^/api/v1/")


@schema.parametrize()
@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_server_errors(case: Any, server: tuple[str, str]) -> None:
    url, key = server
    case.call_and_validate(
        base_url=url,
        headers={"Authorization": f"Bearer {key}"},
        checks=[not_a_server_error],
    )
