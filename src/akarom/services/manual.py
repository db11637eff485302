"""A person in the loop: record the symbol someone read on a carrier's own page.

When a carrier blocks automated access or shows a captcha, akarom does not get
around it. A person opens the official page (``Checker.adapter(c).entry_url``),
enters the IMEI, and tells akarom the symbol shown; it is stored as an
observation with ``source=manual`` and who entered it, and is reused like any
other answer afterwards.
"""

from __future__ import annotations

from datetime import UTC, datetime

from akarom.carriers import adapter_class, symbol_status
from akarom.config import Settings
from akarom.domain import Carrier, CarrierResult, Source
from akarom.identity import parse
from akarom.storage import NewObservation, Store

__all__ = ["carrier_page", "record_manual"]


def carrier_page(settings: Settings, carrier: Carrier) -> str:
    """The official page a person opens to check ``carrier`` by hand (or the sandbox's)."""
    adapter = adapter_class(carrier)
    return (settings.carrier(carrier).base_url or adapter.BASE_URL) + adapter.ENTRY_PATH


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

    Raises ``InvalidImei`` for a bad IMEI and ``ValueError`` for anything that is
    not one of the symbols a carrier prints: a person's typo must not become ○.
    """
    identity = parse(raw)
    status = symbol_status(symbol)
    if status is None:
        raise ValueError(f"{symbol!r} is not a symbol a carrier prints (○ △ × -)")
    if not entered_by.strip():
        raise ValueError("say who read the page (entered_by)")
    result = CarrierResult(
        carrier=carrier,
        status=status,
        checked_at=datetime.now(UTC),
        source=Source.MANUAL,
        message=note,
        printed_symbol=symbol.strip(),
    )
    store.record(NewObservation.from_result(identity.value, result, entered_by=entered_by.strip()))
    return result
