"""A ``store`` per test, on SQLite and (marker ``postgres``) on PostgreSQL.

PostgreSQL comes from ``AKAROM_TEST_POSTGRES_URL`` (for example
``postgresql+psycopg://postgres@127.0.0.1:5432/test``). Without it the PostgreSQL
cases skip, except under ``CI=true``, where a missing or unreachable server fails
them: CI must prove the storage works on both. Each PostgreSQL test gets a schema of
its own (``search_path``), dropped afterwards, so tests never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from akarom.storage import Store, normalise_url

POSTGRES_ENV = "AKAROM_TEST_POSTGRES_URL"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    """An engine on the test server's default schema; skips or fails as documented."""
    url = os.environ.get(POSTGRES_ENV, "").strip()
    if not url:
        if _in_ci():
            pytest.fail(
                f"CI=true but {POSTGRES_ENV} is not set: the storage tests must run on "
                "PostgreSQL in CI (start the server and export e.g. "
                f"{POSTGRES_ENV}=postgresql+psycopg://postgres@127.0.0.1:5432/test)"
            )
        pytest.skip(f"{POSTGRES_ENV} is not set")
    engine = create_engine(normalise_url(url), connect_args={"connect_timeout": 5})
    problem = None
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as err:
        problem = str(getattr(err, "orig", err)).strip().splitlines()[0]
    if problem is not None:  # failed outside the except: no driver traceback in the report
        engine.dispose()
        shown = engine.url.render_as_string(hide_password=True)
        pytest.fail(f"{POSTGRES_ENV}={shown} is set but the server does not answer: {problem}")
    yield engine
    engine.dispose()


@contextmanager
def _fresh_schema(admin: Engine) -> Iterator[str]:
    schema = f"akarom_test_{uuid.uuid4().hex[:12]}"
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = admin.url.update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
def postgres_url(postgres_admin: Engine) -> Iterator[str]:
    """A URL whose connections live in a fresh schema, dropped after the test."""
    with _fresh_schema(postgres_admin) as url:
        yield url


@pytest.fixture
def another_postgres_url(postgres_admin: Engine) -> Iterator[str]:
    """A second fresh schema, for tests that compare two databases."""
    with _fresh_schema(postgres_admin) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """None (the default SQLite file in ``tmp_path``) or a PostgreSQL URL."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def another_database_url(
    database_url: str | None, tmp_path: Path, request: pytest.FixtureRequest
) -> str:
    """A second empty database on the same backend as ``database_url``."""
    if database_url is None:
        return f"sqlite:///{tmp_path / 'another.sqlite3'}"
    url: str = request.getfixturevalue("another_postgres_url")
    return url


@pytest.fixture
def store(database_url: str | None, tmp_path: Path) -> Iterator[Store]:
    with Store.open(database_url, tmp_path / "data") as opened:
        yield opened


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(None, tmp_path / "data") as opened:
        yield opened
