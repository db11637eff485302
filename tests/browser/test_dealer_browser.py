"""The dealer workspace in a real browser: sign in, upload a list, watch it, download it,
look at a device, and answer a carrier's captcha from the queue.

Each run uploads IMEIs no other test checks (made here, with a valid check digit), so
the carriers are really asked and the progress moves while the page watches.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from stdnum import luhn

from akarom.domain import Carrier
from akarom.sandbox import Mode
from akarom.services.options import Role
from akarom.services.reports import ADVICE_COLUMNS
from akarom.texts import text
from akarom.web.demo import DEMO_DEVICES
from tests.browser.conftest import Browsing, LiveServer, shoot
from tests.browser.test_public_browser import assert_fits_the_screen, assert_not_reloaded, mark_page


def fresh_imeis(prefix: str, count: int) -> list[str]:
    """``count`` valid IMEIs starting ``prefix`` (8-digit TAC + serial), checked by nobody yet.

    The demo's sandbox has no record of them: every carrier answers "-".
    """
    bodies = [f"{prefix}{n:0{14 - len(prefix)}d}" for n in range(1, count + 1)]
    return [body + luhn.calc_check_digit(body) for body in bodies]


def arrival_list(imeis: list[str], *, invalid: bool = True) -> bytes:
    """A dealer's 入荷リスト as Excel writes it: Shift_JIS, a management number, notes."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["管理番号", "製造番号(IMEI)", "機種"])
    for n, imei in enumerate(imeis, start=1):
        writer.writerow([f"K-{n:03d}", imei, "スマートフォン"])
    if invalid:
        writer.writerow([f"K-{len(imeis) + 1:03d}", "35209900176148", "14桁（1桁不足）"])
    return out.getvalue().encode("cp932")


@pytest.fixture
def dealer(browsing: Browsing, live_server: LiveServer) -> Page:
    """A page signed in as the demo dealer's admin (the login screen is photographed)."""
    page = browsing.new_page()
    page.goto("/dealer/")
    page.wait_for_url("**/dealer/login")
    assert_fits_the_screen(page)
    shoot(page, f"dealer-login-{browsing.viewport}")
    page.locator("#login-email").fill(live_server.dealer_email)
    page.locator("#login-password").fill(live_server.dealer_password)
    page.locator("#login-submit").click()
    page.wait_for_url("**/dealer/")
    expect(page.locator("#upload-form")).to_be_visible()
    return page


def upload(page: Page, tmp_path: Path, data: bytes, *, all_carriers: bool = False) -> None:
    page.goto("/dealer/")
    listing = tmp_path / "入荷リスト.csv"
    listing.write_bytes(data)
    page.locator("#upload-file").set_input_files(listing)
    if all_carriers:
        page.locator("#upload-all-carriers").check()
    page.locator("#upload-submit").click()
    page.wait_for_url("**/dealer/batches/*")
    expect(page.locator("#batch-name")).to_contain_text("入荷リスト")


def test_an_uploaded_list_progresses_live_and_its_report_downloads(
    dealer: Page, browsing: Browsing, tmp_path: Path
) -> None:
    page = dealer
    demo = [DEMO_DEVICES["clear"], DEMO_DEVICES["caution"], DEMO_DEVICES["red"]]
    prefix = "35291001" if browsing.viewport == "phone" else "35291002"
    upload(page, tmp_path, arrival_list(demo + fresh_imeis(prefix, 3)))
    mark_page(page)
    live = page.locator("#batch-live")
    done = page.locator("#batch-done")
    first_seen = done.inner_text()
    expect(live).not_to_have_attribute("data-status", "done")
    # The count moves on the page while it stays open: fragments replace it in place.
    expect(done).not_to_have_text(first_seen)
    expect(live).to_have_attribute("data-status", "done")
    assert_not_reloaded(page)
    expect(page.locator("#batch-total")).to_have_text("7")
    expect(done).to_have_text("7")
    expect(page.locator("#batch-progress")).to_have_attribute("value", "7")
    rows = page.locator("#batch-rows tr.batch-row")
    expect(rows).to_have_count(7)
    expect(page.locator("#batch-rows tr.batch-row[data-verdict=red]")).to_have_count(1)
    expect(page.locator("#batch-rows tr.batch-row[data-verdict=caution]")).to_have_count(1)
    expect(page.locator("#batch-rows tr.batch-row[data-verdict=invalid]")).to_have_count(1)
    expect(page.locator("#batch-verdicts li[data-verdict=red] .count")).to_have_text("1")
    shoot(page, f"dealer-batch-{browsing.viewport}")

    with page.expect_download() as downloading:
        page.locator("#report-link").click()
    download = downloading.value
    assert download.suggested_filename.endswith(".csv"), download.suggested_filename
    report = Path(download.path()).read_bytes()
    assert report.startswith(b"\xef\xbb\xbf"), "the report is UTF-8 with a BOM (for Excel)"
    table = list(csv.reader(io.StringIO(report.decode("utf-8-sig"))))
    header = table[0]
    assert "管理番号" in header
    assert "verdict" in header
    missing = [c for c in ADVICE_COLUMNS[Role.DEALER] if c not in header]
    assert not missing, f"the report lacks the dealer's advice columns {missing}: {header}"
    assert len(table) == 1 + 7
    verdicts = [row[header.index("verdict")] for row in table[1:]]
    assert verdicts.count("red") == 1

    # The red device's page: each carrier's answer, and what the carrier's page said.
    browsing.expect_console_error("/dealer/evidence/")
    page.locator("#batch-rows tr.batch-row[data-verdict=red] a.device-link").click()
    page.wait_for_url(f"**/dealer/devices/{DEMO_DEVICES['red']}")
    expect(page.locator("#device-imei")).to_have_text(DEMO_DEVICES["red"])
    expect(page.locator("#history-table tr.observation[data-status=restricted]")).to_have_count(1)
    shoot(page, f"dealer-device-{browsing.viewport}")

    page.goto("/dealer/")
    expect(page.locator("#runs-table tr.run[data-status=done]").first).to_be_visible()
    assert_fits_the_screen(page)
    shoot(page, f"dealer-home-{browsing.viewport}")


def test_one_device_checked_at_the_counter(dealer: Page, browsing: Browsing) -> None:
    """Intake: type the IMEI in the workspace, the answers arrive, the dealer's advice."""
    page = dealer
    page.locator("#check-imei").fill(DEMO_DEVICES["caution"])
    page.locator("#check-submit").click()
    page.wait_for_url("**/dealer/checks/*")
    mark_page(page)
    expect(page.locator("#verdict")).to_have_attribute("data-verdict", "caution", timeout=20_000)
    assert_not_reloaded(page)
    expect(page.locator("#tab-dealer")).to_have_attribute("aria-current", "page")
    assert_fits_the_screen(page)
    shoot(page, f"dealer-check-{browsing.viewport}")


@pytest.fixture
def docomo_asks_for_captchas(live_server: LiveServer) -> Iterator[None]:
    """docomo's sandbox in captcha mode (its legacy flow) for one test."""
    live_server.carrier_mode(Carrier.DOCOMO, Mode.CAPTCHA)
    yield
    live_server.carrier_mode(Carrier.DOCOMO, Mode.NORMAL)


@pytest.mark.usefixtures("docomo_asks_for_captchas")
def test_a_captcha_is_answered_from_the_queue(
    dealer: Page, browsing: Browsing, live_server: LiveServer, tmp_path: Path
) -> None:
    page = dealer
    prefix = "35291003" if browsing.viewport == "phone" else "35291004"
    (imei,) = fresh_imeis(prefix, 1)
    upload(page, tmp_path, arrival_list([imei], invalid=False), all_carriers=True)
    batch = page.url
    # docomo shows a captcha: the list waits for a person, and says where to go.
    expect(page.locator("#batch-challenges")).to_be_visible()
    page.locator("#batch-queue-link").click()
    page.wait_for_url("**/dealer/queue")
    challenge = page.locator("article.challenge[data-kind=captcha][data-carrier=docomo]")
    expect(challenge).to_have_count(1)
    expect(challenge).to_contain_text(imei)
    challenge_id = challenge.get_attribute("data-id")
    image = page.locator(f"#captcha-image-{challenge_id}")
    expect(image).to_be_visible()
    assert image.evaluate("img => img.complete && img.naturalWidth > 0"), "no captcha image"
    assert_fits_the_screen(page)
    shoot(page, f"dealer-queue-{browsing.viewport}")

    # A person reads the code off the image; the sandbox's blank image sends it aside.
    page.locator(f"#answer-{challenge_id}").fill(live_server.last_captcha_code())
    page.locator(f"#answer-button-{challenge_id}").click()
    expect(page.locator("#queue-error")).to_have_count(0)
    expect(page.locator(f"#challenge-error-{challenge_id}")).to_have_count(0)
    expect(page.locator(f"#challenge-{challenge_id}")).to_have_count(0)

    # docomo answers once the code is right: the list finishes, every carrier answered.
    page.goto(batch)
    live = page.locator("#batch-live")
    expect(live).to_have_attribute("data-status", "done")
    row = page.locator("#batch-rows tr.batch-row").first
    expect(row).to_have_attribute("data-verdict", "clear")
    expect(row).to_contain_text(text("verdict.clear.short", "ja"))
