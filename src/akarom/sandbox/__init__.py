"""The carrier sandbox: a local server that plays the four carriers' check pages.

It serves docomo, au, SoftBank and Rakuten **at their real paths** (carrier-sites.md
§9), in their encodings, with their form fields, symbol variants and the pages they
show instead of an answer, so the real adapters run against it unchanged once
``AKAROM_CARRIERS_URL`` points at it (INTERFACES.md §5). A scenario file says what
each carrier answers for each IMEI, and how each carrier behaves: latency, errors,
rate limit, and the modes ``normal``, ``blocked``, ``maintenance`` and ``captcha``.

The sandbox may import ``akarom.domain`` but never ``akarom.carriers``: its pages are
built from the reference's facts, not from what the adapters parse.

>>> from akarom.sandbox import create_app, load_scenario
>>> app = create_app(load_scenario(None))
>>> paths = sorted(r.path for r in app.routes if not r.path.startswith("/_sandbox"))
>>> paths  # doctest: +NORMALIZE_WHITESPACE
['/WBF/icv', '/cmn/WCV009001/WCE009001.hc', '/cmn/WCV009002/WCE009002.hc',
 '/gifcat/call.php', '/restriction/', '/restriction/eir/v1/rest-api/public/imei/{imei}',
 '/search.php', '/top.php']

Modules: ``scenario`` (the YAML file), ``app`` (routing, latency, errors, rate limit,
stats, admin endpoints), and one module per carrier's pages (``docomo``, ``au``,
``softbank``, ``rakuten``).
"""

from __future__ import annotations

from akarom.sandbox.app import create_app, run_sandbox
from akarom.sandbox.scenario import (
    CarrierSettings,
    Change,
    Device,
    Mode,
    Scenario,
    load_scenario,
    parse_scenario,
)

__all__ = [
    "CarrierSettings",
    "Change",
    "Device",
    "Mode",
    "Scenario",
    "create_app",
    "load_scenario",
    "parse_scenario",
    "run_sandbox",
]
