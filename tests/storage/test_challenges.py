"""Challenges a person answers, kept as rows: one path, one winner per step, tenants apart."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from akarom.domain import Carrier
from akarom.errors import StorageError
from akarom.storage import ChallengeKind, ChallengeStatus, NewChallenge, Store, StoredChallenge
from akarom.storage.tables import Challenge
from tests.storage.helpers import IMEI, T0

SESSION = {"token": "t0", "cookie": "PHPSESSID=abc", "action": "/search.php", "fields": {}}


def captcha(**fields: Any) -> NewChallenge:
    base: dict[str, Any] = {
        "kind": ChallengeKind.CAPTCHA,
        "carrier": Carrier.DOCOMO,
        "imei": IMEI,
        "origin": "checker-1",
        "created_at": T0,
        "expires_at": T0 + timedelta(minutes=10),
        "image": b"GIF89a\x01\x00",
        "media_type": "image/gif",
        "session": SESSION,
    }
    return NewChallenge(**(base | fields))


def page(**fields: Any) -> NewChallenge:
    base: dict[str, Any] = {
        "kind": ChallengeKind.PAGE,
        "carrier": Carrier.AU,
        "imei": IMEI,
        "origin": "checker-1",
        "created_at": T0,
        "expires_at": T0 + timedelta(minutes=10),
        "url": "https://au.example/cmn/WCV009001/WCE009001.hc",
    }
    return NewChallenge(**(base | fields))


def answer(store: Store, challenge: StoredChallenge, text: str = "×", **fields: Any) -> Any:
    return store.close_challenge(
        challenge.id,
        tenant=challenge.tenant,
        status=ChallengeStatus.ANSWERED,
        answer=text,
        closed_by=fields.pop("closed_by", "tanaka"),
        at=fields.pop("at", T0 + timedelta(minutes=1)),
    )


def test_a_captcha_round_trips_every_field(store: Store) -> None:
    run = store.start_run(input_name="in.csv", input_sha256="a" * 64, output_name="out.csv")
    posted = store.post_challenge(captcha(run_id=run.id, tenant="dealer-7"))
    assert store.challenge(posted.id, tenant="dealer-7") == posted
    assert (posted.kind, posted.carrier, posted.imei) == (
        ChallengeKind.CAPTCHA,
        Carrier.DOCOMO,
        IMEI,
    )
    assert (posted.status, posted.run_id, posted.origin) == (
        ChallengeStatus.OPEN,
        run.id,
        "checker-1",
    )
    assert posted.image == b"GIF89a\x01\x00"
    assert posted.media_type == "image/gif"
    assert posted.session == SESSION  # JSON through the database, as another process reads it
    assert posted.created_at == T0
    assert posted.created_at.tzinfo is UTC
    assert (posted.answer, posted.closed_by, posted.closed_at, posted.outcome) == (None,) * 4
    assert "abc" not in repr(posted)  # the carrier session stays out of logs
    assert "GIF89a" not in repr(posted)


def test_a_page_challenge_names_the_page(store: Store) -> None:
    posted = store.post_challenge(page())
    assert posted.url == "https://au.example/cmn/WCV009001/WCE009001.hc"
    assert (posted.image, posted.media_type, posted.session) == (None, None, None)


def test_an_answer_closes_it_once(store: Store) -> None:
    posted = store.post_challenge(page())
    answered = answer(store, posted)
    assert answered is not None
    assert (answered.status, answered.answer, answered.closed_by) == (
        ChallengeStatus.ANSWERED,
        "×",
        "tanaka",
    )
    assert answered.closed_at == T0 + timedelta(minutes=1)
    assert answer(store, posted, "○", closed_by="suzuki") is None  # too late: kept as it was
    assert store.challenge(posted.id, tenant=None) == answered


def test_of_two_people_answering_at_once_exactly_one_wins(store: Store) -> None:
    posted = store.post_challenge(page())
    start = threading.Barrier(8)

    def answer_as(name: str) -> bool:
        start.wait()
        return answer(store, posted, closed_by=name) is not None

    with ThreadPoolExecutor(8) as pool:
        won = list(pool.map(answer_as, [f"staff-{n}" for n in range(8)]))
    assert won.count(True) == 1
    closed = store.challenge(posted.id, tenant=None)
    assert closed is not None
    assert closed.closed_by == f"staff-{won.index(True)}"


def test_a_late_answer_is_refused_and_skips_need_a_name(store: Store) -> None:
    posted = store.post_challenge(page())
    assert answer(store, posted, at=posted.expires_at) is None
    with pytest.raises(ValueError, match="who answered or skipped"):
        store.close_challenge(posted.id, tenant=None, status=ChallengeStatus.SKIPPED)
    with pytest.raises(ValueError, match="carries the answer"):
        store.close_challenge(posted.id, tenant=None, status=ChallengeStatus.ANSWERED)
    with pytest.raises(ValueError, match="closed to"):
        store.close_challenge(posted.id, tenant=None, status=ChallengeStatus.OPEN)
    expired = store.close_challenge(posted.id, tenant=None, status=ChallengeStatus.EXPIRED)
    assert expired is not None
    assert expired.status is ChallengeStatus.EXPIRED


@pytest.mark.parametrize("status", [ChallengeStatus.SKIPPED, ChallengeStatus.VOID])
def test_closing_unanswered_clears_the_carrier_session(
    store: Store, status: ChallengeStatus
) -> None:
    posted = store.post_challenge(captcha())
    closed = store.close_challenge(
        posted.id, tenant=None, status=status, closed_by="tanaka", at=T0 + timedelta(seconds=1)
    )
    assert closed is not None
    assert (closed.status, closed.session, closed.answer) == (status, None, None)
    assert closed.image == posted.image  # what the person was shown stays


def test_the_outcome_is_settled_once_and_the_session_goes(store: Store) -> None:
    posted = store.post_challenge(captcha())
    assert not store.settle_challenge(posted.id, tenant=None, outcome="ok")  # not answered yet
    answered = answer(store, posted, "48213")
    assert answered.session == SESSION  # still needed to send the answer
    assert store.settle_challenge(posted.id, tenant=None, outcome="captcha")
    assert not store.settle_challenge(posted.id, tenant=None, outcome="ok")
    settled = store.challenge(posted.id, tenant=None)
    assert settled is not None
    assert (settled.outcome, settled.session) == ("captcha", None)


def test_one_open_challenge_per_asker_and_carrier(store: Store) -> None:
    older = store.post_challenge(captcha())
    other_carrier = store.post_challenge(page())
    other_asker = store.post_challenge(captcha(origin="checker-2"))
    newer = store.post_challenge(captcha(created_at=T0 + timedelta(seconds=5)))
    replaced = store.challenge(older.id, tenant=None)
    assert replaced is not None
    assert (replaced.status, replaced.session) == (ChallengeStatus.VOID, None)
    now = T0 + timedelta(seconds=10)
    assert [c.id for c in store.open_challenges(tenant=None, now=now)] == [
        other_carrier.id,
        other_asker.id,
        newer.id,
    ]


def test_open_challenges_are_the_tenants_only_and_never_expired(store: Store) -> None:
    run = store.start_run(input_name="in.csv", input_sha256="a" * 64, output_name="out.csv")
    mine = store.post_challenge(page(tenant="dealer-7", run_id=run.id))
    other_run = store.post_challenge(page(tenant="dealer-7", origin="checker-2"))
    store.post_challenge(page(tenant="dealer-8", origin="checker-3"))
    local = store.post_challenge(page(origin="checker-4"))
    short = store.post_challenge(
        page(tenant="dealer-7", origin="checker-5", expires_at=T0 + timedelta(seconds=30))
    )
    now = T0 + timedelta(seconds=1)

    def ids(**scope: Any) -> list[int]:
        return [c.id for c in store.open_challenges(now=now, **scope)]

    assert ids(tenant="dealer-7") == [mine.id, other_run.id, short.id]
    assert ids(tenant="dealer-7", run_id=run.id) == [mine.id]
    assert ids(tenant="dealer-7", origin="checker-2") == [other_run.id]
    assert ids(tenant=None) == [local.id]  # None is this machine's own, never "every tenant"
    assert ids(tenant="dealer-9") == []
    later = T0 + timedelta(minutes=1)
    assert short.id not in [c.id for c in store.open_challenges(tenant="dealer-7", now=later)]


def test_another_tenant_can_neither_read_nor_close_it(store: Store) -> None:
    posted = store.post_challenge(page(tenant="dealer-7"))
    assert store.challenge(posted.id, tenant="dealer-8") is None
    assert store.challenge(posted.id, tenant=None) is None
    closing = {"status": ChallengeStatus.ANSWERED, "answer": "○", "closed_by": "mallory"}
    assert store.close_challenge(posted.id, tenant="dealer-8", **closing) is None
    assert store.close_challenge(posted.id, tenant=None, **closing) is None
    assert not store.settle_challenge(posted.id, tenant="dealer-8", outcome="ok")
    still = store.challenge(posted.id, tenant="dealer-7")
    assert still is not None
    assert still.status is ChallengeStatus.OPEN


def test_expire_challenges_closes_only_the_overdue(store: Store) -> None:
    overdue = store.post_challenge(page(expires_at=T0 + timedelta(seconds=1)))
    waiting = store.post_challenge(captcha())
    assert store.expire_challenges(now=T0 + timedelta(seconds=2)) == 1
    expired = store.challenge(overdue.id, tenant=None)
    assert expired is not None
    assert (expired.status, expired.closed_at) == (
        ChallengeStatus.EXPIRED,
        T0 + timedelta(seconds=2),
    )
    assert [c.id for c in store.open_challenges(tenant=None, now=T0)] == [waiting.id]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"image": None}, "image, media type and session"),
        ({"media_type": None}, "image, media type and session"),
        ({"session": None}, "image, media type and session"),
        ({"expires_at": T0}, "expire after"),
        ({"created_at": datetime(2026, 1, 1)}, "timezone-aware"),  # noqa: DTZ001 - the point
        ({"origin": ""}, "asker"),
        ({"imei": "35-209900-176148-1"}, "compact"),
        ({"kind": ChallengeKind.PAGE}, "URL"),
    ],
)
def test_new_challenge_refuses_what_the_schema_forbids(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        captcha(**fields)


def test_the_schema_itself_refuses_an_answer_without_its_status(store: Store) -> None:
    """The CHECK constraints hold even for a writer that skips ``Store``."""
    posted = store.post_challenge(page())
    with store.engine.begin() as connection, pytest.raises(IntegrityError):
        connection.execute(
            Challenge.__table__.update()
            .where(Challenge.id == posted.id)
            .values(answer="○")  # still open: an answer needs status answered
        )


def test_a_missing_database_is_a_storage_error(tmp_path: Path) -> None:
    store = Store.open(None, tmp_path / "data")
    posted = store.post_challenge(page())
    with store.engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE challenges")
    with pytest.raises(StorageError, match="read the challenge"):
        store.challenge(posted.id, tenant=None)
    store.close()
