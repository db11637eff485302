"""The public check page in a real browser, on a phone and on a desktop.

A person types an IMEI (or photographs the box label), presses 確認, and watches the
carriers' answers arrive on the page, which is never reloaded: the verdict, its words,
and the advice for their role. Each screen's screenshot goes to ``docs/screenshots/``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from akarom.texts import text
from akarom.web.demo import DEMO_DEVICES
from tests.browser.conftest import Browsing, LiveServer, shoot
from tests.labels import box_label

#: The verdict each demo device gets: "none" is "-" at all four carriers, which is clear.
EXPECTED = {"clear": "clear", "caution": "caution", "red": "red", "none": "clear"}


def press(button: Locator, browsing: Browsing) -> None:
    """A tap on the phone, a click on the desktop."""
    if browsing.viewport == "phone":
        button.tap()
    else:
        button.click()


def mark_page(page: Page) -> None:
    """Marks the loaded document: the mark survives only if the page is never reloaded."""
    page.evaluate("window.akaromNotReloaded = true")


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("window.akaromNotReloaded === true"), "the page was reloaded"


def check_by_typing(page: Page, browsing: Browsing, imei: str) -> None:
    page.goto("/")
    page.locator("#imei").press_sequentially(imei)
    press(page.locator("#check-button"), browsing)
    page.wait_for_url("**/c/*")


def wait_for_verdict(page: Page, verdict: str) -> None:
    """The verdict arrives in place (polled fragments), with its words in Japanese."""
    live = page.locator("#live")
    expect(live).to_have_attribute("data-finished", "true")
    shown = page.locator("#verdict")
    expect(shown).to_have_attribute("data-verdict", verdict)
    expect(shown).to_contain_text(text(f"verdict.{verdict}.headline", "ja"))
    expect(shown).to_contain_text(text(f"verdict.{verdict}.short", "ja"))
    # Every carrier asked has answered: none is still waiting.
    expect(page.locator("#results li.result[data-state=waiting]")).to_have_count(0)
    expect(page.locator("#advice-summary")).to_be_visible()


def assert_fits_the_screen(page: Page) -> None:
    """No sideways scrolling: nothing is wider than the viewport."""
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("device", list(DEMO_DEVICES))
def test_a_typed_imei_gets_its_verdict_live(page: Page, browsing: Browsing, device: str) -> None:
    check_by_typing(page, browsing, DEMO_DEVICES[device])
    mark_page(page)
    wait_for_verdict(page, EXPECTED[device])
    assert_not_reloaded(page)
    page.reload()  # the IMEI heads the page once the job has a row
    expect(page.locator("#imei-shown")).to_contain_text(DEMO_DEVICES[device])
    assert_fits_the_screen(page)
    expect(page.locator("#tab-buyer")).to_have_attribute("aria-current", "page")
    shoot(page, f"public-{device}-{browsing.viewport}")


def test_the_seller_tab_shows_where_it_may_be_listed(page: Page, browsing: Browsing) -> None:
    check_by_typing(page, browsing, DEMO_DEVICES["red"])
    wait_for_verdict(page, "red")
    press(page.locator("#tab-seller"), browsing)
    expect(page.locator("#tab-seller")).to_have_attribute("aria-current", "page")
    expect(page.locator("#advice")).to_have_attribute("data-role", "seller")
    marketplaces = page.locator("#marketplaces li[data-marketplace]")
    expect(marketplaces).to_have_count(3)
    # A 赤ロム device may not be listed anywhere.
    expect(page.locator("#marketplaces li[data-allowed=true]")).to_have_count(0)
    wait_for_verdict(page, "red")
    shoot(page, f"public-seller-{browsing.viewport}")


def test_a_mistyped_imei_shows_the_reason_and_asks_nobody(
    page: Page, browsing: Browsing, live_server: LiveServer
) -> None:
    before = live_server.sandbox.stats_json()
    page.goto("/")
    wrong_check_digit = DEMO_DEVICES["clear"][:-1] + "2"
    page.locator("#imei").press_sequentially(wrong_check_digit)
    # The refusal is the form again, with HTTP 422: Chromium logs that as a console error.
    browsing.expect_console_error("status of 422")
    with page.expect_response("**/check") as answer:
        press(page.locator("#check-button"), browsing)
    assert answer.value.status == 422
    error = page.locator("#imei-error")
    expect(error).to_have_attribute("data-error", "checksum")
    expect(error).to_contain_text(text("verdict.invalid.headline", "ja"))
    expect(page.locator("#imei")).to_have_value(wrong_check_digit)
    assert "/c/" not in page.url
    assert live_server.sandbox.stats_json()["carriers"] == before["carriers"], "a carrier was asked"
    assert_fits_the_screen(page)
    shoot(page, f"public-invalid-{browsing.viewport}")


def test_a_photo_of_the_box_label_offers_both_imeis(
    page: Page, browsing: Browsing, tmp_path: Path
) -> None:
    first, second = DEMO_DEVICES["clear"], DEMO_DEVICES["caution"]
    photo = tmp_path / "label.png"
    photo.write_bytes(box_label([first, second], rotate_deg=4, noise=True))
    page.goto("/")
    # Choosing the photo sends it at once (one tap on a phone).
    with page.expect_navigation(url="**/scan"):
        page.locator("#photo").set_input_files(photo)
    result = page.locator("#scan-result")
    expect(result).to_have_attribute("data-found", "2")
    candidates = page.locator("#candidates li.candidate")
    expect(candidates).to_have_count(2)
    expect(candidates.nth(0)).to_have_attribute("data-imei", first)
    expect(candidates.nth(1)).to_have_attribute("data-imei", second)
    assert_fits_the_screen(page)
    shoot(page, f"public-photo-{browsing.viewport}")
    press(page.locator("#check-1"), browsing)
    page.wait_for_url("**/c/*")
    wait_for_verdict(page, "clear")
