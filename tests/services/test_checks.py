"""``Checker`` against the carrier sandbox, in process: the real adapters, the real pages."""

from __future__ import annotations

import pytest

from akarom.domain import Carrier, Status, Verdict
from akarom.services import RetryPolicy
from tests.services.conftest import (
    OK_AT_DOCOMO,
    OK_AT_RAKUTEN,
    PENDING_AT_DOCOMO,
    PENDING_AT_SOFTBANK,
    RESTRICTED_AT_AU,
    UNREGISTERED,
)


def statuses(report) -> dict[Carrier, Status]:
    return {result.carrier: result.status for result in report.results}


@pytest.mark.parametrize(
    ("imei", "verdict", "origin", "status"),
    [
        (OK_AT_DOCOMO, Verdict.CLEAR, Carrier.DOCOMO, Status.OK),
        (OK_AT_RAKUTEN, Verdict.CLEAR, Carrier.RAKUTEN, Status.OK),
        (PENDING_AT_SOFTBANK, Verdict.CAUTION, Carrier.SOFTBANK, Status.PENDING),
        (PENDING_AT_DOCOMO, Verdict.CAUTION, Carrier.DOCOMO, Status.PENDING),
        (RESTRICTED_AT_AU, Verdict.RED, Carrier.AU, Status.RESTRICTED),
    ],
)
async def test_each_status_gives_its_verdict(sandboxed, imei, verdict, origin, status) -> None:
    async with sandboxed() as (checker, _):
        report = await checker.check(imei, all_carriers=True)
    assert report.verdict is verdict
    assert report.origin_carrier is origin
    found = statuses(report)
    assert found[origin] is status
    assert all(s is Status.UNREGISTERED for c, s in found.items() if c is not origin)
    answered = next(r for r in report.results if r.carrier is origin)
    assert answered.source is not None
    assert answered.checked_at is not None
    assert answered.checked_at.utcoffset().total_seconds() == 9 * 3600


async def test_unregistered_everywhere_is_clear_only_after_all_four_said_so(sandboxed) -> None:
    async with sandboxed() as (checker, _):
        report = await checker.check(UNREGISTERED)
    assert report.verdict is Verdict.CLEAR
    assert report.origin_carrier is None
    assert statuses(report) == dict.fromkeys(Carrier, Status.UNREGISTERED)


async def test_limiting_carriers_leaves_an_unregistered_device_open(sandboxed) -> None:
    async with sandboxed() as (checker, _):
        report = await checker.check(UNREGISTERED, carriers=[Carrier.DOCOMO])
    assert report.verdict is Verdict.INCOMPLETE
    skipped = [r.carrier for r in report.results if r.error == "skipped"]
    assert skipped == [Carrier.AU, Carrier.SOFTBANK, Carrier.RAKUTEN]


async def test_once_the_selling_carrier_answers_the_others_are_not_asked(sandboxed) -> None:
    # docomo answers at once; the other carriers are slow and paced at two requests
    # a second, so their turn for the second device has not come when docomo's ○ does.
    slow = {"latency_ms": 300}
    async with sandboxed(
        carriers={"au": slow, "softbank": slow, "rakuten": slow},
        env={
            "AKAROM_RATE_LIMIT": "2",
            "AKAROM_CONCURRENCY": "1",
            "AKAROM_DOCOMO_RATE_LIMIT": "100",
        },
    ) as (checker, admin):
        reports = await checker.check_many([UNREGISTERED, OK_AT_DOCOMO])
        stats = (await admin.get("/_sandbox/stats")).json()["carriers"]
    assert reports[1].verdict is Verdict.CLEAR
    assert [r.carrier for r in reports[1].results] == [Carrier.DOCOMO]
    assert reports[0].verdict is Verdict.CLEAR
    # The second device cost docomo one request and the others none.
    assert stats["docomo"]["requests"] == 2
    assert stats["rakuten"]["requests"] == 1


async def test_a_blocked_carrier_is_unknown_and_keeps_the_verdict_open(sandboxed) -> None:
    async with sandboxed(carriers={"au": {"mode": "blocked"}}) as (checker, _):
        unregistered = await checker.check(UNREGISTERED)
        restricted_elsewhere = await checker.check(PENDING_AT_SOFTBANK)
        at_au = await checker.check(RESTRICTED_AT_AU)
    assert unregistered.verdict is Verdict.INCOMPLETE
    au = next(r for r in unregistered.results if r.carrier is Carrier.AU)
    assert au.status is Status.UNKNOWN
    assert au.error == "blocked"
    assert restricted_elsewhere.verdict is Verdict.CAUTION
    # The device au sold cannot be judged while au refuses us: never clear.
    assert at_au.verdict is Verdict.INCOMPLETE


async def test_a_carrier_that_failed_is_never_overruled_into_clear(sandboxed) -> None:
    async with sandboxed(carriers={"au": {"mode": "maintenance"}}) as (checker, _):
        report = await checker.check(OK_AT_DOCOMO)
    assert statuses(report)[Carrier.DOCOMO] is Status.OK
    assert statuses(report)[Carrier.AU] is Status.UNKNOWN
    assert report.verdict is Verdict.INCOMPLETE


@pytest.mark.parametrize(
    ("mode", "code"),
    [("blocked", "blocked"), ("maintenance", "maintenance"), ("captcha", "captcha")],
)
@pytest.mark.parametrize("carrier", list(Carrier))
async def test_every_mode_of_every_carrier_is_recognised(sandboxed, carrier, mode, code) -> None:
    async with sandboxed(carriers={carrier.value: {"mode": mode}}) as (checker, _):
        report = await checker.check(UNREGISTERED)
    result = next(r for r in report.results if r.carrier is carrier)
    assert (result.status, result.error) == (Status.UNKNOWN, code)
    assert report.verdict is Verdict.INCOMPLETE


async def test_server_errors_are_retried_until_an_answer_comes(sandboxed) -> None:
    async with sandboxed(
        carriers={"docomo": {"error_rate": 0.5}},
        retry=RetryPolicy(attempts=12, backoff_s=0.001),
    ) as (checker, admin):
        reports = [await checker.check(OK_AT_DOCOMO, carriers=[Carrier.DOCOMO]) for _ in range(6)]
        stats = (await admin.get("/_sandbox/stats")).json()["carriers"]
    assert all(r.verdict is Verdict.CLEAR for r in reports)
    assert stats["docomo"]["requests"] > 6  # some answers needed a second try


async def test_server_errors_beyond_the_retry_budget_end_as_unknown(sandboxed) -> None:
    async with sandboxed(
        carriers={"softbank": {"error_rate": 1.0}},
        retry=RetryPolicy(attempts=2, backoff_s=0.001),
    ) as (checker, admin):
        report = await checker.check(PENDING_AT_SOFTBANK, carriers=[Carrier.SOFTBANK])
        stats = (await admin.get("/_sandbox/stats")).json()["carriers"]
    softbank = next(r for r in report.results if r.carrier is Carrier.SOFTBANK)
    assert softbank.status is Status.UNKNOWN
    assert softbank.error == "unavailable"
    assert report.verdict is Verdict.INCOMPLETE
    assert stats["softbank"]["requests"] == 2  # the first page failed twice


async def test_the_carriers_rate_limit_is_never_exceeded(sandboxed) -> None:
    imeis = [OK_AT_DOCOMO, PENDING_AT_SOFTBANK, RESTRICTED_AT_AU, UNREGISTERED, OK_AT_RAKUTEN]
    limit = {"rate_limit_per_s": 20}
    async with sandboxed(
        carriers=dict.fromkeys(["docomo", "au", "softbank", "rakuten"], limit),
        env={"AKAROM_RATE_LIMIT": "20", "AKAROM_CONCURRENCY": "4"},
    ) as (checker, admin):
        reports = await checker.check_many(imeis * 3, all_carriers=True)
        stats = (await admin.get("/_sandbox/stats")).json()["carriers"]
    assert [r.verdict for r in reports[:5]] == [
        Verdict.CLEAR,
        Verdict.CAUTION,
        Verdict.RED,
        Verdict.CLEAR,
        Verdict.CLEAR,
    ]
    for carrier in stats.values():
        assert carrier["rejected_rate_limit"] == 0
        assert carrier["max_rate_per_s"] <= 20


async def test_the_same_device_typed_twice_is_asked_once(sandboxed) -> None:
    async with sandboxed() as (checker, admin):
        reports = await checker.check_many(
            [OK_AT_DOCOMO, "35-209900-176148-1", "IMEI: ３５２０９９００１７６１４８１"],
            carriers=[Carrier.DOCOMO],
        )
        stats = (await admin.get("/_sandbox/stats")).json()["carriers"]
    assert [r.verdict for r in reports] == [Verdict.CLEAR] * 3
    assert reports[1].input == "35-209900-176148-1"
    assert stats["docomo"]["requests"] == 1


async def test_invalid_input_reaches_no_carrier(sandboxed) -> None:
    async with sandboxed() as (checker, admin):
        reports = await checker.check_many(["352099001761482", "", "abc", "35209900176148"])
        stats = (await admin.get("/_sandbox/stats")).json()["carriers"]
    assert [r.verdict for r in reports] == [Verdict.INVALID] * 4
    assert [r.invalid.code for r in reports] == ["checksum", "empty", "characters", "length"]
    assert all(c["requests"] == 0 for c in stats.values())


async def test_a_meid_is_asked_only_where_a_meid_is_accepted(sandboxed) -> None:
    async with sandboxed() as (checker, admin):
        report = await checker.check("a0000000002329")
        stats = (await admin.get("/_sandbox/stats")).json()["carriers"]
    assert report.identity.kind == "meid"
    assert statuses(report) == {Carrier.AU: Status.UNREGISTERED}
    assert report.verdict is Verdict.CLEAR
    assert stats["docomo"]["requests"] == 0


async def test_a_timed_change_is_seen_on_the_next_check(sandboxed) -> None:
    async with sandboxed() as (checker, admin):
        before = await checker.check(OK_AT_DOCOMO)
        await admin.put(f"/_sandbox/devices/{OK_AT_DOCOMO}", json={"docomo": "restricted"})
        after = await checker.check(OK_AT_DOCOMO)
    assert before.verdict is Verdict.CLEAR
    assert after.verdict is Verdict.RED


async def test_a_429_holds_the_carrier_back_for_its_retry_after(sandboxed) -> None:
    """Asked too fast, the sandbox answers 429 + Retry-After: 1; akarom waits and gets answers."""
    imeis = [OK_AT_DOCOMO, PENDING_AT_DOCOMO, UNREGISTERED]
    async with sandboxed(
        carriers={"docomo": {"rate_limit_per_s": 1}},
        env={"AKAROM_DOCOMO_RATE_LIMIT": "100"},
    ) as (checker, admin):
        reports = await checker.check_many(imeis, carriers=[Carrier.DOCOMO])
        docomo = (await admin.get("/_sandbox/stats")).json()["carriers"]["docomo"]
    found = [r.results[0].status for r in reports]
    assert found == [Status.OK, Status.PENDING, Status.UNREGISTERED]
    # One refusal at most per request that came too early, each followed by a wait.
    assert 1 <= docomo["rejected_rate_limit"] <= 2
    assert docomo["max_rate_per_s"] <= 1
