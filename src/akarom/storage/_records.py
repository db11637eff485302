"""What each family of records needs from ``Store``: its transactions.

The guarantee's records (intakes and guarantees, the monitor's watches, alerts,
certificates) each live in a module of their own as a mixin of ``Store``, so that the
observations' repository does not grow without end; every mixin reaches the database
only through these two.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy.orm import Session

__all__ = ["Records", "dialect_insert"]


def dialect_insert(dialect: str) -> Any:
    """The INSERT of the ``dialect`` in use, which offers ``on_conflict_do_nothing``.

    Imported here: the PostgreSQL dialect costs 50 ms to import, and SQLite users never
    need it (create_engine has loaded the dialect in use already).
    """
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert
    from sqlalchemy.dialects import sqlite

    return sqlite.insert


class Records:
    """Base of ``Store``'s mixins; ``Store`` supplies the transactions."""

    def _reading(self, doing: str) -> AbstractContextManager[Session]:
        """One read transaction (an ORM session); ``doing`` names it in errors."""
        raise NotImplementedError

    def _writing(self, doing: str) -> AbstractContextManager[Session]:
        """One write transaction, serialised with every other write of this Store."""
        raise NotImplementedError

    def _insert(self) -> Any:
        """The dialect's INSERT, which offers ``on_conflict_do_nothing``."""
        raise NotImplementedError

    def _forget_freed_pages(self, table: str) -> None:
        """After an erasure in ``table``: no old copy of its rows may stay behind."""
        raise NotImplementedError
