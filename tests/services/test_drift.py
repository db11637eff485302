"""A page no template recognises: unknown, kept with its reason, logged once, counted by doctor."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx

from akarom.config import Settings
from akarom.domain import Carrier, Status, Verdict
from akarom.services import Checker, RetryPolicy
from akarom.services.doctor import page_drift
from akarom.storage import Store
from tests.carriers.pages import answer_page, page_text, with_text

IMEI = "352099001761481"
OTHER = "356938035643809"


def _maintenance_beside_a_placeholder() -> bytes:
    """docomo's answer page with a maintenance notice and a placeholder in the status panel."""
    page = answer_page(Carrier.DOCOMO, IMEI, "-", wording=False)
    text = page_text(page).replace(
        '<div class="lead outst">',
        '<p>ただいまメンテナンス中のため、ご利用いただけません。</p>\n<div class="lead outst">',
    )
    return with_text(page, text).content


async def test_refused_pages_are_unknown_kept_logged_once_and_counted(
    tmp_path: Path, caplog
) -> None:
    hostile = _maintenance_beside_a_placeholder()
    good = answer_page(Carrier.DOCOMO, OTHER, "○").content
    served = {IMEI: hostile, OTHER: good}

    def docomo(request: httpx.Request) -> httpx.Response:
        asked = request.content.decode().split("productno=")[1][:15]
        body = served[asked]
        return httpx.Response(
            200, headers={"content-type": "text/html; charset=Shift_JIS"}, content=body
        )

    settings = Settings.from_env(
        {
            "AKAROM_CARRIERS_URL": "http://docomo.test",
            "AKAROM_RATE_LIMIT": "1000",
            "AKAROM_DATA_DIR": str(tmp_path),
        }
    )
    with Store.open(None, tmp_path / "db") as store:
        checker = Checker(
            settings,
            transports={Carrier.DOCOMO: httpx.MockTransport(docomo)},
            retry=RetryPolicy(attempts=1, backoff_s=0.0),
            store=store,
            share_limits=False,
        )
        caplog.set_level(logging.INFO, logger="akarom.services.checks")
        async with checker:
            first = await checker.check(IMEI, carriers=[Carrier.DOCOMO], fresh=True)
            again = await checker.check(IMEI, carriers=[Carrier.DOCOMO], fresh=True)
            drifting = page_drift(store)
            recovered = await checker.check(OTHER, carriers=[Carrier.DOCOMO], fresh=True)

        result = first.results[0]
        assert (result.status, result.error, result.reason) == (
            Status.UNKNOWN,
            "unrecognised_page",
            "page structure",
        )
        assert first.verdict is Verdict.INCOMPLETE, "never clear from a page not recognised"
        assert again.results[0].status is Status.UNKNOWN
        stored = store.history(IMEI)[-1]
        assert stored.reason == "page structure"
        assert store.pages(stored.id), "the refused page is kept as evidence"

        docomo = drifting.carriers[0]
        assert (docomo.carrier, docomo.refused, docomo.read) == (Carrier.DOCOMO, 2, 0)
        assert drifting.stopped_matching == (Carrier.DOCOMO,)
        assert recovered.results[0].status is Status.OK
        assert page_drift(store).stopped_matching == ()

    stopped = [r for r in caplog.records if "no longer match" in r.getMessage()]
    back = [r for r in caplog.records if "match again" in r.getMessage()]
    assert len(stopped) == 1
    assert stopped[0].levelno == logging.ERROR
    assert len(back) == 1
