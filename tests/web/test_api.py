"""The REST API (INTERFACES.md §6) in-process, its carriers the sandbox."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from typing import Any

import httpx
import pytest

from akarom.services.accounts import revoke_api_key
from akarom.services.jobs import InProcessJobs
from akarom.storage import JobStatus
from tests.services.conftest import OK_AT_DOCOMO, PENDING_AT_SOFTBANK, RESTRICTED_AT_AU
from tests.web.conftest import Serve, Served, sandbox_app, serving

PROBLEM = "application/problem+json"
#: The keys of one line of ``akarom check --json`` (INTERFACES.md §3).
CHECK_KEYS = {"input", "imei", "verdict", "origin_carrier", "results", "advice"}
RESULT_KEYS = {"carrier", "status", "symbol", "checked_at", "source", "message", "error"}


async def finished(served: Served, url: str, dealer: str = "A") -> dict[str, Any]:
    """The batch at ``url`` once it is no longer queued or running."""
    for _ in range(400):
        answer = await served.client.get(url, headers=served.auth(dealer))
        assert answer.status_code == 200, answer.text
        if answer.json()["status"] not in ("queued", "running"):
            return dict(answer.json())
        await asyncio.sleep(0.025)
    raise AssertionError(f"{url} did not finish")


def json_lines(answer: httpx.Response) -> list[dict[str, Any]]:
    assert answer.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in answer.text.splitlines()]


async def test_one_check_answers_as_check_json(served: Served) -> None:
    answer = await served.client.post(
        "/api/v1/checks",
        json={"imei": "35-209900-176148-1", "role": "seller"},
        headers=served.auth("A"),
        params={"lang": "en"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert set(body) == CHECK_KEYS
    assert body["input"] == "35-209900-176148-1"
    assert (body["imei"], body["verdict"], body["origin_carrier"]) == (
        OK_AT_DOCOMO,
        "clear",
        "docomo",
    )
    docomo = next(result for result in body["results"] if result["carrier"] == "docomo")
    assert set(docomo) == RESULT_KEYS
    assert (docomo["status"], docomo["symbol"], docomo["source"]) == ("ok", "○", "live")
    assert body["advice"]["role"] == "seller"
    assert isinstance(body["advice"]["summary"], str)
    assert body["advice"]["actions"]
    assert served.hub.store.dealer_has_device(served.dealer_ids["A"], OK_AT_DOCOMO)
    assert not served.hub.store.dealer_has_device(served.dealer_ids["B"], OK_AT_DOCOMO)


async def test_a_check_that_meets_a_captcha_answers_at_once_and_never_clear(
    served: Served,
) -> None:
    """One HTTP request waits for no person: docomo stays unknown, nothing is queued."""
    await served.sandbox.put("/_sandbox/carriers/docomo", json={"mode": "captcha"})
    answer = await asyncio.wait_for(
        served.client.post(
            "/api/v1/checks",
            json={"imei": OK_AT_DOCOMO, "fresh": True},
            headers=served.auth("A"),
        ),
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["verdict"] == "incomplete"
    docomo = next(result for result in body["results"] if result["carrier"] == "docomo")
    assert (docomo["status"], docomo["error"]) == ("unknown", "captcha")
    assert served.hub.store.open_challenges(tenant=str(served.dealer_ids["A"])) == []


async def test_an_invalid_imei_is_422_with_its_code(served: Served) -> None:
    before = await served.sandbox_requests()
    answer = await served.client.post(
        "/api/v1/checks", json={"imei": "352099001761482"}, headers=served.auth("A")
    )
    assert answer.status_code == 422
    assert answer.headers["content-type"] == PROBLEM
    problem = answer.json()
    assert problem["status"] == 422
    assert problem["error"] == "checksum"
    assert problem["detail"]
    assert await served.sandbox_requests() == before  # nothing was sent anywhere


async def test_a_body_that_is_not_a_check_is_422(served: Served) -> None:
    for body in ({"imei": 12}, {"nope": 1}, {"imei": OK_AT_DOCOMO, "carriers": ["mvno"]}):
        answer = await served.client.post("/api/v1/checks", json=body, headers=served.auth("A"))
        assert answer.status_code == 422, body
        assert answer.headers["content-type"] == PROBLEM


async def test_a_batch_from_a_list_runs_to_the_end(served: Served) -> None:
    imeis = [OK_AT_DOCOMO, PENDING_AT_SOFTBANK, "123", RESTRICTED_AT_AU, OK_AT_DOCOMO]
    answer = await served.client.post(
        "/api/v1/batches", json={"imeis": imeis}, headers=served.auth("A")
    )
    assert answer.status_code == 202, answer.text
    accepted = answer.json()
    assert set(accepted) == {"id", "status", "url"}
    assert accepted["url"] == f"/api/v1/batches/{accepted['id']}"
    assert answer.headers["location"] == accepted["url"]

    batch = await finished(served, accepted["url"])
    assert batch == {
        "id": accepted["id"],
        "status": "done",
        "total": 5,
        "done": 5,
        "verdicts": {"clear": 2, "caution": 1, "invalid": 1, "red": 1},
    }

    lines = json_lines(
        await served.client.get(f"{accepted['url']}/results", headers=served.auth("A"))
    )
    assert [line["input"] for line in lines] == imeis
    assert [line["verdict"] for line in lines] == ["clear", "caution", "invalid", "red", "clear"]
    assert all(set(line) >= CHECK_KEYS for line in lines)
    assert lines[2]["error"] == "length"

    report = await served.client.get(
        f"{accepted['url']}/results", params={"format": "csv"}, headers=served.auth("A")
    )
    assert report.status_code == 200
    assert report.headers["content-type"] == "text/csv; charset=utf-8"
    assert report.content.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM, as Excel wants
    rows = list(csv.DictReader(io.StringIO(report.content.decode("utf-8-sig"))))
    assert [row["imei"] for row in rows] == imeis
    assert [row["verdict"] for row in rows] == ["clear", "caution", "invalid", "red", "clear"]
    assert {"imei_normalized", "docomo", "buyback", "guarantee"} <= set(rows[0])
    assert served.hub.store.dealer_has_device(served.dealer_ids["A"], RESTRICTED_AT_AU)


async def test_a_batch_from_a_shift_jis_file(served: Served) -> None:
    text = f"管理番号,製造番号\nA-1,{OK_AT_DOCOMO}\nA-2,{PENDING_AT_SOFTBANK}\n"
    answer = await served.client.post(
        "/api/v1/batches",
        files={"file": ("在庫.csv", text.encode("cp932"), "text/csv")},
        headers=served.auth("A"),
    )
    assert answer.status_code == 202, answer.text
    batch = await finished(served, answer.json()["url"])
    assert (batch["status"], batch["total"], batch["verdicts"]) == (
        "done",
        2,
        {"clear": 1, "caution": 1},
    )
    report = await served.client.get(
        f"{answer.json()['url']}/results?format=csv", headers=served.auth("A")
    )
    rows = list(csv.DictReader(io.StringIO(report.content.decode("utf-8-sig"))))
    assert [(row["管理番号"], row["verdict"]) for row in rows] == [
        ("A-1", "clear"),
        ("A-2", "caution"),
    ]


async def test_a_file_bulk_cannot_use_is_422_before_anything_is_queued(served: Served) -> None:
    for name, content, code in (
        ("stock.txt", b"imei\n352099001761481\n", "unsupported_format"),
        ("stock.csv", b"name,price\nphone,100\n", "no_imei_column"),
    ):
        answer = await served.client.post(
            "/api/v1/batches", files={"file": (name, content)}, headers=served.auth("A")
        )
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"] == PROBLEM
        assert answer.json()["error"] == code
        assert "/" not in answer.json()["detail"]  # no server path in the answer
    assert served.hub.store.jobs(served.dealer_ids["A"]) == []


async def test_a_body_neither_json_nor_a_file_is_415(served: Served) -> None:
    answer = await served.client.post(
        "/api/v1/batches", content=b"352099001761481", headers=served.auth("A")
    )
    assert answer.status_code == 415
    assert answer.headers["content-type"] == PROBLEM


async def test_the_csv_of_an_unfinished_batch_is_409(serve: Serve) -> None:
    async with serve(sandbox_latency_ms=400) as served:
        answer = await served.client.post(
            "/api/v1/batches", json={"imeis": [PENDING_AT_SOFTBANK]}, headers=served.auth("A")
        )
        report = await served.client.get(
            f"{answer.json()['url']}/results?format=csv", headers=served.auth("A")
        )
        assert report.status_code == 409
        assert report.headers["content-type"] == PROBLEM


async def test_the_same_idempotency_key_never_starts_a_second_batch(served: Served) -> None:
    headers = {**served.auth("A"), "Idempotency-Key": "order-2026-11-26"}
    first = await served.client.post(
        "/api/v1/batches", json={"imeis": [OK_AT_DOCOMO]}, headers=headers
    )
    again = await served.client.post(
        "/api/v1/batches", json={"imeis": [OK_AT_DOCOMO]}, headers=headers
    )
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert len(served.hub.store.jobs(served.dealer_ids["A"])) == 1
    # The same key from another dealer is that dealer's own batch.
    other = await served.client.post(
        "/api/v1/batches",
        json={"imeis": [OK_AT_DOCOMO]},
        headers={**served.auth("B"), "Idempotency-Key": "order-2026-11-26"},
    )
    assert other.status_code == 202
    assert other.json()["id"] != first.json()["id"]


async def test_a_batch_is_cancelled(serve: Serve) -> None:
    async with serve(sandbox_latency_ms=300) as served:
        imeis = [f"35209900176{n:03d}" for n in range(100, 130)]
        imeis = [imei + str(_luhn(imei)) for imei in imeis]
        answer = await served.client.post(
            "/api/v1/batches", json={"imeis": imeis}, headers=served.auth("A")
        )
        url = answer.json()["url"]
        cancelled = await served.client.delete(url, headers=served.auth("A"))
        assert cancelled.status_code == 202
        assert cancelled.json()["id"] == answer.json()["id"]
        batch = await finished(served, url)
        assert batch["status"] == "cancelled"
        assert batch["done"] < len(imeis)
        # Cancelling again changes nothing and still answers.
        again = await served.client.delete(url, headers=served.auth("A"))
        assert (again.status_code, again.json()["status"]) == (202, "cancelled")


def _luhn(digits: str) -> int:
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return (10 - total % 10) % 10


async def test_without_a_live_key_it_is_401(served: Served) -> None:
    revoked = served.hub.store.api_keys(served.dealer_ids["B"])[0]
    assert revoke_api_key(served.hub.store, revoked.id)
    for headers in (
        {},
        {"Authorization": "Basic YTpi"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer akr_not-a-key"},
        served.auth("B"),  # revoked
    ):
        answer = await served.client.get(f"/api/v1/devices/{OK_AT_DOCOMO}", headers=headers)
        assert answer.status_code == 401, headers
        assert answer.headers["content-type"] == PROBLEM
        assert answer.headers["www-authenticate"].startswith("Bearer")


async def test_over_the_key_limit_it_is_429_with_retry_after(serve: Serve) -> None:
    async with serve(api_limits={"read": "3/minute", "work": "1/minute"}) as served:
        url = f"/api/v1/devices/{OK_AT_DOCOMO}"
        answers = [await served.client.get(url, headers=served.auth("A")) for _ in range(4)]
        assert [a.status_code for a in answers] == [404, 404, 404, 429]
        assert answers[-1].headers["content-type"] == PROBLEM
        assert 1 <= int(answers[-1].headers["retry-after"]) <= 60
        # Another key has its own count.
        assert (await served.client.get(url, headers=served.auth("B"))).status_code == 404


async def test_a_body_over_the_limit_is_413(served: Served) -> None:
    answer = await served.client.post(
        "/api/v1/batches",
        files={"file": ("big.csv", b"imei\n" + b"352099001761481\n" * 700_000)},
        headers=served.auth("A"),
    )
    assert answer.status_code == 413
    assert answer.headers["content-type"] == PROBLEM


async def test_a_device_the_dealer_checked(served: Served) -> None:
    await served.client.post(
        "/api/v1/checks", json={"imei": PENDING_AT_SOFTBANK}, headers=served.auth("A")
    )
    before = await served.sandbox_requests()
    answer = await served.client.get(
        f"/api/v1/devices/{PENDING_AT_SOFTBANK}", headers=served.auth("A")
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"imei", "latest", "history"}
    assert body["latest"]["verdict"] == "caution"
    assert set(body["latest"]) == CHECK_KEYS
    assert {r["source"] for r in body["latest"]["results"]} == {"cache"}
    assert body["history"]
    assert {o["entered_by"] for o in body["history"]} == {None}
    assert set(body["history"][0]) == {
        "carrier", "status", "symbol", "checked_at", "source", "error", "message", "entered_by"
    }  # fmt: skip
    assert await served.sandbox_requests() == before  # read from the database only
    # A device this dealer never checked, valid or not, is not found.
    for imei in (OK_AT_DOCOMO, "not-an-imei"):
        missing = await served.client.get(f"/api/v1/devices/{imei}", headers=served.auth("A"))
        assert missing.status_code == 404
        assert missing.headers["content-type"] == PROBLEM


async def test_openapi_documents_the_api(served: Served) -> None:
    document = (await served.client.get("/openapi.json")).json()
    paths = document["paths"]
    assert set(paths) >= {
        "/api/v1/checks",
        "/api/v1/batches",
        "/api/v1/batches/{batch_id}",
        "/api/v1/batches/{batch_id}/results",
        "/api/v1/devices/{imei}",
    }
    schemes = document["components"]["securitySchemes"]
    assert schemes["apiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["apiKey"]["description"],
    }
    schemas = document["components"]["schemas"]
    assert {"CheckIn", "CheckOut", "BatchOut", "DeviceOut"} <= set(schemas)
    post_batch = paths["/api/v1/batches"]["post"]
    assert set(post_batch["requestBody"]["content"]) == {
        "application/json",
        "multipart/form-data",
    }
    for status in ("401", "413", "422", "429"):
        assert set(post_batch["responses"][status]["content"]) == {PROBLEM}
        problem = post_batch["responses"][status]["content"][PROBLEM]["schema"]
        assert problem["title"] == "Problem"
        assert set(problem["required"]) == {"title", "status", "detail"}
    assert any(p["name"] == "Idempotency-Key" for p in post_batch["parameters"])


async def test_jobs_survive_a_restart_of_the_app(serve: Serve, tmp_path) -> None:
    async with serve(sandbox_latency_ms=200) as served:
        answer = await served.client.post(
            "/api/v1/batches",
            json={"imeis": [OK_AT_DOCOMO, PENDING_AT_SOFTBANK]},
            headers=served.auth("A"),
        )
        url = answer.json()["url"]
    async with serve() as restarted:
        jobs: InProcessJobs = restarted.app.state.jobs
        assert jobs.running
        batch = await finished(restarted, url)
        assert batch["status"] == JobStatus.DONE


async def test_a_key_revoked_while_in_use_stops_working(served: Served, monkeypatch) -> None:
    monkeypatch.setattr("akarom.web.api._KEY_CACHE_S", 0.0)  # no grace: refused at once
    url = f"/api/v1/devices/{OK_AT_DOCOMO}"
    assert (await served.client.get(url, headers=served.auth("A"))).status_code == 404
    key = served.hub.store.api_keys(served.dealer_ids["A"])[0]
    assert revoke_api_key(served.hub.store, key.id)
    assert (await served.client.get(url, headers=served.auth("A"))).status_code == 401


@pytest.mark.postgres
async def test_the_api_on_postgresql(tmp_path, postgres_url: str) -> None:
    """What larger users run: a check, a batch to the end, a device, tenants apart."""
    async with serving(tmp_path, sandbox_app(), database_url=postgres_url) as served:
        assert served.hub.store.engine.dialect.name == "postgresql"
        answer = await served.client.post(
            "/api/v1/checks", json={"imei": RESTRICTED_AT_AU}, headers=served.auth("A")
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["verdict"] == "red"
        created = await served.client.post(
            "/api/v1/batches",
            json={"imeis": [OK_AT_DOCOMO, PENDING_AT_SOFTBANK]},
            headers=served.auth("A"),
        )
        assert created.status_code == 202, created.text
        done = await finished(served, created.json()["url"])
        assert done["verdicts"] == {"clear": 1, "caution": 1}
        device = await served.client.get(
            f"/api/v1/devices/{RESTRICTED_AT_AU}", headers=served.auth("A")
        )
        assert device.status_code == 200
        assert device.json()["latest"]["verdict"] == "red"
        for path in (created.json()["url"], f"/api/v1/devices/{RESTRICTED_AT_AU}"):
            assert (await served.client.get(path, headers=served.auth("B"))).status_code == 404
