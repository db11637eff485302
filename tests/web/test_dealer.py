"""The dealer workspace (web/dealer.py): login, batches, the staff queue, devices, tenants.

The app runs in the test's event loop over ``httpx.ASGITransport``, its carriers are
the sandbox in the same process, and its jobs run as the server's own tasks.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from akarom.domain import Carrier, Source, Status
from akarom.services.accounts import create_dealer
from akarom.storage import NewObservation, StoredDealer
from akarom.storage.tables import User
from akarom.web.app import create_app
from akarom.web.security import EVIDENCE_CSP
from tests.services.conftest import (
    OK_AT_DOCOMO,
    PENDING_AT_SOFTBANK,
    RESTRICTED_AT_AU,
    UNREGISTERED,
)
from tests.web.conftest import CaptchaCodes, sandbox_app, web_settings

SANDBOX = "http://sandbox.test"
PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Workspace:
    app: FastAPI
    sandbox: CaptchaCodes
    dealers: dict[str, StoredDealer] = field(default_factory=dict)
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    def client(self, address: str = "127.0.0.1") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=(address, 50000))
        client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        self.clients.append(client)
        return client

    async def signed_in(self, email: str) -> httpx.AsyncClient:
        client = self.client()
        response = await login(client, email, PASSWORD)
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/dealer/"
        return client


Opener = Callable[..., Any]


@pytest.fixture
def workspace(tmp_path: Path) -> Opener:
    """``async with workspace(carriers={...}) as ws``: the app, dealers "a" and "b"."""

    @asynccontextmanager
    async def open_workspace(
        carriers: dict[str, Any] | None = None, devices: dict[str, Any] | None = None
    ) -> AsyncIterator[Workspace]:
        app = sandbox_app(carriers=carriers, devices=devices, seed=3)
        sandbox = CaptchaCodes(httpx.ASGITransport(app=app))
        settings = web_settings(tmp_path)
        app = create_app(settings, transports=dict.fromkeys(Carrier, sandbox))
        async with app.router.lifespan_context(app):
            store = app.state.hub.store
            ws = Workspace(app, sandbox)
            for name in ("a", "b"):
                ws.dealers[name] = await asyncio.to_thread(
                    create_dealer, store, f"dealer {name}", f"{name}@example.jp", PASSWORD
                )
            try:
                yield ws
            finally:
                for client in ws.clients:
                    await client.aclose()

    return open_workspace


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


async def login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    form = await client.get("/dealer/login")
    assert form.status_code == 200
    return await client.post(
        "/dealer/login",
        data={"csrf": csrf_of(form.text), "email": email, "password": password},
    )


async def upload(
    client: httpx.AsyncClient, rows: list[str], *, name: str = "stock.csv", **form: str
) -> str:
    """Upload a CSV with an IMEI column; the batch's key."""
    home = await client.get("/dealer/")
    body = io.StringIO()
    writer = csv.writer(body)
    writer.writerow(["管理番号", "IMEI"])
    writer.writerows([str(n), imei] for n, imei in enumerate(rows, 1))
    response = await client.post(
        "/dealer/batches",
        data={"csrf": csrf_of(home.text), **form},
        files={"file": (name, body.getvalue().encode("utf-8"), "text/csv")},
    )
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith("/dealer/batches/")
    return location.rsplit("/", 1)[1]


async def status_of(client: httpx.AsyncClient, key: str) -> str:
    live = await client.get(f"/dealer/batches/{key}/live", headers={"X-Fragment": "1"})
    assert live.status_code == 200
    found = re.search(r'id="batch-live"[^>]*data-status="(\w+)"', live.text)
    assert found
    return found.group(1)


async def until_status(
    client: httpx.AsyncClient, key: str, wanted: set[str], within: float = 30
) -> str:
    deadline = asyncio.get_running_loop().time() + within
    while (status := await status_of(client, key)) not in wanted:
        assert asyncio.get_running_loop().time() < deadline, f"still {status}"
        await asyncio.sleep(0.05)
    return status


# --- signing in -------------------------------------------------------------------


async def test_login_logout_and_a_wrong_password(workspace) -> None:
    async with workspace() as ws:
        client = ws.client()
        away = await client.get("/dealer/")
        assert (away.status_code, away.headers["location"]) == (303, "/dealer/login")
        # A polled fragment of a signed-out page gets 401, not the login page.
        fragment = await client.get("/dealer/queue/live", headers={"X-Fragment": "1"})
        assert fragment.status_code == 401

        wrong = await login(client, "a@example.jp", "not the password")
        unknown = await login(client, "nobody@example.jp", "not the password")
        assert wrong.status_code == unknown.status_code == 400
        assert 'id="login-error"' in wrong.text
        # One message: it never says whether the address has an account.
        error = re.compile(r'id="login-error"[^>]*>([^<]+)<')
        assert error.search(wrong.text).group(1) == error.search(unknown.text).group(1)

        anonymous = client.cookies.get("akarom_session")
        signed = await login(client, "A@Example.JP", PASSWORD)
        assert (signed.status_code, signed.headers["location"]) == (303, "/dealer/")
        assert client.cookies.get("akarom_session") != anonymous
        home = await client.get("/dealer/")
        assert home.status_code == 200
        assert 'id="upload-form"' in home.text
        assert "a@example.jp" in home.text
        assert (await client.get("/dealer/login")).headers["location"] == "/dealer/"

        out = await client.post("/dealer/logout", data={"csrf": csrf_of(home.text)})
        assert (out.status_code, out.headers["location"]) == (303, "/dealer/login")
        assert (await client.get("/dealer/")).status_code == 303


async def test_a_post_without_the_csrf_token_is_refused(workspace) -> None:
    async with workspace() as ws:
        client = ws.client()
        await client.get("/dealer/login")
        refused = await client.post(
            "/dealer/login", data={"email": "a@example.jp", "password": PASSWORD}
        )
        assert refused.status_code == 403
        signed = await ws.signed_in("a@example.jp")
        for path in ("/dealer/batches", "/dealer/logout", "/dealer/queue/1", "/dealer/users"):
            response = await signed.post(path, data={"csrf": "forged"})
            assert response.status_code == 403, path
        assert (await signed.get("/dealer/")).status_code == 200  # still signed in


async def test_login_attempts_are_limited_per_address_and_per_email(workspace) -> None:
    async with workspace() as ws:
        client = ws.client("192.0.2.1")
        for _ in range(10):
            assert (await login(client, "a@example.jp", "wrong password")).status_code == 400
        over = await login(client, "a@example.jp", PASSWORD)
        assert over.status_code == 429
        assert int(over.headers["retry-after"]) > 0
        # Another address, same account: still refused (the e-mail's own limit).
        elsewhere = await login(ws.client("192.0.2.2"), "a@example.jp", PASSWORD)
        assert elsewhere.status_code == 429
        # Another account from a fresh address is not affected.
        other = await login(ws.client("192.0.2.3"), "b@example.jp", PASSWORD)
        assert other.status_code == 303


async def test_a_disabled_user_is_signed_out(workspace) -> None:
    async with workspace() as ws:
        client = await ws.signed_in("a@example.jp")
        store = ws.app.state.hub.store
        with store.engine.begin() as connection:
            connection.execute(
                update(User)
                .where(User.email == "a@example.jp")
                .values(disabled_at=datetime.now(UTC))
            )
        assert (await client.get("/dealer/")).headers["location"] == "/dealer/login"
        assert (await login(ws.client(), "a@example.jp", PASSWORD)).status_code == 400


# --- a batch from upload to report ---------------------------------------------------


async def test_upload_progress_and_the_dealer_report(workspace) -> None:
    hostile = "<script>alert(1)</script>"
    async with workspace() as ws:
        client = await ws.signed_in("a@example.jp")
        key = await upload(
            client,
            [OK_AT_DOCOMO, PENDING_AT_SOFTBANK, RESTRICTED_AT_AU, UNREGISTERED, hostile],
            name="<img src=x onerror=alert(1)>在庫.csv",
        )
        page = await client.get(f"/dealer/batches/{key}")
        assert page.status_code == 200
        assert "&lt;img src=x onerror=alert(1)&gt;在庫.csv" in page.text
        assert "<img src=x" not in page.text
        assert await until_status(client, key, {"done", "failed"}) == "done"

        done = await client.get(f"/dealer/batches/{key}")
        assert 'data-poll="' not in done.text  # finished: no more polling
        assert 'id="batch-progress" value="5" max="5"' in done.text
        assert hostile not in done.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in done.text
        assert 'id="report-link"' in done.text
        assert 'id="cancel-button"' not in done.text
        verdicts = dict(
            re.findall(
                r'data-verdict="(\w+)"><span class="label">[^<]*</span> '
                r'<strong class="count">(\d+)',
                done.text,
            )
        )
        assert verdicts == {"clear": "2", "caution": "1", "red": "1", "invalid": "1"}

        home = await client.get("/dealer/")
        assert f'data-key="{key}" data-status="done"' in home.text
        assert "&lt;img src=x onerror=alert(1)&gt;在庫.csv" in home.text

        report = await client.get(f"/dealer/batches/{key}/report")
        assert report.status_code == 200
        disposition = report.headers["content-disposition"]
        assert disposition.startswith('attachment; filename="')
        ascii_name = re.search(r'filename="([^"]+)"', disposition).group(1)
        assert ascii_name.isascii()
        assert ascii_name.endswith(".csv")
        assert "<" not in ascii_name
        real = re.search(r"filename\*=UTF-8''(\S+)", disposition).group(1)
        assert unquote(real) == "<img src=x onerror=alert(1)>在庫-akarom.csv"
        assert report.content.startswith(b"\xef\xbb\xbf")
        rows = list(csv.DictReader(io.StringIO(report.content.decode("utf-8-sig"))))
        assert [row["IMEI"] for row in rows][:4] == [
            OK_AT_DOCOMO,
            PENDING_AT_SOFTBANK,
            RESTRICTED_AT_AU,
            UNREGISTERED,
        ]
        for column in ("imei_normalized", "verdict", "docomo", "buyback", "guarantee", "advice"):
            assert column in rows[0], column
        assert rows[4]["verdict"] == "invalid"


async def test_an_unusable_file_is_said_on_the_home_page(workspace) -> None:
    async with workspace() as ws:
        client = await ws.signed_in("a@example.jp")
        home = await client.get("/dealer/")
        response = await client.post(
            "/dealer/batches",
            data={"csrf": csrf_of(home.text)},
            files={"file": ("stock.xls", b"\xd0\xcf\x11\xe0", "application/vnd.ms-excel")},
        )
        assert response.status_code == 400
        assert 'id="upload-error"' in response.text
        empty = await client.post(
            "/dealer/batches",
            data={"csrf": csrf_of(home.text), "column": "nope"},
            files={"file": ("stock.csv", b"IMEI\n1\n", "text/csv")},
        )
        assert empty.status_code == 400
        assert 'id="upload-error"' in empty.text


async def test_cancel_then_resume(workspace) -> None:
    slow = {name: {"latency_ms": 150} for name in ("docomo", "au", "softbank", "rakuten")}
    async with workspace(carriers=slow) as ws:
        client = await ws.signed_in("a@example.jp")
        imeis = [OK_AT_DOCOMO, PENDING_AT_SOFTBANK, RESTRICTED_AT_AU, UNREGISTERED] * 3
        key = await upload(client, imeis)
        page = await client.get(f"/dealer/batches/{key}")
        assert 'id="cancel-button"' in page.text
        assert 'id="resume-button"' not in page.text
        cancelled = await client.post(
            f"/dealer/batches/{key}/cancel", data={"csrf": csrf_of(page.text)}
        )
        assert (cancelled.status_code, cancelled.headers["location"]) == (
            303,
            f"/dealer/batches/{key}",
        )
        assert await until_status(client, key, {"cancelled"}) == "cancelled"
        page = await client.get(f"/dealer/batches/{key}")
        assert 'id="resume-button"' in page.text
        assert 'id="report-link"' not in page.text
        assert (await client.get(f"/dealer/batches/{key}/report")).status_code == 404

        resumed = await client.post(
            f"/dealer/batches/{key}/resume", data={"csrf": csrf_of(page.text)}
        )
        assert resumed.status_code == 303
        assert await until_status(client, key, {"done", "failed"}) == "done"
        assert (await client.get(f"/dealer/batches/{key}/report")).status_code == 200


# --- the staff queue -------------------------------------------------------------


async def test_a_captcha_appears_in_the_queue_and_an_answer_closes_it(workspace) -> None:
    async with workspace(carriers={"docomo": {"mode": "captcha"}}) as ws:
        client = await ws.signed_in("a@example.jp")
        other = await ws.signed_in("b@example.jp")
        key = await upload(client, [OK_AT_DOCOMO])

        deadline = asyncio.get_running_loop().time() + 30
        while (
            'class="card challenge"'
            not in (
                live := await client.get("/dealer/queue/live?after=0", headers={"X-Fragment": "1"})
            ).text
        ):
            assert 'data-poll="/dealer/queue/live?after=0"' in live.text
            assert asyncio.get_running_loop().time() < deadline, "no captcha was posted"
            await asyncio.sleep(0.05)
        assert "data-poll" not in live.text  # shown: polling stops, typing is never lost
        challenge_id = int(re.search(r'id="challenge-(\d+)"', live.text).group(1))

        batch = await client.get(f"/dealer/batches/{key}")
        assert 'id="batch-challenges"' in batch.text
        home = await client.get("/dealer/")
        assert 'id="queue-count">1<' in home.text

        queue = await client.get("/dealer/queue")
        assert f'src="/dealer/queue/{challenge_id}/image"' in queue.text
        assert f'data-poll="/dealer/queue/live?after={challenge_id}"' in queue.text
        image = await client.get(f"/dealer/queue/{challenge_id}/image")
        assert image.status_code == 200
        assert image.headers["content-type"].startswith("image/")
        assert image.headers["cache-control"] == "no-store"

        # Another dealer sees nothing of it, and cannot answer it.
        assert (await other.get(f"/dealer/queue/{challenge_id}/image")).status_code == 404
        other_queue = await other.get("/dealer/queue")
        assert f'id="challenge-{challenge_id}"' not in other_queue.text
        stolen = await other.post(
            f"/dealer/queue/{challenge_id}",
            data={"csrf": csrf_of(other_queue.text), "answer": ws.sandbox.codes[-1]},
        )
        assert stolen.status_code == 404

        token = csrf_of(queue.text)
        typo = await client.post(
            f"/dealer/queue/{challenge_id}", data={"csrf": token, "answer": "abc"}
        )
        assert typo.status_code == 400
        assert f'id="challenge-error-{challenge_id}"' in typo.text
        answered = await client.post(
            f"/dealer/queue/{challenge_id}",
            data={"csrf": token, "answer": ws.sandbox.codes[-1], "action": "answer"},
        )
        assert (answered.status_code, answered.headers["location"]) == (
            303,
            "/dealer/queue?done=answered",
        )
        again = await client.post(
            f"/dealer/queue/{challenge_id}", data={"csrf": token, "answer": "1234"}
        )
        assert again.status_code == 409
        assert 'id="queue-error"' in again.text

        assert await until_status(client, key, {"done", "failed"}) == "done"
        challenge = ws.app.state.hub.store.challenge(challenge_id, tenant=str(ws.dealers["a"].id))
        assert challenge.closed_by == "a@example.jp"
        device = await client.get(f"/dealer/devices/{OK_AT_DOCOMO}")
        assert 'data-status="ok"' in device.text


async def test_a_blocked_carriers_page_is_read_by_a_person(workspace) -> None:
    async with workspace(carriers={"au": {"mode": "blocked"}}) as ws:
        client = await ws.signed_in("a@example.jp")
        key = await upload(client, [RESTRICTED_AT_AU])
        deadline = asyncio.get_running_loop().time() + 30
        while 'data-kind="page"' not in (queue := await client.get("/dealer/queue")).text:
            assert asyncio.get_running_loop().time() < deadline, "no page to read was posted"
            await asyncio.sleep(0.05)
        challenge_id = int(re.search(r'id="challenge-(\d+)"', queue.text).group(1))
        link = re.search(r'<a class="page-link"[^>]*>', queue.text).group(0)
        assert 'rel="noreferrer noopener"' in link
        assert 'target="_blank"' in link
        assert 'href="http' in link
        for symbol in ("○", "△", "×", "-"):
            assert f'value="{symbol}"' in queue.text
        answered = await client.post(
            f"/dealer/queue/{challenge_id}", data={"csrf": csrf_of(queue.text), "answer": "×"}
        )
        assert answered.status_code == 303
        assert 'id="queue-notice"' in (await client.get("/dealer/queue?done=answered")).text
        assert await until_status(client, key, {"done", "failed"}) == "done"
        device = await client.get(f"/dealer/devices/{RESTRICTED_AT_AU}")
        assert 'data-status="restricted"' in device.text
        assert "a@example.jp" in device.text


# --- devices, evidence, search -----------------------------------------------------


async def test_device_page_and_evidence_in_a_sandbox(workspace) -> None:
    async with workspace() as ws:
        client = await ws.signed_in("a@example.jp")
        key = await upload(client, [OK_AT_DOCOMO])
        assert await until_status(client, key, {"done", "failed"}) == "done"

        device = await client.get(f"/dealer/devices/{OK_AT_DOCOMO}")
        assert device.status_code == 200
        assert 'class="symbol status-ok">○<' in device.text
        frame = re.search(r'<iframe class="evidence" sandbox src="([^"]+)"', device.text)
        assert frame, "the evidence is shown in a sandboxed frame"
        links = re.findall(r'class="evidence-link" href="([^"]+)"', device.text)
        assert frame.group(1) in links

        evidence = await client.get(frame.group(1))
        assert evidence.status_code == 200
        assert evidence.headers["content-type"].startswith("text/html; charset=")
        csp = evidence.headers["content-security-policy"]
        assert csp.startswith(EVIDENCE_CSP)
        assert "sandbox" in csp
        assert "script-src" not in csp
        assert evidence.headers["x-content-type-options"] == "nosniff"
        assert evidence.headers["x-frame-options"] == "SAMEORIGIN"  # the device page frames it
        assert evidence.content  # the kept bytes, as the carrier sent them
        assert (await client.get("/dealer/evidence/999999/1")).status_code == 404
        observation = frame.group(1).rsplit("/", 1)[0]
        assert (await client.get(f"{observation}/999")).status_code == 404

        assert (await client.get(f"/dealer/devices/{UNREGISTERED}")).status_code == 404
        assert (await client.get("/dealer/devices/<script>")).status_code == 404


async def test_search_by_imei(workspace) -> None:
    async with workspace() as ws:
        client = await ws.signed_in("a@example.jp")
        key = await upload(client, [OK_AT_DOCOMO, PENDING_AT_SOFTBANK])
        assert await until_status(client, key, {"done", "failed"}) == "done"

        exact = await client.get("/dealer/search", params={"imei": "35-209900-176148-1"})
        assert (exact.status_code, exact.headers["location"]) == (
            303,
            f"/dealer/devices/{OK_AT_DOCOMO}",
        )
        prefix = await client.get("/dealer/search", params={"imei": "3520"})
        assert prefix.status_code == 200
        assert f'href="/dealer/devices/{OK_AT_DOCOMO}"' in prefix.text
        assert PENDING_AT_SOFTBANK not in prefix.text
        hostile = "<img src=x onerror=alert(1)>"
        missing = await client.get("/dealer/search", params={"imei": hostile})
        assert missing.status_code == 404
        assert 'id="search-none"' in missing.text
        assert hostile not in missing.text
        assert "&lt;img src=x" in missing.text
        unknown = await client.get("/dealer/search", params={"imei": UNREGISTERED})
        assert unknown.status_code == 404


async def test_one_device_checked_at_the_counter(workspace) -> None:
    async with workspace() as ws:
        a = await ws.signed_in("a@example.jp")
        home = await a.get("/dealer/")
        assert 'id="check-form"' in home.text
        wrong = await a.post(
            "/dealer/checks", data={"csrf": csrf_of(home.text), "imei": "352099001761482"}
        )
        assert wrong.status_code == 422
        assert 'id="check-error"' in wrong.text
        assert "352099001761482" in wrong.text  # what was typed stays in the field

        sent = await a.post(
            "/dealer/checks", data={"csrf": csrf_of(home.text), "imei": RESTRICTED_AT_AU}
        )
        assert sent.status_code == 303
        url = sent.headers["location"]
        assert url.startswith("/dealer/checks/")
        deadline = asyncio.get_running_loop().time() + 30
        while 'data-finished="true"' not in (live := await a.get(f"{url}/live")).text:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
        assert 'data-verdict="red"' in live.text
        shown = await a.get(url)
        assert 'id="tab-dealer" href=' in shown.text
        assert 'aria-current="page"' in shown.text
        # Now one of this dealer's devices; nobody else's, and no public page either.
        assert (await a.get(f"/dealer/devices/{RESTRICTED_AT_AU}")).status_code == 200
        b = await ws.signed_in("b@example.jp")
        assert (await b.get(url)).status_code == 404
        assert (await b.get(f"/dealer/devices/{RESTRICTED_AT_AU}")).status_code == 404
        key = url.rsplit("/", 1)[1]
        assert (await ws.client().get(f"/c/{key}")).status_code == 404


# --- tenants --------------------------------------------------------------------------


async def test_another_dealer_sees_nothing_of_a_dealers_work(workspace) -> None:
    async with workspace() as ws:
        a = await ws.signed_in("a@example.jp")
        b = await ws.signed_in("b@example.jp")
        key = await upload(a, [OK_AT_DOCOMO])
        assert await until_status(a, key, {"done", "failed"}) == "done"
        device = await a.get(f"/dealer/devices/{OK_AT_DOCOMO}")
        evidence = re.search(r'class="evidence-link" href="([^"]+)"', device.text).group(1)
        assert (await a.get(evidence)).status_code == 200

        for path in (
            f"/dealer/batches/{key}",
            f"/dealer/batches/{key}/live",
            f"/dealer/batches/{key}/report",
            f"/dealer/devices/{OK_AT_DOCOMO}",
            evidence,
        ):
            assert (await b.get(path)).status_code == 404, path
        token = csrf_of((await b.get("/dealer/")).text)
        for action in ("cancel", "resume"):
            response = await b.post(f"/dealer/batches/{key}/{action}", data={"csrf": token})
            assert response.status_code == 404, action
        search = await b.get("/dealer/search", params={"imei": OK_AT_DOCOMO})
        assert search.status_code == 404
        assert key not in (await b.get("/dealer/")).text
        assert await status_of(a, key) == "done"  # untouched


async def test_a_reading_by_another_dealers_staff_does_not_name_them(workspace) -> None:
    """Answers are one cache for every dealer; the names of who read them by hand are not."""
    async with workspace() as ws:
        store = ws.app.state.hub.store
        reading = NewObservation(
            imei=UNREGISTERED,
            carrier=Carrier.AU,
            status=Status.OK,
            checked_at=datetime.now(UTC),
            source=Source.MANUAL,
            printed_symbol="○",
            entered_by="a@example.jp",
        )
        await asyncio.to_thread(store.record, reading)
        for name in ("a", "b"):
            dealer = ws.dealers[name].id
            await asyncio.to_thread(
                store.note_dealer_devices, dealer, [UNREGISTERED], datetime.now(UTC)
            )
        own = await (await ws.signed_in("a@example.jp")).get(f"/dealer/devices/{UNREGISTERED}")
        other = await (await ws.signed_in("b@example.jp")).get(f"/dealer/devices/{UNREGISTERED}")
        assert "a@example.jp" in own.text
        assert other.status_code == 200
        assert "○" in other.text  # the answer itself is shared
        assert "a@example.jp" not in other.text


# --- users -------------------------------------------------------------------------


async def test_an_admin_adds_staff_and_staff_cannot(workspace) -> None:
    async with workspace() as ws:
        admin = await ws.signed_in("a@example.jp")
        users = await admin.get("/dealer/users")
        assert users.status_code == 200
        assert 'id="add-user-form"' in users.text
        short = await admin.post(
            "/dealer/users",
            data={"csrf": csrf_of(users.text), "email": "staff@example.jp", "password": "short"},
        )
        assert short.status_code == 400
        assert 'id="add-user-error"' in short.text
        added = await admin.post(
            "/dealer/users",
            data={"csrf": csrf_of(users.text), "email": "Staff@Example.jp", "password": PASSWORD},
        )
        assert (added.status_code, added.headers["location"]) == (303, "/dealer/users?added=1")
        listed = await admin.get("/dealer/users?added=1")
        assert "staff@example.jp" in listed.text
        assert 'id="users-notice"' in listed.text
        taken = await admin.post(
            "/dealer/users",
            data={"csrf": csrf_of(users.text), "email": "b@example.jp", "password": PASSWORD},
        )
        assert taken.status_code == 400

        staff = await ws.signed_in("staff@example.jp")
        home = await staff.get("/dealer/")
        assert 'id="nav-users"' not in home.text
        assert (await staff.get("/dealer/users")).status_code == 403
        refused = await staff.post(
            "/dealer/users",
            data={"csrf": csrf_of(home.text), "email": "x@example.jp", "password": PASSWORD},
        )
        assert refused.status_code == 403
        # The staff member works for the same dealer as the admin.
        assert ws.app.state.hub.store.user_by_email("staff@example.jp").dealer_id == (
            ws.dealers["a"].id
        )
