"""``akarom doctor --live``: does each carrier's page still look the way its adapter expects?

A dealer runs it before a day of bulk checks, or when answers turn ``unknown``. For
every carrier it runs the adapter's drift probe (``CarrierAdapter.probe``): a GET of
the check page (docomo: ``top.php`` and ``search.php``), **never a POST and never an
IMEI**, then the adapter's own ``probe_page`` on what came back. It asks through the
same adapters, clients and rate limiters a ``Checker`` checks with, so a probe waits
its turn like any request and never exceeds a carrier's politeness floor.

``probe_carriers`` returns one ``Probe`` per carrier, in the order asked (all
carriers by default). ``DoctorReport`` bundles them for the CLI: ``ok``, the
carriers in each outcome, and ``as_dict`` for JSON output. Rendering, wording and
exit codes belong to the CLI.

A probe that fails in a way no adapter expects (a bug of ours) is logged with its
traceback and reported as the outcome ``error``; it never hides the other carriers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from akarom.carriers import CarrierAdapter, Probe
from akarom.domain import ALL_CARRIERS, Carrier
from akarom.services.checks import Checker

__all__ = ["ERROR", "DoctorReport", "probe_carriers"]

logger = logging.getLogger(__name__)

#: ``Probe.screen`` (and so ``outcome``) of a probe that crashed: a bug, not the site.
ERROR = "error"


async def probe_carriers(
    adapters: Checker | Mapping[Carrier, CarrierAdapter],
    carriers: Sequence[Carrier] | None = None,
) -> list[Probe]:
    """Probe ``carriers`` (default: all) concurrently; one ``Probe`` each, in that order.

    ``adapters`` is the ``Checker`` whose adapters (and rate-limited clients) to use,
    or a mapping carrier → adapter. A carrier is probed once however often it is named.
    """
    wanted = tuple(dict.fromkeys(carriers)) if carriers else ALL_CARRIERS
    if isinstance(adapters, Checker):
        chosen = {carrier: adapters.adapter(carrier) for carrier in wanted}
    else:
        chosen = {carrier: adapters[carrier] for carrier in wanted}
    return list(await asyncio.gather(*(_probe(adapter) for adapter in chosen.values())))


async def _probe(adapter: CarrierAdapter) -> Probe:
    try:
        return await adapter.probe()
    except Exception as err:  # a bug of ours; the other carriers' probes still count
        logger.exception("%s: the drift probe failed unexpectedly", adapter.CARRIER)
        return Probe(
            carrier=adapter.CARRIER,
            url=adapter.base_url + adapter.PROBE_PATH,
            status_code=None,
            charset=None,
            screen=ERROR,
            detail=f"{type(err).__name__}: {err}",
            adapter_version=adapter.VERSION,
        )


@dataclass(frozen=True, slots=True)
class DoctorReport:
    """The probes of one ``doctor`` run, as data for the CLI to print."""

    probes: tuple[Probe, ...]

    @classmethod
    async def run(
        cls,
        adapters: Checker | Mapping[Carrier, CarrierAdapter],
        carriers: Sequence[Carrier] | None = None,
    ) -> DoctorReport:
        """``probe_carriers``, bundled."""
        return cls(tuple(await probe_carriers(adapters, carriers)))

    @property
    def ok(self) -> bool:
        """Every carrier's pages were served and look as expected."""
        return all(probe.ok for probe in self.probes)

    @property
    def changed(self) -> tuple[Carrier, ...]:
        """Carriers whose pages no longer look as their adapter expects: adapter work."""
        return self.with_outcome("changed")

    def with_outcome(self, outcome: str) -> tuple[Carrier, ...]:
        """Carriers whose probe ended in ``outcome`` (``ok``, ``changed``, a screen code)."""
        return tuple(probe.carrier for probe in self.probes if probe.outcome == outcome)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready: ``{"ok": bool, "carriers": [Probe.as_dict(), …]}``."""
        return {"ok": self.ok, "carriers": [probe.as_dict() for probe in self.probes]}
