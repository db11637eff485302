"""The sandbox's sites, one per carrier of ``akarom.domain.Carrier``: an explicit list.

``SITES`` are the built-in ones (importing a module registers nothing);
``register_site`` adds one for a carrier registered elsewhere (a plugin, a test).
``site_class`` raises for a carrier without a site, so the sandbox refuses to start
rather than serve three carriers of four.
"""

from __future__ import annotations

from akarom.domain import Carrier
from akarom.sandbox._site import Site
from akarom.sandbox.au import AuSite
from akarom.sandbox.docomo import DocomoSite
from akarom.sandbox.rakuten import RakutenSite
from akarom.sandbox.softbank import SoftbankSite

__all__ = ["SITES", "register_site", "site_class", "unregister_site"]

SITES: tuple[type[Site], ...] = (AuSite, DocomoSite, RakutenSite, SoftbankSite)

_REGISTERED: dict[Carrier, type[Site]] = {site.carrier: site for site in SITES}


def register_site(site: type[Site]) -> type[Site]:
    """Give ``site.carrier`` its sandbox site; ``ValueError`` if it has one already."""
    if site.carrier in _REGISTERED:
        raise ValueError(f"{site.carrier} already has a sandbox site")
    _REGISTERED[site.carrier] = site
    return site


def unregister_site(carrier: Carrier) -> None:
    """Take a registered site away again (the built-in ones stay)."""
    if any(site.carrier is carrier for site in SITES):
        raise ValueError(f"{carrier}'s sandbox site is built in")
    _REGISTERED.pop(carrier, None)


def site_class(carrier: Carrier) -> type[Site]:
    """The sandbox site of ``carrier``; ``LookupError`` when it has none."""
    try:
        return _REGISTERED[carrier]
    except KeyError:
        raise LookupError(
            f"the sandbox has no site for the carrier {carrier}: register one with "
            "akarom.sandbox.sites.register_site (docs/architecture.md, Adding a carrier)"
        ) from None
