"""Challenges: what a person answers because akarom may not, kept as rows.

A check that meets a captcha or a carrier's block posts a *challenge* (``Store.
post_challenge``); a person answers it, at the terminal or from a staff queue, in this
process or another; the asker reads the answer back from the database. Nothing of it
lives only in memory, so the asker and the person need not share a process.

Unlike observations a challenge changes, but along one path only, and each step is a
conditional update that exactly one writer wins (two people answering at once: one
answer is taken, the other is told it came too late)::

    open ──→ answered ──→ (outcome settled once)
      ├───→ skipped       a person chose not to answer
      ├───→ expired       nobody answered by expires_at
      └───→ void          the asker stopped waiting, or a newer challenge replaced it

The carrier session a captcha's answer must be sent in (``session``) is cleared as soon
as it can no longer be used: when the challenge closes unanswered, or when the outcome
of its answer is settled.

``tenant`` scopes every read and write: None is this machine's own (the CLI), and is
never a wildcard; a staff queue passes its dealer's tenant and sees nothing else.

The ``Store`` methods are in ``repo`` (section "challenges"); the queries are here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, null, select, update
from sqlalchemy.orm import Session

from akarom.domain import Carrier
from akarom.storage.records import (
    ChallengeKind,
    ChallengeStatus,
    NewChallenge,
    StoredChallenge,
)
from akarom.storage.tables import Challenge

__all__ = [
    "ChallengeKind",
    "ChallengeStatus",
    "NewChallenge",
    "StoredChallenge",
]


def _stored(row: Challenge) -> StoredChallenge:
    return StoredChallenge(
        id=row.id,
        kind=ChallengeKind(row.kind),
        carrier=Carrier(row.carrier),
        imei=row.imei,
        tenant=row.tenant,
        origin=row.origin,
        run_id=row.run_id,
        created_at=row.created_at.astimezone(UTC),
        expires_at=row.expires_at.astimezone(UTC),
        status=ChallengeStatus(row.status),
        url=row.url,
        image=row.image,
        media_type=row.media_type,
        session=None if row.session is None else dict(row.session),
        answer=row.answer,
        closed_by=row.closed_by,
        closed_at=None if row.closed_at is None else row.closed_at.astimezone(UTC),
        outcome=row.outcome,
    )


def _of_tenant(tenant: str | None) -> ColumnElement[bool]:
    """The tenant's rows only; None means the rows of no tenant, never every row."""
    return Challenge.tenant.is_(None) if tenant is None else Challenge.tenant == tenant


def insert(session: Session, new: NewChallenge) -> StoredChallenge:
    """Add ``new`` as open; the asker's older open challenge of that carrier turns void."""
    session.execute(
        update(Challenge)
        .where(
            Challenge.origin == new.origin,
            Challenge.carrier == new.carrier.value,
            Challenge.status == ChallengeStatus.OPEN.value,
        )
        .values(status=ChallengeStatus.VOID.value, closed_at=new.created_at, session=null())
    )
    row = Challenge(
        kind=new.kind.value,
        carrier=new.carrier.value,
        imei=new.imei,
        tenant=new.tenant,
        origin=new.origin,
        run_id=new.run_id,
        created_at=new.created_at,
        expires_at=new.expires_at,
        status=ChallengeStatus.OPEN.value,
        url=new.url,
        image=new.image,
        media_type=new.media_type,
        session=None if new.session is None else dict(new.session),
    )
    session.add(row)
    session.flush()
    return _stored(row)


def get(session: Session, challenge_id: int, tenant: str | None) -> StoredChallenge | None:
    row = session.scalars(
        select(Challenge).where(Challenge.id == challenge_id, _of_tenant(tenant))
    ).first()
    return None if row is None else _stored(row)


def waiting(
    session: Session,
    *,
    tenant: str | None,
    origin: str | None,
    run_id: int | None,
    now: datetime,
    limit: int,
) -> list[StoredChallenge]:
    conditions = [
        _of_tenant(tenant),
        Challenge.status == ChallengeStatus.OPEN.value,
        Challenge.expires_at > now,
    ]
    if origin is not None:
        conditions.append(Challenge.origin == origin)
    if run_id is not None:
        conditions.append(Challenge.run_id == run_id)
    query = (
        select(Challenge)
        .where(*conditions)
        .order_by(Challenge.created_at, Challenge.id)
        .limit(limit)
    )
    return [_stored(row) for row in session.scalars(query)]


def close(
    session: Session,
    challenge_id: int,
    *,
    tenant: str | None,
    status: ChallengeStatus,
    answer: str | None,
    closed_by: str | None,
    at: datetime,
) -> StoredChallenge | None:
    """Move one open challenge to ``status``; None when it was not open (or, for a
    person's answer or skip, already past ``expires_at``)."""
    if status is ChallengeStatus.OPEN:
        raise ValueError("a challenge is closed to answered, skipped, expired or void")
    if (status is ChallengeStatus.ANSWERED) != (answer is not None):
        raise ValueError("an answered challenge, and only one, carries the answer")
    if status in (ChallengeStatus.ANSWERED, ChallengeStatus.SKIPPED) and not closed_by:
        raise ValueError("say who answered or skipped the challenge (closed_by)")
    conditions = [
        Challenge.id == challenge_id,
        _of_tenant(tenant),
        Challenge.status == ChallengeStatus.OPEN.value,
    ]
    if status in (ChallengeStatus.ANSWERED, ChallengeStatus.SKIPPED):
        conditions.append(Challenge.expires_at > at)
    values: dict[str, Any] = {
        "status": status.value,
        "answer": answer,
        "closed_by": closed_by,
        "closed_at": at,
    }
    if status is not ChallengeStatus.ANSWERED:
        values["session"] = null()  # nothing will be sent in it any more
    changed = session.execute(update(Challenge).where(*conditions).values(**values))
    if getattr(changed, "rowcount", 0) != 1:
        return None
    return get(session, challenge_id, tenant)


def settle(session: Session, challenge_id: int, *, tenant: str | None, outcome: str) -> bool:
    """Record what came of an answer, once; the session it was sent in is cleared."""
    changed = session.execute(
        update(Challenge)
        .where(
            Challenge.id == challenge_id,
            _of_tenant(tenant),
            Challenge.status == ChallengeStatus.ANSWERED.value,
            Challenge.outcome.is_(None),
        )
        .values(outcome=outcome, session=null())
    )
    return bool(getattr(changed, "rowcount", 0) == 1)


def expire(session: Session, *, now: datetime) -> int:
    """Mark every open challenge past its ``expires_at`` expired; how many were."""
    changed = session.execute(
        update(Challenge)
        .where(Challenge.status == ChallengeStatus.OPEN.value, Challenge.expires_at <= now)
        .values(status=ChallengeStatus.EXPIRED.value, closed_at=now, session=null())
    )
    return int(getattr(changed, "rowcount", 0))
