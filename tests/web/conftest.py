"""The web app in the test's own process, its carriers a sandbox, two dealers with keys."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from akarom.config import Settings
from akarom.domain import Carrier
from akarom.sandbox import create_app as create_sandbox
from akarom.sandbox import parse_scenario
from akarom.services.accounts import create_api_key, create_dealer
from akarom.services.serving import Hub
from akarom.web.app import create_app
from tests.services.conftest import DEVICES, SANDBOX

BASE = "http://akarom.test"
# The storage suite's PostgreSQL fixtures (a fresh schema per test; a missing server
# fails under CI=true), for the web tests that run on PostgreSQL too.
from tests.storage.conftest import postgres_admin, postgres_url  # noqa: E402, F401

PASSWORD = "correct horse battery"


@dataclass
class Served:
    """The app, a client for it, the sandbox's admin client, and each dealer's key."""

    app: FastAPI
    client: httpx.AsyncClient
    sandbox: httpx.AsyncClient
    keys: dict[str, str]
    dealer_ids: dict[str, int]

    @property
    def hub(self) -> Hub:
        hub: Hub = self.app.state.hub
        return hub

    def auth(self, dealer: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[dealer]}"}

    async def sandbox_requests(self) -> int:
        stats = (await self.sandbox.get("/_sandbox/stats")).json()
        return sum(carrier["requests"] for carrier in stats["carriers"].values())


class CaptchaCodes(httpx.AsyncBaseTransport):
    """The sandbox, watched: a captcha's code is read as a person reads the image (here
    from the sandbox's test-only ``X-Sandbox-Captcha`` header)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.codes: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if code := response.headers.get("x-sandbox-captcha"):
            self.codes.append(code)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def web_settings(data_dir: Path, database_url: str | None = None) -> Settings:
    """Settings for a test server: the sandbox as every carrier, SQLite in ``data_dir``
    unless ``database_url`` names another database."""
    env = {
        "AKAROM_CARRIERS_URL": SANDBOX,
        "AKAROM_RATE_LIMIT": "1000",
        "AKAROM_CONCURRENCY": "4",
        "AKAROM_DATA_DIR": str(data_dir),
    }
    if database_url is not None:
        env["AKAROM_DATABASE_URL"] = database_url
    return Settings.from_env(env)


def sandbox_app(
    latency_ms: int = 0,
    *,
    carriers: dict[str, Any] | None = None,
    devices: dict[str, Any] | None = None,
    seed: int = 7,
) -> Any:
    """The sandbox of tests/services, each carrier answering after ``latency_ms`` and
    set as ``carriers`` says (e.g. ``{"docomo": {"mode": "captcha"}}``)."""
    settings = {key: {"latency_ms": latency_ms} for key in (c.value for c in Carrier)}
    for key, extra in (carriers or {}).items():
        settings[key] = settings[key] | extra
    return create_sandbox(
        parse_scenario(
            {
                "seed": seed,
                "default": "unregistered",
                "carriers": settings,
                "devices": DEVICES | (devices or {}),
            }
        )
    )


@asynccontextmanager
async def serving(
    data_dir: Path,
    sandbox: Any,
    *,
    api_limits: dict[str, str] | None = None,
    dealers: tuple[str, ...] = ("A", "B"),
    database_url: str | None = None,
) -> AsyncIterator[Served]:
    """The app started (its lifespan), with a key per dealer made on first start."""
    transport = httpx.ASGITransport(app=sandbox)
    settings = web_settings(data_dir, database_url)
    app = create_app(settings, transports=dict.fromkeys(Carrier, transport))
    if api_limits is not None:
        app.state.api_limits = api_limits
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client,
        httpx.AsyncClient(transport=transport, base_url=SANDBOX) as admin,
    ):
        hub: Hub = app.state.hub
        keys, ids = {}, {}
        for name in dealers:
            dealer = hub.store.dealer_by_name(name) or create_dealer(
                hub.store, name, f"admin-{name.lower()}@example.jp", PASSWORD
            )
            ids[name] = dealer.id
            _, keys[name] = create_api_key(hub.store, name, "tests")
        yield Served(app, client, admin, keys, ids)


Serve = Callable[..., Any]


@pytest.fixture
def serve(tmp_path: Path) -> Serve:
    """``async with serve(api_limits=...) as served`` (a fresh data folder per test)."""

    def opened(sandbox_latency_ms: int = 0, **options: Any) -> Any:
        return serving(tmp_path, sandbox_app(sandbox_latency_ms), **options)

    return opened


@pytest.fixture
async def served(serve: Serve) -> AsyncIterator[Served]:
    async with serve() as running:
        yield running
