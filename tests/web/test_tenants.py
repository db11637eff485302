"""One dealer's key never reads, changes or reveals another dealer's batches or devices.

Every request below is made twice by dealer B: once for dealer A's batch or device,
once for one that does not exist. Both must be answered the same way (status, type and
body), so B cannot even tell that A's exists.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from akarom.storage import JobStatus
from tests.services.conftest import OK_AT_DOCOMO, PENDING_AT_SOFTBANK, UNREGISTERED
from tests.web.conftest import Served
from tests.web.test_api import finished


def _same(theirs: httpx.Response, missing: httpx.Response) -> None:
    assert theirs.status_code == missing.status_code == 404
    assert theirs.headers["content-type"] == missing.headers["content-type"]
    assert theirs.json() == missing.json()


@pytest.fixture
async def a_batch(served: Served) -> dict[str, Any]:
    """Dealer A's finished batch, and A's devices."""
    answer = await served.client.post(
        "/api/v1/batches", json={"imeis": [OK_AT_DOCOMO]}, headers=served.auth("A")
    )
    await served.client.post(
        "/api/v1/checks", json={"imei": PENDING_AT_SOFTBANK}, headers=served.auth("A")
    )
    return await finished(served, answer.json()["url"])


@pytest.mark.parametrize(
    ("method", "suffix", "params"),
    [
        ("GET", "", {}),
        ("GET", "/results", {}),
        ("GET", "/results", {"format": "csv"}),
        ("DELETE", "", {}),
    ],
)
async def test_another_dealers_batch_is_not_found(
    served: Served, a_batch: dict[str, Any], method: str, suffix: str, params: dict[str, str]
) -> None:
    async def ask(batch_id: str) -> httpx.Response:
        return await served.client.request(
            method, f"/api/v1/batches/{batch_id}{suffix}", params=params, headers=served.auth("B")
        )

    _same(await ask(a_batch["id"]), await ask(uuid.uuid4().hex))
    # A's batch is untouched and still A's.
    mine = await served.client.get(f"/api/v1/batches/{a_batch['id']}", headers=served.auth("A"))
    assert mine.json()["status"] == JobStatus.DONE


async def test_another_dealers_device_is_not_found(served: Served, a_batch: Any) -> None:
    for device in (OK_AT_DOCOMO, PENDING_AT_SOFTBANK):  # from A's batch; from A's check
        theirs = await served.client.get(f"/api/v1/devices/{device}", headers=served.auth("B"))
        never = await served.client.get(f"/api/v1/devices/{UNREGISTERED}", headers=served.auth("B"))
        _same(theirs, never)
        assert (
            await served.client.get(f"/api/v1/devices/{device}", headers=served.auth("A"))
        ).status_code == 200


async def test_the_same_idempotency_key_does_not_reveal_another_dealers_batch(
    served: Served, a_batch: Any
) -> None:
    headers = {"Idempotency-Key": "shared-key"}
    a = await served.client.post(
        "/api/v1/batches", json={"imeis": [OK_AT_DOCOMO]}, headers=served.auth("A") | headers
    )
    b = await served.client.post(
        "/api/v1/batches", json={"imeis": [OK_AT_DOCOMO]}, headers=served.auth("B") | headers
    )
    assert a.json()["id"] != b.json()["id"]
    assert "idempotent-replayed" not in b.headers


async def test_a_check_job_key_is_no_batch(served: Served) -> None:
    """A job of the dealer's own workspace (a single check) is not a batch of the API."""
    job = await served.app.state.jobs.submit_check(
        OK_AT_DOCOMO, dealer_id=served.dealer_ids["A"], lang="ja"
    )
    answer = await served.client.get(f"/api/v1/batches/{job.key}", headers=served.auth("A"))
    assert answer.status_code == 404
