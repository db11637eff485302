"""Truncated or cut pages never yield a status the page does not show (hypothesis).

The adversarial suite (``tests/carriers/adversarial/``) covers every class of change
with its ground truth; these two properties let hypothesis search the cut points of
every recorded answer and shrink a failure to the smallest cut. The only acceptable
outcomes are a ``CarrierError`` (the answer becomes ``unknown``) or, where the cut
left the answer intact, the status the page still shows.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from akarom.carriers import ADAPTERS, AdapterCase, CarrierAdapter, Page, Reading
from akarom.domain import Status
from akarom.errors import CarrierError
from tests.carriers.pages import page_encoding, page_text
from tests.carriers.replay import Replay

RESULT_CASES = [
    pytest.param(adapter, case, id=f"{adapter.CARRIER}-{case.name}")
    for adapter in ADAPTERS
    for case in adapter.TESTS
    if isinstance(case.expect, Status) and not case.online and not case.skip
]


def _page(adapter: type[CarrierAdapter], case: AdapterCase) -> tuple[Page, str]:
    page = Replay.load(adapter.CARRIER, case.name, case.imei).result_page()
    return page, page_text(page)


def _outcome(adapter: type[CarrierAdapter], page: Page, imei: str) -> Reading | None:
    try:
        return adapter.parse_result(page, imei)
    except CarrierError:
        return None


@pytest.mark.parametrize(("adapter", "case"), RESULT_CASES)
@settings(
    max_examples=60, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_truncated_page_is_not_misread(adapter, case, data) -> None:
    page, _ = _page(adapter, case)
    cut = data.draw(st.integers(min_value=0, max_value=max(0, len(page.content) - 1)))
    outcome = _outcome(adapter, replace(page, content=page.content[:cut]), case.imei)
    assert outcome is None or outcome.status is case.expect


@pytest.mark.parametrize(("adapter", "case"), RESULT_CASES)
@settings(
    max_examples=80, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_a_cut_out_slice_never_invents_an_answer(adapter, case, data) -> None:
    """Removing any run of characters (a panel, a row, the symbol) never creates a new status."""
    page, text = _page(adapter, case)
    start = data.draw(st.integers(min_value=0, max_value=max(0, len(text) - 1)))
    end = data.draw(st.integers(min_value=start, max_value=len(text)))
    damaged = (text[:start] + text[end:]).encode(page_encoding(page), errors="replace")
    outcome = _outcome(adapter, replace(page, content=damaged), case.imei)
    assert outcome is None or outcome.status is case.expect
