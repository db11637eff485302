"""Builders for observations and pages with sensible defaults."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from akarom.domain import JST, Carrier, Source, Status
from akarom.storage import NewObservation, NewPage

T0 = datetime(2026, 11, 26, 16, 0, 0, 123456, tzinfo=JST)

IMEI = "352099001761481"
SAME_TAC = "352099001761499"  # same TAC (35209900), another device
OTHER_TAC = "356938035643809"
MEID = "A0000012345678"


def observation(
    imei: str = IMEI,
    carrier: Carrier = Carrier.DOCOMO,
    status: Status = Status.OK,
    *,
    at: datetime = T0,
    **fields: Any,
) -> NewObservation:
    if status is Status.UNKNOWN:
        fields.setdefault("error", "unavailable")
    if fields.get("source") is Source.MANUAL:
        fields.setdefault("entered_by", "tanaka")
    return NewObservation(imei=imei, carrier=carrier, status=status, checked_at=at, **fields)


def page(content: bytes, *, method: str = "GET", url: str = "https://example.jp/") -> NewPage:
    return NewPage(
        method=method,
        url=url,
        status_code=200,
        headers={"content-type": "text/html; charset=Shift_JIS"},
        content=content,
        fetched_at=datetime(2026, 11, 26, 7, 0, tzinfo=UTC),
    )
