"""``Store``: every read and write of akarom's database, behind plain dataclasses.

Callers hand in ``NewObservation`` and ``NewPage`` values and get back frozen
``Stored*`` dataclasses; SQLAlchemy objects never leave this module. The API is
synchronous; async callers wrap it in ``asyncio.to_thread``. One ``Store`` may be
shared by many threads: writes go through one lock (SQLite has a single writer,
and datasette does the same with its write thread; on PostgreSQL the lock costs
nothing that matters, as writes are small and rate-limited), reads run concurrently.

The paths a check or a bulk run takes for every device come in batches, each one
transaction or one query per chunk of keys, in SQLAlchemy Core (no ORM session or
objects): ``record_many``, ``latest_many`` and ``carrier_counts_for_tacs``. The
single-item methods (``record``, ``latest``, ``carrier_counts_for_tac``) call them,
so there is one implementation of each rule. Chunks keep every statement within
the bind-parameter limits: 32,766 on SQLite (since 3.32), 65,535 on PostgreSQL.

Observations are append-only: there is no function that updates or deletes one.
"""

from __future__ import annotations

import functools
import hashlib
import threading
import zlib
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Row,
    Select,
    bindparam,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from akarom.domain import Carrier, Source, Status
from akarom.errors import ParseError, StorageError
from akarom.storage import accounts as _accounts
from akarom.storage import challenges as _challenges
from akarom.storage import jobs as _jobs
from akarom.storage import workers as _workers
from akarom.storage._records import dialect_insert
from akarom.storage.accounts import StoredApiKey, StoredDealer, StoredUser, UserRole
from akarom.storage.alerts import AlertRecords
from akarom.storage.certificates import CertificateRecords
from akarom.storage.db import WRITE_OPTION, migrate, open_engine, translate_errors
from akarom.storage.guarantees import GuaranteeRecords
from akarom.storage.jobs import JobStatus, NewJob, StoredJob, StoredJobResult
from akarom.storage.monitor import MonitorRecords
from akarom.storage.observations import StoredObservation
from akarom.storage.records import (
    RECORD_STATUSES,
    ChallengeStatus,
    NewChallenge,
    NewObservation,
    NewPage,
    PageLike,
    StoredChallenge,
    StoredRow,
    StoredRun,
    known_carrier,
    require_aware,
    tac_of,
)
from akarom.storage.tables import (
    Base,
    BulkRow,
    BulkRun,
    DealerDevice,
    EvidenceBlob,
    EvidencePage,
    Observation,
)
from akarom.storage.workers import LiveWorker

__all__ = [
    "BLOB_ENCODING",
    "KEYS_PER_QUERY",
    "CarrierPages",
    "NewObservation",
    "NewPage",
    "PageLike",
    "Store",
    "StoredPage",
    "StoredRow",
    "StoredRun",
    "tac_of",
]

#: How evidence bodies are compressed (``evidence_blobs.encoding``).
BLOB_ENCODING = "zlib"

#: How many keys (IMEIs, TACs, hashes) one query looks up. Each is one bind
#: parameter; this leaves room under SQLite's 32,766 and PostgreSQL's 65,535 for the
#: query's other parameters (a ``carriers`` list, ``since``). Row inserts are batched
#: by SQLAlchemy's "insertmanyvalues", which knows each dialect's limit.
KEYS_PER_QUERY = 5_000

_T = TypeVar("_T")

#: Job results written by one INSERT (SQLite binds at most 32,766 values per statement).
_RESULTS_PER_STATEMENT = 500

# The Core tables behind the models: the batch paths skip the ORM's unit of work.
_OBSERVATIONS = Base.metadata.tables[Observation.__tablename__]
_PAGES = Base.metadata.tables[EvidencePage.__tablename__]
_BLOBS = Base.metadata.tables[EvidenceBlob.__tablename__]

# Statements built once, with their values bound at execution: on these paths,
# building a statement costs more CPU than running it.
_KNOWN_BLOBS = select(_BLOBS.c.sha256).where(
    _BLOBS.c.sha256.in_(bindparam("hashes", expanding=True))
)
_LAST_OBSERVATION_ID = select(func.max(_OBSERVATIONS.c.id))
_INSERT_OBSERVATIONS = insert(_OBSERVATIONS)
_INSERT_OBSERVATIONS_RETURNING_IDS = insert(_OBSERVATIONS).returning(
    _OBSERVATIONS.c.id, sort_by_parameter_order=True
)
_INSERT_PAGES = insert(_PAGES)

# Per TAC and carrier, the distinct IMEIs that carrier had a record of (``tacs`` bound).
_COUNTS_QUERY = (
    select(
        _OBSERVATIONS.c.tac, _OBSERVATIONS.c.carrier, func.count(_OBSERVATIONS.c.imei.distinct())
    )
    .where(
        _OBSERVATIONS.c.status.in_(RECORD_STATUSES),
        _OBSERVATIONS.c.tac.in_(bindparam("tacs", expanding=True)),
    )
    .group_by(_OBSERVATIONS.c.tac, _OBSERVATIONS.c.carrier)
)


_HISTORY = (
    select(_OBSERVATIONS)
    .where(_OBSERVATIONS.c.imei == bindparam("imei"))
    .order_by(_OBSERVATIONS.c.checked_at, _OBSERVATIONS.c.id)
)
_DEALER_DEVICES = Base.metadata.tables[DealerDevice.__tablename__]
_DEALER_HAS = select(_DEALER_DEVICES.c.imei).where(
    _DEALER_DEVICES.c.dealer_id == bindparam("dealer_id"),
    _DEALER_DEVICES.c.imei == bindparam("imei"),
)


def _chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass(frozen=True, slots=True, kw_only=True)
class CarrierPages:
    """What one carrier's pages did since a moment (``Store.carrier_pages``).

    ``read``: live answers read from a page a template recognised; ``refused``: live
    pages no template recognised (``unrecognised_page``), counted by ``reasons``;
    ``last_refused``: the newest refused page's observation (its evidence is kept).
    """

    carrier: Carrier
    read: int = 0
    refused: int = 0
    reasons: Mapping[str, int] = field(default_factory=dict)
    last_read_at: datetime | None = None
    last_refused: StoredObservation | None = None

    @property
    def stopped_matching(self) -> bool:
        """The newest page seen was refused: the site has probably changed."""
        last = self.last_refused
        return last is not None and (
            self.last_read_at is None or last.checked_at >= self.last_read_at
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredPage:
    """A page of evidence, its body decompressed and checked against ``sha256``."""

    observation_id: int
    seq: int
    method: str
    url: str
    status_code: int
    headers: Mapping[str, str]
    content: bytes = field(repr=False)
    sha256: str
    fetched_at: datetime


def _unpack(blob: EvidenceBlob) -> bytes:
    """The raw body of ``blob``; ``StorageError`` unless it matches its size and hash."""
    if blob.encoding != BLOB_ENCODING:
        raise StorageError(f"evidence blob {blob.sha256} has an unknown encoding {blob.encoding!r}")
    try:
        content = zlib.decompress(blob.data)
    except zlib.error as err:
        raise StorageError(f"evidence blob {blob.sha256} is corrupt: {err}") from None
    if len(content) != blob.size or hashlib.sha256(content).hexdigest() != blob.sha256:
        raise StorageError(f"evidence blob {blob.sha256} does not match its SHA-256: corrupt")
    return content


class Store(GuaranteeRecords, MonitorRecords, AlertRecords, CertificateRecords):
    """akarom's database. ``Store.open(url, data_dir)``, or ``Store(engine)`` when migrated."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._write_lock = threading.Lock()
        # Connections in use, so that ``close`` can let a write under way finish: a
        # thread whose task was cancelled (a job handed back) may still hold one.
        self._in_use = 0
        self._returned = threading.Condition()
        event.listen(engine, "checkout", self._checked_out)
        event.listen(engine, "checkin", self._checked_in)
        # Another process may add a body meanwhile (PostgreSQL, or a second Store):
        # the conflict clause keeps the first, which holds the same bytes.
        self._insert_blobs = self._insert()(_BLOBS).on_conflict_do_nothing(
            index_elements=["sha256"]
        )

    @classmethod
    def open(cls, url: str | None, data_dir: Path) -> Store:
        """Open the database, creating or migrating it as needed; ``StorageError`` if it fails.

        ``url`` None means the SQLite file in ``data_dir`` (``AKAROM_DATABASE_URL``
        unset). A new database is created and an up-to-date one opened without
        loading Alembic; only an older schema is migrated (``db.migrate``).
        """
        engine = open_engine(url, data_dir)
        try:
            migrate(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def local(self) -> bool:
        """Whether the database is a file on this machine (SQLite), not a server."""
        return self._engine.dialect.name == "sqlite"

    def describe(self) -> str:
        """Where the database is (password hidden) and how many observations it holds."""
        location = self.engine.url.render_as_string(hide_password=True)
        with self._reading("count the observations") as session:
            count = session.scalar(select(func.count()).select_from(Observation)) or 0
        return f"{location} ({count} observations)"

    def _checked_out(self, *_: object) -> None:
        with self._returned:
            self._in_use += 1

    def _checked_in(self, *_: object) -> None:
        with self._returned:
            self._in_use -= 1
            self._returned.notify_all()

    def close(self, *, wait_s: float = 5.0) -> None:
        """Close every pooled connection, once those in use (up to ``wait_s``) are back."""
        with self._returned:
            self._returned.wait_for(lambda: self._in_use <= 0, timeout=wait_s)
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- transactions ---------------------------------------------------------------

    @contextmanager
    def _reading(self, doing: str) -> Iterator[Session]:
        with translate_errors(doing), Session(self._engine) as session:
            yield session

    @contextmanager
    def _read_connection(self, doing: str) -> Iterator[Connection]:
        """One read transaction in Core: the batch reads build no ORM objects."""
        with translate_errors(doing), self._engine.connect() as connection, connection.begin():
            yield connection

    @contextmanager
    def _write_connection(self, doing: str) -> Iterator[Connection]:
        """One write transaction, serialised with every other write of this Store."""
        with self._write_lock, translate_errors(doing), self._engine.connect() as connection:
            connection.execution_options(**{WRITE_OPTION: True})  # BEGIN IMMEDIATE on SQLite
            with connection.begin():
                yield connection

    @contextmanager
    def _writing(self, doing: str) -> Iterator[Session]:
        """``_write_connection`` with an ORM session on it."""
        with (
            self._write_connection(doing) as connection,
            Session(bind=connection, expire_on_commit=False) as session,
        ):
            yield session

    def _forget_freed_pages(self, table: str) -> None:
        """After an erasure in ``table``, leave no old copy of its rows where the
        database keeps them. SQLite: ``secure_delete`` zeroed the freed page in the
        file; the write-ahead log is copied in and emptied, so no old page stays there.
        PostgreSQL: the old row version (with the wrapped key, which the master key
        would still open) stays until VACUUM, so the table is vacuumed now; the freed
        space is reused, not zeroed. Backups keep what they kept (docs/guarantee.md)."""
        with translate_errors("erase"), self._engine.connect() as connection:
            if self._engine.dialect.name == "sqlite":
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            else:
                connection = connection.execution_options(isolation_level="AUTOCOMMIT")
                connection.exec_driver_sql(f'VACUUM "{table}"')

    def _insert(self) -> Any:
        """The dialect's INSERT, which offers ``on_conflict_do_nothing``."""
        return dialect_insert(self._engine.dialect.name)

    # -- observations ---------------------------------------------------------------

    def record(
        self, observation: NewObservation, pages: Sequence[NewPage] = ()
    ) -> StoredObservation:
        """Save an observation with its evidence pages, in one transaction (``record_many``)."""
        return self.record_many([(observation, pages)])[0]

    def record_many(
        self, items: Sequence[tuple[NewObservation, Sequence[NewPage]]]
    ) -> list[StoredObservation]:
        """Save observations, each with its evidence pages, in one transaction.

        Returns the saved observations in the order given, their ids increasing in
        that order (so "the last saved" of equal ``checked_at`` is the later item).
        Bodies are stored once per SHA-256: a form page seen a thousand times is one
        blob, compressed only the first time. Safe when several threads or processes
        save the same body at once. Nothing is saved if anything fails.
        """
        if not items:
            return []
        hashes = [
            [hashlib.sha256(page.content).hexdigest() for page in pages] for _, pages in items
        ]
        bodies: dict[str, bytes] = {}
        for (_, pages), page_hashes in zip(items, hashes, strict=True):
            for page, sha256 in zip(pages, page_hashes, strict=True):
                bodies.setdefault(sha256, page.content)
        rows = [_observation_values(observation) for observation, _ in items]
        doing = "save the observation" if len(items) == 1 else f"save {len(items)} observations"
        with self._write_connection(doing) as connection:
            self._add_blobs(connection, bodies)
            ids = self._add_observations(connection, rows)
            page_rows = [
                {
                    "observation_id": observation_id,
                    "seq": seq,
                    "method": page.method,
                    "url": page.url,
                    "status_code": page.status_code,
                    "headers": dict(page.headers),
                    "fetched_at": page.fetched_at,
                    "body_sha256": sha256,
                }
                for observation_id, (_, pages), page_hashes in zip(ids, items, hashes, strict=True)
                for seq, (page, sha256) in enumerate(zip(pages, page_hashes, strict=True))
            ]
            if page_rows:
                connection.execute(_INSERT_PAGES, page_rows)
        return [
            _stored_observation(observation_id, observation)
            for observation_id, (observation, _) in zip(ids, items, strict=True)
        ]

    def _add_blobs(self, connection: Connection, bodies: Mapping[str, bytes]) -> None:
        """Store the bodies not stored yet, compressing only those."""
        if not bodies:
            return
        known: set[str] = set()
        for chunk in _chunks(sorted(bodies), KEYS_PER_QUERY):
            known.update(connection.scalars(_KNOWN_BLOBS, {"hashes": chunk}))
        # Sorted, so that two PostgreSQL transactions adding overlapping sets wait for
        # each other in the same order instead of deadlocking.
        missing = sorted(bodies.keys() - known)
        if not missing:
            return
        connection.execute(
            self._insert_blobs,
            [
                {
                    "sha256": sha256,
                    "encoding": BLOB_ENCODING,
                    "size": len(bodies[sha256]),
                    "data": zlib.compress(bodies[sha256]),
                }
                for sha256 in missing
            ],
        )

    def _add_observations(
        self, connection: Connection, rows: Sequence[dict[str, Any]]
    ) -> list[int]:
        """Insert observation rows; their ids, in the order of ``rows``."""
        if connection.dialect.name == "sqlite":
            # SQLite returns RETURNING rows in no promised order, so SQLAlchemy would
            # insert one row per statement to keep them apart. This transaction holds
            # the database's only write lock (BEGIN IMMEDIATE), so the ids after the
            # largest one are ours to hand out, in order, as SQLite itself would.
            last = connection.scalar(_LAST_OBSERVATION_ID) or 0
            ids = list(range(last + 1, last + 1 + len(rows)))
            connection.execute(
                _INSERT_OBSERVATIONS,
                [row | {"id": id_} for row, id_ in zip(rows, ids, strict=True)],
            )
            return ids
        # PostgreSQL: one INSERT … SELECT … ORDER BY per batch, ids sorted back into
        # parameter order by SQLAlchemy ("insertmanyvalues" with a sentinel).
        return list(connection.scalars(_INSERT_OBSERVATIONS_RETURNING_IDS, list(rows)))

    def latest(
        self,
        imei: str,
        *,
        since: datetime | None = None,
        carriers: Collection[Carrier] | None = None,
        answered_only: bool = True,
    ) -> dict[Carrier, StoredObservation]:
        """The newest observation per carrier for ``imei``: what the cache reuses.

        By default only *answers* count (any status but ``unknown``): a failed check
        never hides the answer before it and is never served from the cache. Pass
        ``answered_only=False`` to see the newest attempt, failed or not; ``history``
        shows everything. ``since`` keeps observations checked at or after it;
        ``carriers`` limits the carriers. Carriers with nothing are absent; so are
        carriers this version does not know (a newer version's rows).
        """
        found = self.latest_many(
            [imei], since=since, carriers=carriers, answered_only=answered_only
        )
        return found[imei]

    def latest_many(
        self,
        imeis: Sequence[str],
        *,
        since: datetime | None,
        carriers: Collection[Carrier] | None = None,
        answered_only: bool = True,
    ) -> dict[str, dict[Carrier, StoredObservation]]:
        """``latest`` for many IMEIs at once: one query per ``KEYS_PER_QUERY`` IMEIs.

        Every IMEI asked is a key, in the order asked (an empty dict when nothing
        counts); each value is exactly what ``latest`` returns for that IMEI.
        """
        if since is not None:
            require_aware("since", since)
        wanted = list(dict.fromkeys(imeis))
        found: dict[str, dict[Carrier, StoredObservation]] = {imei: {} for imei in wanted}
        if not wanted or (carriers is not None and not carriers):
            return found
        query = _latest_query(
            since=since is not None, carriers=carriers is not None, answered_only=answered_only
        )
        parameters: dict[str, Any] = {"since": since}
        if carriers is not None:
            parameters["carriers"] = sorted({carrier.value for carrier in carriers})
        rows: list[Row[Any]] = []
        with self._read_connection("read the latest observations") as connection:
            for chunk in _chunks(wanted, KEYS_PER_QUERY):
                rows.extend(connection.execute(query, parameters | {"imeis": chunk}))
        for row in sorted(rows, key=lambda row: row.carrier):
            if known_carrier(row.carrier) is not None:
                observation = _observation(row)
                found[observation.imei][observation.carrier] = observation
        return found

    def carrier_pages(self, since: datetime) -> dict[Carrier, CarrierPages]:
        """Per carrier, the live pages read and refused since ``since`` (drift).

        Carriers with neither are absent. Two grouped queries and one for the newest
        refusal of each carrier, whatever the number of observations.
        """
        require_aware("since", since)
        refused = Observation.error == ParseError.code
        recent = (
            Observation.source == Source.LIVE.value,
            Observation.checked_at >= since,
        )
        counts = (
            select(
                Observation.carrier,
                Observation.reason,
                func.count(),
                func.max(Observation.checked_at),
            )
            .where(*recent, refused)
            .group_by(Observation.carrier, Observation.reason)
        )
        answers = (
            select(Observation.carrier, func.count(), func.max(Observation.checked_at))
            .where(*recent, Observation.status != Status.UNKNOWN.value)
            .group_by(Observation.carrier)
        )
        rank = (
            func.row_number()
            .over(
                partition_by=Observation.carrier,
                order_by=(Observation.checked_at.desc(), Observation.id.desc()),
            )
            .label("rank")
        )
        newest = select(Observation.id, rank).where(*recent, refused).subquery()
        last = select(Observation).join(newest, Observation.id == newest.c.id)
        with self._reading("read each carrier's recent pages") as session:
            reasons: dict[str, dict[str, int]] = {}
            for carrier, reason, count, _ in session.execute(counts):
                reasons.setdefault(carrier, {})[reason or "unknown"] = count
            read = {carrier: (count, at) for carrier, count, at in session.execute(answers)}
            last_refused = {
                row.carrier: _observation(row)
                for row in session.scalars(last.where(newest.c.rank == 1))
            }
        found = {}
        for name in sorted(set(reasons) | set(read)):
            known = known_carrier(name)
            if known is None:
                continue
            count, at = read.get(name, (0, None))
            found[known] = CarrierPages(
                carrier=known,
                read=count,
                refused=sum(reasons.get(name, {}).values()),
                reasons=reasons.get(name, {}),
                last_read_at=at.astimezone(UTC) if at is not None else None,
                last_refused=last_refused.get(name),
            )
        return found

    def history(self, imei: str) -> list[StoredObservation]:
        """Every observation of ``imei``, oldest first (failures included)."""
        with self._read_connection("read the history") as connection:
            return [_observation(row) for row in connection.execute(_HISTORY, {"imei": imei})]

    def dealer_history(self, dealer_id: int, imei: str) -> list[StoredObservation] | None:
        """``history`` of a device the dealer has checked; None when it has not (then the
        device is none of its business). One read transaction: an API's hot path."""
        with self._read_connection("read the dealer's device") as connection:
            known = connection.execute(_DEALER_HAS, {"dealer_id": dealer_id, "imei": imei})
            if known.first() is None:
                return None
            return [_observation(row) for row in connection.execute(_HISTORY, {"imei": imei})]

    def observation(self, observation_id: int) -> StoredObservation | None:
        """One observation by its id (whose device it is decides who may see its pages)."""
        with self._reading("read the observation") as session:
            row = session.get(Observation, observation_id)
            return None if row is None else _observation(row)

    def pages(self, observation_id: int) -> list[StoredPage]:
        """The evidence pages of an observation, in the order fetched.

        Raises ``StorageError`` when a body no longer matches its SHA-256: evidence
        that cannot be trusted is not handed out.
        """
        query = (
            select(EvidencePage, EvidenceBlob)
            .join(EvidenceBlob, EvidencePage.body_sha256 == EvidenceBlob.sha256)
            .where(EvidencePage.observation_id == observation_id)
            .order_by(EvidencePage.seq)
        )
        with self._reading("read the evidence") as session:
            return [
                StoredPage(
                    observation_id=page.observation_id,
                    seq=page.seq,
                    method=page.method,
                    url=page.url,
                    status_code=page.status_code,
                    headers={str(k): str(v) for k, v in page.headers.items()},
                    content=_unpack(blob),
                    sha256=blob.sha256,
                    fetched_at=page.fetched_at,
                )
                for page, blob in session.execute(query)
            ]

    # -- which carrier sold it ------------------------------------------------------

    def carrier_counts_for_tac(self, tac: str) -> dict[Carrier, int]:
        """Per carrier, how many IMEIs with this TAC it had a record of (○ △ ×).

        A record means that carrier sold the device, so for a new IMEI of the same
        model this is the evidence for whom to ask first. Every carrier is a key.
        """
        return self.carrier_counts_for_tacs([tac])[tac]

    def carrier_counts_for_tacs(self, tacs: Sequence[str]) -> dict[str, dict[Carrier, int]]:
        """``carrier_counts_for_tac`` for many TACs: one query per ``KEYS_PER_QUERY`` TACs.

        Every TAC asked is a key, in the order asked, and every carrier a key of its
        counts (0 when it had no record of that model).
        """
        wanted = list(dict.fromkeys(tacs))
        counts = {tac: dict.fromkeys(Carrier, 0) for tac in wanted}
        if not wanted:
            return counts
        with self._read_connection("count answers per carrier") as connection:
            for chunk in _chunks(wanted, KEYS_PER_QUERY):
                for tac, name, count in connection.execute(_COUNTS_QUERY, {"tacs": chunk}):
                    carrier = known_carrier(name)
                    if carrier is not None:
                        counts[tac][carrier] = count
        return counts

    def carrier_totals(self) -> dict[Carrier, int]:
        """Per carrier, how many IMEIs of any TAC it had a record of: the prior."""
        return self._record_counts()

    def _record_counts(self, *conditions: Any) -> dict[Carrier, int]:
        query = (
            select(Observation.carrier, func.count(Observation.imei.distinct()))
            .where(Observation.status.in_(RECORD_STATUSES), *conditions)
            .group_by(Observation.carrier)
        )
        counts = dict.fromkeys(Carrier, 0)
        with self._reading("count answers per carrier") as session:
            for name, count in session.execute(query):
                carrier = known_carrier(name)
                if carrier is not None:
                    counts[carrier] = count
        return counts

    # -- bulk runs ------------------------------------------------------------------

    def start_run(
        self,
        *,
        input_name: str,
        input_sha256: str,
        output_name: str,
        options: Mapping[str, Any] | None = None,
        created_at: datetime | None = None,
    ) -> StoredRun:
        """Record the start of a bulk run; ``options`` must be JSON-serialisable."""
        created_at = created_at or datetime.now(UTC)
        require_aware("created_at", created_at)
        row = BulkRun(
            created_at=created_at,
            input_name=input_name,
            input_sha256=input_sha256,
            output_name=output_name,
            options=dict(options or {}),
            finished_at=None,
        )
        with self._writing("start the bulk run") as session:
            session.add(row)
            session.flush()
            return _run(row)

    def find_run(self, *, input_sha256: str, output_name: str) -> StoredRun | None:
        """The newest unfinished run over the same input bytes and output, if any."""
        query = (
            select(BulkRun)
            .where(
                BulkRun.input_sha256 == input_sha256,
                BulkRun.output_name == output_name,
                BulkRun.finished_at.is_(None),
            )
            .order_by(BulkRun.created_at.desc(), BulkRun.id.desc())
            .limit(1)
        )
        with self._reading("find the bulk run") as session:
            row = session.scalars(query).first()
            return None if row is None else _run(row)

    def finish_run(self, run_id: int, *, finished_at: datetime | None = None) -> StoredRun:
        """Mark a run finished (a finished run keeps its first finish time)."""
        finished_at = finished_at or datetime.now(UTC)
        require_aware("finished_at", finished_at)
        with self._writing("finish the bulk run") as session:
            session.execute(
                update(BulkRun)
                .where(BulkRun.id == run_id, BulkRun.finished_at.is_(None))
                .values(finished_at=finished_at)
            )
            row = session.get(BulkRun, run_id)
            if row is None:
                raise StorageError(f"there is no bulk run {run_id}")
            return _run(row)

    def record_row(
        self,
        *,
        run_id: int,
        row_number: int,
        imei: str | None,
        cells: Mapping[str, Any],
        finished_at: datetime | None = None,
    ) -> StoredRow:
        """Save a finished row of a bulk run; a row already saved is kept as it was."""
        self.record_rows(run_id=run_id, rows=[(row_number, imei, cells)], finished_at=finished_at)
        with self._reading("read the bulk row") as session:
            row = session.get(BulkRow, (run_id, row_number))
            if row is None:  # pragma: no cover - the insert or an earlier one made it
                raise StorageError(f"bulk row {run_id}/{row_number} vanished")
            return _row(row)

    def record_rows(
        self,
        *,
        run_id: int,
        rows: Sequence[tuple[int, str | None, Mapping[str, Any]]],
        finished_at: datetime | None = None,
    ) -> None:
        """Save finished rows ``(row_number, imei, cells)`` in one transaction.

        Rows already saved are kept as they were. A bulk run saves its rows in
        batches: after a crash, the rows of the lost batch are rebuilt from the
        stored observations, so no carrier is asked twice for them either.
        """
        if not rows:
            return
        finished_at = finished_at or datetime.now(UTC)
        require_aware("finished_at", finished_at)
        # One statement, executed for many parameter sets: compiled once per batch,
        # not once per distinct VALUES list (a quarter of the CPU per row).
        insert = self._insert()(BulkRow).on_conflict_do_nothing(
            index_elements=["run_id", "row_number"]
        )
        parameters = [
            {
                "run_id": run_id,
                "row_number": number,
                "imei": imei,
                "cells": dict(cells),
                "finished_at": finished_at,
            }
            for number, imei, cells in rows
        ]
        with self._writing("save the bulk rows") as session:
            session.execute(insert, parameters)

    def finished_rows(self, run_id: int) -> dict[int, StoredRow]:
        """The finished rows of a run, by row number (small runs and tests; see ``iter_*``)."""
        return {row.row_number: row for row in self.iter_finished_rows(run_id)}

    def iter_finished_rows(self, run_id: int, *, batch: int = 1000) -> Iterator[StoredRow]:
        """The finished rows of a run in row order, read ``batch`` at a time (flat memory)."""
        after: int | None = None
        while True:
            query = select(BulkRow).where(BulkRow.run_id == run_id)
            if after is not None:
                query = query.where(BulkRow.row_number > after)
            query = query.order_by(BulkRow.row_number).limit(batch)
            with self._reading("read the bulk rows") as session:
                page = [_row(row) for row in session.scalars(query)]
            yield from page
            if len(page) < batch:
                return
            after = page[-1].row_number

    # -- challenges: what a person answers (storage.challenges) --------------------
    # Kept apart from the sections above: a challenge is the one row that changes, and
    # only along open → answered | skipped | expired | void, one conditional update each.

    def post_challenge(self, new: NewChallenge) -> StoredChallenge:
        """Save ``new`` as open. The asker's older open challenge of the same carrier
        becomes void in the same transaction: one live challenge per carrier."""
        with self._writing("post the challenge") as session:
            return _challenges.insert(session, new)

    def challenge(self, challenge_id: int, *, tenant: str | None) -> StoredChallenge | None:
        """The challenge, if it exists for ``tenant`` (None: this machine's own)."""
        with self._reading("read the challenge") as session:
            return _challenges.get(session, challenge_id, tenant)

    def open_challenges(
        self,
        *,
        tenant: str | None,
        origin: str | None = None,
        run_id: int | None = None,
        now: datetime | None = None,
        limit: int = 100,
    ) -> list[StoredChallenge]:
        """``tenant``'s challenges a person may still answer, oldest first; ``origin``
        and ``run_id`` narrow them to one asker or one bulk run."""
        now = now or datetime.now(UTC)
        require_aware("now", now)
        with self._reading("list the open challenges") as session:
            return _challenges.waiting(
                session, tenant=tenant, origin=origin, run_id=run_id, now=now, limit=limit
            )

    def close_challenge(
        self,
        challenge_id: int,
        *,
        tenant: str | None,
        status: ChallengeStatus,
        answer: str | None = None,
        closed_by: str | None = None,
        at: datetime | None = None,
    ) -> StoredChallenge | None:
        """Close an open challenge as ``status``; the challenge, or None when this call
        did not close it (not open any more, not ``tenant``'s, or — for a person's
        answer or skip — past ``expires_at``). Only one of two concurrent calls wins."""
        at = at or datetime.now(UTC)
        require_aware("at", at)
        with self._writing("close the challenge") as session:
            return _challenges.close(
                session,
                challenge_id,
                tenant=tenant,
                status=status,
                answer=answer,
                closed_by=closed_by,
                at=at,
            )

    def settle_challenge(self, challenge_id: int, *, tenant: str | None, outcome: str) -> bool:
        """Record what came of an answered challenge (the status read, or the error
        code), once; its carrier session is cleared. Whether this call recorded it."""
        with self._writing("settle the challenge") as session:
            return _challenges.settle(session, challenge_id, tenant=tenant, outcome=outcome)

    def expire_challenges(self, *, now: datetime | None = None) -> int:
        """Close every open challenge past its ``expires_at`` as expired; how many."""
        now = now or datetime.now(UTC)
        require_aware("now", now)
        with self._writing("expire the challenges") as session:
            return _challenges.expire(session, now=now)

    def ping(self) -> None:
        """Ask the database something trivial; ``StorageError`` if it does not answer."""
        with self._reading("reach the database") as session:
            session.execute(select(1))

    # -- end of challenges -----------------------------------------------------------

    # -- dealers, users and API keys (storage.accounts) ------------------------------
    # Tenant-owned reads and writes take the dealer's id and filter by it in the query.

    def create_dealer(
        self,
        name: str,
        *,
        admin_email: str | None = None,
        admin_password_hash: str | None = None,
        at: datetime | None = None,
    ) -> StoredDealer:
        """Add a dealer, and with ``admin_email`` its first admin, in one transaction.

        ``StorageError`` when the name (or the admin's address) is taken: check first
        with ``dealer_by_name``/``user_by_email`` to tell a person which.
        """
        at = at or datetime.now(UTC)
        require_aware("at", at)
        if (admin_email is None) != (admin_password_hash is None):
            raise ValueError("an admin comes with an e-mail address and a password hash")
        with self._writing("create the dealer") as session:
            dealer = _accounts.insert_dealer(session, name, at=at)
            if admin_email is not None and admin_password_hash is not None:
                _accounts.insert_user(
                    session,
                    dealer_id=dealer.id,
                    email=admin_email,
                    password_hash=admin_password_hash,
                    role=UserRole.ADMIN,
                    at=at,
                )
            return dealer

    def dealer_by_name(self, name: str) -> StoredDealer | None:
        with self._reading("find the dealer") as session:
            return _accounts.dealer_by_name(session, name)

    def dealer(self, dealer_id: int) -> StoredDealer | None:
        with self._reading("read the dealer") as session:
            return _accounts.dealer(session, dealer_id)

    def create_user(
        self,
        dealer_id: int,
        email: str,
        password_hash: str,
        role: UserRole | str,
        *,
        at: datetime | None = None,
    ) -> StoredUser:
        """Add a user to the dealer (``email`` stored lower-cased); ``StorageError`` when
        the address is taken."""
        at = at or datetime.now(UTC)
        require_aware("at", at)
        with self._writing("create the user") as session:
            return _accounts.insert_user(
                session,
                dealer_id=dealer_id,
                email=email,
                password_hash=password_hash,
                role=UserRole(role),
                at=at,
            )

    def user_by_email(self, email: str) -> StoredUser | None:
        """The user with that address, however it is capitalised."""
        with self._reading("find the user") as session:
            return _accounts.user_by_email(session, email)

    def user(self, user_id: int) -> StoredUser | None:
        with self._reading("read the user") as session:
            return _accounts.user(session, user_id)

    def users(self, dealer_id: int) -> list[StoredUser]:
        """The dealer's users, by address."""
        with self._reading("list the users") as session:
            return _accounts.users(session, dealer_id)

    def set_password_hash(self, user_id: int, password_hash: str) -> bool:
        """Replace the user's password hash (new password, or rehashed); whether it did."""
        with self._writing("change the password hash") as session:
            return _accounts.set_password_hash(session, user_id, password_hash)

    def create_api_key(
        self,
        dealer_id: int,
        key_hash: str,
        prefix: str,
        label: str | None = None,
        *,
        at: datetime | None = None,
    ) -> StoredApiKey:
        """Keep a new key of the dealer: only its SHA-256 (hex) and its first characters."""
        at = at or datetime.now(UTC)
        require_aware("at", at)
        with self._writing("create the API key") as session:
            return _accounts.insert_api_key(
                session, dealer_id=dealer_id, key_hash=key_hash, prefix=prefix, label=label, at=at
            )

    def api_key_by_hash(self, key_hash: str) -> StoredApiKey | None:
        """The key with that hash; None when there is none, or it was revoked."""
        with self._reading("find the API key") as session:
            return _accounts.api_key_by_hash(session, key_hash)

    def api_keys(self, dealer_id: int) -> list[StoredApiKey]:
        """Every key of the dealer, revoked ones too, oldest first."""
        with self._reading("list the API keys") as session:
            return _accounts.api_keys(session, dealer_id)

    def revoke_api_key(
        self, key_id: int, dealer_id: int | None = None, *, at: datetime | None = None
    ) -> bool:
        """Revoke the key (only if it is ``dealer_id``'s, when given); whether this call
        revoked it (False: no such key, another dealer's, or revoked already)."""
        at = at or datetime.now(UTC)
        require_aware("at", at)
        with self._writing("revoke the API key") as session:
            return _accounts.revoke_api_key(session, key_id, dealer_id=dealer_id, at=at)

    def touch_api_key(self, key_id: int, at: datetime | None = None) -> None:
        """Note that the key was used (``last_used_at``; never moved back)."""
        at = at or datetime.now(UTC)
        require_aware("at", at)
        with self._writing("note the API key's use") as session:
            _accounts.touch_api_key(session, key_id, at=at)

    # -- jobs (storage.jobs) -----------------------------------------------------------
    # queued → running → done | failed | cancelled, one conditional update each.

    def create_job(self, new: NewJob) -> tuple[StoredJob, bool]:
        """Queue ``new``: ``(job, True)``; or ``(existing job, False)`` when the dealer
        already has a job with the same ``idempotency_key`` (also when another process
        queued it at the same moment)."""
        with self._writing("queue the job") as session:
            return _jobs.insert(session, new)

    def job(self, job_key: str, dealer_id: int | None) -> StoredJob | None:
        """The job with that key, if it is ``dealer_id``'s (None: a public job)."""
        with self._reading("read the job") as session:
            return _jobs.get(session, job_key, dealer_id)

    def job_by_id(self, job_id: int) -> StoredJob | None:
        """The job, whoever's it is: for the runner only, never for a request."""
        with self._reading("read the job") as session:
            return _jobs.by_id(session, job_id)

    def jobs(self, dealer_id: int, limit: int = 50) -> list[StoredJob]:
        """The dealer's jobs, newest first."""
        with self._reading("list the jobs") as session:
            return _jobs.of_dealer(session, dealer_id, limit=limit)

    def jobs_to_resume(self) -> list[StoredJob]:
        """Every queued or running job, oldest first (what a starting runner picks up)."""
        with self._reading("list the jobs to resume") as session:
            return _jobs.to_resume(session)

    def job_counts(self) -> dict[str, int]:
        """How many jobs are in each status (every status a key): for the metrics."""
        with self._reading("count the jobs") as session:
            return _jobs.counts(session)

    def job_input(self, job_id: int) -> bytes | None:
        """What the job reads: the uploaded file or the JSON list of IMEIs."""
        with self._reading("read the job's input") as session:
            return _jobs.job_input(session, job_id)

    def put_job_report(self, job_id: int, report: bytes) -> None:
        """Keep a finished batch's report, for any server to hand out."""
        with self._writing("keep the job's report") as session:
            _jobs.put_report(session, job_id, report)

    def job_report(self, job_id: int) -> bytes | None:
        """A batch's report, once it has one."""
        with self._reading("read the job's report") as session:
            return _jobs.report(session, job_id)

    # -- the processes that run jobs ----------------------------------------------------

    def register_worker(self, name: str, kind: str, concurrency: int) -> int:
        """A process starts running jobs (``kind``: worker or server); its id."""
        now = datetime.now(UTC)
        with self._writing("register the worker") as session:
            _workers.forget(session, now - timedelta(hours=1))  # long gone: killed, or lost
            return _workers.register(session, name, kind, concurrency, now)

    def worker_seen(self, worker_id: int, running: int) -> bool:
        """The process is alive, running ``running`` jobs; False if it was forgotten."""
        with self._writing("record the worker's heartbeat") as session:
            return _workers.seen(session, worker_id, running, datetime.now(UTC))

    def unregister_worker(self, worker_id: int) -> None:
        with self._writing("unregister the worker") as session:
            _workers.remove(session, worker_id)

    def live_workers(self) -> list[LiveWorker]:
        """The processes running jobs that reported themselves lately (long-gone ones
        are forgotten when a process registers)."""
        with self._reading("list the workers") as session:
            return _workers.live(session, datetime.now(UTC) - _workers.GONE_AFTER)

    def start_job(
        self,
        job_id: int,
        run_id: int | None = None,
        total: int | None = None,
        *,
        at: datetime | None = None,
    ) -> StoredJob | None:
        """Mark a queued (or resumed) job running; None when it is already finished —
        cancelled before it started, say — and must not run."""
        at = at or datetime.now(UTC)
        require_aware("at", at)
        with self._writing("start the job") as session:
            return _jobs.start(session, job_id, run_id=run_id, total=total, at=at)

    def job_progress(
        self,
        job_id: int,
        done: int,
        total: int | None = None,
        verdicts: Mapping[str, int] | None = None,
    ) -> bool:
        """Record how far the job is; False when it is finished (nothing changed)."""
        with self._writing("record the job's progress") as session:
            return _jobs.progress(
                session, job_id, done=done, total=total, verdicts=dict(verdicts or {})
            )

    def finish_job(
        self,
        job_id: int,
        status: JobStatus,
        error: str | None = None,
        *,
        at: datetime | None = None,
    ) -> bool:
        """Finish an unfinished job as done, failed or cancelled; whether this call did."""
        at = at or datetime.now(UTC)
        require_aware("at", at)
        with self._writing("finish the job") as session:
            return _jobs.finish(session, job_id, status=status, error=error, at=at)

    def request_cancel(
        self, job_key: str, dealer_id: int | None, *, at: datetime | None = None
    ) -> StoredJob | None:
        """Cancel the dealer's job: a queued one at once, a running one by setting
        ``cancel_requested`` for its runner. The job, or None when the dealer has none
        with that key."""
        at = at or datetime.now(UTC)
        require_aware("at", at)
        with self._writing("cancel the job") as session:
            return _jobs.request_cancel(session, job_key, dealer_id, at=at)

    def requeue_job(self, job_key: str, dealer_id: int | None) -> StoredJob | None:
        """Queue the dealer's cancelled or failed job again, keeping its progress (a
        resumed run skips finished rows); None when it has no such job, or the job is
        not cancelled or failed."""
        with self._writing("queue the job again") as session:
            return _jobs.requeue(session, job_key, dealer_id)

    def put_job_result(
        self,
        job_id: int,
        row_number: int,
        imei: str | None,
        result: Mapping[str, Any],
        *,
        at: datetime | None = None,
    ) -> None:
        """Write one row's result (JSON-serialisable); the last write of a row wins."""
        self.put_job_results(job_id, [(row_number, imei, result)], at=at)

    def put_job_results(
        self,
        job_id: int,
        results: Sequence[tuple[int, str | None, Mapping[str, Any]]],
        *,
        at: datetime | None = None,
    ) -> None:
        """Write rows' results (row number, IMEI, result) in one transaction."""
        at = at or datetime.now(UTC)
        require_aware("at", at)
        with self._writing("save the job's results") as session:
            for start in range(0, len(results), _RESULTS_PER_STATEMENT):
                chunk = results[start : start + _RESULTS_PER_STATEMENT]
                _jobs.put_results(session, job_id, chunk, at=at)

    def job_results(
        self, job_id: int, *, after: int | None = None, limit: int | None = None
    ) -> list[StoredJobResult]:
        """The job's results by row number (those after ``after``, at most ``limit``)."""
        with self._reading("read the job's results") as session:
            return _jobs.results(session, job_id, after=after, limit=limit)

    def note_dealer_devices(
        self, dealer_id: int, imeis: Collection[str], at: datetime | None = None
    ) -> None:
        """Remember that the dealer checked these devices (at ``at``)."""
        at = at or datetime.now(UTC)
        require_aware("at", at)
        with self._writing("note the dealer's devices") as session:
            for chunk in _chunks(list(imeis), KEYS_PER_QUERY):
                _jobs.note_devices(session, dealer_id, chunk, at=at)

    def dealer_has_device(self, dealer_id: int, imei: str) -> bool:
        """Whether the dealer has checked this device (else its pages are 404 to it)."""
        with self._reading("look up the dealer's device") as session:
            return _jobs.has_device(session, dealer_id, imei)

    def dealer_devices(
        self, dealer_id: int, prefix: str = "", limit: int = 50
    ) -> list[tuple[str, datetime]]:
        """The dealer's devices ``(imei, last_checked_at)`` whose IMEI starts with
        ``prefix``, most recently checked first."""
        with self._reading("list the dealer's devices") as session:
            return _jobs.devices(session, dealer_id, prefix=prefix, limit=limit)

    # -- end of dealers, users, API keys and jobs -------------------------------------


@functools.cache
def _latest_query(*, since: bool, carriers: bool, answered_only: bool) -> Select[Any]:
    """The newest counting row per (IMEI, carrier) among the IMEIs bound as ``imeis``.

    Built once per shape, with the values as bind parameters (``imeis``, ``since``,
    ``carriers``): building the statement cost more CPU than running it.
    """
    table = _OBSERVATIONS
    conditions: list[ColumnElement[bool]] = [table.c.imei.in_(bindparam("imeis", expanding=True))]
    if since:
        conditions.append(table.c.checked_at >= bindparam("since"))
    if carriers:
        conditions.append(table.c.carrier.in_(bindparam("carriers", expanding=True)))
    if answered_only:
        conditions.append(table.c.status != Status.UNKNOWN.value)
    rank = (
        func.row_number()
        .over(
            partition_by=(table.c.imei, table.c.carrier),
            order_by=(table.c.checked_at.desc(), table.c.id.desc()),
        )
        .label("rank")
    )
    ranked = select(*table.c, rank).where(*conditions).subquery()
    return select(*(ranked.c[column.name] for column in table.c)).where(ranked.c.rank == 1)


def _observation_values(observation: NewObservation) -> dict[str, Any]:
    """The ``observations`` row for a new observation (without its id)."""
    return {
        "imei": observation.imei,
        "tac": tac_of(observation.imei),
        "carrier": observation.carrier.value,
        "status": observation.status.value,
        "printed_symbol": observation.printed_symbol,
        "message": observation.message,
        "error": observation.error,
        "detail": observation.detail,
        "checked_at": observation.checked_at,
        "elapsed_ms": observation.elapsed_ms,
        "source": observation.source.value,
        "adapter_version": observation.adapter_version,
        "entered_by": observation.entered_by,
        "run_id": observation.run_id,
        "reason": observation.reason,
    }


def _stored_observation(observation_id: int, observation: NewObservation) -> StoredObservation:
    """What ``history`` will read back for ``observation`` saved under that id."""
    return StoredObservation(
        id=observation_id,
        imei=observation.imei,
        tac=tac_of(observation.imei),
        carrier=observation.carrier,
        status=observation.status,
        checked_at=observation.checked_at.astimezone(UTC),
        source=observation.source,
        printed_symbol=observation.printed_symbol,
        message=observation.message,
        error=observation.error,
        detail=observation.detail,
        elapsed_ms=observation.elapsed_ms,
        adapter_version=observation.adapter_version,
        entered_by=observation.entered_by,
        run_id=observation.run_id,
        reason=observation.reason,
    )


def _observation(row: Observation | Row[Any]) -> StoredObservation:
    """A stored observation from an ORM object or a Core row of ``observations``."""
    return StoredObservation(
        id=row.id,
        imei=row.imei,
        tac=row.tac,
        carrier=Carrier(row.carrier),
        status=Status(row.status),
        checked_at=row.checked_at.astimezone(UTC),
        source=Source(row.source),
        printed_symbol=row.printed_symbol,
        message=row.message,
        error=row.error,
        detail=row.detail,
        elapsed_ms=row.elapsed_ms,
        adapter_version=row.adapter_version,
        entered_by=row.entered_by,
        run_id=row.run_id,
        reason=row.reason,
    )


def _run(row: BulkRun) -> StoredRun:
    return StoredRun(
        id=row.id,
        created_at=row.created_at.astimezone(UTC),
        input_name=row.input_name,
        input_sha256=row.input_sha256,
        output_name=row.output_name,
        options=dict(row.options),
        finished_at=None if row.finished_at is None else row.finished_at.astimezone(UTC),
    )


def _row(row: BulkRow) -> StoredRow:
    return StoredRow(
        run_id=row.run_id,
        row_number=row.row_number,
        imei=row.imei,
        cells=dict(row.cells),
        finished_at=row.finished_at.astimezone(UTC),
    )
