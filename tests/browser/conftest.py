"""A real server and a real browser: Playwright driving Debian's chromium.

The server is ``akarom serve --demo`` as a person meets it (the demo's settings over a
temporary folder, the carrier sandbox in-process, the demo dealer made at start), under
uvicorn on a free loopback port, in a thread. The sandbox app is built here rather than
by ``demo_transports`` so that the tests hold it: they switch docomo to captcha mode,
and read each captcha's code from the sandbox-only ``X-Sandbox-Captcha`` header, as a
person reads it off the image.

The browser is ``/usr/bin/chromium`` from apt (``scripts/install-browser.sh``), never a
build Playwright downloads. Without it these tests skip, except under ``CI=true``, where
they fail. Every page runs in a context that refuses, and records, any request to
another host, and collects script errors and console errors (a CSP violation is one):
a test that saw any fails.

Two viewports: a phone (390×844 CSS px at 2×, touch) and a desktop (1280×800).
Screenshots go to ``docs/screenshots/`` (``shoot``).
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Playwright,
    Route,
    expect,
    sync_playwright,
)

from akarom import web
from akarom.config import Settings
from akarom.domain import Carrier
from akarom.sandbox import Mode, load_scenario
from akarom.sandbox import create_app as create_sandbox
from akarom.services.serving import Hub
from akarom.web.app import create_app
from akarom.web.demo import demo_login, demo_settings
from tests.cli_support import free_port
from tests.web.conftest import CaptchaCodes

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
#: How long a page may take to show what a test waits for: a check asks up to four
#: carriers, each answering the demo within about a second, and a batch asks more.
WAIT_MS = 20_000

VIEWPORTS: dict[str, dict[str, Any]] = {
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
    },
    "desktop": {"viewport": {"width": 1280, "height": 800}},
}


@dataclass
class LiveServer:
    """The demo server the browser talks to, and handles on what runs behind it."""

    url: str
    app: FastAPI
    sandbox: Any  # the sandbox's state (app.state.sandbox): its settings per carrier
    captchas: CaptchaCodes
    data_dir: Path
    dealer_email: str

    @property
    def dealer_password(self) -> str:
        """The demo dealer's password, kept in the data folder by ``demo_login``."""
        return (self.data_dir / "demo_password").read_text(encoding="utf-8").strip()

    def carrier_mode(self, carrier: Carrier, mode: Mode) -> None:
        """Switch ``carrier`` in the sandbox to ``mode`` (what ``PUT /_sandbox/…`` does)."""
        settings = self.sandbox.settings
        settings[carrier] = dataclasses.replace(settings[carrier], mode=mode)

    def last_captcha_code(self) -> str:
        """The code on the newest captcha image the server fetched from docomo."""
        assert self.captchas.codes, "the server fetched no captcha image"
        return self.captchas.codes[-1]


@pytest.fixture(scope="package")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """``akarom serve --demo`` on a free loopback port, for the browser tests."""
    base = Settings.from_env({"AKAROM_DATA_DIR": str(tmp_path_factory.mktemp("browser"))})
    settings = demo_settings(base)
    sandbox_app = create_sandbox(load_scenario(Path(web.__file__).with_name("demo.yaml")))
    captchas = CaptchaCodes(httpx.ASGITransport(app=sandbox_app))
    logins: list[str] = []

    def on_start(hub: Hub) -> None:
        email, _ = demo_login(hub)
        logins.append(email)

    app = create_app(
        settings,
        demo=True,
        transports=dict.fromkeys(Carrier, captchas),
        # One browser checks more devices in a minute than a person does in an hour.
        public_checks_per_hour=1000,
        on_start=on_start,
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="akarom-live-server", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        assert thread.is_alive(), "the server stopped while starting (its log is above)"
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the server did not answer /healthz in 20 s"
        time.sleep(0.05)
    yield LiveServer(
        url=url,
        app=app,
        sandbox=sandbox_app.state.sandbox,
        captchas=captchas,
        data_dir=settings.data_dir,
        dealer_email=logins[0],
    )
    server.should_exit = True
    thread.join(timeout=15)
    assert not thread.is_alive(), "the server did not stop"


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless; skipped when missing, failed when CI=true."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: run scripts/install-browser.sh (apt-get chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason)
    playwright: Playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        expect.set_options(timeout=WAIT_MS)
        yield chromium
        chromium.close()
    finally:
        playwright.stop()


@dataclass
class Visit:
    """What a page did that a test must not allow: other hosts, errors, console errors."""

    foreign: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: Console errors a test expects (matched in the message or the URL it came from).
    expected: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return [f"request to another host: {url}" for url in self.foreign] + self.errors


@dataclass
class Browsing:
    """A fresh browser context on one viewport, against the live server."""

    browser: Browser
    server: LiveServer
    viewport: str
    visit: Visit = field(default_factory=Visit)

    def new_page(self, *, lang: str = "ja") -> Page:
        context = self.browser.new_context(
            base_url=self.server.url,
            locale="ja-JP" if lang == "ja" else "en-US",
            timezone_id="Asia/Tokyo",
            accept_downloads=True,
            **VIEWPORTS[self.viewport],
        )
        context.set_default_timeout(WAIT_MS)
        context.route("**/*", self._only_the_server)
        page = context.new_page()
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.visit.errors.append(f"script error: {error}"))
        return page

    def _only_the_server(self, route: Route) -> None:
        url = route.request.url
        if url.startswith((self.server.url + "/", "data:", "blob:")):
            route.continue_()
        else:
            self.visit.foreign.append(url)
            route.abort("blockedbyclient")

    def expect_console_error(self, part: str) -> None:
        """Allows console errors that contain ``part`` (in their text or their URL)."""
        self.visit.expected.append(part)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        where = f"{message.text} {message.location.get('url', '')}"
        if not any(part in where for part in self.visit.expected):
            self.visit.errors.append(f"console error: {where}")


@pytest.fixture(params=list(VIEWPORTS))
def viewport(request: pytest.FixtureRequest) -> str:
    """Each test that takes it runs on a phone and on a desktop."""
    name: str = request.param
    return name


@pytest.fixture
def browsing(browser: Browser, live_server: LiveServer, viewport: str) -> Iterator[Browsing]:
    """Pages on ``viewport``; the test fails if one reached another host or logged an error."""
    session = Browsing(browser, live_server, viewport)
    yield session
    for context in browser.contexts:
        context.close()
    problems = session.visit.problems()
    assert not problems, "\n".join(problems)


@pytest.fixture
def page(browsing: Browsing) -> Page:
    """A fresh page on the test's viewport, in Japanese (the default)."""
    return browsing.new_page()


def shoot(page: Page, name: str) -> Path:
    """A full-page screenshot ``docs/screenshots/<name>.png`` (the docs show these)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(
        path=str(path), full_page=True, animations="disabled", caret="hide", scale="css"
    )
    return path
