"""Records of the 赤ロム guarantee (a mixin of ``Store``):
the monitor's watches and its daily budget per carrier.
"""

from __future__ import annotations

from akarom.storage._records import Records

__all__ = ["MonitorRecords"]


class MonitorRecords(Records):
    """the monitor's watches and its daily budget per carrier, as ``Store`` methods."""
