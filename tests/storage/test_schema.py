"""A new database is created and stamped without Alembic, exactly as Alembic would leave it.

``migrate`` creates a new database from ``tables.py`` and writes the head revision
itself; only an older schema goes through Alembic. These tests hold it to
Alembic's own result: the same tables, columns, keys, indexes and checks, the same
stamp, an ``alembic upgrade head`` that finds nothing to do, and the head revision
Alembic would name. They read the head from the revision files, so they keep
holding when a revision is added.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, event, insert, inspect, text

from akarom.errors import StorageError
from akarom.storage import Store, migrate, open_engine
from akarom.storage.db import ADVISORY_LOCK_KEY, alembic_config
from akarom.storage.revisions import VERSIONS, find_head, head_revision
from akarom.storage.tables import Base
from tests.storage.helpers import IMEI, T0


def _alembic_head() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _schema(engine: Engine) -> dict[str, dict[str, Any]]:
    """Everything the inspector sees of each table, in a comparable form."""
    inspector = inspect(engine)
    described = {}
    for table in sorted(inspector.get_table_names()):
        described[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], c.get("default"), c.get("autoincrement"))
                for c in inspector.get_columns(table)
            ],
            "primary key": inspector.get_pk_constraint(table),
            "foreign keys": sorted(map(repr, inspector.get_foreign_keys(table))),
            "indexes": sorted(map(repr, inspector.get_indexes(table))),
            "unique": sorted(map(repr, inspector.get_unique_constraints(table))),
            "checks": sorted(map(repr, inspector.get_check_constraints(table))),
        }
    return described


def _diff_from_models(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def _stamp(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.scalars(text("SELECT version_num FROM alembic_version")))


@contextmanager
def _engine(url: str | None, data_dir: Path) -> Iterator[Engine]:
    engine = open_engine(url, data_dir)
    try:
        yield engine
    finally:
        engine.dispose()


# -- the head revision --------------------------------------------------------------


def test_the_head_is_alembics_head() -> None:
    assert head_revision() == _alembic_head()
    assert find_head(VERSIONS) == _alembic_head()


def test_env_takes_the_same_advisory_lock() -> None:
    from akarom.storage.migrations import env  # Alembic runs nothing when imported

    assert env._ADVISORY_LOCK_KEY == ADVISORY_LOCK_KEY


_STYLES = {
    "template": "revision: str = {rev!r}\ndown_revision: str | Sequence[str] | None = {down!r}\n",
    "plain": "revision = {rev!r}\ndown_revision = {down!r}  # a comment\n",
    "spread": "down_revision = (\n    {down_items}\n)\nrevision = {rev!r}\n",
}


@st.composite
def _revision_folders(draw: st.DrawFn) -> list[tuple[str, str]]:
    """Revision files (name, source) with bases, branches and merges, in any style."""
    count = draw(st.integers(1, 6))
    names = [f"r{n}x{draw(st.integers(0, 99))}" for n in range(count)]
    files = []
    for index, name in enumerate(names):
        earlier = names[:index]
        downs = draw(st.lists(st.sampled_from(earlier), max_size=2, unique=True)) if earlier else []
        down: object = None if not downs else downs[0] if len(downs) == 1 else tuple(downs)
        style = draw(st.sampled_from(sorted(_STYLES) if downs else ["template", "plain"]))
        body = _STYLES[style].format(
            rev=name, down=down, down_items="".join(f"{d!r}, " for d in downs)
        )
        header = f'"""Revision {name}.\n\nRevision ID: {name}\nRevises: {downs}\n"""\n'
        imports = "from collections.abc import Sequence\n\n"
        files.append((f"{index:04d}_{name}.py", header + imports + body + "\n\ndef upgrade(): ..."))
    # Files Alembic does not read as revisions, each claiming to be a new head.
    files.append(("__init__.py", 'revision = "decoy1"\ndown_revision = None\n'))
    files.append((".#0009_lock.py", 'revision = "decoy2"\ndown_revision = None\n'))
    files.append(("notes.txt", 'revision = "decoy3"\n'))
    return files


@settings(max_examples=40, deadline=None)
@given(files=_revision_folders())
def test_the_head_agrees_with_alembic_on_any_history(files: list[tuple[str, str]]) -> None:
    """One head: the same as Alembic's. Several heads (a branch): None, and Alembic decides."""
    with tempfile.TemporaryDirectory() as folder:
        versions = Path(folder) / "versions"
        versions.mkdir()
        for name, source in files:
            (versions / name).write_text(source, encoding="utf-8")
        heads = ScriptDirectory(folder).get_heads()
        assert find_head(versions) == (heads[0] if len(heads) == 1 else None)


@pytest.mark.parametrize(
    "source",
    [
        pytest.param('revision = "00" + "03"\ndown_revision = "0002"\n', id="computed"),
        pytest.param('down_revision = "0002"\n', id="no-revision"),
        pytest.param('revision = "0003"\ndown_revision = "0042"\n', id="unknown-parent"),
        pytest.param('revision = "0002"\ndown_revision = "0001"\n', id="duplicate"),
        pytest.param("revision = (\n", id="syntax-error"),
    ],
)
def test_unclear_revision_files_leave_the_decision_to_alembic(source: str, tmp_path: Path) -> None:
    for path in sorted(VERSIONS.glob("0*.py")):
        (tmp_path / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    assert find_head(tmp_path) == head_revision()
    (tmp_path / "9999_odd.py").write_text(source, encoding="utf-8")
    assert find_head(tmp_path) is None


# -- a new database -----------------------------------------------------------------


def test_a_new_database_is_exactly_what_alembic_makes(
    database_url: str | None, another_database_url: str, tmp_path: Path
) -> None:
    with (
        _engine(database_url, tmp_path / "data") as created,
        _engine(another_database_url, tmp_path) as upgraded,
    ):
        assert migrate(created) == "created"
        with upgraded.begin() as connection:
            command.upgrade(alembic_config(connection), "head")
        assert _schema(created) == _schema(upgraded)
        assert _diff_from_models(created) == []
        assert _stamp(created) == _stamp(upgraded) == [_alembic_head()]


def test_alembic_finds_nothing_to_do_on_a_new_database(
    database_url: str | None, tmp_path: Path
) -> None:
    with _engine(database_url, tmp_path / "data") as engine:
        assert migrate(engine) == "created"
        before = _schema(engine)
        statements: list[str] = []

        def remember(_conn: object, _cursor: object, statement: str, *_: object) -> None:
            statements.append(statement)

        event.listen(engine, "before_cursor_execute", remember)
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), "head")
        event.remove(engine, "before_cursor_execute", remember)
        changes = [
            s
            for s in statements
            if s.lstrip().split(None, 1)[0].upper()
            in {"CREATE", "ALTER", "DROP", "INSERT", "UPDATE", "DELETE"}
        ]
        assert statements, "Alembic did look at the database"
        assert changes == []
        assert _schema(engine) == before
        assert _stamp(engine) == [_alembic_head()]


def test_opening_again_changes_nothing(database_url: str | None, tmp_path: Path) -> None:
    with _engine(database_url, tmp_path / "data") as engine:
        assert migrate(engine) == "created"
        assert migrate(engine) == "current"
        assert migrate(engine) == "current"


_IMPORTS_WITHOUT_ALEMBIC = """
import sys
from pathlib import Path
import akarom.storage
from akarom.storage import Store

def loaded():
    return sorted(m for m in sys.modules if m.split(".")[0] in ("alembic", "mako"))

Store.open(None, Path(sys.argv[1])).close()  # a new database
print("new:", loaded())
Store.open(None, Path(sys.argv[1])).close()  # at the head revision
print("current:", loaded())
akarom.storage.db.alembic_config()  # what an old schema would load
print("old:", bool(loaded()))
"""


def test_opening_a_new_or_current_database_does_not_load_alembic(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _IMPORTS_WITHOUT_ALEMBIC, str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["new: []", "current: []", "old: True"]


# -- an older database --------------------------------------------------------------


def test_an_old_database_is_migrated_and_keeps_its_data(
    database_url: str | None, tmp_path: Path
) -> None:
    body = b"<html>\x82\xa0</html>"
    sha256 = hashlib.sha256(body).hexdigest()
    with _engine(database_url, tmp_path / "data") as engine:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), "0001")
            tables = Base.metadata.tables
            connection.execute(
                insert(tables["bulk_runs"]).values(
                    id=7,
                    created_at=T0,
                    input_name="stock.csv",
                    input_sha256="c" * 64,
                    output_name="out.csv",
                    options={"column": "製造番号"},
                )
            )
            connection.execute(  # only the columns revision 0001 has (no ``reason``)
                insert(tables["observations"]).values(
                    id=3,
                    imei=IMEI,
                    tac=IMEI[:8],
                    carrier="au",
                    status="restricted",
                    printed_symbol="×",
                    checked_at=T0,
                    source="live",
                    run_id=7,
                )
            )
            connection.execute(
                insert(tables["evidence_blobs"]).values(
                    sha256=sha256, encoding="zlib", size=len(body), data=zlib.compress(body)
                )
            )
            connection.execute(
                insert(tables["evidence_pages"]).values(
                    observation_id=3,
                    seq=0,
                    method="POST",
                    url="https://example.jp/r",
                    status_code=200,
                    headers={"content-type": "text/html"},
                    fetched_at=datetime(2026, 11, 26, 7, tzinfo=UTC),
                    body_sha256=sha256,
                )
            )
        assert _stamp(engine) == ["0001"]

        assert migrate(engine) == "upgraded"

        assert _stamp(engine) == [_alembic_head()]
        assert _diff_from_models(engine) == []
    with Store.open(database_url, tmp_path / "data") as store:
        [saved] = store.history(IMEI)
        assert (saved.id, saved.status.value, saved.printed_symbol, saved.run_id) == (
            3,
            "restricted",
            "×",
            7,
        )
        assert saved.checked_at == T0
        assert saved.reason is None
        assert [page.content for page in store.pages(3)] == [body]
        run = store.find_run(input_sha256="c" * 64, output_name="out.csv")
        assert run is not None
        assert run.options == {"column": "製造番号"}


def test_a_database_from_a_newer_akarom_is_refused(
    database_url: str | None, tmp_path: Path
) -> None:
    with _engine(database_url, tmp_path / "data") as engine:
        migrate(engine)
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        with pytest.raises(StorageError, match=r"revision 9999.*upgrade akarom"):
            migrate(engine)


# -- opening a new database from several places at once -----------------------------

_RACE = """
import sys, time
from pathlib import Path
from akarom.storage import migrate, open_engine
url, data_dir, start_at = sys.argv[1] or None, Path(sys.argv[2]), float(sys.argv[3])
time.sleep(max(0.0, start_at - time.time()))
engine = open_engine(url, data_dir)
print(migrate(engine))
engine.dispose()
"""


def test_processes_creating_one_new_database_at_once(
    database_url: str | None, tmp_path: Path
) -> None:
    """They start at the same instant: one creates the database, the others find it made."""
    start_at = f"{time.time() + 2.0:.3f}"  # after every interpreter has imported akarom
    argv = [sys.executable, "-c", _RACE, database_url or "", str(tmp_path / "data"), start_at]
    processes = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    results = [process.communicate(timeout=60) for process in processes]
    assert [process.returncode for process in processes] == [0] * 4, results
    assert sorted(out.strip() for out, _ in results) == ["created"] + ["current"] * 3
    with _engine(database_url, tmp_path / "data") as engine:
        assert _stamp(engine) == [_alembic_head()]
        assert _diff_from_models(engine) == []


def test_threads_creating_one_new_database_at_once(
    database_url: str | None, tmp_path: Path
) -> None:
    barrier = threading.Barrier(4)

    def open_at_once() -> str:
        barrier.wait()
        with _engine(database_url, tmp_path / "data") as engine:
            return migrate(engine)

    with ThreadPoolExecutor(4) as pool:
        outcomes = sorted(pool.map(lambda _: open_at_once(), range(4)))
    assert outcomes == ["created"] + ["current"] * 3
