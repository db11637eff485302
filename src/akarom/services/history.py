"""A device's answers over time, each with the pages that prove it (``akarom history``)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from akarom.config import Settings
from akarom.domain import JST
from akarom.services.database import open_store
from akarom.services.validation import parse_imei
from akarom.storage import Store, StoredObservation, StoredPage

__all__ = [
    "DeviceHistory",
    "HistoryEntry",
    "device_history",
    "export_evidence",
    "history_json",
    "read_history",
]


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    observation: StoredObservation
    pages: tuple[StoredPage, ...]


def device_history(store: Store, raw: str) -> list[HistoryEntry]:
    """Every observation of the device, oldest first, with its evidence pages.

    Raises ``InvalidImei`` (naming ``raw``) for a value that is not an IMEI/MEID.
    """
    imei = parse_imei(raw).value
    return [
        HistoryEntry(observation, tuple(store.pages(observation.id)))
        for observation in store.history(imei)
    ]


@dataclass(frozen=True, slots=True)
class DeviceHistory:
    """``akarom history``: a device's answers, oldest first, and the evidence files written."""

    imei: str
    entries: tuple[HistoryEntry, ...]
    exported: tuple[Path, ...] = ()


def read_history(settings: Settings, raw: str, *, evidence: Path | None = None) -> DeviceHistory:
    """The device's history from the settings' database, its pages written to ``evidence``.

    Without ``evidence`` no file is written. Raises ``InvalidImei`` before the database
    is opened, ``StorageError`` after.
    """
    imei = parse_imei(raw).value
    with open_store(settings) as store:
        entries = tuple(device_history(store, imei))
        exported = (
            tuple(export_evidence(store, list(entries), evidence)) if evidence is not None else ()
        )
    return DeviceHistory(imei, entries, exported)


def history_json(entry: HistoryEntry) -> dict[str, Any]:
    """One line of ``akarom history --json``."""
    observation = entry.observation
    return {
        "id": observation.id,
        "imei": observation.imei,
        "carrier": observation.carrier.value,
        "status": observation.status.value,
        "symbol": observation.status.symbol,
        "printed_symbol": observation.printed_symbol,
        "checked_at": observation.checked_at.astimezone(JST).isoformat(timespec="seconds"),
        "source": observation.source.value,
        "message": observation.message,
        "error": observation.error,
        "detail": observation.detail,
        "elapsed_ms": observation.elapsed_ms,
        "adapter_version": observation.adapter_version,
        "entered_by": observation.entered_by,
        "evidence": [
            {
                "method": page.method,
                "url": page.url,
                "status_code": page.status_code,
                "sha256": page.sha256,
                "size": len(page.content),
                "fetched_at": page.fetched_at.astimezone(JST).isoformat(timespec="seconds"),
            }
            for page in entry.pages
        ],
    }


def _extension(page: StoredPage) -> str:
    media = re.split(r"\s*;", page.headers.get("content-type", ""), maxsplit=1)[0].lower()
    return {"text/html": "html", "application/json": "json"}.get(media, "bin")


def export_evidence(store: Store, entries: list[HistoryEntry], folder: Path) -> list[Path]:
    """Write each page byte for byte, with its metadata beside it; return the body files."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for entry in entries:
        for page in entry.pages:
            stem = f"{entry.observation.id:06d}-{entry.observation.carrier.value}-{page.seq}"
            body = folder / f"{stem}.{_extension(page)}"
            body.write_bytes(page.content)
            meta = {
                **history_json(HistoryEntry(entry.observation, (page,))),
                "headers": dict(page.headers),
            }
            (folder / f"{stem}.json").write_text(
                json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8"
            )
            written.append(body)
    return written
