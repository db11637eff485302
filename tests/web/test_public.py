"""The public check page: ``/``, ``/check``, ``/c/{key}``, ``/scan`` (web/public.py)."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from akarom.domain import Carrier
from akarom.storage import JobKind, JobSource, JobStatus, NewJob
from akarom.texts import Lang, text
from akarom.web.app import create_app
from tests.labels import box_label
from tests.services.conftest import (
    OK_AT_DOCOMO,
    PENDING_AT_SOFTBANK,
    RESTRICTED_AT_AU,
    UNREGISTERED,
)
from tests.web.conftest import sandbox_app, web_settings

SANDBOX = "http://sandbox.test"
#: A second valid IMEI for a dual-SIM label (the IMEI2 beside OK_AT_DOCOMO).
IMEI2 = "356938035643809"


@dataclass
class Site:
    app: FastAPI
    client: httpx.AsyncClient
    sandbox: httpx.AsyncClient

    async def csrf(self, path: str = "/") -> str:
        form = await self.client.get(path)
        found = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert found, form.text
        return found.group(1)

    async def check(self, imei: str, *, role: str = "buyer") -> httpx.Response:
        token = await self.csrf()
        return await self.client.post("/check", data={"csrf": token, "imei": imei, "role": role})

    async def finished(self, key: str) -> None:
        """Polls the live fragment as the page's script does, until the check is over."""
        for _ in range(400):
            live = await self.client.get(f"/c/{key}/live")
            assert live.status_code == 200
            if 'data-finished="true"' in live.text:
                assert "data-poll" not in live.text
                return
            assert "data-poll" in live.text
            await asyncio.sleep(0.05)
        raise AssertionError(f"check {key} did not finish")

    async def sandbox_requests(self) -> int:
        stats = (await self.sandbox.get("/_sandbox/stats")).json()
        return sum(carrier["requests"] for carrier in stats["carriers"].values())


OpenSite = Callable[..., Any]


@pytest.fixture
def open_site(tmp_path: Path) -> OpenSite:
    """``async with open_site(carriers={...}, checks_per_hour=n) as site``: the app with
    the sandbox as every carrier, its lifespan (Hub, job runner) running."""

    @asynccontextmanager
    async def opened(
        carriers: dict[str, Any] | None = None, checks_per_hour: int = 100, demo: bool = False
    ) -> AsyncIterator[Site]:
        transport = httpx.ASGITransport(app=sandbox_app(carriers=carriers, seed=3))
        app = create_app(
            web_settings(tmp_path),
            transports=dict.fromkeys(Carrier, transport),
            public_checks_per_hour=checks_per_hour,
            demo=demo,
        )
        async with app.router.lifespan_context(app):
            client = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://testserver"
            )
            sandbox = httpx.AsyncClient(transport=transport, base_url=SANDBOX)
            async with client, sandbox:
                yield Site(app, client, sandbox)

    return opened


def words(response: httpx.Response) -> str:
    return html.unescape(response.text)


def key_of(response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    found = re.fullmatch(r"/c/([0-9a-f]{32})\?role=(buyer|seller)", response.headers["location"])
    assert found, response.headers["location"]
    return found.group(1)


# --- the form --------------------------------------------------------------------------


async def test_the_form_is_ready_for_a_phone(open_site: OpenSite) -> None:
    async with open_site() as site:
        page = await site.client.get("/")
    assert page.status_code == 200
    body = page.text
    field = re.search(r"<input[^>]*\bid=\"imei\"[^>]*>", body, re.S)
    assert field
    for attribute in ('name="imei"', 'inputmode="numeric"', 'autocomplete="off"'):
        assert attribute in field.group(0)
    assert 'id="check-button"' in body
    photo = re.search(r"<input[^>]*\bid=\"photo\"[^>]*>", body, re.S)
    assert photo
    for attribute in ('type="file"', 'name="photo"', 'accept="image/*"', 'capture="environment"'):
        assert attribute in photo.group(0)
    assert re.search(
        r'<form id="scan-form"[^>]*enctype="multipart/form-data"[^>]*data-autosubmit', body
    )
    assert 'id="role-buyer" checked' in body
    assert "*#06#" in body
    assert text("explain.symbol.pending.title") in words(page)
    assert 'id="demo-devices"' not in body  # only in the demo


async def test_the_demo_offers_its_devices_in_one_tap(open_site: OpenSite) -> None:
    async with open_site(demo=True) as site:
        page = await site.client.get("/?lang=en&role=seller")
    assert 'id="demo-red"' in page.text
    assert 'value="353325101234569"' in page.text
    assert 'id="role-seller" checked' in page.text
    assert text("explain.symbol.pending.seller", "en") in words(page)


async def test_the_page_is_light_and_loads_nothing_from_elsewhere(open_site: OpenSite) -> None:
    async with open_site(demo=True) as site:
        page = await site.client.get("/")
        assets = re.findall(r'<(?:script|link|img)[^>]*(?:src|href)="([^"]+)"', page.text)
        assert assets, page.text
        weight = len(page.content)
        for asset in assets:
            assert re.match(r"/[^/]", asset), asset
            loaded = await site.client.get(asset)
            assert loaded.status_code == 200
            weight += len(loaded.content)
    assert weight < 100_000, weight
    assert "http://" not in page.text
    assert "https://" not in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("352099001761482", "checksum"),  # one digit mistyped
        ("35209900176148", "length"),  # the check digit missing
        ("35209900I761481", "characters"),  # a letter I for a one
        ("3520990017614812345", "length"),
        ("", "empty"),
    ],
)
async def test_a_mistyped_imei_is_explained_and_nothing_is_asked(
    open_site: OpenSite, typed: str, code: str
) -> None:
    async with open_site() as site:
        answer = await site.check(typed)
        assert answer.status_code == 422
        assert await site.sandbox_requests() == 0
        english = await site.client.post(
            "/check?lang=en", data={"csrf": await site.csrf(), "imei": typed}
        )
    assert f'data-error="{code}"' in answer.text
    key = "imei.length.14" if typed == "35209900176148" else f"imei.{code}"
    assert text(key, "ja") in words(answer)
    assert text(key, "en") in words(english)
    assert f'value="{typed}"' in answer.text  # the input is kept for correcting
    assert text("verdict.invalid.headline", "en") in words(english)


async def test_hostile_input_is_shown_as_text(open_site: OpenSite) -> None:
    hostile = '"><script>alert(1)</script>'
    async with open_site() as site:
        answer = await site.check(hostile)
    assert answer.status_code == 422
    assert "<script>alert(1)</script>" not in answer.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in answer.text
    assert hostile in words(answer)


async def test_a_form_without_its_token_is_refused(open_site: OpenSite) -> None:
    async with open_site() as site:
        await site.client.get("/")  # a session exists; the token is simply not sent
        answer = await site.client.post("/check", data={"imei": OK_AT_DOCOMO})
        scan = await site.client.post("/scan", files={"photo": ("a.png", b"x", "image/png")})
        assert await site.sandbox_requests() == 0
    assert answer.status_code == 403
    assert text("web.error.csrf.title") in words(answer)
    assert scan.status_code == 403


async def test_over_the_limit_a_page_says_when_to_come_back(open_site: OpenSite) -> None:
    async with open_site(checks_per_hour=2) as site:
        await site.check("352099001761482")  # a typo is not counted
        key_of(await site.check(OK_AT_DOCOMO))
        key_of(await site.check(OK_AT_DOCOMO))
        refused = await site.check(PENDING_AT_SOFTBANK)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 3600
    assert 'id="retry-after"' in refused.text
    minutes = re.search(r"約(\d+)分後", refused.text)
    assert minutes
    assert 1 <= int(minutes.group(1)) <= 60
    assert text("web.error.429.title") in words(refused)


# --- the result ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("imei", "carriers", "verdict"),
    [
        (OK_AT_DOCOMO, None, "clear"),
        (PENDING_AT_SOFTBANK, None, "caution"),
        (RESTRICTED_AT_AU, None, "red"),
        (UNREGISTERED, {"docomo": {"mode": "blocked"}}, "incomplete"),
    ],
)
async def test_every_verdict_is_said_in_words_in_both_languages(
    open_site: OpenSite, imei: str, carriers: dict[str, Any] | None, verdict: str
) -> None:
    async with open_site(carriers=carriers) as site:
        key = key_of(await site.check(imei))
        await site.finished(key)
        pages: dict[Lang, httpx.Response] = {
            lang: await site.client.get(f"/c/{key}?lang={lang}") for lang in ("ja", "en")
        }
    for lang, shown in pages.items():
        assert shown.status_code == 200
        assert f'data-verdict="{verdict}"' in shown.text
        assert f'class="verdict {verdict}"' in shown.text
        said = words(shown)
        assert text(f"verdict.{verdict}.headline", lang) in said
        assert text(f"verdict.{verdict}.short", lang) in said
        assert 'http-equiv="refresh"' not in shown.text  # finished: no more reloading
        if verdict != "clear":
            assert 'data-verdict="clear"' not in shown.text
        # every answer says when and where it came from
        assert text("label.source.live", lang) in said
        assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d JST", said)
        assert 'id="advice-summary"' in shown.text
    english = words(pages["en"])
    if verdict == "incomplete":
        docomo = re.search(
            r'<li class="result" data-carrier="docomo".*?</li>', pages["en"].text, re.S
        )
        assert docomo
        assert 'data-state="unknown"' in docomo.group(0)
        assert text("web.public.unknown", "en") in html.unescape(docomo.group(0))
        assert 'class="manual-link" data-carrier="docomo"' in docomo.group(0)
        assert text("web.public.unknown_not_safe", "en") in english


async def test_a_seller_sees_where_it_may_be_listed(open_site: OpenSite) -> None:
    async with open_site() as site:
        key = key_of(await site.check(RESTRICTED_AT_AU, role="seller"))
        await site.finished(key)
        seller = await site.client.get(f"/c/{key}?role=seller&lang=en")
        buyer = await site.client.get(f"/c/{key}?lang=en")
    assert 'id="tab-seller" href="/c/' in seller.text
    assert re.search(r'id="tab-seller"[^>]*aria-current="page"', seller.text)
    for place in ("mercari", "yahoo", "rakuma"):
        assert f'data-marketplace="{place}" data-allowed="false"' in seller.text
    assert text("web.public.listing.refused", "en") in words(seller)
    assert 'id="marketplaces"' not in buyer.text
    assert re.search(r'id="tab-buyer"[^>]*aria-current="page"', buyer.text)


async def test_the_answers_appear_while_the_check_runs(open_site: OpenSite) -> None:
    slow = {carrier: {"latency_ms": 400} for carrier in ("au", "softbank", "rakuten")}
    async with open_site(carriers=slow) as site:
        key = key_of(await site.check(UNREGISTERED))
        first = await site.client.get(f"/c/{key}")
        await site.finished(key)
    assert first.status_code == 200
    assert 'data-verdict="checking"' in first.text
    assert f'data-poll="/c/{key}/live?role=buyer"' in first.text
    assert '<noscript><meta http-equiv="refresh" content="2"></noscript>' in first.text
    assert 'data-verdict="clear"' not in first.text


async def test_only_the_key_of_a_public_check_opens_it(open_site: OpenSite) -> None:
    async with open_site() as site:
        store = site.app.state.hub.store
        dealer = store.create_dealer("shop")
        theirs, _ = store.create_job(
            NewJob(kind=JobKind.CHECK, source=JobSource.WEB, dealer_id=dealer.id)
        )
        answers = [
            await site.client.get(path)
            for path in (
                f"/c/{theirs.key}",
                f"/c/{theirs.key}/live",
                "/c/" + "0" * 32,
                "/c/not-a-key",
                "/c/" + "A" * 32,
            )
        ]
    assert [answer.status_code for answer in answers] == [404] * 5


# --- the photo -------------------------------------------------------------------------


async def test_a_box_label_offers_both_imeis_before_checking(open_site: OpenSite) -> None:
    label = box_label([OK_AT_DOCOMO, IMEI2])
    async with open_site() as site:
        token = await site.csrf()
        read = await site.client.post(
            "/scan?lang=en",
            data={"csrf": token, "role": "seller"},
            files={"photo": ("label.png", label, "image/png")},
        )
        assert await site.sandbox_requests() == 0  # nothing asked before a choice
    assert read.status_code == 200
    offered = re.findall(r'<li class="candidate" data-imei="(\d+)"', read.text)
    assert offered == [OK_AT_DOCOMO, IMEI2]
    buttons = re.findall(r'<form method="post" action="/check".*?</form>', read.text, re.S)
    assert len(buttons) == 2
    assert f'name="imei" value="{IMEI2}"' in buttons[1]
    assert 'name="role" value="seller"' in buttons[0]
    assert f'name="csrf" value="{token}"' in buttons[0]


@pytest.mark.parametrize(
    ("photo", "reason"), [(b"not a picture at all", "unreadable"), (b"", "missing")]
)
async def test_a_photo_that_cannot_be_read_says_so(
    open_site: OpenSite, photo: bytes, reason: str
) -> None:
    async with open_site() as site:
        read = await site.client.post(
            "/scan",
            data={"csrf": await site.csrf()},
            files={"photo": ("photo.jpg", photo, "image/jpeg")},
        )
    assert read.status_code == 200
    assert f'data-reason="{reason}"' in read.text
    said = words(read)
    expected = (
        text("photo.unreadable") if reason == "unreadable" else text("web.public.scan.missing")
    )
    assert expected in said
    assert 'id="scan-tips"' in read.text
    assert 'id="candidates"' not in read.text


async def test_scans_are_limited_per_address(open_site: OpenSite) -> None:
    async with open_site() as site:
        site.app.state.public_scan_limit = "1/hour"
        token = await site.csrf()
        sent = [
            await site.client.post(
                "/scan", data={"csrf": token}, files={"photo": ("p.jpg", b"x", "image/jpeg")}
            )
            for _ in range(2)
        ]
    assert [answer.status_code for answer in sent] == [200, 429]
    assert 'data-scope="public-scan"' in sent[1].text


@pytest.mark.parametrize(
    "stored",
    [
        None,  # failed before any carrier answered
        {"imei": OK_AT_DOCOMO, "verdict": "bogus", "results": [], "done": True},
        {"imei": OK_AT_DOCOMO, "verdict": None, "results": "??", "done": False},
    ],
)
async def test_a_check_without_a_readable_verdict_never_looks_clear(
    open_site: OpenSite, stored: dict[str, Any] | None
) -> None:
    async with open_site() as site:
        store = site.app.state.hub.store
        job, _ = store.create_job(
            NewJob(kind=JobKind.CHECK, source=JobSource.WEB, input=OK_AT_DOCOMO.encode())
        )
        if stored is not None:
            store.put_job_result(job.id, 0, OK_AT_DOCOMO, stored)
        store.finish_job(job.id, JobStatus.FAILED, "boom")
        shown = await site.client.get(f"/c/{job.key}?lang=en")
    assert shown.status_code == 200
    assert 'data-verdict="failed"' in shown.text
    assert 'class="verdict incomplete"' in shown.text
    assert "clear" not in shown.text
    assert text("web.public.failed.title", "en") in words(shown)
    assert "data-poll" not in shown.text
