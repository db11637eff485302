"""A device's report, and how the carriers' answers become one.

``Checker.check`` asks the carriers; the rules that turn what it has (answers
stored, answers just read, carriers it could not ask) into one ``DeviceReport``
live here, apart from HTTP and the database, so that a report made from stored
answers alone (``checking.stored_outcome``) is made by the very same code.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

from akarom.domain import SKIPPED, Carrier, CarrierResult, Source, Status, Verdict, decide_verdict
from akarom.errors import InvalidImei
from akarom.identity import Identity
from akarom.storage.observations import StoredObservation

__all__ = [
    "DEFAULT_CACHE_WINDOW",
    "DeviceReport",
    "device_report",
    "reused",
    "still_to_ask",
    "unknown",
]

#: How long a stored answer is reused instead of asking again. A day: statuses
#: change at most daily (changes show by the end of the day after next, §1.6).
DEFAULT_CACHE_WINDOW = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class DeviceReport:
    """The outcome for one input: its identity (or why it is invalid), verdict and results."""

    input: str
    identity: Identity | None
    invalid: InvalidImei | None
    verdict: Verdict
    origin_carrier: Carrier | None
    results: tuple[CarrierResult, ...]

    @classmethod
    def of_invalid(cls, raw: str, invalid: InvalidImei) -> DeviceReport:
        """The report for an input that is no IMEI or MEID: never sent anywhere."""
        return cls(raw, None, invalid, Verdict.INVALID, None, ())

    def for_input(self, raw: str) -> DeviceReport:
        """The same report for another spelling of the same device (a repeated row)."""
        return self if raw == self.input else replace(self, input=raw)


def reused(
    stored: Mapping[Carrier, StoredObservation], carriers: Collection[Carrier]
) -> dict[Carrier, CarrierResult]:
    """Stored answers as results; a hand-entered one stays "manual" (who read it matters)."""
    return {
        carrier: observation.to_result(cached=observation.source is Source.LIVE)
        for carrier, observation in stored.items()
        if carrier in carriers
    }


def still_to_ask(
    results: Mapping[Carrier, CarrierResult],
    wanted: Sequence[Carrier],
    supported: Collection[Carrier],
    all_carriers: bool,
) -> list[Carrier]:
    """The carriers of ``wanted`` to ask, given the ``results`` in hand.

    None once a carrier has a record of the device (the seller has answered; the
    others have nothing to say), unless ``all_carriers``; otherwise every carrier
    wanted whose page takes the device and that has not answered yet.
    """
    if any(r.status.is_record for r in results.values()) and not all_carriers:
        return []
    return [c for c in wanted if c in supported and c not in results]


def device_report(
    raw: str,
    identity: Identity,
    results: Mapping[Carrier, CarrierResult],
    supported: Collection[Carrier],
) -> DeviceReport:
    """The report for ``raw`` from every result in hand, its verdict decided (§2)."""
    decision = decide_verdict(results.values(), carriers=supported)
    if decision.verdict is Verdict.INCOMPLETE:
        # The verdict stayed open: show the carriers nobody asked, so the gap is visible.
        shown = dict(results)
        for carrier in supported:
            shown.setdefault(carrier, unknown(carrier, SKIPPED))
    else:
        # Settled: a carrier not asked is no part of the answer (INTERFACES.md §3).
        shown = {c: r for c, r in results.items() if not r.skipped}
    ordered = tuple(shown[c] for c in Carrier if c in shown)
    return DeviceReport(raw, identity, None, decision.verdict, decision.origin_carrier, ordered)


def unknown(carrier: Carrier, code: str, *, detail: str | None = None) -> CarrierResult:
    """``carrier`` without an answer, and why (``code``: skipped, paused, an error)."""
    return CarrierResult(carrier=carrier, status=Status.UNKNOWN, error=code, detail=detail)
