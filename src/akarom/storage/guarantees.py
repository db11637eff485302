"""Records of the 赤ロム guarantee (a mixin of ``Store``):
intakes, guarantees, status changes and claims.
"""

from __future__ import annotations

from akarom.storage._records import Records

__all__ = ["GuaranteeRecords"]


class GuaranteeRecords(Records):
    """intakes, guarantees, status changes and claims, as ``Store`` methods."""
