"""``akarom serve --demo``: every screen at once, with nothing else running.

The carrier sandbox runs inside the server process (each carrier's requests go to
it through an in-memory transport, at the real sites' paths), the data lives in its
own folder (``<data dir>/demo``), and a demo dealer is made on first start with a
password kept in that folder, so the workspace can be tried too. Every page says
"demo".
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from pathlib import Path

import httpx

from akarom.config import CarrierSettings, Settings
from akarom.domain import Carrier
from akarom.sandbox import create_app as create_sandbox
from akarom.sandbox import load_scenario
from akarom.services.serving import Hub

__all__ = [
    "DEMO_ADMIN",
    "DEMO_DEALER",
    "DEMO_DEVICES",
    "demo_login",
    "demo_settings",
    "demo_transports",
]

logger = logging.getLogger(__name__)

DEMO_DEALER = "demo"
DEMO_ADMIN = "demo@example.jp"
#: The sandbox devices the demo page suggests, by the verdict they give.
DEMO_DEVICES = {
    "clear": "352099001761481",
    "caution": "356938035643809",
    "red": "353325101234569",
    "none": "352906112233442",
}
_SCENARIO = Path(__file__).with_name("demo.yaml")
#: The carriers' address in the demo: never resolved, every request stays in-process.
_CARRIERS = "http://carriers.demo.invalid"


def demo_settings(settings: Settings) -> Settings:
    """``settings`` with the demo's own data folder, pointed at the in-process sandbox.

    The sandbox answers at a brisk pace (4 requests/s, 2 at a time per carrier).
    """
    carriers = {
        carrier: CarrierSettings(base_url=_CARRIERS, rate_limit=4.0, concurrency=2)
        for carrier in Carrier
    }
    return dataclasses.replace(
        settings, database_url=None, data_dir=settings.data_dir / "demo", carriers=carriers
    )


def demo_transports() -> dict[Carrier, httpx.AsyncBaseTransport]:
    """One in-memory transport per carrier, all to one sandbox."""
    transport = httpx.ASGITransport(app=create_sandbox(load_scenario(_SCENARIO)))
    return dict.fromkeys(Carrier, transport)


def demo_login(hub: Hub) -> tuple[str, str]:
    """The demo dealer's admin and password, made on first start; logged every start."""
    from akarom.services.accounts import create_dealer

    keep = hub.settings.data_dir / "demo_password"
    if hub.store.dealer_by_name(DEMO_DEALER) is None:
        password = secrets.token_urlsafe(12)
        create_dealer(hub.store, DEMO_DEALER, DEMO_ADMIN, password)
        keep.parent.mkdir(parents=True, exist_ok=True)
        keep.write_text(password, encoding="utf-8")
        keep.chmod(0o600)
    password = keep.read_text(encoding="utf-8").strip()
    logger.warning("demo dealer: sign in at /dealer/login as %s / %s", DEMO_ADMIN, password)
    return DEMO_ADMIN, password
