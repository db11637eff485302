"""akarom: is this used phone 赤ロム? Checks the Japanese carriers' network-restriction pages.

The public vocabulary lives in ``akarom.domain``; IMEI handling in
``akarom.identity``; checking in ``akarom.services``.
"""

from __future__ import annotations

import sys

# httpx imports its own command-line client (``httpx._main``: click, pygments, rich's
# syntax highlighting) whenever it is imported, ~17 ms of every akarom command that
# talks to a carrier, for a ``httpx.main`` akarom never calls. A module that is None
# in ``sys.modules`` fails to import, which httpx expects: it then defines a ``main``
# that says the CLI extras are missing. Only this process is affected, and only when
# httpx has not been imported before akarom.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

__version__ = "0.1.0"

__all__ = ["__version__"]
