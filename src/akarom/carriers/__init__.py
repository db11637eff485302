"""Carrier adapters, one module per carrier check page, and their registry.

The registry is an explicit sorted list: importing a module registers nothing.
"""

from __future__ import annotations

from akarom.carriers._base import (
    AdapterCase,
    CaptchaChallenge,
    CarrierAdapter,
    Observation,
    Page,
    Probe,
    Reading,
    Visit,
)
from akarom.carriers._symbols import symbol_status
from akarom.carriers.au import AuAdapter
from akarom.carriers.docomo import DocomoAdapter
from akarom.carriers.rakuten import RakutenAdapter
from akarom.carriers.softbank import SoftbankAdapter
from akarom.domain import Carrier

__all__ = [
    "ADAPTERS",
    "AdapterCase",
    "CaptchaChallenge",
    "CarrierAdapter",
    "Observation",
    "Page",
    "Probe",
    "Reading",
    "Visit",
    "adapter_class",
    "symbol_status",
]

ADAPTERS: tuple[type[CarrierAdapter], ...] = (
    AuAdapter,
    DocomoAdapter,
    RakutenAdapter,
    SoftbankAdapter,
)


def adapter_class(carrier: Carrier) -> type[CarrierAdapter]:
    """The adapter class for ``carrier``."""
    for adapter in ADAPTERS:
        if adapter.CARRIER is carrier:
            return adapter
    raise LookupError(f"no adapter for {carrier}")
