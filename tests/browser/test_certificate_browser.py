"""A certificate's verification page in a real browser, on a phone and a desktop: what
its QR code opens reads at a glance and says it is not today's answer."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from akarom.services.certificates import issue_certificate
from akarom.services.serving import Hub
from tests.browser.conftest import Browsing, LiveServer, shoot
from tests.browser.test_dealer_browser import fresh_imeis
from tests.browser.test_public_browser import assert_fits_the_screen
from tests.web.test_guarantees_web import checked


def test_the_qr_code_opens_the_certificate_as_issued(
    page: Page, browsing: Browsing, live_server: LiveServer
) -> None:
    hub: Hub = live_server.app.state.hub
    (imei,) = fresh_imeis("35291007" if browsing.viewport == "phone" else "35291008", 1)
    checked(hub.store, imei)
    issued = issue_certificate(hub.store, hub.settings, imei, issuer="スマホ堂")
    page.goto(f"{live_server.url}/certificates/{issued.id}")
    expect(page.locator("h1")).to_have_text("確認証明書")
    expect(page.locator("#imei-shown")).to_contain_text(imei)
    expect(page.locator("#results li[data-carrier=docomo]")).to_have_attribute("data-status", "ok")
    expect(page.locator("#not-today")).to_be_visible()
    expect(page.locator("#fingerprint")).to_contain_text(issued.key.fingerprint)
    assert_fits_the_screen(page)
    shoot(page, f"certificate-{browsing.viewport}")
