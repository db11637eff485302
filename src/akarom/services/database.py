"""Opening the database the settings name (``AKAROM_DATABASE_URL``, else SQLite)."""

from __future__ import annotations

from akarom.config import Settings
from akarom.storage import Store

__all__ = ["Store", "open_store"]


def open_store(settings: Settings) -> Store:
    """The store for ``settings``, migrated to the current schema; ``StorageError`` if not."""
    return Store.open(settings.database_url, settings.data_dir)
