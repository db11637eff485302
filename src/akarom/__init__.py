"""akarom: is this used phone 赤ロム? Checks the Japanese carriers' network-restriction pages.

The public vocabulary lives in ``akarom.domain``; IMEI handling in
``akarom.identity``; checking in ``akarom.services``.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
