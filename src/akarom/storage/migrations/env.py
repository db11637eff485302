"""Alembic's environment: migrate through the connection ``akarom.storage.db`` passes.

Alembic executes this file for every command. Importing it anywhere else (pytest's
doctest collection does) does nothing.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection, create_engine, text

from akarom.storage.tables import Base, UTCDateTime

# Any constant will do: it only has to be the same for every akarom process.
_ADVISORY_LOCK_KEY = 0x616B61726F6D  # "akarom"


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        compare_type=True,
        # SQLite cannot ALTER most things; batch mode recreates the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=_render_item,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Two processes starting at once must not both create the tables.
            lock = text("SELECT pg_advisory_xact_lock(:key)")
            connection.execute(lock, {"key": _ADVISORY_LOCK_KEY})
        context.run_migrations()


def _render_item(type_: str, obj: Any, _autogen_context: AutogenContext) -> str | Literal[False]:
    """Write ``UTCDateTime`` columns as plain ``sa.DateTime(timezone=True)`` in revisions.

    The conversion to UTC is Python-side only; revisions should not import the models.
    """
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("pass a connection (akarom.storage.db.alembic_config) or sqlalchemy.url")
    engine = create_engine(url)
    try:
        with engine.connect() as own_connection:
            _run(own_connection)
    finally:
        engine.dispose()


if hasattr(context, "config"):  # only while Alembic runs this file
    _main()
