"""The sandbox's sites, one per carrier of ``akarom.domain.Carrier``: an explicit list.

``SITES`` are the built-in ones (importing a module registers nothing);
``register_site`` adds one for a carrier registered elsewhere (a plugin, a test).
``site_class`` raises for a carrier without a site, so the sandbox refuses to start
rather than serve three carriers of four.
"""

from __future__ import annotations

from akarom.domain import Carrier, CarrierParts
from akarom.sandbox._site import Site
from akarom.sandbox.au import AuSite
from akarom.sandbox.docomo import DocomoSite
from akarom.sandbox.rakuten import RakutenSite
from akarom.sandbox.softbank import SoftbankSite

__all__ = ["SITES", "register_site", "site_class", "unregister_site"]

SITES: tuple[type[Site], ...] = (AuSite, DocomoSite, RakutenSite, SoftbankSite)

_SITES: CarrierParts[type[Site]] = CarrierParts(
    "sandbox site", "akarom.sandbox.sites.register_site", {s.carrier: s for s in SITES}
)


def register_site(site: type[Site]) -> type[Site]:
    """Give ``site.carrier`` its sandbox site; ``ValueError`` if it has one already."""
    return _SITES.register(site.carrier, site)


def unregister_site(carrier: Carrier) -> None:
    """Take a registered site away again (the built-in ones stay)."""
    _SITES.unregister(carrier)


def site_class(carrier: Carrier) -> type[Site]:
    """The sandbox site of ``carrier``; ``LookupError`` when it has none."""
    return _SITES[carrier]
