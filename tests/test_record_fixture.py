"""scripts/record_fixture.py: record against the in-process sandbox, replay the result.

No network: every recording goes through ``httpx.ASGITransport`` over the sandbox app
(sometimes behind a transport that makes it look more like a live site), into
``tmp_path``, never into ``tests/carriers/fixtures``.
"""

from __future__ import annotations

import doctest
import gzip
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from akarom.carriers import AdapterCase, CarrierAdapter, adapter_class
from akarom.carriers.docomo import DocomoAdapter
from akarom.domain import Carrier, Status
from akarom.errors import Blocked, CarrierUnavailable, Maintenance
from akarom.ratelimit import DEFAULT_MARGIN, RateLimiter
from akarom.sandbox import create_app, parse_scenario
from scripts import record_fixture
from scripts.record_fixture import (
    DEFAULT_TEST_IMEI,
    DEFAULT_TEST_MEID,
    KEPT_HEADERS,
    RecordError,
    Recording,
    live_limiter,
    main,
)
from tests.carriers.replay import Replay

REAL_IMEI = "490154203237518"  # Luhn-valid, and not the test IMEI
REAL_PRINTED = ("490154203237518", "4901542032375", "49-015420-323751-8", "49 015420 323751")
BASE_URL = "http://sandbox.test"
CARRIERS = [pytest.param(carrier, id=carrier.value) for carrier in Carrier]


class FakeTime:
    """Clock and sleep for a RateLimiter: the politeness floor holds, without waiting."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def floor_limiter(adapter: type[CarrierAdapter], time: FakeTime | None = None) -> RateLimiter:
    time = time or FakeTime()
    return RateLimiter(1.0 / adapter.MIN_INTERVAL, 1, clock=time.clock, sleep=time.sleep)


def sandbox(
    carrier: Carrier, *, status: str = "restricted", imei: str = REAL_IMEI, **settings: Any
) -> httpx.ASGITransport:
    scenario = {"devices": {imei: {carrier.value: status}}, "carriers": {carrier.value: settings}}
    return httpx.ASGITransport(app=create_app(parse_scenario(scenario)))


async def record_from(
    transport: httpx.AsyncBaseTransport, tmp_path: Path, carrier: Carrier, case: str, **kw: Any
) -> Recording:
    adapter = adapter_class(carrier)
    kw.setdefault("limiter", floor_limiter(adapter))
    return await record_fixture.record_fixture(
        adapter,
        kw.pop("imei", REAL_IMEI),
        case,
        transport=transport,
        fixtures=tmp_path,
        base_url=BASE_URL,
        **kw,
    )


def load(folder: Path, imei: str = DEFAULT_TEST_IMEI) -> Replay:
    spec = json.loads((folder / "case.json").read_text(encoding="utf-8"))
    return Replay(folder=folder, imei=imei, steps=spec["steps"])


async def replay_check(
    folder: Path, carrier: Carrier, imei: str = DEFAULT_TEST_IMEI, *, follow: bool = False
) -> Status | type[Exception]:
    """What the adapter concludes from the recorded folder, replayed offline."""
    replay = load(folder, imei)
    async with httpx.AsyncClient(transport=replay.transport(), follow_redirects=follow) as client:
        try:
            observation = await adapter_class(carrier)(client).check(imei)
        except Exception as err:  # noqa: BLE001  # the outcome under test is the error class
            outcome: Status | type[Exception] = type(err)
        else:
            outcome = observation.reading.status
    replay.assert_all_used()
    return outcome


def assert_scrubbed(folder: Path, printed: tuple[str, ...] = REAL_PRINTED) -> None:
    files = sorted(folder.iterdir())
    assert files
    for path in files:
        data = path.read_bytes().lower()
        for text in printed:
            assert text.lower().encode() not in data, f"{path.name} shows {text}"
    spec = json.loads((folder / "case.json").read_text(encoding="utf-8"))
    for step in spec["steps"]:
        assert set(step.get("headers", {})) <= set(KEPT_HEADERS), step
    assert "set-cookie" not in (folder / "case.json").read_text(encoding="utf-8").lower()
    names = {p.name for p in files} - {"case.json"}
    assert names == {s["body"] for s in spec["steps"] if "body" in s}


def listing(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_doctests() -> None:
    assert doctest.testmod(record_fixture).failed == 0


@pytest.mark.parametrize("carrier", CARRIERS)
async def test_a_recording_replays_to_the_same_status(carrier: Carrier, tmp_path: Path) -> None:
    recording = await record_from(sandbox(carrier), tmp_path, carrier, "restricted")

    folder = tmp_path / carrier.value / "restricted"
    assert recording.folder == folder
    assert recording.outcome is Status.RESTRICTED
    assert await replay_check(folder, carrier) is Status.RESTRICTED
    assert_scrubbed(folder)

    spec = json.loads((folder / "case.json").read_text(encoding="utf-8"))
    assert spec["provenance"].startswith("recorded from sandbox.test on ")
    assert spec["provenance"].endswith(" by scripts/record_fixture.py")
    posts = [s for s in spec["steps"] if s["method"] == "POST"]
    for step in posts:
        assert "{imei}" in step["expect_form"].values()
    if carrier is not Carrier.RAKUTEN:  # the three HTML sites write Shift_JIS
        assert posts
        assert all(s["form_encoding"] == "cp932" for s in posts)
    for step in spec["steps"]:  # the bodies are the raw bytes, in the declared charset
        body = (folder / step["body"]).read_bytes()
        assert body.decode("utf-8" if carrier is Carrier.RAKUTEN else "cp932")

    # The printed line is valid Python that names this fixture with the test IMEI.
    case = eval(
        recording.adapter_case().rstrip(","), {"AdapterCase": AdapterCase, "Status": Status}
    )
    assert case == AdapterCase(
        "restricted", DEFAULT_TEST_IMEI, Status.RESTRICTED, symbol="×", description=case.description
    )


@pytest.mark.parametrize("carrier", CARRIERS)
async def test_a_blocked_recording_replays_to_blocked(carrier: Carrier, tmp_path: Path) -> None:
    recording = await record_from(sandbox(carrier, mode="blocked"), tmp_path, carrier, "blocked")

    assert recording.outcome is Blocked
    assert "Blocked" in recording.adapter_case()
    folder = tmp_path / carrier.value / "blocked"
    assert await replay_check(folder, carrier) is Blocked
    assert_scrubbed(folder)
    first = json.loads((folder / "case.json").read_text(encoding="utf-8"))["steps"][0]
    assert first["status"] == 403


async def test_maintenance_keeps_retry_after(tmp_path: Path) -> None:
    carrier = Carrier.SOFTBANK
    recording = await record_from(
        sandbox(carrier, mode="maintenance"), tmp_path, carrier, "maintenance"
    )

    assert recording.outcome is Maintenance
    spec = json.loads((recording.folder / "case.json").read_text(encoding="utf-8"))
    assert spec["steps"][0]["headers"]["retry-after"] == "600"
    assert await replay_check(recording.folder, carrier) is Maintenance


async def test_requests_wait_for_the_live_politeness_floor(tmp_path: Path) -> None:
    adapter = adapter_class(Carrier.AU)
    assert live_limiter(adapter).interval == adapter.MIN_INTERVAL
    assert live_limiter(adapter).concurrency == 1

    time = FakeTime()
    recording = await record_from(
        sandbox(Carrier.AU), tmp_path, Carrier.AU, "ok", limiter=floor_limiter(adapter, time)
    )
    assert recording.outcome is Status.RESTRICTED
    # GET form, then POST: one interval apart, and the limiter's small safety margin.
    assert sum(time.slept) == pytest.approx(adapter.MIN_INTERVAL * (1 + DEFAULT_MARGIN))


class LiveLike(httpx.AsyncBaseTransport):
    """Makes docomo's sandbox look like a live site.

    The first POST is redirected (307) to a URL with tracking tags and the IMEI in the
    query; every response sets cookies, carries an extra header and comes gzipped;
    the result page also prints the IMEI in groups, with and without its check digit.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        cookies = [("Set-Cookie", "PHPSESSID=secret; path=/"), ("Set-Cookie", "_ga=GA1.1")]
        if not request.url.query:
            location = f"/search.php?_gl=1*x1*_ga*MTI&utm_source=mail&ref={REAL_IMEI}&fbclid=Zz"
            return httpx.Response(307, headers=[("Location", location), *cookies])
        response = await self.inner.handle_async_request(request)
        body = await response.aread()
        body = body.replace(b"</body>", b"<!-- 49-015420-323751-8 / 49 015420 323751 --></body>")
        headers = [
            (k, v) for k, v in response.headers.multi_items() if k.lower() != "content-length"
        ]
        headers += [*cookies, ("Content-Encoding", "gzip"), ("X-Request-Id", "r-1")]
        stream = httpx.ByteStream(gzip.compress(body))
        return httpx.Response(response.status_code, headers=headers, stream=stream)


async def test_cookies_tracking_tags_and_printed_imeis_are_scrubbed(tmp_path: Path) -> None:
    carrier = Carrier.DOCOMO
    recording = await record_from(LiveLike(sandbox(carrier)), tmp_path, carrier, "live")

    assert recording.outcome is Status.RESTRICTED
    assert recording.redirected
    folder = recording.folder
    assert_scrubbed(folder)
    text = (folder / "case.json").read_text(encoding="utf-8")
    for gone in ("_gl", "utm_", "fbclid", "PHPSESSID", "secret", "x-request-id", "gzip"):
        assert gone.lower() not in text.lower(), gone
    redirect, result = json.loads(text)["steps"]
    assert redirect["status"] == 307
    assert redirect["headers"] == {"location": f"/search.php?ref={DEFAULT_TEST_IMEI}"}
    assert "body" not in redirect
    assert result["query"] == {"ref": "{imei}"}
    assert result["expect_form"] == {"productno": "{imei}"}
    page = (folder / result["body"]).read_bytes()
    assert page.startswith(b"<!DOCTYPE")  # stored decoded from gzip
    assert "×".encode("cp932") in page  # and in its own charset
    assert b"<!-- 35-209900-176148-1 / 35 209900 176148 -->" in page
    assert await replay_check(folder, carrier, follow=True) is Status.RESTRICTED


class Failing(httpx.AsyncBaseTransport):
    def __init__(self, error: type[httpx.TransportError]) -> None:
        self.error = error

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise self.error("no answer", request=request)


@pytest.mark.parametrize(
    ("error", "recorded"), [(httpx.ReadTimeout, "timeout"), (httpx.ConnectError, "connect")]
)
async def test_transport_failures_are_recorded(
    error: type[httpx.TransportError], recorded: str, tmp_path: Path
) -> None:
    carrier = Carrier.DOCOMO
    recording = await record_from(Failing(error), tmp_path, carrier, recorded)

    assert recording.outcome is CarrierUnavailable
    spec = json.loads((recording.folder / "case.json").read_text(encoding="utf-8"))
    assert spec["steps"] == [
        {
            "method": "POST",
            "path": "/search.php",
            "expect_form": {"productno": "{imei}"},
            "form_encoding": "cp932",
            "raise": recorded,
        }
    ]
    assert await replay_check(recording.folder, carrier) is CarrierUnavailable


async def test_a_meid_is_replaced_by_a_test_meid(tmp_path: Path) -> None:
    carrier, meid = Carrier.AU, "A0000012345678"
    recording = await record_from(
        sandbox(carrier, imei=meid), tmp_path, carrier, "meid", imei=meid.lower()
    )

    assert recording.outcome is Status.RESTRICTED
    assert recording.test_imei == DEFAULT_TEST_MEID
    assert_scrubbed(recording.folder, (meid,))
    assert await replay_check(recording.folder, carrier, DEFAULT_TEST_MEID) is Status.RESTRICTED


class Untouchable(httpx.AsyncBaseTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"no request may be made: {request.url}")


@pytest.mark.parametrize(
    ("imei", "case", "message"),
    [
        ("490154203237519", "ok", "check digit"),
        ("A0000012345678", "ok", "takes an IMEI, not a MEID"),  # docomo
        (REAL_IMEI, "../escape", "case name"),
    ],
)
async def test_bad_input_is_refused_before_any_request(
    imei: str, case: str, message: str, tmp_path: Path
) -> None:
    with pytest.raises(RecordError, match=message):
        await record_fixture.record_fixture(
            DocomoAdapter, imei, case, transport=Untouchable(), fixtures=tmp_path
        )
    assert not listing(tmp_path)


async def test_refuses_to_overwrite_a_case_without_force(tmp_path: Path) -> None:
    carrier = Carrier.DOCOMO
    first = await record_from(sandbox(carrier), tmp_path, carrier, "restricted")
    before = listing(first.folder)

    with pytest.raises(RecordError, match="--force"):
        await record_from(Untouchable(), tmp_path, carrier, "restricted")
    assert listing(first.folder) == before

    (first.folder / "99-stale.html").write_bytes(b"old")
    again = await record_from(
        sandbox(carrier, mode="blocked"), tmp_path, carrier, "restricted", force=True
    )
    assert again.outcome is Blocked
    assert not (first.folder / "99-stale.html").exists()
    assert await replay_check(first.folder, carrier) is Blocked


def test_cli_records_and_prints_the_adapter_case(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["docomo", "49-015420-323751-8", "restricted", "--fixtures", str(tmp_path)]
    argv += ["--base-url", BASE_URL, "--description", "× for 490154203237518"]
    assert main(argv, transport=sandbox(Carrier.DOCOMO)) == 0

    out = capsys.readouterr().out
    assert "adapter concluded: restricted (×)" in out
    assert 'AdapterCase("restricted", "352099001761481", Status.RESTRICTED, symbol="×"' in out
    assert 'description="× for 352099001761481"' in out
    assert f"wrote {tmp_path / 'docomo' / 'restricted' / 'case.json'}" in out
    assert_scrubbed(tmp_path / "docomo" / "restricted")


def test_cli_refuses_an_existing_case_and_a_bad_imei(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "docomo" / "restricted").mkdir(parents=True)
    argv = ["docomo", REAL_IMEI, "restricted", "--fixtures", str(tmp_path)]
    assert main(argv, transport=Untouchable()) == 2
    assert "pass --force" in capsys.readouterr().err

    argv = ["docomo", "12345", "new", "--fixtures", str(tmp_path)]
    assert main(argv, transport=Untouchable()) == 2
    assert "IMEI '12345'" in capsys.readouterr().err
