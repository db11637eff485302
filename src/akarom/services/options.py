"""What a person chooses when asking for a check, cheap to import.

Every interface builds its forms and options from these before it knows which
service it will call, so this module imports no HTTP, database, carrier or advice
code: a command that only validates or explains starts without loading them.

``SimLock`` and ``SellerKind`` are the choices of ``--sim`` and ``--seller``, with the
values of the advice engine's ``Sim`` and ``Seller`` (``tests/services/test_checking.py``
keeps them equal); ``advising.circumstances`` turns them into those. Importing the
engine only to name five words took 5 % of ``akarom validate``'s start-up.

>>> carriers_named(["ahamo", "au", "docomo"])
(<Carrier.DOCOMO: 'docomo'>, <Carrier.AU: 'au'>)
>>> carriers_named(["ソフトバンク", "ＵＱ mobile"])
(<Carrier.SOFTBANK: 'softbank'>, <Carrier.AU: 'au'>)
>>> carriers_named(["mvno"])
Traceback (most recent call last):
...
akarom.errors.UsageError: unknown carrier or brand: 'mvno'
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from akarom.domain import Carrier, resolve_carrier
from akarom.errors import UsageError

__all__ = ["Role", "SellerKind", "SimLock", "carrier_named", "carriers_named"]


class Role(StrEnum):
    """Who asks, and so whose advice: ``buyer``, ``seller`` or ``dealer``."""

    BUYER = "buyer"
    SELLER = "seller"
    DEALER = "dealer"


class SimLock(StrEnum):
    """How the phone is locked (``akarom.advice.Sim``)."""

    FREE = "free"
    UNLOCKED = "unlocked"
    LOCKED = "locked"


class SellerKind(StrEnum):
    """Who lists the phone on a marketplace (``akarom.advice.Seller``)."""

    INDIVIDUAL = "individual"
    STORE = "store"


def carrier_named(name: str) -> Carrier:
    """The carrier ``name`` (an id or a brand people use) means; ``UsageError`` if none."""
    try:
        return resolve_carrier(name)
    except ValueError as unknown:
        raise UsageError(
            str(unknown), key="usage.carrier", value=name, known=", ".join(Carrier)
        ) from None


def carriers_named(names: Iterable[str]) -> tuple[Carrier, ...]:
    """Each carrier named, once, in the order named."""
    return tuple(dict.fromkeys(carrier_named(name) for name in names))
