"""Answering challenges: checked where typed, one answer each, tenants apart, finished anywhere."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from akarom.carriers import symbol_status
from akarom.carriers.docomo import DocomoAdapter
from akarom.domain import Carrier, Status
from akarom.http import build_client
from akarom.ratelimit import RateLimiter
from akarom.sandbox import create_app, parse_scenario
from akarom.services.challenges import (
    ChallengeClosed,
    ChallengeDesk,
    ChallengeKind,
    ChallengeQueue,
    ChallengeStatus,
    StoredChallenge,
    UnknownChallenge,
    answer_challenge,
    captcha_of,
    checked_answer,
    open_challenges,
    skip_challenge,
)
from akarom.storage import NewChallenge, Store
from tests.services.conftest import OK_AT_DOCOMO, SANDBOX

URL = "https://au.example/cmn/WCV009001/WCE009001.hc"


def _post_page(store: Store, *, tenant: str | None = None, patience_s: float = 600) -> int:
    now = datetime.now(UTC)
    new = NewChallenge(
        kind=ChallengeKind.PAGE,
        carrier=Carrier.AU,
        imei=OK_AT_DOCOMO,
        origin="checker-1",
        created_at=now,
        expires_at=now + timedelta(seconds=patience_s),
        tenant=tenant,
        url=URL,
    )
    return store.post_challenge(new).id


def _post_captcha(store: Store) -> int:
    now = datetime.now(UTC)
    new = NewChallenge(
        kind=ChallengeKind.CAPTCHA,
        carrier=Carrier.DOCOMO,
        imei=OK_AT_DOCOMO,
        origin="checker-1",
        created_at=now,
        expires_at=now + timedelta(minutes=10),
        image=b"GIF89a",
        media_type="image/gif",
        session={"token": "t", "cookie": None, "action": "/search.php", "fields": {}},
    )
    return store.post_challenge(new).id


# --- answers are checked where they are typed --------------------------------------


@pytest.mark.parametrize(("typed", "kept"), [("×", "×"), (" ▲\u3000", "▲"), ("ー", "ー")])
def test_a_symbol_read_on_the_page_is_kept_as_read(store: Store, typed: str, kept: str) -> None:
    challenge_id = _post_page(store)
    answered = answer_challenge(store, challenge_id, typed, " tanaka ")
    assert (answered.status, answered.answer, answered.closed_by) == (
        ChallengeStatus.ANSWERED,
        kept,
        "tanaka",
    )


@pytest.mark.parametrize("typed", ["O", "x", "0", "◎", "○×", "", "maru"])
def test_what_is_not_a_symbol_is_refused_and_the_question_stays_open(
    store: Store, typed: str
) -> None:
    challenge_id = _post_page(store)
    with pytest.raises(ValueError, match="not a symbol"):
        answer_challenge(store, challenge_id, typed, "tanaka")
    assert [c.id for c in open_challenges(store)] == [challenge_id]


def test_a_captcha_answer_is_digits_as_the_form_takes_them(store: Store) -> None:
    challenge_id = _post_captcha(store)
    with pytest.raises(ValueError, match="digits only"):
        answer_challenge(store, challenge_id, "48a13", "tanaka")
    answered = answer_challenge(store, challenge_id, " ４８２　１３ ", "tanaka")
    assert answered.answer == "48213"


@given(typed=st.text(max_size=6) | st.sampled_from(["○", " × ", "\u3000▲", "ー\n"]))
def test_never_a_status_from_what_is_not_a_symbol(typed: str) -> None:
    """Whatever a person types, an accepted page answer is a symbol a carrier prints."""
    challenge = StoredChallenge(
        id=1,
        kind=ChallengeKind.PAGE,
        carrier=Carrier.AU,
        imei=OK_AT_DOCOMO,
        tenant=None,
        origin="o",
        run_id=None,
        created_at=datetime.now(UTC),
        expires_at=datetime.now(UTC),
        status=ChallengeStatus.OPEN,
        url=URL,
        image=None,
        media_type=None,
        session=None,
        answer=None,
        closed_by=None,
        closed_at=None,
        outcome=None,
    )
    try:
        kept = checked_answer(challenge, typed)
    except ValueError:
        assert symbol_status(typed) is None
        return
    assert symbol_status(kept) is not None
    assert symbol_status(kept) is symbol_status(typed)


def test_who_answered_must_be_said(store: Store) -> None:
    challenge_id = _post_page(store)
    with pytest.raises(ValueError, match="who answered"):
        answer_challenge(store, challenge_id, "×", "  ")
    with pytest.raises(ValueError, match="who answered"):
        skip_challenge(store, challenge_id, "")


# --- one answer, the tenant's own ----------------------------------------------------


def test_a_second_answer_is_told_who_came_first(store: Store) -> None:
    challenge_id = _post_page(store)
    answer_challenge(store, challenge_id, "×", "tanaka")
    with pytest.raises(ChallengeClosed) as raised:
        answer_challenge(store, challenge_id, "○", "suzuki")
    assert raised.value.challenge.closed_by == "tanaka"
    assert raised.value.challenge.answer == "×"
    with pytest.raises(ChallengeClosed):
        skip_challenge(store, challenge_id, "suzuki")


def test_an_answer_after_the_deadline_finds_it_expired(store: Store) -> None:
    challenge_id = _post_page(store, patience_s=0.001)
    with pytest.raises(ChallengeClosed) as raised:
        answer_challenge(store, challenge_id, "×", "tanaka")
    assert raised.value.challenge.status is ChallengeStatus.EXPIRED
    assert open_challenges(store) == []


def test_another_tenants_challenge_is_as_good_as_missing(store: Store) -> None:
    challenge_id = _post_page(store, tenant="dealer-7")
    for tenant in ("dealer-8", None):
        with pytest.raises(UnknownChallenge):
            answer_challenge(store, challenge_id, "×", "mallory", tenant=tenant)
        assert open_challenges(store, tenant=tenant) == []
    with pytest.raises(UnknownChallenge, match="no challenge 999"):
        skip_challenge(store, 999, "tanaka", tenant="dealer-7")
    answered = answer_challenge(store, challenge_id, "×", "sato", tenant="dealer-7")
    assert answered.closed_by == "sato"


def test_a_skip_closes_it_without_an_answer(store: Store) -> None:
    challenge_id = _post_page(store)
    skipped = skip_challenge(store, challenge_id, "tanaka")
    assert (skipped.status, skipped.answer, skipped.closed_by) == (
        ChallengeStatus.SKIPPED,
        None,
        "tanaka",
    )


# --- a captcha answered from what the store kept -------------------------------------


async def test_a_captcha_posted_here_is_finished_by_another_worker(
    store: Store, tmp_path: Path
) -> None:
    """The asker is gone once the person answered: another worker, with its own store and
    its own client, sends the answer from the stored session and reads docomo's answer."""
    scenario = {
        "carriers": {"docomo": {"mode": "captcha"}},
        "devices": {OK_AT_DOCOMO: {"docomo": "ok"}},
    }
    transport = httpx.ASGITransport(app=create_app(parse_scenario(scenario)))
    async with build_client(RateLimiter(1000), transport=transport) as asker_client:
        asker = DocomoAdapter(asker_client, base_url=SANDBOX)
        challenge = await asker.captcha_challenge(OK_AT_DOCOMO)
        assert challenge is not None
        code = challenge.pages[-1].headers["x-sandbox-captcha"]  # the person reads the image
        desk = ChallengeDesk(store, ChallengeQueue(poll_s=0.05))
        asking = asyncio.create_task(desk.ask_captcha(challenge))
        (posted,) = await _open(store)
        await asyncio.to_thread(answer_challenge, store, posted.id, code, "tanaka")
        answered = await asyncio.wait_for(asking, timeout=10)
        assert answered.status is ChallengeStatus.ANSWERED
    # The asker's client is closed; another worker opens the same database.
    with Store.open(None, tmp_path / "db") as elsewhere:
        stored = elsewhere.challenge(posted.id, tenant=None)
        assert stored is not None
        assert stored.answer is not None
        async with build_client(RateLimiter(1000), transport=transport) as worker_client:
            worker = DocomoAdapter(worker_client, base_url=SANDBOX)
            observation = await worker.answer_captcha(captcha_of(stored), stored.answer)
    assert observation.reading.status is Status.OK
    assert observation.imei == OK_AT_DOCOMO


def test_a_settled_or_page_challenge_holds_no_captcha_to_send(store: Store) -> None:
    page_id = _post_page(store)
    captcha_id = _post_captcha(store)
    answer_challenge(store, captcha_id, "12345", "tanaka")
    store.settle_challenge(captcha_id, tenant=None, outcome="captcha")
    for challenge_id in (page_id, captcha_id):
        stored = store.challenge(challenge_id, tenant=None)
        assert stored is not None
        with pytest.raises(ValueError, match="no captcha"):
            captcha_of(stored)


def test_a_queue_needs_patience() -> None:
    with pytest.raises(ValueError, match="positive"):
        ChallengeQueue(patience=timedelta(0))
    with pytest.raises(ValueError, match="positive"):
        ChallengeQueue(poll_s=0)


async def _open(store: Store) -> list[StoredChallenge]:
    for _ in range(500):
        waiting = await asyncio.to_thread(open_challenges, store)
        if waiting:
            return waiting
        await asyncio.sleep(0.01)
    raise AssertionError("no challenge was posted")
