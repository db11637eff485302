"""Records of the 赤ロム guarantee (a mixin of ``Store``):
issued certificates and the public keys that signed them.
"""

from __future__ import annotations

from akarom.storage._records import Records

__all__ = ["CertificateRecords"]


class CertificateRecords(Records):
    """issued certificates and the public keys that signed them, as ``Store`` methods."""
