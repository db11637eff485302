"""The 赤ロム guarantee in a real browser: a × found on a guaranteed phone is waiting
on the guarantee page, the staff open its claim, and marking the change seen takes it
off the open list.

The sale and the × are stored as the workspace and the monitor store them (the demo
server runs no monitor): a fresh IMEI per viewport, checked ○ at docomo, sold under
guarantee, then answered × by the next re-check.
"""

from __future__ import annotations

from dataclasses import dataclass

from playwright.sync_api import Page, expect

from akarom.services.advising import today_in_japan
from akarom.services.guarantees import CustomerContact, SaleRequest, register_sale, sealer_for
from akarom.services.serving import Hub
from akarom.web.demo import DEMO_DEALER
from tests.browser.conftest import Browsing, LiveServer, shoot
from tests.browser.test_dealer_browser import dealer, fresh_imeis  # noqa: F401 (a fixture)
from tests.browser.test_public_browser import assert_fits_the_screen, press
from tests.web.test_guarantees_web import checked, found_restricted


@dataclass(frozen=True)
class RedOnSale:
    imei: str
    order: str
    change_id: int
    claim_id: int


def red_on_sale(server: LiveServer, prefix: str) -> RedOnSale:
    """A phone sold under the demo dealer's guarantee that has since turned ×."""
    hub: Hub = server.app.state.hub
    store = hub.store
    shop = store.dealer_by_name(DEMO_DEALER)
    assert shop is not None
    (imei,) = fresh_imeis(prefix, 1)
    order = f"WEB-{prefix}"
    checked(store, imei)
    sale = SaleRequest(
        imei, order, today_in_japan(), customer=CustomerContact("鈴木 花子", "hanako@example.jp")
    )
    register_sale(store, sealer_for(hub.settings), hub.rules, shop.id, sale, by="店長")
    change_id = found_restricted(store, imei)
    [claim] = [c for c in store.claims(shop.id) if c.change_id == change_id]
    return RedOnSale(imei, order, change_id, claim.id)


def test_an_open_red_change_is_seen_and_leaves_the_open_list(
    dealer: Page,  # noqa: F811 (the fixture imported above)
    browsing: Browsing,
    live_server: LiveServer,
) -> None:
    page = dealer
    red = red_on_sale(live_server, "35291005" if browsing.viewport == "phone" else "35291006")

    press(page.locator("#nav-guarantees"), browsing)
    page.wait_for_url("**/dealer/guarantees")
    change = page.locator(f"#change-{red.change_id}")
    expect(change).to_be_visible()
    expect(change).to_have_attribute("data-after", "restricted")
    expect(change).to_contain_text("○ → ×")
    expect(change).to_contain_text(red.imei)
    expect(change).to_contain_text(red.order)
    expect(page.locator("#open-claims")).to_contain_text(f"#{red.claim_id}")
    assert_fits_the_screen(page)
    shoot(page, f"dealer-guarantees-{browsing.viewport}")

    # The claim's file: the customer's contact is shown to the signed-in staff here.
    press(page.locator(f"#change-{red.change_id} a.change-claim"), browsing)
    page.wait_for_url(f"**/dealer/claims/{red.claim_id}")
    expect(page.locator("#claim-status")).to_have_attribute("data-status", "open")
    expect(page.locator("#customer-name")).to_have_text("鈴木 花子")
    expect(page.locator("#since-sale-list li.answer[data-status=restricted]")).to_have_count(1)
    assert_fits_the_screen(page)
    shoot(page, f"dealer-claim-{browsing.viewport}")

    page.go_back()
    page.wait_for_url("**/dealer/guarantees")
    press(page.locator(f"#acknowledge-{red.change_id}"), browsing)
    page.wait_for_url("**/dealer/guarantees?seen=1")
    expect(page.locator("#guarantee-notice")).to_be_visible()
    expect(page.locator(f"#change-{red.change_id}")).to_have_count(0)
    # The guarantee itself stays, now with its claim.
    expect(page.locator("#guarantees-list")).to_contain_text(red.order)
    assert_fits_the_screen(page)
