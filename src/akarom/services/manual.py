"""A person in the loop: record the symbol someone read on a carrier's own page.

When a carrier blocks automated access or shows a captcha, akarom does not get
around it. A person opens the official page (``manual_target``), enters the IMEI,
and tells akarom the symbol shown (``record_reading``); it is stored as an
observation with ``source=manual`` and who entered it, and is reused like any
other answer afterwards.

Everything a person typed is checked before the database is opened: the IMEI
(``InvalidImei``), the carrier's name and the symbol (``UsageError``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from akarom.carriers import adapter_class, symbol_status
from akarom.config import Settings
from akarom.domain import Carrier, CarrierResult, Source, Status
from akarom.errors import UsageError
from akarom.services.database import open_store
from akarom.services.options import carrier_named
from akarom.services.validation import parse_imei
from akarom.storage import NewObservation, Store

__all__ = [
    "ManualReading",
    "ManualTarget",
    "carrier_page",
    "manual_target",
    "record_manual",
    "record_reading",
]


def carrier_page(settings: Settings, carrier: Carrier) -> str:
    """The official page a person opens to check ``carrier`` by hand (or the sandbox's)."""
    adapter = adapter_class(carrier)
    return (settings.carrier(carrier).base_url or adapter.BASE_URL) + adapter.ENTRY_PATH


@dataclass(frozen=True, slots=True)
class ManualTarget:
    """Where a person reads one device's answer by hand: the page, and what to type there."""

    imei: str
    carrier: Carrier
    url: str


def manual_target(settings: Settings, imei: str, carrier: str) -> ManualTarget:
    """The page to open for ``imei`` at the carrier named ``carrier`` (an id or a brand).

    Raises ``InvalidImei`` (naming ``imei``) or ``UsageError`` (an unknown carrier).
    """
    identity = parse_imei(imei)
    which = carrier_named(carrier)
    return ManualTarget(identity.value, which, carrier_page(settings, which))


@dataclass(frozen=True, slots=True)
class ManualReading:
    """What a person read on a carrier's page: the symbol, who read it, the wording."""

    imei: str
    carrier: Carrier
    symbol: str
    entered_by: str
    note: str | None = None


def _status(symbol: str) -> Status:
    status = symbol_status(symbol)
    if status is None:
        raise UsageError(
            f"{symbol!r} is not a symbol a carrier prints (○ △ × -)",
            key="usage.symbol",
            value=symbol,
        )
    return status


def _reader(entered_by: str) -> str:
    if not entered_by.strip():
        raise UsageError("say who read the page (entered_by)", key="usage.entered_by")
    return entered_by.strip()


def record_manual(
    store: Store,
    raw: str,
    carrier: Carrier,
    symbol: str,
    *,
    entered_by: str,
    note: str | None = None,
) -> CarrierResult:
    """Store ``symbol`` (○ △ × -, or a variant) as read by ``entered_by`` on ``carrier``'s page.

    Raises ``InvalidImei`` for a bad IMEI and ``UsageError`` (a ``ValueError``) for
    anything that is not one of the symbols a carrier prints: a person's typo must
    not become ○.
    """
    identity = parse_imei(raw)
    status = _status(symbol)
    reader = _reader(entered_by)
    result = CarrierResult(
        carrier=carrier,
        status=status,
        checked_at=datetime.now(UTC),
        source=Source.MANUAL,
        message=note,
        printed_symbol=symbol.strip(),
    )
    store.record(NewObservation.from_result(identity.value, result, entered_by=reader))
    return result


def record_reading(settings: Settings, reading: ManualReading) -> CarrierResult:
    """Check ``reading`` whole, then store it in the settings' database."""
    parse_imei(reading.imei)
    _status(reading.symbol)
    _reader(reading.entered_by)
    with open_store(settings) as store:
        return record_manual(
            store,
            reading.imei,
            reading.carrier,
            reading.symbol,
            entered_by=reading.entered_by,
            note=reading.note,
        )
