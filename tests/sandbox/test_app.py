"""The sandbox machinery: time, admin endpoints, errors by seed, latency, rate limits, stats."""

from __future__ import annotations

import ast
import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from akarom.sandbox import create_app, parse_scenario
from tests.sandbox.conftest import FakeClock
from tests.sandbox.helpers import open_client

IMEI = "356938035643809"
API = "/restriction/eir/v1/rest-api/public/imei/"
RAKUTEN_CODES = {0: "ok", 1: "pending", 2: "restricted", 3: "unregistered"}
SANDBOX_SRC = Path(__file__).resolve().parents[2] / "src" / "akarom" / "sandbox"


async def rakuten(client: httpx.AsyncClient, imei: str = IMEI) -> str:
    response = await client.get(API + imei)
    assert response.status_code == 200, response.text
    return RAKUTEN_CODES[response.json()["status"]]


async def stats(client: httpx.AsyncClient, carrier: str = "rakuten") -> dict[str, int]:
    data: dict[str, Any] = (await client.get("/_sandbox/stats")).json()
    return dict(data["carriers"][carrier])


# Timed changes, admin PUTs, reset


async def test_timed_change_and_reset(make_app: Callable[..., Starlette], clock: FakeClock) -> None:
    device = {"rakuten": "pending", "changes": [{"after_s": 30, "rakuten": "restricted"}]}
    async with open_client(make_app({"devices": {IMEI: device}})) as client:
        assert await rakuten(client) == "pending"
        clock.advance(29.9)
        assert await rakuten(client) == "pending"
        clock.advance(0.1)
        assert await rakuten(client) == "restricted"
        assert (await client.get("/_sandbox/stats")).json()["uptime_s"] == pytest.approx(30)
        assert (await client.post("/_sandbox/reset")).json() == {"reset": True}
        assert await rakuten(client) == "pending"  # uptime restarted
        assert (await client.get("/_sandbox/stats")).json()["uptime_s"] == 0


async def test_put_device(make_app: Callable[..., Starlette]) -> None:
    async with open_client(make_app()) as client:
        assert await rakuten(client) == "unregistered"
        response = await client.put(
            f"/_sandbox/devices/{IMEI}", json={"rakuten": "restricted", "docomo": "ok"}
        )
        assert response.status_code == 200
        assert response.json() == {
            "imei": IMEI,
            "statuses": {
                "docomo": "ok",
                "au": "unregistered",
                "softbank": "unregistered",
                "rakuten": "restricted",
            },
        }
        assert await rakuten(client) == "restricted"
        docomo = await client.post("/search.php", data={"productno": IMEI})
        assert '<div class="result-panel">○</div>'.encode("cp932") in docomo.content
        got = await client.get(f"/_sandbox/devices/{IMEI}")
        assert got.json()["statuses"]["docomo"] == "ok"
        await client.post("/_sandbox/reset")
        assert await rakuten(client) == "unregistered"


async def test_put_device_then_a_later_timed_change(
    make_app: Callable[..., Starlette], clock: FakeClock
) -> None:
    device = {"rakuten": "pending", "changes": [{"after_s": 30, "rakuten": "restricted"}]}
    async with open_client(make_app({"devices": {IMEI: device}})) as client:
        clock.advance(10)
        await client.put(f"/_sandbox/devices/{IMEI}", json={"rakuten": "ok"})
        assert await rakuten(client) == "ok"
        clock.advance(25)
        assert await rakuten(client) == "restricted"
        await client.put(f"/_sandbox/devices/{IMEI}", json={"rakuten": "pending"})
        assert await rakuten(client) == "pending"


async def test_put_meid_device(make_app: Callable[..., Starlette]) -> None:
    async with open_client(make_app()) as client:
        response = await client.put("/_sandbox/devices/a1000012345678", json={"au": "ok"})
        assert response.json()["imei"] == "A1000012345678"
        assert response.json()["statuses"]["au"] == "ok"


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        (f"/_sandbox/devices/{IMEI}", {"kddi": "ok"}, "unknown carrier 'kddi'"),
        (f"/_sandbox/devices/{IMEI}", {"au": "unknown"}, "body.au: unknown status 'unknown'"),
        (f"/_sandbox/devices/{IMEI}", ["au"], "must be a JSON object"),
        ("/_sandbox/devices/12345", {"au": "ok"}, "not a 15-digit IMEI"),
        ("/_sandbox/carriers/kddi", {"mode": "blocked"}, "unknown carrier 'kddi'"),
        ("/_sandbox/carriers/au", {"mode": "off"}, "carriers.au.mode: unknown mode 'off'"),
        ("/_sandbox/carriers/au", {"latency_ms": -5}, "carriers.au.latency_ms"),
        ("/_sandbox/carriers/au", {"speed": 1}, "unknown key 'speed'"),
    ],
)
async def test_admin_input_errors(
    make_app: Callable[..., Starlette], path: str, body: Any, message: str
) -> None:
    async with open_client(make_app()) as client:
        response = await client.put(path, json=body)
    assert response.status_code == 400
    assert message in response.json()["error"]


async def test_admin_body_not_json(make_app: Callable[..., Starlette]) -> None:
    async with open_client(make_app()) as client:
        response = await client.put(f"/_sandbox/devices/{IMEI}", content=b"docomo=ok")
    assert response.status_code == 400
    assert "not JSON" in response.json()["error"]


async def test_put_carrier_changes_settings_until_reset(
    make_app: Callable[..., Starlette],
) -> None:
    async with open_client(make_app()) as client:
        response = await client.put("/_sandbox/carriers/rakuten", json={"mode": "blocked"})
        assert response.status_code == 200
        assert response.json()["mode"] == "blocked"
        assert (await client.get(API + IMEI)).status_code == 403
        index = (await client.get("/_sandbox/")).json()
        assert index["carriers"]["rakuten"]["mode"] == "blocked"
        assert index["carriers"]["docomo"]["entry"] == "/top.php"
        await client.post("/_sandbox/reset")
        assert (await client.get(API + IMEI)).status_code == 200


# Errors and latency by seed


async def error_sequence(data: dict[str, Any], count: int = 40) -> list[int]:
    clock = FakeClock()
    app = create_app(parse_scenario(data), clock=clock, sleep=clock.sleep)
    async with open_client(app) as client:
        return [(await client.get(API + IMEI)).status_code for _ in range(count)]


async def test_error_rate_is_deterministic_by_seed() -> None:
    seven = {"seed": 7, "carriers": {"rakuten": {"error_rate": 0.3}}}
    first = await error_sequence(seven)
    assert first == await error_sequence(seven)
    assert {500, 502, 503} & set(first)
    assert 200 in first
    assert 4 <= sum(code != 200 for code in first) <= 20
    other = await error_sequence({**seven, "seed": 8})
    assert other != first
    # Latency settings do not shift the draws.
    slow = {"seed": 7, "carriers": {"rakuten": {"error_rate": 0.3, "jitter_ms": 30}}}
    assert await error_sequence(slow) == first


async def test_reset_replays_the_same_errors(make_app: Callable[..., Starlette]) -> None:
    app = make_app({"seed": 3, "carriers": {"rakuten": {"error_rate": 0.5}}})
    async with open_client(app) as client:
        first = [(await client.get(API + IMEI)).status_code for _ in range(20)]
        await client.post("/_sandbox/reset")
        second = [(await client.get(API + IMEI)).status_code for _ in range(20)]
    assert first == second


async def test_error_rate_zero_and_one(make_app: Callable[..., Starlette]) -> None:
    app = make_app({"carriers": {"rakuten": {"error_rate": 0}, "au": {"error_rate": 1}}})
    async with open_client(app) as client:
        assert {(await client.get(API + IMEI)).status_code for _ in range(30)} == {200}
        codes = {(await client.get("/cmn/WCV009001/WCE009001.hc")).status_code for _ in range(30)}
    assert codes <= {500, 502, 503}


async def test_latency_and_jitter(make_app: Callable[..., Starlette], clock: FakeClock) -> None:
    app = make_app(
        {
            "carriers": {
                "docomo": {"latency_ms": 100},
                "rakuten": {"latency_ms": 100, "jitter_ms": 50},
            }
        }
    )
    async with open_client(app) as client:
        await client.get("/top.php")
        assert clock.sleeps == [pytest.approx(0.1)]
        clock.sleeps.clear()
        for _ in range(20):
            await client.get(API + IMEI)
    assert all(0.05 <= s <= 0.15 for s in clock.sleeps)
    assert len(set(clock.sleeps)) > 1


async def test_no_latency_no_sleep(make_app: Callable[..., Starlette], clock: FakeClock) -> None:
    async with open_client(make_app()) as client:
        await client.get(API + IMEI)
    assert clock.sleeps == []


# Rate limits and stats


async def test_burst_over_the_limit_gets_429(
    make_app: Callable[..., Starlette], clock: FakeClock
) -> None:
    app = make_app({"carriers": {"rakuten": {"rate_limit_per_s": 2, "latency_ms": 50}}})
    async with open_client(app) as client:
        responses = [await client.get(API + IMEI) for _ in range(5)]  # within 0.1 s
        codes = [r.status_code for r in responses]
        assert codes == [200, 200, 429, 429, 429]
        assert all(r.headers["retry-after"] == "1" for r in responses[2:])
        assert b"status" not in responses[2].content
        assert clock.sleeps == [pytest.approx(0.05)] * 2  # refused requests answer at once
        assert await stats(client) == {
            "requests": 5,
            "rejected_rate_limit": 3,
            "max_rate_per_s": 2,
            "max_in_flight": 1,  # one at a time: each answered before the next is sent
        }
        clock.advance(1.0)
        assert (await client.get(API + IMEI)).status_code == 200


async def test_spaced_requests_are_never_refused(
    make_app: Callable[..., Starlette], clock: FakeClock
) -> None:
    app = make_app({"carriers": {"rakuten": {"rate_limit_per_s": 5}}})
    async with open_client(app) as client:
        for i in range(50):
            # Paced at exactly 5 per second, arriving up to 5 ms early or late.
            clock.advance(0.2 + (0.005 if i % 2 else -0.005))
            assert (await client.get(API + IMEI)).status_code == 200
        assert await stats(client) == {
            "requests": 50,
            "rejected_rate_limit": 0,
            "max_rate_per_s": 5,
            "max_in_flight": 1,
        }


async def test_sliding_window(make_app: Callable[..., Starlette], clock: FakeClock) -> None:
    app = make_app({"carriers": {"rakuten": {"rate_limit_per_s": 3}}})
    async with open_client(app) as client:
        codes = []
        for step in (0.0, 0.3, 0.3, 0.3, 0.2, 0.1, 0.3):
            clock.advance(step)
            codes.append((await client.get(API + IMEI)).status_code)
    # t = 0, .3, .6 accepted; .9 refused (3 in the last second); 1.1 accepted (t=0 left);
    # 1.2 refused; 1.5 accepted (t=.3 left).
    assert codes == [200, 200, 200, 429, 200, 429, 200]


async def test_fractional_limit(make_app: Callable[..., Starlette], clock: FakeClock) -> None:
    app = make_app({"carriers": {"au": {"rate_limit_per_s": 0.5}}})
    async with open_client(app) as client:
        codes = []
        for step in (0.0, 1.0, 1.0, 1.0):
            clock.advance(step)
            response = await client.get("/cmn/WCV009001/WCE009001.hc")
            codes.append(response.status_code)
    assert codes == [200, 429, 200, 429]  # one request per 2 seconds


async def test_unlimited_counts_the_peak(
    make_app: Callable[..., Starlette], clock: FakeClock
) -> None:
    async with open_client(make_app()) as client:
        for _ in range(7):
            await client.get(API + IMEI)
            clock.advance(0.1)
        clock.advance(5)
        await client.get(API + IMEI)
        assert await stats(client) == {
            "requests": 8,
            "rejected_rate_limit": 0,
            "max_rate_per_s": 7,
            "max_in_flight": 1,
        }


async def test_stats_shape(make_app: Callable[..., Starlette]) -> None:
    async with open_client(make_app()) as client:
        await client.get("/top.php")
        await client.post("/search.php", data={"productno": IMEI})
        await client.get("/_sandbox/")  # admin requests are not counted
        data = (await client.get("/_sandbox/stats")).json()
    assert set(data) == {"carriers", "uptime_s"}
    assert set(data["carriers"]) == {"docomo", "au", "softbank", "rakuten"}
    for numbers in data["carriers"].values():
        assert set(numbers) == {
            "requests",
            "rejected_rate_limit",
            "max_rate_per_s",
            "max_in_flight",
        }
    assert data["carriers"]["docomo"] == {
        "requests": 2,
        "rejected_rate_limit": 0,
        "max_rate_per_s": 2,
        "max_in_flight": 1,
    }
    assert data["carriers"]["au"]["requests"] == 0


# In flight: accepted requests being served at once


class GatedSleep:
    """The latency sleep of concurrent tests: every sleeper waits until ``release()``.

    The clock stays a ``FakeClock`` (the rate window sees every request at one instant),
    and the test decides when the parked requests finish, so nothing depends on timing.
    """

    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self._arrived = asyncio.Condition()
        self._released = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        async with self._arrived:
            self.sleeps.append(seconds)
            self._arrived.notify_all()
        await self._released.wait()

    async def until_parked(self, count: int) -> None:
        """Wait (at most 5 s) until ``count`` requests sleep here."""
        async with asyncio.timeout(5), self._arrived:
            await self._arrived.wait_for(lambda: len(self.sleeps) >= count)

    def release(self) -> None:
        self._released.set()


async def until_finished(tasks: list[asyncio.Task[httpx.Response]], count: int) -> None:
    """Wait (at most 5 s) until ``count`` of ``tasks`` have finished."""
    pending = set(tasks)
    async with asyncio.timeout(5):
        while len(tasks) - len(pending) < count:
            _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)


def gated_app(data: dict[str, Any]) -> tuple[Starlette, GatedSleep]:
    gate = GatedSleep()
    return create_app(parse_scenario(data), clock=FakeClock(), sleep=gate), gate


async def test_concurrent_requests_are_in_flight_together() -> None:
    app, gate = gated_app({"carriers": {"rakuten": {"latency_ms": 50}}})
    async with open_client(app) as client:
        tasks = [asyncio.create_task(client.get(API + IMEI)) for _ in range(3)]
        await gate.until_parked(3)  # all three inside the latency sleep
        assert (await stats(client))["max_in_flight"] == 3
        gate.release()
        assert [r.status_code for r in await asyncio.gather(*tasks)] == [200] * 3
        assert gate.sleeps == [pytest.approx(0.05)] * 3
        assert await stats(client) == {
            "requests": 3,
            "rejected_rate_limit": 0,
            "max_rate_per_s": 3,
            "max_in_flight": 3,
        }
        assert (await stats(client, "docomo"))["max_in_flight"] == 0  # per carrier
        await client.post("/_sandbox/reset")
        assert (await stats(client))["max_in_flight"] == 0


async def test_sequential_requests_are_one_in_flight(
    make_app: Callable[..., Starlette], clock: FakeClock
) -> None:
    app = make_app({"carriers": {"rakuten": {"latency_ms": 50}}})
    async with open_client(app) as client:
        for _ in range(3):
            assert (await client.get(API + IMEI)).status_code == 200
        assert clock.sleeps == [pytest.approx(0.05)] * 3
        assert (await stats(client))["max_in_flight"] == 1


async def test_rate_limited_requests_are_not_in_flight() -> None:
    app, gate = gated_app({"carriers": {"rakuten": {"rate_limit_per_s": 2, "latency_ms": 50}}})
    async with open_client(app) as client:
        tasks = [asyncio.create_task(client.get(API + IMEI)) for _ in range(5)]
        # Two accepted requests sleep while the other three are refused at once.
        await gate.until_parked(2)
        await until_finished(tasks, 3)
        assert await stats(client) == {
            "requests": 5,
            "rejected_rate_limit": 3,
            "max_rate_per_s": 2,
            "max_in_flight": 2,
        }
        gate.release()
        codes = sorted(r.status_code for r in await asyncio.gather(*tasks))
        assert codes == [200, 200, 429, 429, 429]
        assert (await stats(client))["max_in_flight"] == 2


async def test_requests_in_flight_across_a_reset_leave_the_new_stats_alone() -> None:
    app, gate = gated_app({"carriers": {"rakuten": {"latency_ms": 50}}})
    async with open_client(app) as client:
        tasks = [asyncio.create_task(client.get(API + IMEI)) for _ in range(2)]
        await gate.until_parked(2)
        await client.post("/_sandbox/reset")
        assert (await stats(client))["max_in_flight"] == 0
        gate.release()
        await asyncio.gather(*tasks)
        assert (await client.get(API + IMEI)).status_code == 200
        assert (await stats(client))["max_in_flight"] == 1


async def test_requests_are_logged(
    make_app: Callable[..., Starlette], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="akarom.sandbox"):
        async with open_client(make_app({"default": "ok"})) as client:
            await client.post("/search.php", data={"productno": IMEI})
    assert "docomo POST /search.php -> 200 result ok" in caplog.messages


def test_sandbox_never_imports_the_adapters() -> None:
    """STYLE.md §1: the sandbox may import akarom.domain, never akarom.carriers."""
    for path in SANDBOX_SRC.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                if name.startswith("akarom"):
                    assert name == "akarom.domain" or name.startswith("akarom.sandbox"), (
                        f"{path.name} imports {name}"
                    )
