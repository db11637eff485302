"""The 赤ロム guarantee in the workspace and the REST API (web/guarantees.py,
web/api_guarantees.py), through the app in the test's own process.

Answers are stored as the carriers' checks store them (with a kept page each), a sale is
registered through the form or the API, and a × is found as the monitor finds one
(``claim_due`` → the answer recorded → ``recheck_answered`` opening the claim), so the
pages show what the staff would meet.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session

from akarom.domain import Carrier, Status
from akarom.services.advising import today_in_japan
from akarom.services.guarantees import IntakeRequest, SellerIdentity, record_intake, sealer_for
from akarom.storage import Store
from akarom.storage.guarantees import ClaimStatus, open_claim
from akarom.texts import text
from akarom.web.security import EVIDENCE_CSP
from tests.storage.helpers import IMEI, OTHER_TAC, SAME_TAC, observation, page
from tests.web.conftest import BASE, PASSWORD, Served, sandbox_app, serving
from tests.web.test_dealer import csrf_of, login

PROBLEM = "application/problem+json"
#: Never checked by anybody in these tests (a valid check digit).
UNCHECKED = "490154203237518"
CUSTOMER = {"name": "鈴木 花子", "email": "hanako@example.jp", "phone": "090-1234-5678"}
SELLER = SellerIdentity("山田 太郎", "東京都千代田区千代田1-1", "会社員", 34, "運転免許証", "1234")


# --- what the tests build (the browser test builds the same) ---------------------------


def checked(store: Store, imei: str, status: Status = Status.OK, *, hours_ago: float = 1) -> int:
    """docomo's answer for ``imei``, kept with its page, as a check before the sale."""
    at = datetime.now(UTC) - timedelta(hours=hours_ago)
    kept = page(f"<html><body>{imei} {status.symbol}</body></html>".encode("shift_jis"))
    return store.record(observation(imei, Carrier.DOCOMO, status, at=at), [kept]).id


def found_restricted(store: Store, imei: str, *, days_later: int = 2) -> int:
    """The monitor's next re-check of ``imei`` at docomo answers ×: the change is
    written and a claim opened, as ``services.monitor`` does. Returns the change's id.

    Only this device's watch is taken (it is the earliest due); it is then due again
    far in the future, so a later call finds the next device's.
    """
    now = datetime.now(UTC) + timedelta(days=days_later)
    due = store.claim_due(
        Carrier.DOCOMO,
        now=now,
        day=now.date(),
        budget=1_000_000,
        most=1_000,
        lease=timedelta(hours=1),
    )
    [watch] = [w for w in due if w.imei == imei]
    kept = page(f"<html><body>{imei} ×</body></html>".encode("shift_jis"))
    answer = store.record(observation(imei, Carrier.DOCOMO, Status.RESTRICTED, at=now), [kept])

    def claimed(session: Session, change: int, guarantee: int) -> None:
        open_claim(session, guarantee, change, actor="monitor", at=now)

    [change_id] = store.recheck_answered(
        watch,
        status=Status.RESTRICTED,
        observation_id=answer.id,
        checked_at=answer.checked_at,
        next_due_at=now + timedelta(days=3650),
        on_change=claimed,
    )
    return change_id


async def signed_in(served: Served, dealer: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=served.app), base_url=BASE)
    answer = await login(client, f"admin-{dealer.lower()}@example.jp", PASSWORD)
    assert answer.status_code == 303, answer.text
    return client


@pytest.fixture
async def staff(served: Served) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """A signed-in browser session per dealer ("A", "B")."""
    clients = {name: await signed_in(served, name) for name in ("A", "B")}
    yield clients
    for client in clients.values():
        await client.aclose()


async def sell(served: Served, imei: str, order: str, dealer: str = "A", **extra: Any) -> int:
    answer = await served.client.post(
        "/api/v1/guarantees",
        json={"imei": imei, "order_ref": order, "sold_on": today_in_japan().isoformat(), **extra},
        headers=served.auth(dealer),
    )
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


async def form(
    client: httpx.AsyncClient, url: str, data: dict[str, str], *, source: str = "/dealer/guarantees"
) -> httpx.Response:
    """POST ``data`` to ``url`` with the CSRF token of the page at ``source``."""
    shown = await client.get(source)
    assert shown.status_code == 200, shown.text
    return await client.post(url, data={"csrf": csrf_of(shown.text), **data})


def section(html: str, section_id: str) -> str:
    found = re.search(rf'<section class="card" id="{section_id}">(.*?)</section>', html, re.S)
    assert found, f"no section {section_id}"
    return found.group(1)


def sale_form(imei: str, order: str, **extra: str) -> dict[str, str]:
    return {
        "imei": imei,
        "order_ref": order,
        "sold_on": today_in_japan().isoformat(),
        "kind": "lifetime_red",
        **extra,
    }


# --- the workspace -------------------------------------------------------------------------


async def test_the_guarantee_page_is_behind_the_login(served: Served) -> None:
    answer = await served.client.get("/dealer/guarantees")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/dealer/login"


async def test_a_sale_registered_in_the_workspace_is_listed_without_the_customer(
    served: Served, staff: dict[str, httpx.AsyncClient]
) -> None:
    checked(served.hub.store, IMEI)
    data = sale_form(
        "35-209900-176148-1",
        "R-1001",
        price="49,800",
        customer_name=CUSTOMER["name"],
        customer_email=CUSTOMER["email"],
    )
    answer = await form(staff["A"], "/dealer/guarantees", data)
    assert answer.status_code == 303, answer.text
    listed = await staff["A"].get(answer.headers["location"])
    assert "注文 R-1001 を保証に登録しました。" in listed.text
    table = section(listed.text, "guarantee-list")
    assert "R-1001" in table
    assert IMEI in table
    assert "赤ロム永久保証" in table
    assert text("verdict.clear.short", "ja") in table
    assert "保証中" in table
    assert CUSTOMER["name"] not in listed.text
    assert CUSTOMER["email"] not in listed.text
    [stored] = served.hub.store.guarantees(served.dealer_ids["A"])
    assert (stored.price, stored.created_by) == (49_800, "admin-a@example.jp")
    assert "nav-guarantees" in listed.text


@pytest.mark.parametrize(
    ("prepare", "imei", "status_code", "says"),
    [
        (None, UNCHECKED, 422, "まだ一度も確認されていません"),
        (Status.RESTRICTED, SAME_TAC, 422, "保証を付けて販売できません"),
        (None, "352099001761482", 422, "チェック用の数字が合いません"),
    ],
    ids=["never-checked", "red", "mistyped"],
)
async def test_a_refused_sale_says_why_in_japanese_and_keeps_the_form(
    served: Served,
    staff: dict[str, httpx.AsyncClient],
    prepare: Status | None,
    imei: str,
    status_code: int,
    says: str,
) -> None:
    if prepare is not None:
        checked(served.hub.store, imei, prepare)
    answer = await form(staff["A"], "/dealer/guarantees", sale_form(imei, "R-2001"))
    assert answer.status_code == status_code, answer.text
    error = re.search(r'<p class="error" id="sale-error" role="alert">(.*?)</p>', answer.text)
    assert error, answer.text
    assert says in error.group(1)
    assert 'value="R-2001"' in answer.text  # what was typed is kept
    assert served.hub.store.guarantees(served.dealer_ids["A"]) == []


async def test_a_taken_order_reference_is_a_conflict_in_the_form(
    served: Served, staff: dict[str, httpx.AsyncClient]
) -> None:
    checked(served.hub.store, IMEI)
    checked(served.hub.store, OTHER_TAC)
    await sell(served, IMEI, "R-3001")
    answer = await form(staff["A"], "/dealer/guarantees", sale_form(OTHER_TAC, "R-3001"))
    assert answer.status_code == 409
    assert "注文番号 R-3001 はすでに登録されています。" in answer.text
    english = await staff["A"].post(
        "/dealer/guarantees?lang=en",
        data={"csrf": csrf_of(answer.text), **sale_form(OTHER_TAC, "R-3001")},
    )
    assert "Order R-3001 is registered already." in english.text


async def test_an_open_red_change_comes_first_and_acknowledging_it_clears_it(
    served: Served, staff: dict[str, httpx.AsyncClient]
) -> None:
    store = served.hub.store
    checked(store, IMEI)
    await sell(served, IMEI, "R-4001")
    change_id = found_restricted(store, IMEI)
    shown = await staff["A"].get("/dealer/guarantees")
    html = shown.text
    assert html.index('id="open-changes"') < html.index('id="open-claims"')
    assert html.index('id="open-claims"') < html.index('id="guarantee-list"')
    changes = section(html, "open-changes")
    assert f'id="change-{change_id}"' in changes
    assert 'data-before="ok" data-after="restricted"' in changes
    assert '○</span> → <span class="status-restricted">×' in changes
    assert "R-4001" in changes
    assert IMEI in changes
    assert "JST" in changes
    [claim] = store.claims(served.dealer_ids["A"])
    assert f'href="/dealer/claims/{claim.id}"' in section(html, "open-claims")
    assert "請求あり" in section(html, "guarantee-list")

    seen = await staff["A"].post(
        f"/dealer/changes/{change_id}/acknowledge", data={"csrf": csrf_of(html)}
    )
    assert seen.status_code == 303
    after = await staff["A"].get(seen.headers["location"])
    assert "確認済みにしました。" in after.text
    assert 'id="changes-none"' in section(after.text, "open-changes")
    [change] = store.changes(served.dealer_ids["A"])
    assert change.acknowledged_by == "admin-a@example.jp"
    # Twice is harmless: the first acknowledgement stands.
    again = await staff["A"].post(
        f"/dealer/changes/{change_id}/acknowledge", data={"csrf": csrf_of(html)}
    )
    assert again.status_code == 303
    [same] = store.changes(served.dealer_ids["A"])
    assert same.acknowledged_at == change.acknowledged_at


async def test_forms_without_the_session_token_are_refused(
    served: Served, staff: dict[str, httpx.AsyncClient]
) -> None:
    store = served.hub.store
    checked(store, IMEI)
    checked(store, OTHER_TAC)
    await sell(served, IMEI, "R-5001")
    change_id = found_restricted(store, IMEI)
    [claim] = store.claims(served.dealer_ids["A"])
    client = staff["A"]
    for url, data in [
        ("/dealer/guarantees", sale_form(OTHER_TAC, "R-5002")),
        (f"/dealer/changes/{change_id}/acknowledge", {}),
        (f"/dealer/claims/{claim.id}/actions", {"action": "refund"}),
        ("/dealer/guarantees/1/claim", {}),
    ]:
        for token in ({}, {"csrf": "forged"}):
            answer = await client.post(url, data={**token, **data})
            assert answer.status_code == 403, url
    assert [g.order_ref for g in store.guarantees(served.dealer_ids["A"])] == ["R-5001"]
    assert store.changes(served.dealer_ids["A"], open_only=True)[0].id == change_id
    assert store.claims(served.dealer_ids["A"])[0].status is ClaimStatus.OPEN


async def test_the_claim_page_holds_the_file_and_the_personal_data(
    served: Served, staff: dict[str, httpx.AsyncClient]
) -> None:
    store = served.hub.store
    baseline_id = checked(store, IMEI)
    sealer = sealer_for(served.app.state.settings)
    intake = IntakeRequest(IMEI, today_in_japan() - timedelta(days=3), 30_000, SELLER)
    record_intake(store, sealer, served.dealer_ids["A"], intake, by="佐藤")
    await sell(served, IMEI, "R-6001", price=59_800, customer=CUSTOMER)
    found_restricted(store, IMEI)
    [claim] = store.claims(served.dealer_ids["A"])
    answer = await staff["A"].get(f"/dealer/claims/{claim.id}")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    html = answer.text
    assert 'data-status="open"' in html
    customer = section(html, "claim-customer")
    for value in CUSTOMER.values():
        assert value in customer
    seller = section(html, "claim-intake")
    assert SELLER.name in seller
    assert SELLER.address in seller
    assert "運転免許証" in seller
    sale = section(html, "claim-sale")
    assert "R-6001" in sale
    assert "59,800 円" in sale
    baseline = section(html, "claim-baseline")
    assert f'id="baseline-list-{baseline_id}"' in baseline
    later = section(html, "claim-since-sale")
    assert 'data-status="restricted"' in later
    links = re.findall(r'href="(/dealer/evidence/\d+/\d+)"', later)
    assert links
    evidence = await staff["A"].get(links[0])
    assert evidence.status_code == 200
    assert evidence.headers["content-security-policy"].startswith(EVIDENCE_CSP)
    assert "×".encode("shift_jis") in evidence.content
    assert "○ → ×" in section(html, "claim-changes").replace("</span>", "").replace(
        '<span class="status-ok">', ""
    ).replace('<span class="status-restricted">', "")
    assert "monitor" in section(html, "claim-actions")


async def test_settling_a_claim_records_who_and_a_rejection_needs_its_reason(
    served: Served, staff: dict[str, httpx.AsyncClient]
) -> None:
    store = served.hub.store
    checked(store, IMEI)
    await sell(served, IMEI, "R-7001")
    found_restricted(store, IMEI)
    [claim] = store.claims(served.dealer_ids["A"])
    page_url = f"/dealer/claims/{claim.id}"
    url = f"{page_url}/actions"
    client = staff["A"]

    no_reason = await form(client, url, {"action": "reject", "note": "  "}, source=page_url)
    assert no_reason.status_code == 422
    assert "却下するときは、その理由をメモに入れてください。" in no_reason.text
    noted = await form(client, url, {"action": "note", "note": "お客様に電話"}, source=page_url)
    assert noted.status_code == 303
    settled = await form(client, url, {"action": "exchange", "note": "同等品"}, source=page_url)
    assert settled.status_code == 303
    shown = await client.get(settled.headers["location"])
    assert "記録しました。" in shown.text
    assert 'data-status="exchange"' in shown.text
    assert 'id="act-form"' not in shown.text  # a settled claim takes no more actions
    done = store.claim_of(served.dealer_ids["A"], claim.id)
    assert done is not None
    assert done.status is ClaimStatus.EXCHANGE
    assert [(a.action, a.actor) for a in done.actions] == [
        ("opened", "monitor"),
        ("note", "admin-a@example.jp"),
        ("exchange", "admin-a@example.jp"),
    ]
    late = await client.post(url, data={"csrf": csrf_of(shown.text), "action": "refund"})
    assert late.status_code == 409
    assert "この請求はすでに決着しています。" in late.text


async def test_a_claim_is_opened_by_hand_when_the_customer_calls_first(
    served: Served, staff: dict[str, httpx.AsyncClient]
) -> None:
    checked(served.hub.store, IMEI)
    guarantee_id = await sell(served, IMEI, "R-7501")
    answer = await form(staff["A"], f"/dealer/guarantees/{guarantee_id}/claim", {})
    assert answer.status_code == 303
    shown = await staff["A"].get(answer.headers["location"])
    assert 'data-status="open"' in shown.text
    assert "お客様からの連絡で受け付けた請求です" in shown.text
    again = await form(staff["A"], f"/dealer/guarantees/{guarantee_id}/claim", {})
    assert again.status_code == 404  # one claim per guarantee


async def test_another_dealers_guarantees_changes_and_claims_are_not_found(
    served: Served, staff: dict[str, httpx.AsyncClient]
) -> None:
    store = served.hub.store
    checked(store, IMEI)
    guarantee_id = await sell(served, IMEI, "R-8001")
    change_id = found_restricted(store, IMEI)
    [claim] = store.claims(served.dealer_ids["A"])
    other = staff["B"]
    page_b = await other.get("/dealer/guarantees", params={"registered": guarantee_id})
    assert "R-8001" not in page_b.text  # not even in a "registered" notice
    assert 'id="changes-none"' in page_b.text
    token = csrf_of(page_b.text)
    missing = await other.get("/dealer/claims/999999")
    theirs = await other.get(f"/dealer/claims/{claim.id}")
    # Nothing tells "not yours" from "not there" (but the page's own address).
    assert theirs.status_code == missing.status_code == 404
    assert theirs.text == missing.text.replace("999999", str(claim.id))
    for answer in [
        await other.post(f"/dealer/changes/{change_id}/acknowledge", data={"csrf": token}),
        await other.post(f"/dealer/guarantees/{guarantee_id}/claim", data={"csrf": token}),
        await other.post(
            f"/dealer/claims/{claim.id}/actions", data={"csrf": token, "action": "refund"}
        ),
        await other.get(f"/dealer/devices/{IMEI}"),
        await other.get(f"/dealer/evidence/{store.history(IMEI)[-1].id}/0"),
    ]:
        assert answer.status_code == 404
    assert store.changes(served.dealer_ids["A"], open_only=True)[0].id == change_id
    assert store.claims(served.dealer_ids["A"])[0].status is ClaimStatus.OPEN
    # The dealer that sold it sees the device's answers, though it never checked it itself.
    assert (await staff["A"].get(f"/dealer/devices/{IMEI}")).status_code == 200


async def test_the_workspace_searches_guarantees_by_order_or_imei(
    served: Served, staff: dict[str, httpx.AsyncClient]
) -> None:
    checked(served.hub.store, IMEI)
    checked(served.hub.store, OTHER_TAC)
    await sell(served, IMEI, "R-9001")
    await sell(served, OTHER_TAC, "R-9002")
    by_order = await staff["A"].get("/dealer/guarantees", params={"q": "R-9002"})
    listed = section(by_order.text, "guarantee-list")
    assert ("R-9002" in listed, "R-9001" in listed) == (True, False)
    by_imei = await staff["A"].get("/dealer/guarantees", params={"q": "35-209900-176148-1"})
    listed = section(by_imei.text, "guarantee-list")
    assert ("R-9001" in listed, "R-9002" in listed) == (True, False)
    nothing = await staff["A"].get("/dealer/guarantees", params={"q": "X-1"})
    assert 'id="guarantees-none"' in nothing.text
    english = await staff["A"].get("/dealer/guarantees", params={"lang": "en"})
    assert "Register a sale under guarantee" in english.text
    assert "Lifetime 赤ロム guarantee" in english.text


async def test_an_order_reference_on_two_lines_is_refused(
    served: Served, staff: dict[str, httpx.AsyncClient]
) -> None:
    checked(served.hub.store, IMEI)
    answer = await form(staff["A"], "/dealer/guarantees", sale_form(IMEI, "R-1\nR-2"))
    assert answer.status_code == 422
    assert "注文番号に使えない文字" in answer.text
    api = await served.client.post(
        "/api/v1/guarantees",
        json={"imei": IMEI, "order_ref": "R-1\u0000", "sold_on": today_in_japan().isoformat()},
        headers=served.auth("A"),
    )
    assert (api.status_code, api.headers["content-type"]) == (422, PROBLEM)
    assert served.hub.store.guarantees(served.dealer_ids["A"]) == []


# --- the REST API ------------------------------------------------------------------------


async def test_the_api_registers_a_sale_and_never_returns_the_customer(served: Served) -> None:
    checked(served.hub.store, IMEI)
    answer = await served.client.post(
        "/api/v1/guarantees",
        json={
            "imei": "35 209900 176148 1",
            "order_ref": "API-1",
            "sold_on": today_in_japan().isoformat(),
            "kind": "return_1y",
            "price": 45_000,
            "customer": CUSTOMER,
        },
        headers=served.auth("A"),
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert set(body) == {
        "id",
        "imei",
        "order_ref",
        "sold_on",
        "kind",
        "price",
        "terms",
        "term_until",
        "baseline_verdict",
        "status",
        "created_at",
    }
    assert (body["imei"], body["kind"], body["baseline_verdict"], body["status"]) == (
        IMEI,
        "return_1y",
        "clear",
        "active",
    )
    sold = date.fromisoformat(body["sold_on"])
    assert body["term_until"] == sold.replace(year=sold.year + 1).isoformat()
    listed = await served.client.get("/api/v1/guarantees", headers=served.auth("A"))
    assert listed.status_code == 200
    assert [g["order_ref"] for g in listed.json()["guarantees"]] == ["API-1"]
    for response in (answer, listed):
        for value in CUSTOMER.values():
            assert value not in response.text
    # The contact is kept, sealed: the workspace's claim page is where it is read.
    [stored] = served.hub.store.guarantees(served.dealer_ids["A"])
    assert stored.customer is not None
    assert CUSTOMER["name"].encode() not in stored.customer.ciphertext
    other = await served.client.get("/api/v1/guarantees", headers=served.auth("B"))
    assert other.json() == {"guarantees": [], "next": None}


@pytest.mark.parametrize(
    ("imei", "prepare", "error", "ja", "en"),
    [
        (UNCHECKED, None, "never_checked", "まだ一度も確認されていません", "never been checked"),
        (SAME_TAC, Status.RESTRICTED, "refused", "保証を付けて販売できません", "cannot be sold"),
        ("352099001761482", None, "checksum", "チェック用の数字が合いません", "check digit"),
    ],
)
async def test_an_api_refusal_is_422_with_its_reason(
    served: Served, imei: str, prepare: Status | None, error: str, ja: str, en: str
) -> None:
    if prepare is not None:
        checked(served.hub.store, imei, prepare)
    body = {"imei": imei, "order_ref": "API-2", "sold_on": today_in_japan().isoformat()}
    answer = await served.client.post("/api/v1/guarantees", json=body, headers=served.auth("A"))
    assert answer.status_code == 422
    assert answer.headers["content-type"] == PROBLEM
    problem = answer.json()
    assert (problem["status"], problem["error"]) == (422, error)
    assert ja in problem["detail"]
    english = await served.client.post(
        "/api/v1/guarantees", json=body, headers=served.auth("A"), params={"lang": "en"}
    )
    assert en in english.json()["detail"]


async def test_an_api_sale_with_a_taken_order_or_an_impossible_day_is_refused(
    served: Served,
) -> None:
    checked(served.hub.store, IMEI)
    checked(served.hub.store, OTHER_TAC)
    await sell(served, IMEI, "API-3")
    taken = await served.client.post(
        "/api/v1/guarantees",
        json={"imei": OTHER_TAC, "order_ref": "API-3", "sold_on": today_in_japan().isoformat()},
        headers=served.auth("A"),
    )
    assert taken.status_code == 409
    assert (taken.headers["content-type"], taken.json()["error"]) == (PROBLEM, "order_taken")
    # Another dealer has its own order references.
    assert (await sell(served, OTHER_TAC, "API-3", dealer="B")) > 0
    for sold_on in ("9999-12-31", "0001-01-01", (today_in_japan() + timedelta(days=5)).isoformat()):
        far = await served.client.post(
            "/api/v1/guarantees",
            json={"imei": OTHER_TAC, "order_ref": "API-4", "sold_on": sold_on},
            headers=served.auth("A"),
        )
        assert far.status_code == 422
        assert far.json()["error"] == "date_range"
    own = await served.client.post(
        "/api/v1/guarantees",
        json={
            "imei": OTHER_TAC,
            "order_ref": "API-5",
            "sold_on": today_in_japan().isoformat(),
            "kind": "own",
        },
        headers=served.auth("A"),
    )
    assert (own.status_code, own.json()["error"]) == (422, "own_terms")


async def test_api_changes_are_listed_and_acknowledged_for_their_dealer_only(
    served: Served,
) -> None:
    store = served.hub.store
    checked(store, IMEI)
    await sell(served, IMEI, "API-6")
    change_id = found_restricted(store, IMEI)
    opened = await served.client.get(
        "/api/v1/changes", params={"open": "true"}, headers=served.auth("A")
    )
    assert opened.status_code == 200
    [change] = opened.json()["changes"]
    assert change["id"] == change_id
    assert (change["order_ref"], change["imei"], change["carrier"]) == ("API-6", IMEI, "docomo")
    assert (change["before_symbol"], change["after_symbol"]) == ("○", "×")
    assert (change["after_status"], change["acknowledged"]) == ("restricted", False)
    assert change["detected_at"].endswith("+09:00")

    url = f"/api/v1/changes/{change_id}/acknowledge"
    refused = await served.client.post(url, headers=served.auth("B"))
    assert (refused.status_code, refused.headers["content-type"]) == (404, PROBLEM)
    assert (await served.client.get("/api/v1/changes", headers=served.auth("B"))).json()[
        "changes"
    ] == []
    seen = await served.client.post(url, headers=served.auth("A"))
    assert seen.status_code == 200, seen.text
    assert seen.json()["acknowledged"] is True
    assert "acknowledged_by" not in seen.json()
    still = await served.client.get(
        "/api/v1/changes", params={"open": "true"}, headers=served.auth("A")
    )
    assert still.json()["changes"] == []
    every = await served.client.get("/api/v1/changes", headers=served.auth("A"))
    assert [c["id"] for c in every.json()["changes"]] == [change_id]
    assert (await served.client.post(url)).status_code == 401
    missing = await served.client.post(
        "/api/v1/changes/999999/acknowledge", headers=served.auth("A")
    )
    assert missing.status_code == 404
    assert missing.json()["detail"] == refused.json()["detail"]


async def test_api_lists_page_with_next(served: Served) -> None:
    for n, imei in enumerate((IMEI, OTHER_TAC, SAME_TAC)):
        checked(served.hub.store, imei)
        await sell(served, imei, f"API-P{n}")
    first = await served.client.get(
        "/api/v1/guarantees", params={"limit": 2}, headers=served.auth("A")
    )
    assert [g["order_ref"] for g in first.json()["guarantees"]] == ["API-P2", "API-P1"]
    rest = await served.client.get(first.json()["next"], headers=served.auth("A"))
    assert [g["order_ref"] for g in rest.json()["guarantees"]] == ["API-P0"]
    assert rest.json()["next"] is None


async def test_api_changes_page_with_next(served: Served) -> None:
    store = served.hub.store
    found = []
    for n, imei in enumerate((IMEI, OTHER_TAC, SAME_TAC)):
        checked(store, imei)
        await sell(served, imei, f"API-C{n}")
        found.append(found_restricted(store, imei))
    first = await served.client.get(
        "/api/v1/changes", params={"limit": 2}, headers=served.auth("A")
    )
    assert [c["id"] for c in first.json()["changes"]] == found[:0:-1]
    assert [c["order_ref"] for c in first.json()["changes"]] == ["API-C2", "API-C1"]
    rest = await served.client.get(first.json()["next"], headers=served.auth("A"))
    assert [c["order_ref"] for c in rest.json()["changes"]] == ["API-C0"]
    assert rest.json()["next"] is None


async def test_the_guarantee_endpoints_are_in_the_openapi_schema(served: Served) -> None:
    paths = served.app.openapi()["paths"]
    assert {"post", "get"} <= set(paths["/api/v1/guarantees"])
    assert "get" in paths["/api/v1/changes"]
    assert "post" in paths["/api/v1/changes/{change_id}/acknowledge"]
    assert not any(path.startswith("/dealer") for path in paths)


@pytest.mark.postgres
async def test_the_guarantee_pages_and_api_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    """The same path as above on PostgreSQL: sold, found ×, seen, settled."""
    async with serving(tmp_path, sandbox_app(), database_url=postgres_url) as served:
        assert served.hub.store.engine.dialect.name == "postgresql"
        store = served.hub.store
        checked(store, IMEI)
        client = await signed_in(served, "A")
        try:
            data = sale_form(IMEI, "PG-1", customer_name=CUSTOMER["name"], terms="箱あり\n付属品")
            assert (await form(client, "/dealer/guarantees", data)).status_code == 303
            change_id = found_restricted(store, IMEI)
            listed = await served.client.get(
                "/api/v1/changes", params={"open": "true"}, headers=served.auth("A")
            )
            assert [c["id"] for c in listed.json()["changes"]] == [change_id]
            seen = await form(client, f"/dealer/changes/{change_id}/acknowledge", {})
            assert seen.status_code == 303
            [claim] = store.claims(served.dealer_ids["A"])
            shown = await client.get(f"/dealer/claims/{claim.id}")
            assert CUSTOMER["name"] in shown.text
            url = f"/dealer/claims/{claim.id}"
            rejected = await form(
                client, f"{url}/actions", {"action": "reject", "note": "水濡れ"}, source=url
            )
            assert rejected.status_code == 303
            done = store.claim_of(served.dealer_ids["A"], claim.id)
            assert done is not None
            assert (done.status, done.reason) == (ClaimStatus.REJECTED, "水濡れ")
        finally:
            await client.aclose()
