"""The SQLite file in the data folder, and its newest answers read with the standard library.

``akarom check`` on a device checked within the day needs four rows of one table.
Reading them through ``Store`` costs more than the whole command should: SQLAlchemy
and its ORM take a third of a second to import. ``latest_answers`` reads the same
rows with ``sqlite3`` alone, read-only, and gives exactly what ``Store.latest_many``
gives (a property test holds the two together); ``carrier_totals`` and
``carrier_counts_for_tacs`` likewise give ``Store``'s, for a bulk run's first rows
while the store opens. Each gives None when it cannot be sure:

* there is no database file yet (it is never created here);
* the file is not stamped at the head revision this akarom ships (an older
  schema, a newer akarom's, or none): its columns may not be these;
* SQLite refuses anything (locked, damaged, not a database);
* a row holds a status or source this version does not know.

None means "ask ``Store``", which migrates, reports errors and decides. This
module imports neither SQLAlchemy nor the rest of ``akarom.storage`` beyond its
plain records (``observations``, ``records``, ``revisions``).
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from akarom.domain import Carrier, Source, Status
from akarom.storage.observations import StoredObservation
from akarom.storage.records import RECORD_STATUSES, known_carrier
from akarom.storage.revisions import head_revision

__all__ = [
    "SQLITE_FILENAME",
    "carrier_counts_for_tacs",
    "carrier_totals",
    "latest_answers",
    "readable",
]

logger = logging.getLogger(__name__)

SQLITE_FILENAME = "akarom.sqlite3"

# SQLAlchemy's SQLite DATETIME writes naive UTC as this text (``DATETIME`` in
# sqlalchemy/dialects/sqlite/base.py), and compares ``checked_at >= :since`` as
# text: ``since`` must be written the same way for the comparison to mean time, and
# a stored time written any other way is not read here.
_STORED_TIME = "%Y-%m-%d %H:%M:%S.%f"
_STORED_TIME_TEXT = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}")

# Waiting on a busy file is not worth it here: ``Store`` waits (and says why).
_BUSY_TIMEOUT_S = 0.2


def latest_answers(
    path: Path, imeis: Sequence[str], *, since: datetime
) -> dict[str, dict[Carrier, StoredObservation]] | None:
    """``Store.latest_many(imeis, since=since)`` on the SQLite file ``path``, or None.

    Every IMEI asked is a key, in the order asked; each value holds, per carrier, the
    newest answer (status not ``unknown``) checked at or after ``since``. None when the
    file cannot be read with certainty (see the module's docstring).
    """
    if since.tzinfo is None or since.utcoffset() is None:
        raise ValueError(f"since must be timezone-aware: {since!r}")
    wanted = list(dict.fromkeys(imeis))
    since_text = since.astimezone(UTC).replace(tzinfo=None).strftime(_STORED_TIME)
    arguments = (json.dumps(wanted), since_text, Status.UNKNOWN.value)
    rows = _read(path, _NEWEST, arguments)
    if rows is None:
        return None
    found: dict[str, dict[Carrier, StoredObservation]] = {imei: {} for imei in wanted}
    try:
        for row in sorted(rows, key=lambda row: row[3]):  # by carrier, as Store does
            observation = _observation(row)
            if observation is not None:
                found[observation.imei][observation.carrier] = observation
    except ValueError as err:
        logger.debug("stored answers not read without SQLAlchemy: %s", err)
        return None
    return found


def readable(path: Path) -> bool:
    """Whether the file is there, at this akarom's schema, and reads (see the docstring)."""
    return _read(path, "SELECT 1", ()) is not None


def carrier_totals(path: Path) -> dict[Carrier, int] | None:
    """``Store.carrier_totals()`` on the SQLite file ``path``, or None (as ``latest_answers``)."""
    rows = _read(path, _TOTALS, (_RECORD_STATUSES,))
    if rows is None:
        return None
    totals = dict.fromkeys(Carrier, 0)
    for name, count in rows:
        if (carrier := known_carrier(name)) is not None:
            totals[carrier] = _int(count)
    return totals


def carrier_counts_for_tacs(
    path: Path, tacs: Sequence[str]
) -> dict[str, dict[Carrier, int]] | None:
    """``Store.carrier_counts_for_tacs(tacs)`` on the SQLite file ``path``, or None."""
    wanted = list(dict.fromkeys(tacs))
    rows = _read(path, _COUNTS, (json.dumps(wanted), _RECORD_STATUSES))
    if rows is None:
        return None
    counts = {tac: dict.fromkeys(Carrier, 0) for tac in wanted}
    for tac, name, count in rows:
        if (carrier := known_carrier(name)) is not None:
            counts[tac][carrier] = _int(count)
    return counts


def _read(path: Path, query: str, arguments: tuple[object, ...]) -> list[Any] | None:
    """The rows of ``query`` on the file, read-only; None when it cannot be read with certainty."""
    head = head_revision()
    if head is None or not path.is_file():
        return None
    try:
        uri = path.resolve().as_uri() + "?mode=ro"
        # isolation_level None: the one transaction is ours, so the stamp and the rows agree.
        connect = sqlite3.connect(uri, uri=True, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
        with closing(connect) as connection:
            connection.execute("BEGIN")
            if not _stamped_at(connection, head):
                return None
            return connection.execute(query, arguments).fetchall()
    except (sqlite3.Error, ValueError) as err:
        logger.debug("%s not read without SQLAlchemy: %s", path, err)
        return None


def _stamped_at(connection: sqlite3.Connection, head: str) -> bool:
    tables = connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
    ).fetchall()
    if not tables:
        return False
    stamped = [row[0] for row in connection.execute("SELECT version_num FROM alembic_version")]
    return stamped == [head]


# The newest answered row per (IMEI, carrier), as ``Store``'s ``_latest_query``; the
# IMEIs come as one JSON array, however many there are.
_NEWEST = """
SELECT id, imei, tac, carrier, status, printed_symbol, message, error, detail,
       checked_at, elapsed_ms, source, adapter_version, entered_by, run_id, reason
FROM (
    SELECT *, row_number() OVER (
        PARTITION BY imei, carrier ORDER BY checked_at DESC, id DESC
    ) AS rank
    FROM observations
    WHERE imei IN (SELECT value FROM json_each(?)) AND checked_at >= ? AND status != ?
) WHERE rank = 1
"""

#: The statuses that are a record (○ △ ×), as one JSON array.
_RECORD_STATUSES = json.dumps(RECORD_STATUSES)

# Per carrier, the distinct IMEIs it had a record of (``Store.carrier_totals``).
_TOTALS = """
SELECT carrier, count(DISTINCT imei) FROM observations
WHERE status IN (SELECT value FROM json_each(?)) GROUP BY carrier
"""

# Per TAC and carrier, the same (``Store.carrier_counts_for_tacs``); the TACs as one JSON array.
_COUNTS = """
SELECT tac, carrier, count(DISTINCT imei) FROM observations
WHERE tac IN (SELECT value FROM json_each(?)) AND status IN (SELECT value FROM json_each(?))
GROUP BY tac, carrier
"""


def _observation(row: tuple[object, ...]) -> StoredObservation | None:
    """The row as ``Store`` reads it; None for a carrier this version does not know.

    A status or source it does not know raises ``ValueError`` (``Store`` would too).
    """
    (id_, imei, tac, carrier, status, symbol, message, error, detail) = row[:9]
    (checked_at, elapsed_ms, source, adapter_version, entered_by, run_id, reason) = row[9:]
    known = known_carrier(carrier)
    if known is None:
        return None
    if not isinstance(checked_at, str) or not _STORED_TIME_TEXT.fullmatch(checked_at):
        raise ValueError(f"observation {id_}: checked_at {checked_at!r} is not a stored time")
    return StoredObservation(
        id=_int(id_),
        imei=str(imei),
        tac=_text(tac),
        carrier=known,
        status=Status(str(status)),
        checked_at=datetime.fromisoformat(checked_at).replace(tzinfo=UTC),
        source=Source(str(source)),
        printed_symbol=_text(symbol),
        message=_text(message),
        error=_text(error),
        detail=_text(detail),
        elapsed_ms=None if elapsed_ms is None else _int(elapsed_ms),
        adapter_version=_text(adapter_version),
        entered_by=_text(entered_by),
        run_id=None if run_id is None else _int(run_id),
        reason=_text(reason),
    )


def _int(value: object) -> int:
    if not isinstance(value, int):
        raise ValueError(f"not an integer: {value!r}")
    return value


def _text(value: object) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"not text: {value!r}")
    return value
