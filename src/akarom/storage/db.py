"""Opening the database: the engine factory, SQLite's settings, and the schema.

``open_engine(None, data_dir)`` opens (and creates) ``data_dir/akarom.sqlite3``.
A URL (``AKAROM_DATABASE_URL``) may name another SQLite file or a PostgreSQL
server; ``postgres://`` and ``postgresql://`` mean psycopg 3, installed with the
``akarom[postgres]`` extra. Either way the engine is tried once, so that a bad URL
or a server that does not answer is a ``StorageError`` with one clear line, not a
driver traceback.

SQLite connections get WAL (readers never wait for the writer), a busy timeout, and
foreign keys. pysqlite's own transaction handling is switched off so that a write
can start with ``BEGIN IMMEDIATE``: it takes the write lock up front, where a
deferred transaction could fail half-way with "database is locked" (SQLAlchemy
docs, "Serializable isolation / Savepoints / Transactional DDL" for pysqlite).

``migrate(engine)`` brings the schema to the newest Alembic revision, loading
Alembic (and Mako, a third of a second together) only when there is something to
migrate:

* a database already stamped at the head revision is left alone;
* a new one (none of akarom's tables, no ``alembic_version``) gets the tables from
  ``tables.py`` (``metadata.create_all``) and the head revision in
  ``alembic_version``, in one transaction, exactly as ``alembic upgrade head`` would
  leave it (a test compares the two);
* anything else (an older revision) is upgraded by Alembic.

The head revision is read from the revision files themselves (``storage.revisions``),
without importing Alembic. The Alembic configuration is built in code, pointing at
``migrations/`` inside this package, so no ``alembic.ini`` is needed at run time.

>>> normalise_url("postgres://u@db.example/akarom")
'postgresql+psycopg://u@db.example/akarom'
>>> normalise_url("sqlite:////var/lib/akarom/akarom.sqlite3")
'sqlite:////var/lib/akarom/akarom.sqlite3'
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    create_engine,
    event,
    inspect,
    make_url,
    select,
    text,
)
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from akarom.errors import StorageError
from akarom.storage.revisions import MIGRATIONS, revision_graph, single_head
from akarom.storage.sqlite_file import SQLITE_FILENAME
from akarom.storage.tables import Base

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = [
    "ADVISORY_LOCK_KEY",
    "BUSY_TIMEOUT_MS",
    "Migration",
    "alembic_config",
    "migrate",
    "normalise_url",
    "open_engine",
    "translate_errors",
]

#: How long a SQLite connection waits for another process's write lock (``akarom
#: serve`` and ``akarom bulk`` may share a file). Within one process, ``Store``
#: serialises writes itself, so this only matters across processes.
BUSY_TIMEOUT_MS = 10_000

#: Seconds to wait for a PostgreSQL server to accept the connection.
CONNECT_TIMEOUT_S = 10

#: Execution option that marks a connection whose transaction will write.
WRITE_OPTION = "akarom_write"

#: The PostgreSQL advisory lock that keeps two processes from changing the schema at
#: once; ``migrations/env.py`` takes the same key (a test checks they agree). Any
#: constant will do: it only has to be the same for every akarom process.
ADVISORY_LOCK_KEY = 0x616B61726F6D  # "akarom"

#: What ``migrate`` did: nothing (already at the head revision), created a new
#: database, or upgraded an older one with Alembic.
Migration: TypeAlias = Literal["current", "created", "upgraded"]

# Alembic's ``context`` and ``op`` are module-level proxies: one migration at a time
# per process. Other processes are kept out by the database (see ``migrate``).
_MIGRATE_LOCK = threading.Lock()

_SCHEME = re.compile(r"^(postgres|postgresql)://", re.IGNORECASE)


def normalise_url(url: str) -> str:
    """Return ``url`` with a bare PostgreSQL scheme pointed at psycopg 3."""
    return _SCHEME.sub("postgresql+psycopg://", url.strip(), count=1)


def open_engine(url: str | None, data_dir: Path) -> Engine:
    """Return an engine for ``url``, or for the SQLite file in ``data_dir`` when None.

    Connects once to prove the database is reachable. Raises ``StorageError``
    naming the problem (not a URL, driver missing, server unreachable, folder not
    writable); passwords never appear in the message.
    """
    if url is None:
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StorageError(
                f"cannot create the data folder {data_dir}: {err.strerror}"
            ) from None
        parsed = URL.create("sqlite", database=str(data_dir / SQLITE_FILENAME))
    else:
        try:
            parsed = make_url(normalise_url(url))
        except ArgumentError:
            raise StorageError(
                "AKAROM_DATABASE_URL is not a database URL; expected for example "
                "postgresql://user@host/akarom or sqlite:////path/to/akarom.sqlite3"
            ) from None
    shown = parsed.render_as_string(hide_password=True)
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise StorageError(f"akarom stores its data in SQLite or PostgreSQL, not {backend!r}")
    connect_args: dict[str, Any] = {}
    if backend == "postgresql" and "connect_timeout" not in parsed.query:
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
    try:
        # A server reads from as many worker threads as asyncio.to_thread runs at once;
        # with fewer pooled connections than that, each request past the pool opened
        # (and configured) a new connection and closed it again.
        engine = create_engine(
            parsed, connect_args=connect_args, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW
        )
    except NoSuchModuleError:
        raise StorageError(f"unknown database driver in {shown}") from None
    except ImportError as err:
        extra = " (pip install 'akarom[postgres]')" if backend == "postgresql" else ""
        raise StorageError(f"the driver for {shown} is not installed{extra}: {err}") from None
    if backend == "sqlite":
        _configure_sqlite(engine)
    try:
        with engine.connect():
            pass
    except DBAPIError as err:
        engine.dispose()
        raise StorageError(f"cannot open the database {shown}: {_first_line(err)}") from None
    return engine


#: Connections kept open, and opened beyond those at busy moments (then closed).
POOL_SIZE = 10
POOL_OVERFLOW = 20


def _switch_to_wal(cursor: sqlite3.Cursor) -> None:
    """``PRAGMA journal_mode = WAL``, waiting as ``busy_timeout`` would.

    Two processes opening a brand-new file at the same instant both try to switch
    it; SQLite answers one of them "database is locked" at once instead of calling
    the busy handler (waiting could deadlock there), so that one waits and tries
    again: by then the file is in WAL mode and the switch is a no-op.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    pause = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.2)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        # Let SQLAlchemy emit BEGIN itself (below), instead of pysqlite guessing.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS:d}")
            _switch_to_wal(cursor)
            # NORMAL is durable against a killed process (kill -9) in WAL mode; only
            # a power cut may lose the last transactions (sqlite.org/pragma.html).
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
            # Freed pages are zeroed: personal data erased (crypto-shredded) leaves no
            # trace of its wrapped key in the file (akarom.sealing).
            cursor.execute("PRAGMA secure_delete = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        writes = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


def alembic_config(connection: Connection | None = None) -> Config:
    """Return an Alembic ``Config`` for akarom's migrations, built in code.

    Imports Alembic. With ``connection``, ``env.py`` migrates through it. To write a
    new revision after changing ``tables.py``, run (from a checkout, against a
    migrated database)::

        from alembic import command
        command.revision(alembic_config(conn), autogenerate=True, message="...")
    """
    from alembic.config import Config  # here, not at the top: Alembic only when asked for

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # Paths may contain spaces (a user's data folder on Windows); split only on os.pathsep.
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def migrate(engine: Engine) -> Migration:
    """Bring the database to the newest schema, as ``alembic upgrade head`` would.

    Returns what it did: ``"current"`` (already at the head revision: one read, no
    lock), ``"created"`` (a new database: the tables and the stamp in one
    transaction, without Alembic) or ``"upgraded"`` (Alembic ran). Raises
    ``StorageError`` when the database was stamped by a newer akarom.

    Safe to run from several threads and processes at once: the decision is taken
    again under the database's own lock (SQLite's write lock, or a PostgreSQL advisory
    lock), so one of them creates or upgrades and the others find it done; threads
    also take turns in this process, since Alembic keeps its state in module globals.
    """
    revisions = revision_graph()
    head = single_head(revisions) if revisions is not None else None
    with translate_errors("migrate the database"):
        if head is not None:
            with engine.connect() as connection, connection.begin():
                if _stamped(connection) == (head,):
                    return "current"
        with _MIGRATE_LOCK, engine.connect() as connection:
            connection.execution_options(**{WRITE_OPTION: True})  # BEGIN IMMEDIATE on SQLite
            with connection.begin():
                if connection.dialect.name == "postgresql":
                    lock = text("SELECT pg_advisory_xact_lock(:key)")
                    connection.execute(lock, {"key": ADVISORY_LOCK_KEY})
                if revisions is not None and head is not None:
                    stamped = _stamped(connection)
                    if stamped == (head,):
                        return "current"
                    if stamped is None and not _holds_akarom_tables(connection):
                        _create_at_head(connection, head)
                        return "created"
                    _refuse_unknown_revisions(stamped or (), revisions)
                _upgrade_with_alembic(connection)
                return "upgraded"


def _version_table() -> Table:
    """``alembic_version`` exactly as Alembic creates it (``DefaultImpl.version_table_impl``)."""
    return Table(
        "alembic_version",
        MetaData(),
        Column("version_num", String(32), nullable=False),
        PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
    )


def _stamped(connection: Connection) -> tuple[str, ...] | None:
    """The revisions in ``alembic_version`` (sorted), or None when there is no such table."""
    if not connection.dialect.has_table(connection, "alembic_version"):
        return None
    version = _version_table()
    return tuple(sorted(connection.scalars(select(version.c.version_num))))


def _holds_akarom_tables(connection: Connection) -> bool:
    return not Base.metadata.tables.keys().isdisjoint(inspect(connection).get_table_names())


def _create_at_head(connection: Connection, head: str) -> None:
    """Create every table of ``tables.py`` and stamp ``head``, inside the caller's transaction."""
    Base.metadata.create_all(connection, checkfirst=False)
    version = _version_table()
    version.create(connection)
    connection.execute(version.insert().values(version_num=head))


def _refuse_unknown_revisions(
    stamped: tuple[str, ...], revisions: dict[str, tuple[str, ...]]
) -> None:
    unknown = [revision for revision in stamped if revision not in revisions]
    if unknown:
        raise StorageError(
            f"the database schema is at revision {', '.join(unknown)}, which this version "
            "of akarom does not know: a newer akarom has used it; upgrade akarom"
        )


def _upgrade_with_alembic(connection: Connection) -> None:
    from alembic import command  # here: 0.3 s with Mako, only for an old schema

    command.upgrade(alembic_config(connection), "head")


@contextmanager
def translate_errors(doing: str) -> Iterator[None]:
    """Turn a SQLAlchemy or driver error raised inside into ``StorageError``."""
    try:
        yield
    except SQLAlchemyError as err:
        raise StorageError(f"could not {doing}: {_first_line(err)}") from err


def _first_line(err: SQLAlchemyError) -> str:
    cause = err.orig if isinstance(err, DBAPIError) and err.orig is not None else err
    text = str(cause).strip()
    return text.splitlines()[0] if text else type(cause).__name__
