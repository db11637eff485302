"""Asking the likely seller first: the ordering rules."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from akarom.domain import Carrier
from akarom.services.inference import CarrierOdds, TacLearner

counts = st.dictionaries(st.sampled_from(tuple(Carrier)), st.integers(0, 10_000))


@given(counts, counts, st.none() | st.sampled_from(tuple(Carrier)))
def test_every_carrier_is_always_in_the_order_once(tac_counts, totals, hint) -> None:
    order = CarrierOdds(tac_counts, totals).rank(hint)
    assert sorted(order) == sorted(Carrier)


@given(counts, counts, st.sampled_from(tuple(Carrier)))
def test_a_hint_goes_first_unless_the_model_overwhelmingly_says_otherwise(
    tac_counts, totals, hint
) -> None:
    order = CarrierOdds(tac_counts, totals).rank(hint)
    if max(tac_counts.values(), default=0) < 900:
        assert order[0] is hint


def test_the_model_outweighs_the_overall_shares() -> None:
    odds = CarrierOdds({Carrier.SOFTBANK: 3}, {Carrier.DOCOMO: 900, Carrier.SOFTBANK: 10})
    assert odds.rank()[0] is Carrier.SOFTBANK


def test_an_unseen_model_follows_the_overall_shares() -> None:
    odds = CarrierOdds({}, {Carrier.RAKUTEN: 40, Carrier.AU: 60, Carrier.DOCOMO: 5})
    assert odds.rank()[:3] == [Carrier.AU, Carrier.RAKUTEN, Carrier.DOCOMO]


def test_a_run_learns_from_its_own_answers() -> None:
    learner = TacLearner()
    learner.seed("35209900", {})
    assert learner.odds("35209900").rank()[0] is Carrier.DOCOMO  # fixed order on a tie
    for _ in range(3):
        learner.claim("35209900", Carrier.AU)
    assert learner.odds("35209900").rank()[0] is Carrier.AU
    assert learner.totals == {Carrier.AU: 3}
