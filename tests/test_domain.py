"""The vocabulary and the verdict rule (INTERFACES.md §2)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from akarom.domain import (
    SKIPPED,
    Carrier,
    CarrierResult,
    Status,
    Verdict,
    answer,
    decide_verdict,
    resolve_carrier,
)

D, A, S, R = Carrier.DOCOMO, Carrier.AU, Carrier.SOFTBANK, Carrier.RAKUTEN
OK, PENDING, RED, NONE = Status.OK, Status.PENDING, Status.RESTRICTED, Status.UNREGISTERED


def failed(carrier: Carrier, code: str = "timeout") -> CarrierResult:
    return CarrierResult(carrier, Status.UNKNOWN, error=code)


def skipped(carrier: Carrier) -> CarrierResult:
    return CarrierResult(carrier, Status.UNKNOWN, error=SKIPPED)


@pytest.mark.parametrize(
    ("brand", "carrier"),
    [
        ("docomo", D),
        ("ahamo", D),
        ("ドコモ", D),
        ("au", A),
        ("UQ mobile", A),
        ("uq", A),
        ("UQモバイル", A),
        ("povo", A),
        ("SoftBank", S),
        ("Y!mobile", S),
        ("ymobile", S),
        ("ワイモバイル", S),
        ("LINEMO", S),
        ("rakuten", R),
        ("楽天モバイル", R),
        ("Ｒａｋｕｔｅｎ", R),
    ],
)
def test_brand_names_resolve_to_the_carrier_whose_page_answers(brand, carrier) -> None:
    assert resolve_carrier(brand) is carrier


@pytest.mark.parametrize("name", ["", "mvno", "iij", "mineo", "docomo au"])
def test_unknown_brands_are_refused(name) -> None:
    with pytest.raises(ValueError, match="unknown carrier"):
        resolve_carrier(name)


def test_symbols_and_exit_codes_are_as_documented() -> None:
    assert [s.symbol for s in Status] == ["○", "△", "×", "-", "?"]
    assert {v: v.exit_code for v in Verdict} == {
        Verdict.RED: 4,
        Verdict.CAUTION: 3,
        Verdict.CLEAR: 0,
        Verdict.INCOMPLETE: 5,
        Verdict.INVALID: 2,
    }


@pytest.mark.parametrize(
    ("results", "verdict", "origin"),
    [
        ([answer(D, OK)], Verdict.CLEAR, D),
        ([answer(D, OK), skipped(A), skipped(S), skipped(R)], Verdict.CLEAR, D),
        ([answer(S, PENDING)], Verdict.CAUTION, S),
        ([answer(A, RED)], Verdict.RED, A),
        ([answer(c, NONE) for c in tuple(Carrier)], Verdict.CLEAR, None),
        ([answer(D, NONE), answer(A, NONE), answer(S, NONE)], Verdict.INCOMPLETE, None),
        ([answer(D, NONE), answer(A, NONE), answer(S, NONE), failed(R)], Verdict.INCOMPLETE, None),
        ([answer(D, NONE), answer(A, NONE), answer(S, NONE), skipped(R)], Verdict.INCOMPLETE, None),
        # The selling carrier said ○ but another carrier was asked and failed: not clear.
        ([answer(D, OK), failed(A, "blocked")], Verdict.INCOMPLETE, D),
        # Restriction anywhere wins over every gap.
        ([answer(D, OK), answer(A, RED), failed(S)], Verdict.RED, A),
        ([failed(c) for c in tuple(Carrier)], Verdict.INCOMPLETE, None),
        ([], Verdict.INCOMPLETE, None),
    ],
)
def test_verdict_rule(results, verdict, origin) -> None:
    decision = decide_verdict(results)
    assert decision.verdict is verdict
    assert decision.origin_carrier is origin


def test_meid_needs_only_au() -> None:
    assert decide_verdict([answer(A, NONE)], carriers=[A]).verdict is Verdict.CLEAR


def test_a_result_is_unknown_exactly_when_it_has_an_error() -> None:
    with pytest.raises(ValueError, match="unknown exactly"):
        CarrierResult(D, Status.OK, error="timeout")
    with pytest.raises(ValueError, match="unknown exactly"):
        CarrierResult(D, Status.UNKNOWN)


def _result(carrier: Carrier, outcome: str) -> CarrierResult:
    if outcome in ("timeout", SKIPPED):
        return CarrierResult(carrier, Status.UNKNOWN, error=outcome)
    return answer(carrier, Status(outcome))


outcomes = st.sampled_from(["ok", "pending", "restricted", "unregistered", "timeout", SKIPPED])


@given(st.dictionaries(st.sampled_from(tuple(Carrier)), outcomes))
def test_clear_is_never_said_without_a_reading_that_supports_it(picked) -> None:
    results = [_result(c, o) for c, o in picked.items()]
    verdict = decide_verdict(results).verdict
    statuses = [r.status for r in results]
    if verdict is Verdict.CLEAR:
        assert Status.RESTRICTED not in statuses
        assert Status.PENDING not in statuses
        assert not any(r.status is Status.UNKNOWN and not r.skipped for r in results)
        everyone_unregistered = len(results) == 4 and set(statuses) == {Status.UNREGISTERED}
        assert Status.OK in statuses or everyone_unregistered
    if Status.RESTRICTED in statuses:
        assert verdict is Verdict.RED
