"""A person in the loop, as data: challenges posted, answered, and waited for.

When a carrier shows a captcha or blocks akarom, a person answers: akarom never does
it by machine. The question is a *challenge* stored in the database
(``akarom.storage.challenges``), not a callback held in memory, so whoever answers
need not be in the process that asked:

- the ``Checker`` posts it through a ``ChallengeDesk`` (``ask_captcha``,
  ``ask_page``) and waits until it closes: it looks at the store every
  ``Person.poll_s`` seconds, and is woken at once when this process records the
  answer. A captcha answered is then sent to the carrier; a page read becomes a manual
  observation (``entered_by``: who answered); skipped, expired or void leaves the
  carrier paused and its answer ``unknown``. What came of an answer is recorded on
  the challenge (``settle``: the status read, or the error code);
- a person's side — the CLI's terminal, the web workspace's staff queue — lists what
  is waiting (``open_challenges``) and answers (``answer_challenge``) or skips
  (``skip_challenge``). An answer is checked where it is typed: a captcha's must be
  what the carrier's form takes (docomo: digits), a page's one of the symbols a
  carrier prints (○ △ × -); anything else is a ``ValueError`` and nothing is stored.

``tenant`` scopes every call (None: this machine's own, the CLI); a challenge of
another tenant is ``UnknownChallenge``, exactly like one that does not exist.

A ``Person`` is whoever the ``Checker`` asks: ``ChallengeQueue`` leaves challenges in
the store for a staff queue; the CLI's ``TerminalPerson`` is a queue that also
answers its own at the terminal (``attend``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from akarom.carriers import CaptchaChallenge, adapter_class, symbol_status
from akarom.carriers._symbols import BLANKS
from akarom.domain import Carrier
from akarom.errors import AkaromError
from akarom.storage.records import (
    ChallengeKind,
    ChallengeStatus,
    NewChallenge,
    StoredChallenge,
)

if TYPE_CHECKING:
    from akarom.storage import Store

__all__ = [
    "DEFAULT_PATIENCE",
    "POLL_INTERVAL_S",
    "ChallengeClosed",
    "ChallengeDesk",
    "ChallengeKind",
    "ChallengeQueue",
    "ChallengeStatus",
    "Person",
    "StoredChallenge",
    "UnknownChallenge",
    "answer_challenge",
    "captcha_of",
    "checked_answer",
    "open_challenges",
    "skip_challenge",
]

logger = logging.getLogger(__name__)

#: How long a challenge waits for a person before the carrier pauses. Well inside the
#: life of docomo's PHP session (PHP's default ``session.gc_maxlifetime`` is 24 min),
#: so that a captcha answered in time can still be sent in the session it belongs to.
DEFAULT_PATIENCE = timedelta(minutes=10)

#: How often the asker looks in the store for an answer given in another process
#: (one small indexed read); an answer given in this process wakes it at once.
POLL_INTERVAL_S = 2.0

#: The longest text kept as an answer or as who gave it (the columns' sizes).
_MAX_ANSWER = 64
_MAX_NAME = 200


class ChallengeClosed(AkaromError):
    """The challenge can no longer be answered: answered, skipped, expired or void.

    ``challenge`` is how it stands now (who answered it, and when).
    """

    def __init__(self, challenge: StoredChallenge) -> None:
        self.challenge = challenge
        super().__init__(f"challenge {challenge.id} is {challenge.status.value}, not open")


class UnknownChallenge(AkaromError, LookupError):
    """No such challenge for this tenant (another tenant's is not named either)."""


class Person(Protocol):
    """Whoever answers what akarom must not answer by machine, for a ``Checker``.

    The Checker stores each captcha or page to read as a challenge, calls ``attend``
    with it, and waits for the answer to appear in the store, given by whoever answers
    it (``answer_challenge``), in this process or another. A challenge nobody answers
    within ``patience`` expires and the carrier pauses.
    """

    @property
    def tenant(self) -> str | None:
        """Whose people may see and answer the challenges (None: this machine's own)."""

    @property
    def patience(self) -> timedelta:
        """How long a challenge waits for an answer."""

    @property
    def poll_s(self) -> float:
        """How often the asker looks in the store for an answer given elsewhere."""

    async def attend(self, store: Store, challenge: StoredChallenge) -> None:
        """``challenge`` was posted: answer it now (a terminal) or leave it to a queue."""


class ChallengeQueue:
    """A ``Person`` that leaves challenges in the store for people to answer later.

    The staff queue of a dealer (``tenant``): they find them with ``open_challenges``
    and answer with ``answer_challenge``, from any process that opens the same store.
    """

    def __init__(
        self,
        *,
        tenant: str | None = None,
        patience: timedelta = DEFAULT_PATIENCE,
        poll_s: float = POLL_INTERVAL_S,
    ) -> None:
        if patience <= timedelta(0) or poll_s <= 0:
            raise ValueError("patience and the poll interval must be positive")
        self.tenant = tenant
        self.patience = patience
        self.poll_s = poll_s

    async def attend(self, store: Store, challenge: StoredChallenge) -> None:
        """Nothing to do here: the challenge waits in the store for the queue."""


# --- a person's side ---------------------------------------------------------------


def open_challenges(
    store: Store,
    *,
    tenant: str | None = None,
    origin: str | None = None,
    run_id: int | None = None,
    limit: int = 100,
) -> list[StoredChallenge]:
    """The challenges of ``tenant`` a person may still answer, oldest first.

    ``origin`` keeps those of one asker (a terminal answers only its own Checker's),
    ``run_id`` those met by one bulk run.
    """
    return store.open_challenges(tenant=tenant, origin=origin, run_id=run_id, limit=limit)


def checked_answer(challenge: StoredChallenge, text: str) -> str:
    """``text`` as it is kept as the answer to ``challenge``; ``ValueError`` if it cannot be one.

    A captcha: what the carrier's form takes (``captcha_answer``: docomo wants digits;
    full-width digits and blanks are fine). A page: one of the symbols a carrier prints
    (○ △ × -, and their variants), without the blanks around it.
    """
    if challenge.kind is ChallengeKind.CAPTCHA:
        answer = adapter_class(challenge.carrier).captcha_answer(text)
    else:
        answer = text.strip(BLANKS)
        if symbol_status(answer) is None:
            raise ValueError(f"{text!r} is not a symbol a carrier prints (○ △ × -)")
    if len(answer) > _MAX_ANSWER:
        raise ValueError(f"an answer is at most {_MAX_ANSWER} characters")
    return answer


def answer_challenge(
    store: Store, challenge_id: int, text: str, by: str, *, tenant: str | None = None
) -> StoredChallenge:
    """Record ``by``'s answer to an open challenge; the challenge as answered.

    Raises ``ValueError`` for text that cannot be the answer (``checked_answer``) or
    an empty ``by``, before anything is stored; ``UnknownChallenge`` when ``tenant``
    has no such challenge; ``ChallengeClosed`` when it was answered, skipped, expired
    or void before this answer (of two people answering at once, one wins).
    """
    challenge = _find(store, challenge_id, tenant)
    answer = checked_answer(challenge, text)
    closed = store.close_challenge(
        challenge_id,
        tenant=tenant,
        status=ChallengeStatus.ANSWERED,
        answer=answer,
        closed_by=_who(by),
    )
    return _closed_or_raise(store, closed, challenge_id, tenant)


def skip_challenge(
    store: Store, challenge_id: int, by: str, *, tenant: str | None = None
) -> StoredChallenge:
    """``by`` will not answer this challenge: its carrier pauses, its answer stays unknown.

    Raises as ``answer_challenge`` does.
    """
    _find(store, challenge_id, tenant)
    closed = store.close_challenge(
        challenge_id, tenant=tenant, status=ChallengeStatus.SKIPPED, closed_by=_who(by)
    )
    return _closed_or_raise(store, closed, challenge_id, tenant)


def captcha_of(challenge: StoredChallenge) -> CaptchaChallenge:
    """The carriers' ``CaptchaChallenge`` for a stored captcha, to send its answer with
    ``adapter.answer_captcha`` from any process (without the pages that showed it)."""
    if (
        challenge.kind is not ChallengeKind.CAPTCHA
        or challenge.image is None
        or challenge.media_type is None
        or challenge.session is None
    ):
        raise ValueError(f"challenge {challenge.id} holds no captcha that can still be answered")
    return CaptchaChallenge(
        carrier=challenge.carrier,
        imei=challenge.imei,
        image=challenge.image,
        media_type=challenge.media_type,
        session=challenge.session,
        started_at=challenge.created_at,
    )


def _who(by: str) -> str:
    who = by.strip()
    if not who:
        raise ValueError("say who answered (by)")
    if len(who) > _MAX_NAME:
        raise ValueError(f"a name is at most {_MAX_NAME} characters")
    return who


def _find(store: Store, challenge_id: int, tenant: str | None) -> StoredChallenge:
    challenge = store.challenge(challenge_id, tenant=tenant)
    if challenge is None:
        raise UnknownChallenge(f"there is no challenge {challenge_id}")
    return challenge


def _closed_or_raise(
    store: Store, closed: StoredChallenge | None, challenge_id: int, tenant: str | None
) -> StoredChallenge:
    if closed is None:
        # Someone else closed it first, or it expired while the person was typing.
        now = datetime.now(UTC)
        current = _find(store, challenge_id, tenant)
        if current.status is ChallengeStatus.OPEN and now >= current.expires_at:
            current = store.close_challenge(
                challenge_id, tenant=tenant, status=ChallengeStatus.EXPIRED, at=now
            ) or _find(store, challenge_id, tenant)
        raise ChallengeClosed(current)
    _WAKEUPS.ring(store, challenge_id)
    return closed


# --- the asker's side --------------------------------------------------------------


class _Wakeups:
    """Wakes the askers waiting in this process when a challenge closes here.

    Keyed by database and challenge id, so a second ``Store`` on the same database in
    this process wakes them too. Thread-safe: answers are recorded in worker threads
    (``asyncio.to_thread``, a web server's thread pool), askers wait in event loops.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[tuple[str, int], set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]]
        self._waiting = {}

    @staticmethod
    def _key(store: Store, challenge_id: int) -> tuple[str, int]:
        return store.engine.url.render_as_string(hide_password=False), challenge_id

    @contextmanager
    def listening(self, store: Store, challenge_id: int) -> Iterator[asyncio.Event]:
        """An event set whenever the challenge is closed in this process."""
        key = self._key(store, challenge_id)
        entry = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiting.setdefault(key, set()).add(entry)
        try:
            yield entry[1]
        finally:
            with self._lock:
                waiting = self._waiting.get(key, set())
                waiting.discard(entry)
                if not waiting:
                    self._waiting.pop(key, None)

    def ring(self, store: Store, challenge_id: int) -> None:
        with self._lock:
            waiting = list(self._waiting.get(self._key(store, challenge_id), ()))
        for loop, event in waiting:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # that loop has closed: nobody is waiting there any more
                continue


_WAKEUPS = _Wakeups()

#: ``attend`` calls still running (a person still typing), kept referenced until done.
_ATTENDING: set[asyncio.Task[None]] = set()


class ChallengeDesk:
    """Where one asker (a ``Checker``) posts challenges for ``person`` and waits for answers.

    ``origin`` names the asker on every challenge (a terminal answers only its own);
    one asker keeps one challenge open per carrier (posting another voids the older).
    """

    def __init__(self, store: Store, person: Person, *, origin: str | None = None) -> None:
        self.store = store
        self.person = person
        self.origin = origin or uuid.uuid4().hex

    async def ask_captcha(
        self, challenge: CaptchaChallenge, *, run_id: int | None = None
    ) -> StoredChallenge:
        """Post the captcha for a person and wait; the challenge once closed."""
        return await self._ask(
            kind=ChallengeKind.CAPTCHA,
            carrier=challenge.carrier,
            imei=challenge.imei,
            run_id=run_id,
            image=challenge.image,
            media_type=challenge.media_type,
            session=dict(challenge.session),
        )

    async def ask_page(
        self, carrier: Carrier, url: str, imei: str, *, run_id: int | None = None
    ) -> StoredChallenge:
        """Ask a person to enter ``imei`` on ``url`` and say the symbol; the challenge once
        closed."""
        return await self._ask(
            kind=ChallengeKind.PAGE, carrier=carrier, imei=imei, run_id=run_id, url=url
        )

    async def settle(self, challenge: StoredChallenge, outcome: str) -> None:
        """Record what came of an answer: the status read, or the error code."""
        await asyncio.to_thread(
            self.store.settle_challenge, challenge.id, tenant=challenge.tenant, outcome=outcome
        )

    async def _ask(
        self,
        *,
        kind: ChallengeKind,
        carrier: Carrier,
        imei: str,
        run_id: int | None,
        url: str | None = None,
        image: bytes | None = None,
        media_type: str | None = None,
        session: dict[str, object] | None = None,
    ) -> StoredChallenge:
        now = datetime.now(UTC)
        new = NewChallenge(
            kind=kind,
            carrier=carrier,
            imei=imei,
            origin=self.origin,
            created_at=now,
            expires_at=now + self.person.patience,
            tenant=self.person.tenant,
            run_id=run_id,
            url=url,
            image=image,
            media_type=media_type,
            session=session,
        )
        # The asker's own deadline runs on the monotonic clock: a wall clock that jumps
        # (a machine resumed, NTP stepping) must not expire a challenge early or late.
        deadline = time.monotonic() + self.person.patience.total_seconds()
        posting = asyncio.ensure_future(asyncio.to_thread(self.store.post_challenge, new))
        try:
            posted = await asyncio.shield(posting)
        except asyncio.CancelledError:
            # The row is written all the same: withdraw it once it is.
            with suppress(Exception):
                await self._close(await posting, ChallengeStatus.VOID)
            raise
        logger.info(
            "%s %s: waiting for a person (challenge %d, %s)", carrier, imei, posted.id, kind.value
        )
        try:
            return await self._wait(posted, deadline)
        except BaseException:
            # Cancelled, or the store failed: nobody waits for this answer any more.
            await asyncio.shield(self._close(posted, ChallengeStatus.VOID))
            raise

    async def _wait(self, posted: StoredChallenge, deadline: float) -> StoredChallenge:
        with _WAKEUPS.listening(self.store, posted.id) as rung:
            attending = asyncio.create_task(self.person.attend(self.store, posted))
            _ATTENDING.add(attending)
            attending.add_done_callback(self._attended)
            # A person who could not be asked (their terminal failed) wakes the asker.
            attending.add_done_callback(lambda _: rung.set())
            while True:
                rung.clear()  # before reading: an answer arriving after the read rings again
                current = await asyncio.to_thread(
                    self.store.challenge, posted.id, tenant=posted.tenant
                )
                if current is None or current.status is not ChallengeStatus.OPEN:
                    return current or await self._close(posted, ChallengeStatus.VOID)
                if attending.done() and not attending.cancelled() and attending.exception():
                    return await self._close(posted, ChallengeStatus.VOID)
                left = deadline - time.monotonic()
                if left <= 0:
                    return await self._close(posted, ChallengeStatus.EXPIRED)
                # Time to look in the store again. Not ``wait_for``: on 3.11 it can swallow
                # a cancel that lands as the event is set, and the cancelled check would
                # wait on until the person's patience ran out.
                with suppress(TimeoutError):
                    async with asyncio.timeout(min(self.person.poll_s, left)):
                        await rung.wait()

    async def _close(self, posted: StoredChallenge, status: ChallengeStatus) -> StoredChallenge:
        """Close the challenge as ``status`` unless someone closed it first; how it stands."""
        closed = await asyncio.to_thread(
            self.store.close_challenge, posted.id, tenant=posted.tenant, status=status
        )
        if closed is not None:
            _WAKEUPS.ring(self.store, posted.id)
            logger.info("challenge %d: %s", posted.id, status.value)
            return closed
        current = await asyncio.to_thread(self.store.challenge, posted.id, tenant=posted.tenant)
        return current or posted

    @staticmethod
    def _attended(task: asyncio.Task[None]) -> None:
        _ATTENDING.discard(task)
        if not task.cancelled() and (problem := task.exception()) is not None:
            logger.error("the person could not be asked: %s", problem, exc_info=problem)
