"""The integration half of akarom: everything a person can do, as typed calls.

Each interface (the CLI, the web pages, the REST API) parses, calls one of
these and renders what comes back:

===============  ====================================================
validate         ``validation.validate`` (offline, cheap to import)
explain          ``explaining.find_topic`` / ``explain_topic``; a device: ``check_devices``
check            ``checking.check_devices(settings, CheckRequest)``
bulk             ``checking.check_table(settings, BulkRequest)``
history          ``history.read_history``
manual           ``manual.manual_target`` / ``record_reading``
doctor           ``doctor.diagnose``
serve            ``serving.Hub`` (what a server holds), ``jobs`` (background work:
                 ``Jobs.submit_check`` / ``submit_batch``), ``devices`` (a device's
                 report from stored answers), ``barcode.read_imeis`` (a photo),
                 ``challenges`` (the staff queue)
dealer, apikey   ``accounts``
===============  ====================================================

Importing this package loads nothing: the names below come from their modules on
first use, so a command that only validates never loads HTTP or the database.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from akarom.ratelimit import run_paced
    from akarom.services.checks import Checker, RetryPolicy
    from akarom.services.device_reports import DeviceReport

__all__ = ["Checker", "DeviceReport", "RetryPolicy", "run_paced"]

_HOMES = {
    "Checker": "akarom.services.checks",
    "DeviceReport": "akarom.services.device_reports",
    "RetryPolicy": "akarom.services.checks",
    # The event loop every interface runs checks on (its timers keep the carriers' pace).
    "run_paced": "akarom.ratelimit",
}


def __getattr__(name: str) -> Any:
    """Load a public name's module when the name is first asked for (PEP 562)."""
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
