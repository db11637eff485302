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

``diagnose`` is the whole ``akarom doctor``: each carrier's address and pace, the
database, the drift of the answer pages, the advice rules and (``live``) the probes,
as one ``Diagnosis``. A part that cannot be used is a finding, not an error: the
doctor reports everything it can.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from akarom.carriers import CarrierAdapter, Probe
from akarom.config import Settings
from akarom.domain import Carrier
from akarom.errors import ConfigError, StorageError
from akarom.services.advising import load_advice_rules
from akarom.services.checks import Checker, adapter_for, effective_limits
from akarom.services.database import open_store
from akarom.storage import CarrierPages, Store

__all__ = [
    "DRIFT_WINDOW",
    "ERROR",
    "CarrierPace",
    "DatabaseHealth",
    "Diagnosis",
    "DoctorReport",
    "PageDrift",
    "RulesHealth",
    "carrier_paces",
    "diagnose",
    "page_drift",
    "probe_carriers",
]

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


@dataclass(frozen=True, slots=True)
class CarrierPace:
    """Where one carrier is asked and how fast: the live site's floor applied."""

    carrier: Carrier
    base_url: str | None  # None: the carrier's live site
    rate: float
    concurrency: int


@dataclass(frozen=True, slots=True)
class DatabaseHealth:
    """Whether the database opens; ``detail`` says where it is, or why it cannot be used."""

    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class RulesHealth:
    """Whether the advice rules load: how many, from which file (None: only the shipped)."""

    ok: bool
    count: int
    source: Path | None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """One ``akarom doctor`` run, as data for an interface to render."""

    paces: tuple[CarrierPace, ...]
    database: DatabaseHealth
    drift: PageDrift | None  # None when the database could not be read
    rules: RulesHealth
    live: DoctorReport | None  # None unless the carriers' pages were probed

    @property
    def ok(self) -> bool:
        """Everything usable, no carrier's pages refused lately, every probe as expected."""
        return (
            self.database.ok
            and self.rules.ok
            and not (self.drift is not None and self.drift.stopped_matching)
            and (self.live is None or self.live.ok)
        )


def carrier_paces(settings: Settings) -> tuple[CarrierPace, ...]:
    """Each carrier's address and the pace a ``Checker`` would keep with it."""
    paces = []
    for carrier in Carrier:
        configured = settings.carrier(carrier)
        rate, concurrency = effective_limits(
            adapter_for(carrier),
            configured.rate_limit,
            configured.concurrency,
            live=configured.base_url is None,
        )
        paces.append(CarrierPace(carrier, configured.base_url, rate, concurrency))
    return tuple(paces)


def _database(settings: Settings) -> tuple[DatabaseHealth, PageDrift | None]:
    try:
        with open_store(settings) as store:
            return DatabaseHealth(True, store.describe()), page_drift(store)
    except StorageError as broken:
        return DatabaseHealth(False, str(broken)), None


def _rules(settings: Settings) -> RulesHealth:
    try:
        rules = load_advice_rules(settings)
    except ConfigError as broken:
        return RulesHealth(False, 0, settings.rules_file, str(broken))
    return RulesHealth(True, len(rules.rules), settings.rules_file)


async def diagnose(settings: Settings, *, live: bool = False) -> Diagnosis:
    """Check the setup; with ``live``, also probe every carrier's page (GET only, no IMEI)."""
    database, drift = await asyncio.to_thread(_database, settings)
    report = None
    if live:
        async with Checker(settings) as checker:
            report = await DoctorReport.run(checker)
    return Diagnosis(carrier_paces(settings), database, drift, _rules(settings), report)
