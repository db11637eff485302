"""Pages akarom did not understand, kept on disk for a person to inspect.

A page that is neither a result nor a known error page means the carrier's site
changed or our adapter is wrong. The answer is ``unknown``; the page itself is
saved, byte for byte with its headers, so the fix can start from what was seen.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from akarom.carriers import Page
from akarom.domain import Carrier

__all__ = ["EvidenceStore"]

logger = logging.getLogger(__name__)

_EXTENSIONS = {"text/html": "html", "application/json": "json", "text/plain": "txt"}


class EvidenceStore:
    """Writes pages under ``root/<YYYY-MM-DD>/<carrier>/``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def keep(
        self, carrier: Carrier, imei: str, reason: str, pages: Sequence[Page]
    ) -> tuple[str, ...]:
        """Save ``pages`` with a metadata file; return the paths. Never raises on disk errors."""
        now = datetime.now(UTC)
        folder = self.root / now.strftime("%Y-%m-%d") / carrier.value
        stem = f"{now.strftime('%H%M%S%f')}-{imei}"
        saved: list[str] = []
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for number, page in enumerate(pages, start=1):
                body = folder / f"{stem}-{number}.{_extension(page)}"
                body.write_bytes(page.content)
                meta = {
                    "carrier": carrier.value,
                    "imei": imei,
                    "reason": reason,
                    "method": page.method,
                    "url": page.url,
                    "status_code": page.status_code,
                    "headers": dict(page.headers),
                    "fetched_at": page.fetched_at.isoformat(),
                }
                body.with_suffix(body.suffix + ".meta.json").write_text(
                    json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8"
                )
                saved.append(str(body))
        except OSError as err:
            logger.error("could not keep evidence for %s %s in %s: %s", carrier, imei, folder, err)
        return tuple(saved)


def _extension(page: Page) -> str:
    media = re.split(r"\s*;", page.headers.get("content-type", ""), maxsplit=1)[0].lower()
    return _EXTENSIONS.get(media, "bin")
