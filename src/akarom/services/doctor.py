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

``page_drift`` needs no network: it reads from the store what each carrier's
answer pages did lately. A page no template recognised was refused (its answer is
``unknown``, the page kept as evidence) and counted by reason; a carrier whose
newest page was refused has **stopped matching**: its site has probably changed,
and the doctor says so on the first refused page, not after a wrong answer.

A probe that fails in a way no adapter expects (a bug of ours) is logged with its
traceback and reported as the outcome ``error``; it never hides the other carriers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from akarom.carriers import CarrierAdapter, Probe
from akarom.domain import Carrier
from akarom.services.checks import Checker
from akarom.storage import CarrierPages, Store

__all__ = ["DRIFT_WINDOW", "ERROR", "DoctorReport", "PageDrift", "page_drift", "probe_carriers"]

#: How far back ``page_drift`` looks: a week of a dealer's checks.
DRIFT_WINDOW = timedelta(days=7)

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
    wanted = tuple(dict.fromkeys(carriers)) if carriers else tuple(Carrier)
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


@dataclass(frozen=True, slots=True)
class PageDrift:
    """What each carrier's answer pages did since ``since`` (``page_drift``)."""

    since: datetime
    carriers: tuple[CarrierPages, ...]

    @property
    def stopped_matching(self) -> tuple[Carrier, ...]:
        """Carriers whose newest page was refused: adapter work, probably a changed site."""
        return tuple(pages.carrier for pages in self.carriers if pages.stopped_matching)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready: the window and, per carrier, counts, reasons and the newest refusal."""
        return {
            "since": self.since.isoformat(),
            "carriers": [
                {
                    "carrier": pages.carrier.value,
                    "read": pages.read,
                    "refused": pages.refused,
                    "reasons": dict(pages.reasons),
                    "last_read_at": pages.last_read_at.isoformat() if pages.last_read_at else None,
                    "last_refused": None
                    if pages.last_refused is None
                    else {
                        "observation": pages.last_refused.id,
                        "imei": pages.last_refused.imei,
                        "checked_at": pages.last_refused.checked_at.isoformat(),
                        "reason": pages.last_refused.reason,
                        "detail": pages.last_refused.detail,
                    },
                    "stopped_matching": pages.stopped_matching,
                }
                for pages in self.carriers
            ],
        }


def page_drift(
    store: Store, *, window: timedelta = DRIFT_WINDOW, now: datetime | None = None
) -> PageDrift:
    """Each carrier's pages read and refused within ``window`` (no network)."""
    since = (now or datetime.now(UTC)) - window
    found = store.carrier_pages(since)
    return PageDrift(since, tuple(found[c] for c in Carrier if c in found))
