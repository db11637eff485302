"""Opening the database: URLs, SQLite settings, migrations, and errors users can read."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from akarom.errors import StorageError
from akarom.storage import Store, normalise_url, open_engine
from akarom.storage.db import alembic_config
from akarom.storage.sqlite_file import SQLITE_FILENAME
from akarom.storage.tables import Base


def _schema_diff(store: Store) -> list[object]:
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def test_migrations_yield_exactly_the_models(store: Store) -> None:
    assert _schema_diff(store) == []
    names = set(inspect(store.engine).get_table_names())
    assert names == set(Base.metadata.tables) | {"alembic_version"}


def test_downgrade_and_upgrade_again(store: Store) -> None:
    with store.engine.begin() as connection:
        command.downgrade(alembic_config(connection), "base")
    assert set(inspect(store.engine).get_table_names()) == {"alembic_version"}
    with store.engine.begin() as connection:
        command.upgrade(alembic_config(connection), "head")
    assert _schema_diff(store) == []


def test_opening_twice_is_a_no_op(database_url: str | None, tmp_path: Path) -> None:
    with Store.open(database_url, tmp_path / "data") as store:
        store.start_run(input_name="a", input_sha256="0" * 64, output_name="b")
    with Store.open(database_url, tmp_path / "data") as store:
        assert store.find_run(input_sha256="0" * 64, output_name="b") is not None


def test_concurrent_first_opens_migrate_once(database_url: str | None, tmp_path: Path) -> None:
    def open_and_close() -> None:
        Store.open(database_url, tmp_path / "data").close()

    with ThreadPoolExecutor(4) as pool:
        for future in [pool.submit(open_and_close) for _ in range(4)]:
            future.result()  # re-raises a failure of that thread


_OPEN = """
import sys
from pathlib import Path
from akarom.storage import Store
Store.open(sys.argv[1] or None, Path(sys.argv[2])).close()
"""


def test_concurrent_first_opens_from_processes(database_url: str | None, tmp_path: Path) -> None:
    """Processes starting together on an empty database: one migrates, the others wait."""
    argv = [sys.executable, "-c", _OPEN, database_url or "", str(tmp_path / "data")]
    processes = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for _ in range(3)
    ]
    outputs = [process.communicate(timeout=60)[0].decode() for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0], outputs
    with Store.open(database_url, tmp_path / "data") as store:
        assert _schema_diff(store) == []


def test_sqlite_defaults(tmp_path: Path) -> None:
    data_dir = tmp_path / "deep" / "akarom"
    with Store.open(None, data_dir) as store, store.engine.connect() as connection:
        assert (data_dir / SQLITE_FILENAME).is_file()
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000


def test_a_sqlite_url_gets_the_same_settings(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'elsewhere.sqlite3'}"
    with Store.open(url, tmp_path / "unused") as store, store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    assert not (tmp_path / "unused").exists()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        ("postgresql://h/db", "postgresql+psycopg://h/db"),
        ("PostgreSQL://h/db", "postgresql+psycopg://h/db"),
        (" postgresql+psycopg://h/db ", "postgresql+psycopg://h/db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_normalise_url(url: str, expected: str) -> None:
    assert normalise_url(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "not a database URL"),
        ("mysql://u@h/db", "SQLite or PostgreSQL, not 'mysql'"),
        ("postgresql+nodriver://u@h/db", "unknown database driver"),
        ("sqlite:////nonexistent/dir/x.sqlite3", "cannot open the database"),
    ],
)
def test_unusable_urls_are_storage_errors(url: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(StorageError, match=message) as caught:
        open_engine(url, tmp_path)
    assert "Traceback" not in str(caught.value)


def test_an_unreachable_server_is_one_clear_line(tmp_path: Path) -> None:
    url = "postgresql://akarom:s3cret@127.0.0.1:1/akarom"  # nothing listens on port 1
    with pytest.raises(StorageError) as caught:
        Store.open(url, tmp_path)
    message = str(caught.value)
    assert message.startswith("cannot open the database postgresql+psycopg://akarom:***@")
    assert "127.0.0.1" in message
    assert "s3cret" not in message
    assert "\n" not in message


def test_an_unwritable_data_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StorageError, match="cannot create the data folder"):
        open_engine(None, blocker / "akarom")


def test_switching_a_new_file_to_wal_waits_for_another_process_switching_it() -> None:
    """Two processes opening a brand-new SQLite file at once both switch it to WAL; SQLite
    tells one "database is locked" at once (no busy handler there): it waits and retries.
    """
    from akarom.storage.db import _switch_to_wal

    class Racing:
        def __init__(self, failures: int, message: str = "database is locked") -> None:
            self.failures = failures
            self.message = message
            self.tries = 0

        def execute(self, statement: str) -> None:
            assert statement == "PRAGMA journal_mode = WAL"
            self.tries += 1
            if self.tries <= self.failures:
                raise sqlite3.OperationalError(self.message)

    racing = Racing(failures=3)
    _switch_to_wal(racing)  # type: ignore[arg-type]
    assert racing.tries == 4
    broken = Racing(failures=1, message="disk I/O error")
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        _switch_to_wal(broken)  # type: ignore[arg-type]
    assert broken.tries == 1
