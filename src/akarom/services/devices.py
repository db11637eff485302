"""A device as the server last saw it: its stored answers, without asking any carrier.

A dealer's device page and ``GET /api/v1/devices/{imei}`` show the latest answer of
every carrier from the database, joined into a verdict exactly as a check would join
them (``decide_verdict``: a carrier with no stored answer is a gap, not a clear), and
the device's observations over time. Reading never sends a request to a carrier.
"""

from __future__ import annotations

from collections.abc import Sequence

from akarom.domain import Carrier, Source, Status
from akarom.identity import parse
from akarom.services.checks import carriers_taking
from akarom.services.device_reports import DeviceReport, device_report
from akarom.storage import Store, StoredObservation

__all__ = ["device_observations", "report_from", "stored_report"]


def stored_report(store: Store, raw: str) -> DeviceReport:
    """The device's report from its stored answers (blocking; no carrier is asked).

    Each carrier's newest *answer* counts; where a carrier only ever failed, its
    newest failure shows why it is unknown. ``InvalidImei`` for a value that is not
    an IMEI/MEID.
    """
    return report_from(raw, device_observations(store, raw))


def report_from(raw: str, observations: Sequence[StoredObservation]) -> DeviceReport:
    """The report the device's ``observations`` (oldest first, as ``history``) add up to."""
    identity = parse(raw)
    supported = carriers_taking(identity)
    newest: dict[Carrier, StoredObservation] = {}
    for observation in observations:
        # Oldest first: a later observation replaces an earlier one, except that a
        # failure never hides an answer (as the cache reads them, ``Store.latest``).
        earlier = newest.get(observation.carrier)
        answered = earlier is not None and earlier.status is not Status.UNKNOWN
        if not answered or observation.status is not Status.UNKNOWN:
            newest[observation.carrier] = observation
    results = {
        carrier: observation.to_result(cached=observation.source is Source.LIVE)
        for carrier, observation in newest.items()
        if carrier in supported
    }
    # Joined as a check joins its answers: a verdict left open shows its gaps.
    return device_report(identity.value, identity, results, supported)


def device_observations(store: Store, raw: str) -> list[StoredObservation]:
    """Every observation of the device, oldest first (blocking). ``InvalidImei`` as above."""
    return store.history(parse(raw).value)
