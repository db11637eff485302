"""A sandbox in the test's own process, and a Checker pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from akarom.config import Settings
from akarom.domain import Carrier
from akarom.sandbox import create_app, parse_scenario
from akarom.services import Checker, RetryPolicy
from akarom.storage import Store

SANDBOX = "http://sandbox.test"

OK_AT_DOCOMO = "352099001761481"
PENDING_AT_SOFTBANK = "356938035643809"
RESTRICTED_AT_AU = "490154203237518"
UNREGISTERED = "353879234252633"
OK_AT_RAKUTEN = "354178036859789"
PENDING_AT_DOCOMO = "351756051523993"

DEVICES = {
    OK_AT_DOCOMO: {"docomo": "ok"},
    PENDING_AT_SOFTBANK: {"softbank": "pending"},
    RESTRICTED_AT_AU: {"au": "restricted"},
    OK_AT_RAKUTEN: {"rakuten": "ok"},
    PENDING_AT_DOCOMO: {"docomo": "pending"},
}

#: A dealer's own advice rules: △ bought back at 30 %, the top grade for ○ or -.
DEALER_RULES = """
rules:
  - id: buyback.pending
    situation: buyback
    effective_from: 2010-01-01
    when: {verdict: [caution]}
    outcome: {decision: allow_with_conditions, price_factor: 0.3}
    summary: {ja: "△は通常の3割で買い取ります。", en: "We buy △ at 30 % of the normal price."}
    actions: {ja: ["店長の承認を得てください。"], en: ["Get the manager's approval."]}
    sources: ["our buy-back terms, 2026"]
  - id: ours.sale_grade.clear.top_only_ok_or_none
    situation: sale_grade
    effective_from: 2010-01-01
    when: {verdict: [clear], status: [ok, unregistered]}
    outcome: {decision: allow, grade_cap: S}
    priority: 10
    summary: {ja: "○または-なので最上位グレードで販売できます。", en: "○ or -: top grade allowed."}
    actions: {ja: [], en: []}
    sources: ["our grading policy"]
"""

Sandboxed = Callable[..., Any]


@pytest.fixture
def sandboxed(tmp_path: Path) -> Sandboxed:
    """``async with sandboxed(carriers={...}) as (checker, sandbox_client)``."""

    @asynccontextmanager
    async def open_checker(
        carriers: dict[str, Any] | None = None,
        devices: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
        retry: RetryPolicy | None = None,
        store: Store | None = None,
    ) -> AsyncIterator[tuple[Checker, httpx.AsyncClient]]:
        scenario = parse_scenario(
            {
                "seed": 7,
                "default": "unregistered",
                "carriers": carriers or {},
                "devices": DEVICES | (devices or {}),
            }
        )
        app = create_app(scenario)
        transport = httpx.ASGITransport(app=app)
        settings = Settings.from_env(
            {
                "AKAROM_CARRIERS_URL": SANDBOX,
                "AKAROM_RATE_LIMIT": "1000",
                "AKAROM_CONCURRENCY": "4",
                "AKAROM_DATA_DIR": str(tmp_path),
                **(env or {}),
            }
        )
        checker = Checker(
            settings,
            transports=dict.fromkeys(Carrier, transport),
            retry=retry or RetryPolicy(attempts=3, backoff_s=0.01),
            store=store,
        )
        async with checker, httpx.AsyncClient(transport=transport, base_url=SANDBOX) as admin:
            yield checker, admin

    return open_checker


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A fresh SQLite database (PostgreSQL is covered by tests/storage)."""
    with Store.open(None, tmp_path / "db") as opened:
        yield opened
