"""No page is ever read as a status it does not show; every ordinary variation is read.

The engine (``engine.py``) makes variants of every recorded page of every carrier, each
with its ground truth. Each variant goes to the adapter's pure ``parse_result`` with
the IMEI its case asks about:

- a **misread** is an answer whose status the page does not show (a page showing no
  single status read as anything, or a page read as another status);
- a **miss** is an ordinary variation of an answer page (blanks, attribute order,
  encoding, an extra class…) that is not read as its status.

Both must be zero. ``.ci/run`` runs ``PER_CARRIER`` variants per carrier (48,000 in all,
about 20 s), drawn with the seed in ``AKAROM_ADVERSARIAL_SEED`` (default: today's
date, so each day's runs draw new variants; a failure names the seed that reproduces
it). Before a release, ``-m slow`` runs ``RELEASE_PER_CARRIER`` per carrier:
``.venv/bin/python -m pytest -m slow tests/carriers/adversarial -s``.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from functools import cache

import pytest

from akarom.carriers import ADAPTERS, CarrierAdapter
from akarom.domain import Carrier, Status
from akarom.errors import CarrierError
from tests.carriers.adversarial import engine
from tests.carriers.adversarial.engine import OPERATORS, Tally, Variant, bases, variants

PER_CARRIER = 12_000
RELEASE_PER_CARRIER = 100_000
SEED = os.environ.get("AKAROM_ADVERSARIAL_SEED") or datetime.now(UTC).date().isoformat()


def _adapter(carrier: Carrier) -> type[CarrierAdapter]:
    return next(a for a in ADAPTERS if a.CARRIER is carrier)


@cache
def _judge(carrier: Carrier, count: int, seed: str) -> Tally:
    adapter = _adapter(carrier)
    tally = Tally()
    for variant in variants(carrier, count, seed):
        tally.variants += 1
        tally.by_operator[variant.first] += 1
        try:
            reading = adapter.parse_result(variant.page, variant.imei)
        except CarrierError as err:
            tally.unknown += 1
            if variant.truth.must_read:
                tally.missed.append((variant, f"{err.code} ({getattr(err, 'field', '')}): {err}"))
            continue
        tally.read += 1
        if reading.status is not variant.truth.status:
            shows = variant.truth.status or "no single status"
            tally.misreads.append((variant, f"read {reading.status}, the page shows {shows}"))
    return tally


def _explain(failures: list[tuple[Variant, str]], seed: str) -> str:
    lines = [f"{len(failures)} failures (AKAROM_ADVERSARIAL_SEED={seed}); the first ones:"]
    for variant, what in failures[:8]:
        lines.append(f"  {variant.carrier}/{variant.case} after {' → '.join(variant.ops)}: {what}")
    return "\n".join(lines)


def _run(carrier: Carrier, count: int) -> Tally:
    tally = _judge(carrier, count, SEED)
    assert tally.variants == count
    assert not tally.misreads, _explain(tally.misreads, SEED)
    assert not tally.missed, _explain(tally.missed, SEED)
    return tally


@pytest.mark.parametrize("carrier", list(Carrier), ids=str)
def test_no_variant_is_misread_and_every_ordinary_one_is_read(carrier: Carrier) -> None:
    tally = _run(carrier, PER_CARRIER)
    # Not a suite that passes by refusing everything: real answers among it were read.
    assert tally.read > PER_CARRIER // 20


@pytest.mark.slow
@pytest.mark.parametrize("carrier", list(Carrier), ids=str)
def test_the_release_set_of_variants_is_never_misread(carrier: Carrier) -> None:
    tally = _run(carrier, RELEASE_PER_CARRIER)
    print(  # noqa: T201  # the release run reads these figures (-s)
        f"\n{carrier}: {tally.variants} variants, {tally.read} read, {tally.unknown} unknown, "
        "0 misread, 0 ordinary variation missed"
    )


@pytest.mark.parametrize("carrier", list(Carrier), ids=str)
def test_every_recorded_page_is_a_base_and_every_answer_shows_its_symbol_once(
    carrier: Carrier,
) -> None:
    """The engine finds the symbol of each recorded answer without asking the adapter."""
    found = bases(carrier)
    cases = {case.name for case in _adapter(carrier).TESTS}
    assert {base.doc.case for base in found} <= cases
    answers = [base.doc for base in found if base.doc.status is not None]
    assert answers, "every carrier has recorded answers"
    for doc in answers:
        if not doc.is_json:
            assert engine._symbol_at(doc) is not None, doc.case


@pytest.mark.parametrize("carrier", list(Carrier), ids=str)
def test_each_class_of_variation_appears_in_the_sample(carrier: Carrier) -> None:
    """Every operator that fits the carrier's pages is the first operator of many variants."""
    by_operator = _judge(carrier, PER_CARRIER, SEED).by_operator
    names = {op.name for op in OPERATORS if op.json == (carrier is Carrier.RAKUTEN)}
    assert names <= set(by_operator), names - set(by_operator)
    assert min(by_operator[name] for name in names) >= 50, by_operator.most_common()[-3:]


def test_ordinary_operators_keep_what_a_person_reads() -> None:
    """The engine's own check: an ordinary variant shows the same words (stdlib parser)."""
    from html.parser import HTMLParser

    class Words(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.words: list[str] = []

        def handle_data(self, data: str) -> None:
            self.words.append(data)

    def words(text: str) -> str:
        reader = Words()
        reader.feed(text)
        return "".join("".join(reader.words).split())

    checked = 0
    for variant in variants(Carrier.DOCOMO, 400, "engine-self-check"):
        if not variant.truth.must_read or any(
            op.startswith(("same status", "other status", "reencode", "wrap", "named"))
            for op in variant.ops
        ):
            continue
        base = next(b.doc for b in bases(Carrier.DOCOMO) if b.doc.case == variant.case)
        page = variant.page
        text = page.text("cp932")
        assert words(text) == words(base.text), variant.ops
        checked += 1
    assert checked > 50


def test_every_status_can_be_shown_by_a_variant() -> None:
    """Symbol swaps reach every status at every HTML carrier (the suite tests reading, too)."""
    for carrier in (Carrier.DOCOMO, Carrier.SOFTBANK):
        shown = {v.truth.status for v in variants(carrier, 800, "statuses") if v.truth.must_read}
        assert shown >= {Status.OK, Status.PENDING, Status.RESTRICTED, Status.UNREGISTERED}
