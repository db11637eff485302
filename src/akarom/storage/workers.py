"""The processes that run jobs, as each reports itself (``tables.Worker``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from akarom.storage.tables import Worker

__all__ = ["LiveWorker"]


@dataclass(frozen=True, slots=True)
class LiveWorker:
    """A process that has reported itself lately."""

    id: int
    name: str
    kind: str  # "worker" (akarom worker) or "server" (a server running jobs itself)
    concurrency: int
    running: int
    started_at: datetime
    seen_at: datetime


def register(session: Session, name: str, kind: str, concurrency: int, at: datetime) -> int:
    values = {
        "name": name[:200],
        "kind": kind,
        "concurrency": concurrency,
        "started_at": at,
        "seen_at": at,
        "running": 0,
    }
    return int(session.execute(insert(Worker).values(values).returning(Worker.id)).scalar_one())


def seen(session: Session, worker_id: int, running: int, at: datetime) -> bool:
    changed = session.execute(
        update(Worker).where(Worker.id == worker_id).values(seen_at=at, running=running)
    )
    return bool(changed.rowcount)  # type: ignore[attr-defined]


def remove(session: Session, worker_id: int) -> None:
    session.execute(delete(Worker).where(Worker.id == worker_id))


def live(session: Session, since: datetime) -> list[LiveWorker]:
    query = select(Worker).where(Worker.seen_at >= since).order_by(Worker.started_at, Worker.id)
    return [
        LiveWorker(
            id=row.id,
            name=row.name,
            kind=row.kind,
            concurrency=row.concurrency,
            running=row.running,
            started_at=row.started_at,
            seen_at=row.seen_at,
        )
        for row in session.scalars(query)
    ]


def forget(session: Session, before: datetime) -> int:
    """Remove processes not seen since ``before`` (long gone); how many."""
    removed = session.execute(delete(Worker).where(Worker.seen_at < before))
    return int(removed.rowcount)  # type: ignore[attr-defined]


#: A process not seen for this long is gone (it reports every few seconds).
GONE_AFTER = timedelta(seconds=15)
