"""Opening the database: the engine factory, SQLite's settings, and migrations.

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

``migrate(engine)`` brings the schema to the newest Alembic revision. The Alembic
configuration is built in code, pointing at ``migrations/`` inside this package, so
no ``alembic.ini`` is needed at run time.

>>> normalise_url("postgres://u@db.example/akarom")
'postgresql+psycopg://u@db.example/akarom'
>>> normalise_url("sqlite:////var/lib/akarom/akarom.sqlite3")
'sqlite:////var/lib/akarom/akarom.sqlite3'
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from akarom.errors import StorageError

__all__ = [
    "BUSY_TIMEOUT_MS",
    "SQLITE_FILENAME",
    "alembic_config",
    "migrate",
    "normalise_url",
    "open_engine",
    "translate_errors",
]

SQLITE_FILENAME = "akarom.sqlite3"

#: How long a SQLite connection waits for another process's write lock (``akarom
#: serve`` and ``akarom bulk`` may share a file). Within one process, ``Store``
#: serialises writes itself, so this only matters across processes.
BUSY_TIMEOUT_MS = 10_000

#: Seconds to wait for a PostgreSQL server to accept the connection.
CONNECT_TIMEOUT_S = 10

#: Execution option that marks a connection whose transaction will write.
WRITE_OPTION = "akarom_write"

MIGRATIONS = Path(__file__).parent / "migrations"

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
        engine = create_engine(parsed, connect_args=connect_args)
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


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        # Let SQLAlchemy emit BEGIN itself (below), instead of pysqlite guessing.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS:d}")
            cursor.execute("PRAGMA journal_mode = WAL")
            # NORMAL is durable against a killed process (kill -9) in WAL mode; only
            # a power cut may lose the last transactions (sqlite.org/pragma.html).
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        writes = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


def alembic_config(connection: Connection | None = None) -> Config:
    """Return an Alembic ``Config`` for akarom's migrations, built in code.

    With ``connection``, ``env.py`` migrates through it. To write a new revision
    after changing ``tables.py``, run (from a checkout, against a migrated database)::

        from alembic import command
        command.revision(alembic_config(conn), autogenerate=True, message="...")
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # Paths may contain spaces (a user's data folder on Windows); split only on os.pathsep.
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def migrate(engine: Engine) -> None:
    """Upgrade the database to the newest schema (``alembic upgrade head``).

    Safe to run from several threads and processes at once: threads take turns (Alembic
    keeps its state in module globals), processes wait on SQLite's write lock or on a
    PostgreSQL advisory lock taken in ``env.py``.
    """
    with (
        _MIGRATE_LOCK,
        translate_errors("migrate the database"),
        engine.connect() as connection,
    ):
        connection.execution_options(**{WRITE_OPTION: True})
        with connection.begin():
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
