"""Records of the 赤ロム guarantee (a mixin of ``Store``):
where alerts go (alert targets) and the outbox of deliveries.
"""

from __future__ import annotations

from akarom.storage._records import Records

__all__ = ["AlertRecords"]


class AlertRecords(Records):
    """where alerts go (alert targets) and the outbox of deliveries, as ``Store`` methods."""
