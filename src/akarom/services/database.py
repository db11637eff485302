"""Opening the database the settings name (``AKAROM_DATABASE_URL``, else SQLite)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from akarom.config import Settings
from akarom.domain import Carrier
from akarom.storage import sqlite_file
from akarom.storage.observations import StoredObservation

if TYPE_CHECKING:
    from akarom.storage import Store

__all__ = ["OpeningStore", "open_store"]

#: How long a thread holds the GIL before another may take it, while the store opens.
_SWITCH_WHILE_OPENING_S = 0.0005


def open_store(settings: Settings) -> Store:
    """The store for ``settings``, migrated to the current schema; ``StorageError`` if not."""
    from akarom.storage import Store

    return Store.open(settings.database_url, settings.data_dir)


class OpeningStore:
    """The SQLite store, opened in a thread while a bulk run's first checks go out.

    Importing SQLAlchemy and opening the store take 0.2–0.4 s: 3–6 % of a 400-device
    run at 20 requests/s per carrier. This stands in for that ``Store`` meanwhile:
    what a run reads before its first requests (stored answers, which carriers had
    records of which models) comes from the file with the standard library
    (``storage.sqlite_file``, held equal to ``Store`` by property tests) until the
    store is open; every other call waits for the store in the thread that makes it
    (the writers' threads), so answers are stored as they always are, only a few
    hundred ms later. Only for a default SQLite file already at this akarom's schema
    (``begin``); an error opening it is raised by each call after.
    """

    #: A file on this machine: short reads run on the event loop (``services._reading``).
    local = True

    def __init__(self, settings: Settings) -> None:
        self._path = settings.data_dir / sqlite_file.SQLITE_FILENAME
        self._opened: Future[Store] = Future()
        self._opened.set_running_or_notify_cancel()  # nobody can cancel an open under way
        threading.Thread(
            target=self._open, args=(settings,), name="akarom-open-store", daemon=True
        ).start()

    @classmethod
    def begin(cls, settings: Settings) -> OpeningStore | None:
        """Start opening the store, if it is a SQLite file this module can read meanwhile."""
        if settings.database_url is not None:
            return None
        if not sqlite_file.readable(settings.data_dir / sqlite_file.SQLITE_FILENAME):
            return None  # none yet, an older schema, unreadable: Store decides, first
        return cls(settings)

    def _open(self, settings: Settings) -> None:
        # The import holds the GIL for the default 5 ms at a time, and every answer or
        # timer the event loop wakes for would wait that long: a run's start measured
        # 1.5 % slower end to end (uniform 400 devices, docs/benchmarks.md).
        default = sys.getswitchinterval()
        sys.setswitchinterval(_SWITCH_WHILE_OPENING_S)
        try:
            store = open_store(settings)
        except BaseException as problem:  # noqa: BLE001 - every later call raises it
            self._opened.set_exception(problem)
        else:
            self._opened.set_result(store)
        finally:
            sys.setswitchinterval(default)

    def store(self) -> Store:
        """The store, once open (blocking); what opening it raised, if it failed."""
        return self._opened.result()

    def __enter__(self) -> OpeningStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._opened.exception() is None:
            self.store().close()

    # -- read from the file until the store is open ------------------------------------

    def latest_many(
        self, imeis: Sequence[str], *, since: datetime | None
    ) -> dict[str, dict[Carrier, StoredObservation]]:
        if not self._opened.done() and since is not None:
            found = sqlite_file.latest_answers(self._path, imeis, since=since)
            if found is not None:
                return found
        return self.store().latest_many(imeis, since=since)

    def carrier_totals(self) -> dict[Carrier, int]:
        if not self._opened.done():
            totals = sqlite_file.carrier_totals(self._path)
            if totals is not None:
                return totals
        return self.store().carrier_totals()

    def carrier_counts_for_tacs(self, tacs: Sequence[str]) -> dict[str, dict[Carrier, int]]:
        if not self._opened.done():
            counts = sqlite_file.carrier_counts_for_tacs(self._path, tacs)
            if counts is not None:
                return counts
        return self.store().carrier_counts_for_tacs(tacs)

    # -- wait for the store, in the caller's thread ------------------------------------

    def record_many(self, *args: Any, **kwargs: Any) -> Any:
        return self.store().record_many(*args, **kwargs)

    def start_run(self, *args: Any, **kwargs: Any) -> Any:
        return self.store().start_run(*args, **kwargs)

    def record_rows(self, *args: Any, **kwargs: Any) -> Any:
        return self.store().record_rows(*args, **kwargs)

    def finish_run(self, *args: Any, **kwargs: Any) -> Any:
        return self.store().finish_run(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        """Any other use of the store (a person's challenge, say): once it is open."""
        return getattr(self.store(), name)
