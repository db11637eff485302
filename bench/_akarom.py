"""akarom as ``akarom bulk`` runs it, in this process: Settings from an environment,
one ``Checker`` with the store, ``run_bulk`` over a sheet."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import func, select

from akarom.config import Settings
from akarom.domain import Carrier
from akarom.services import Checker
from akarom.services.bulk import DEFAULT_IN_FLIGHT, BulkSummary, run_bulk
from akarom.storage import Store
from akarom.storage.tables import EvidencePage, Observation

__all__ = ["DEFAULT_IN_FLIGHT", "answer_gaps", "bulk", "checks_per_imei"]


def bulk(
    env: Mapping[str, str],
    store: Store,
    sheet: Path,
    report: Path,
    *,
    all_carriers: bool = False,
    fresh: bool = False,
    in_flight: int = DEFAULT_IN_FLIGHT,
    share_limits: bool = True,
) -> BulkSummary:
    """Check every row of ``sheet`` as ``akarom bulk`` would, with a new Checker.

    ``share_limits=False`` turns off the cross-process spacing ledger (a diagnosis:
    ``akarom bulk`` always has it on).
    """

    async def main() -> BulkSummary:
        settings = Settings.from_env(env)
        async with Checker(settings, store=store, share_limits=share_limits) as checker:
            return await run_bulk(
                checker,
                store,
                sheet,
                report,
                all_carriers=all_carriers,
                fresh=fresh,
                lang="en",
                in_flight=in_flight,
            )

    return asyncio.run(main())


def checks_per_imei(store: Store, run_id: int) -> Counter[str]:
    """How many carriers each IMEI was asked in one bulk run (its live observations)."""
    query = (
        select(Observation.imei, func.count())
        .where(Observation.run_id == run_id, Observation.source == "live")
        .group_by(Observation.imei)
    )
    with store.engine.connect() as connection:
        return Counter(dict(connection.execute(query).tuples().all()))


def answer_gaps(store: Store, carrier: Carrier) -> list[float]:
    """Seconds between successive pages received from ``carrier``, in arrival order."""
    query = (
        select(EvidencePage.fetched_at)
        .join(Observation, Observation.id == EvidencePage.observation_id)
        .where(Observation.carrier == carrier.value)
        .order_by(EvidencePage.fetched_at)
    )
    with store.engine.connect() as connection:
        times = [when.timestamp() for (when,) in connection.execute(query)]
    return [later - earlier for earlier, later in itertools.pairwise(times)]
