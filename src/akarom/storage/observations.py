"""A stored observation as read back: what the cache, history and verdicts are made of.

Apart from the SQLAlchemy modules, so that reading answers back without SQLAlchemy
(``storage.readonly``) gives exactly the same records as ``Store`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from akarom.domain import Carrier, CarrierResult, Source, Status

__all__ = ["StoredObservation"]


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredObservation:
    """A saved check, as read back; ``checked_at`` is UTC-aware."""

    id: int
    imei: str
    tac: str | None
    carrier: Carrier
    status: Status
    checked_at: datetime
    source: Source
    printed_symbol: str | None
    message: str | None
    error: str | None
    detail: str | None
    elapsed_ms: int | None
    adapter_version: str | None
    entered_by: str | None
    run_id: int | None
    reason: str | None = None

    def to_result(self, *, cached: bool = False) -> CarrierResult:
        """This observation as a ``CarrierResult``; ``cached`` marks it ``source=cache``."""
        return CarrierResult(
            carrier=self.carrier,
            status=self.status,
            checked_at=self.checked_at,
            source=Source.CACHE if cached else self.source,
            message=self.message,
            error=self.error,
            detail=self.detail,
            printed_symbol=self.printed_symbol,
            elapsed_s=None if self.elapsed_ms is None else self.elapsed_ms / 1000,
            reason=self.reason,
        )
