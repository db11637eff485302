"""Carrier adapters, one module per carrier check page, and their registry.

The carriers themselves are ``akarom.domain.Carrier``, the one list every layer
derives from; this registry gives each its adapter. ``ADAPTERS`` is the explicit,
sorted list of the built-in ones (importing a module registers nothing);
``register_adapter`` adds one for a carrier registered elsewhere (a plugin, a test).
``adapter_class`` raises for a carrier that has none, so a service fails at start-up,
never half-way through a check.
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
from akarom.domain import Carrier, CarrierParts

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
    "register_adapter",
    "symbol_status",
    "unregister_adapter",
]

ADAPTERS: tuple[type[CarrierAdapter], ...] = (
    AuAdapter,
    DocomoAdapter,
    RakutenAdapter,
    SoftbankAdapter,
)


_ADAPTERS: CarrierParts[type[CarrierAdapter]] = CarrierParts(
    "adapter", "akarom.carriers.register_adapter", {a.CARRIER: a for a in ADAPTERS}
)


def register_adapter(adapter: type[CarrierAdapter]) -> type[CarrierAdapter]:
    """Give ``adapter.CARRIER`` its adapter; ``ValueError`` if it has one already."""
    return _ADAPTERS.register(adapter.CARRIER, adapter)


def unregister_adapter(carrier: Carrier) -> None:
    """Take a registered adapter away again (the built-in ones stay)."""
    _ADAPTERS.unregister(carrier)


def adapter_class(carrier: Carrier) -> type[CarrierAdapter]:
    """The adapter class for ``carrier``; ``LookupError`` when it has none."""
    return _ADAPTERS[carrier]
