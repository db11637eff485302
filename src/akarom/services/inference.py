"""Which carrier most likely sold a phone: ask that one first.

Only the selling carrier holds a record of a device (○ △ ×); the other three say
``-``. Asking the most likely carrier first, and stopping at the first record,
saves most of the requests a blind "ask all four" would make. The odds come from:

* the TAC (the first 8 digits, the model): how many devices of that model each
  carrier has claimed in answers already stored. Carrier-specific Android models
  (SO-51A at docomo, SOG01 at au) separate cleanly; models sold everywhere (most
  iPhones) fall back towards the overall shares;
* the overall share of each carrier among stored records (the prior);
* a hint from the input (a キャリア or brand column), which outweighs both, yet
  never removes a carrier from the list: a hint narrows the order, not the check.

>>> odds = CarrierOdds({Carrier.AU: 8}, {Carrier.DOCOMO: 50, Carrier.AU: 30})
>>> odds.rank()[:2]
[<Carrier.AU: 'au'>, <Carrier.DOCOMO: 'docomo'>]
>>> odds.rank(hint=Carrier.RAKUTEN)[0]
<Carrier.RAKUTEN: 'rakuten'>
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from akarom.domain import Carrier

__all__ = ["HINT_WEIGHT", "CarrierOdds", "TacLearner"]

#: How many stored claims a dealer's hint is worth. Large: the dealer usually knows
#: where the phone came from. Still finite, so a wrong hint only costs an extra ask.
HINT_WEIGHT = 1000.0

#: How strongly the overall shares pull a TAC with few observations (pseudo-counts).
PRIOR_WEIGHT = 2.0


@dataclass(frozen=True, slots=True)
class CarrierOdds:
    """Claims by carrier for one TAC, and for all TACs (the prior)."""

    tac_counts: Mapping[Carrier, int]
    totals: Mapping[Carrier, int]

    def scores(self, hint: Carrier | None = None) -> dict[Carrier, float]:
        """Unnormalised odds per carrier: TAC claims plus a smoothed share of all claims."""
        total = sum(self.totals.values())
        scores = {}
        carriers = tuple(Carrier)
        for carrier in carriers:
            # Laplace-smoothed share, so a carrier never seen still gets a turn.
            share = (self.totals.get(carrier, 0) + 1) / (total + len(carriers))
            scores[carrier] = self.tac_counts.get(carrier, 0) + PRIOR_WEIGHT * share
        if hint is not None:
            scores[hint] += HINT_WEIGHT
        return scores

    def rank(self, hint: Carrier | None = None) -> list[Carrier]:
        """Every carrier, most likely seller first (ties in the order of the carrier list)."""
        scores = self.scores(hint)
        carriers = tuple(Carrier)
        return sorted(carriers, key=lambda c: (-scores[c], carriers.index(c)))


@dataclass
class TacLearner:
    """Claims per TAC, seeded from storage and updated as answers arrive during a run.

    ``seed`` loads a TAC's stored counts the first time it is seen; later claims
    are added in memory, so a run learns from its own answers without a query per
    device. Memory grows with the number of distinct TACs (thousands), not devices.
    """

    totals: dict[Carrier, int] = field(default_factory=dict)
    by_tac: dict[str, dict[Carrier, int]] = field(default_factory=dict)

    def known(self, tac: str) -> bool:
        return tac in self.by_tac

    def seed(self, tac: str, counts: Mapping[Carrier, int]) -> None:
        self.by_tac.setdefault(tac, dict(counts))

    def claim(self, tac: str | None, carrier: Carrier) -> None:
        """A carrier answered ○ △ × for a device of this TAC: it sold that model."""
        self.totals[carrier] = self.totals.get(carrier, 0) + 1
        if tac is not None:
            counts = self.by_tac.setdefault(tac, {})
            counts[carrier] = counts.get(carrier, 0) + 1

    def odds(self, tac: str | None) -> CarrierOdds:
        return CarrierOdds(self.by_tac.get(tac, {}) if tac else {}, self.totals)
