"""The browser suite's own plumbing: the server answers, and pages stay on it."""

from __future__ import annotations

import pytest
from playwright.sync_api import Error, Page, expect

from tests.browser.conftest import Browsing


def test_home_opens_on_the_viewport(page: Page, browsing: Browsing) -> None:
    response = page.goto("/")
    assert response is not None
    assert response.ok, response.status
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.locator("header.top .brand")).to_have_text("akarom")
    assert page.evaluate("window.innerWidth") == (390 if browsing.viewport == "phone" else 1280)
    # Nothing is wider than the screen: no sideways scrolling on a phone.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("viewport", ["desktop"], indirect=True)
def test_a_request_to_another_host_is_refused_and_recorded(browsing: Browsing) -> None:
    page = browsing.new_page()
    with pytest.raises(Error, match="ERR_BLOCKED_BY_CLIENT"):
        page.goto("https://example.com/")
    assert browsing.visit.foreign == ["https://example.com/"]
    browsing.visit.foreign.clear()  # seen: the fixture need not fail this test
