"""Damaged result pages never yield a status the page does not show.

Each recorded result page is truncated, re-encoded, has its symbol swapped for a
look-alike or removed, and is fed to the adapter's pure ``parse_result``. The only
acceptable outcomes are a ``CarrierError`` (the answer becomes ``unknown``) or,
where the damage left the answer intact, the status the page still shows.
"""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from akarom.carriers import ADAPTERS, AdapterCase, CarrierAdapter, Page, Reading
from akarom.carriers._symbols import SYMBOLS
from akarom.domain import Status
from akarom.errors import CarrierError
from tests.carriers.replay import Replay

# Characters a page could show that look like a symbol but are not one.
LOOK_ALIKES = ["●", "◎", "◇", "▽", "▼", "✖", "☓", "x", "X", "0", "O", "⚪", "＿", "~", "", " "]

# A symbol printed as an element's text (``>○<``, ``> △ご利用…``); a blind replace
# would also hit the hyphen in ``class="result-panel"``.
_PRINTED = r"(>[\s\u3000\u00a0]*)"


def _prints_its_symbol(adapter: type[CarrierAdapter], case: AdapterCase) -> bool:
    """Whether the page prints the symbol as text (Rakuten's JSON carries a number)."""
    page = Replay.load(adapter.CARRIER, case.name, case.imei).result_page()
    text = page.text(adapter.DEFAULT_ENCODING)
    return (
        case.symbol is not None and re.search(_PRINTED + re.escape(case.symbol), text) is not None
    )


RESULT_CASES = [
    pytest.param(adapter, case, id=f"{adapter.CARRIER}-{case.name}")
    for adapter in ADAPTERS
    for case in adapter.TESTS
    if isinstance(case.expect, Status) and not case.online and not case.skip
]
PRINTED_CASES = [param for param in RESULT_CASES if _prints_its_symbol(*param.values)]


def _page(adapter: type[CarrierAdapter], case: AdapterCase) -> tuple[Page, str]:
    page = Replay.load(adapter.CARRIER, case.name, case.imei).result_page()
    return page, page.text(adapter.DEFAULT_ENCODING)


def _encoding(page: Page, adapter: type[CarrierAdapter]) -> str:
    """The encoding the page's bytes are really in, to rebuild a mutated page."""
    for encoding in ("cp932", "utf-8"):
        try:
            page.content.decode(encoding)
        except UnicodeDecodeError:
            continue
        if page.text(adapter.DEFAULT_ENCODING) == page.content.decode(encoding):
            return encoding
    return "utf-8"


def _outcome(adapter: type[CarrierAdapter], page: Page) -> Reading | None:
    try:
        return adapter.parse_result(page)
    except CarrierError:
        return None


def _swap(case: AdapterCase, text: str, replacement: str) -> str:
    """Replace the printed symbol where it starts an element's text, and only there."""
    assert case.symbol is not None
    pattern = re.compile(_PRINTED + re.escape(case.symbol))
    return pattern.sub(lambda m: m.group(1) + replacement, text)


@pytest.mark.parametrize(("adapter", "case"), PRINTED_CASES)
@pytest.mark.parametrize("look_alike", LOOK_ALIKES)
def test_look_alike_symbol_is_not_an_answer(adapter, case, look_alike) -> None:
    page, text = _page(adapter, case)
    damaged = _swap(case, text, look_alike)
    encoding = _encoding(page, adapter)
    mutated = replace(page, content=damaged.encode(encoding, errors="replace"))
    assert _outcome(adapter, mutated) is None


@pytest.mark.parametrize(("adapter", "case"), PRINTED_CASES)
def test_another_symbol_is_read_as_that_symbol(adapter, case) -> None:
    """Proof the parser reads the page: a different valid symbol gives a different status."""
    page, text = _page(adapter, case)
    encoding = _encoding(page, adapter)
    assert case.symbol is not None
    for other, status in SYMBOLS.items():
        if status is SYMBOLS[case.symbol]:
            continue
        try:
            content = _swap(case, text, other).encode(encoding)
        except UnicodeEncodeError:
            continue  # e.g. ✕ has no Shift_JIS form, so no Shift_JIS page can print it
        reading = adapter.parse_result(replace(page, content=content))
        assert reading.status is status, (other, reading)


@pytest.mark.parametrize(("adapter", "case"), RESULT_CASES)
def test_reencoded_page_is_not_misread(adapter, case) -> None:
    page, text = _page(adapter, case)
    encoding = _encoding(page, adapter)
    for other in ("utf-8", "cp932", "utf-16", "euc_jp", "latin-1"):
        if other == encoding:
            continue
        mutated = replace(page, content=text.encode(other, errors="replace"))
        outcome = _outcome(adapter, mutated)
        assert outcome is None or outcome.status is case.expect, (other, outcome)


@pytest.mark.parametrize(("adapter", "case"), RESULT_CASES)
@settings(
    max_examples=60, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_truncated_page_is_not_misread(adapter, case, data) -> None:
    page, _ = _page(adapter, case)
    cut = data.draw(st.integers(min_value=0, max_value=max(0, len(page.content) - 1)))
    outcome = _outcome(adapter, replace(page, content=page.content[:cut]))
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
    damaged = (text[:start] + text[end:]).encode(_encoding(page, adapter), errors="replace")
    outcome = _outcome(adapter, replace(page, content=damaged))
    assert outcome is None or outcome.status is case.expect
