"""A person in the loop: captchas and blocked pages are answered by a person, never by machine.

Every question is a challenge stored in the database and answered there: by a person
playing the terminal in this process (``ScriptedPerson``), by staff in another
process (``Staff``: a real subprocess on the same SQLite file), or not at all.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from akarom.cli.person import TerminalPerson
from akarom.domain import Carrier, Source, Status, Verdict
from akarom.errors import CaptchaRequired
from akarom.services import Checker
from akarom.services.challenges import (
    ChallengeKind,
    ChallengeQueue,
    ChallengeStatus,
    StoredChallenge,
    answer_challenge,
    open_challenges,
    skip_challenge,
)
from akarom.storage import Store
from tests.services.conftest import OK_AT_DOCOMO, RESTRICTED_AT_AU, UNREGISTERED
from tests.test_cli_person import Keyboard

#: Answers from the person's script: "read" means what the captcha image shows.
READ = "read"


class ScriptedPerson(ChallengeQueue):
    """Plays the person at the terminal: shown each challenge, answers it through the store.

    A captcha's code is read the way a person reads the image: here from the
    sandbox's test-only ``X-Sandbox-Captcha`` header, seen by ``watch``.
    """

    def __init__(
        self,
        name: str = "tanaka",
        *,
        symbols: list[str | None] | None = None,
        captcha_answers: list[str | None] | None = None,
    ) -> None:
        super().__init__(patience=timedelta(seconds=30), poll_s=0.05)
        self.name = name
        self.symbols = list(symbols or [])
        self.captcha_answers = list(captcha_answers or [])
        self.shown: list[StoredChallenge] = []
        self.codes: list[str] = []

    def watch(self, checker: Checker) -> None:
        async def look(response: httpx.Response) -> None:
            if code := response.headers.get("x-sandbox-captcha"):
                self.codes.append(code)

        checker.adapter(Carrier.DOCOMO).client.event_hooks["response"].append(look)

    async def attend(self, store: Store, challenge: StoredChallenge) -> None:
        self.shown.append(challenge)
        script = self.symbols if challenge.kind is ChallengeKind.PAGE else self.captcha_answers
        while script:
            typed = script.pop(0)
            if typed is None:
                break
            try:
                await asyncio.to_thread(
                    answer_challenge,
                    store,
                    challenge.id,
                    self.codes[-1] if typed == READ else typed,
                    self.name,
                )
            except ValueError:
                continue  # a typo: asked again, never taken as an answer
            return
        await asyncio.to_thread(skip_challenge, store, challenge.id, self.name)


def _challenges(store: Store) -> list[StoredChallenge]:
    found = []
    for challenge_id in range(1, 100):
        challenge = store.challenge(challenge_id, tenant=None)
        if challenge is None:
            break
        found.append(challenge)
    return found


async def test_a_person_reads_a_blocked_carriers_page_and_the_answer_is_kept(
    sandboxed, store
) -> None:
    person = ScriptedPerson(symbols=["O", "×"])  # a typo first: asked again, never taken as ○
    async with sandboxed(store=store, carriers={"au": {"mode": "blocked"}}) as (checker, _):
        checker.person = person
        report = await checker.check(RESTRICTED_AT_AU)
    assert report.verdict is Verdict.RED
    au = next(r for r in report.results if r.carrier is Carrier.AU)
    assert (au.status, au.source) == (Status.RESTRICTED, Source.MANUAL)
    (shown,) = person.shown
    assert (shown.kind, shown.carrier, shown.imei) == (
        ChallengeKind.PAGE,
        Carrier.AU,
        RESTRICTED_AT_AU,
    )
    assert shown.url is not None
    assert shown.url.endswith("/cmn/WCV009001/WCE009001.hc")
    kept = [o for o in store.history(RESTRICTED_AT_AU) if o.carrier is Carrier.AU]
    assert [(o.status, o.source, o.entered_by) for o in kept] == [
        (Status.UNKNOWN, Source.LIVE, None),  # the block page, kept as evidence
        (Status.RESTRICTED, Source.MANUAL, "tanaka"),
    ]
    (challenge,) = _challenges(store)
    assert (challenge.status, challenge.answer, challenge.closed_by, challenge.outcome) == (
        ChallengeStatus.ANSWERED,
        "×",
        "tanaka",
        "restricted",
    )


async def test_a_person_who_skips_pauses_the_carrier(sandboxed, store) -> None:
    person = ScriptedPerson(symbols=[None])
    async with sandboxed(store=store, carriers={"au": {"mode": "blocked"}}) as (checker, admin):
        checker.person = person
        first = await checker.check(UNREGISTERED)
        second = await checker.check(OK_AT_DOCOMO, all_carriers=True)
        au = (await admin.get("/_sandbox/stats")).json()["carriers"]["au"]
    assert first.verdict is Verdict.INCOMPLETE
    assert second.verdict is Verdict.INCOMPLETE
    assert au["requests"] == 1
    assert len(person.shown) == 1  # not asked again once they skipped
    (challenge,) = _challenges(store)
    assert (challenge.status, challenge.closed_by) == (ChallengeStatus.SKIPPED, "tanaka")
    assert [r.status for r in first.results if r.carrier is Carrier.AU] == [Status.UNKNOWN]


async def test_a_person_answers_docomos_captcha(sandboxed, store) -> None:
    person = ScriptedPerson(captcha_answers=["123", READ])  # wrong first, then right
    async with sandboxed(store=store, carriers={"docomo": {"mode": "captcha"}}) as (checker, _):
        checker.person = person
        person.watch(checker)
        report = await checker.check(OK_AT_DOCOMO, carriers=[Carrier.DOCOMO])
    assert report.verdict is Verdict.CLEAR
    docomo = report.results[0]
    assert (docomo.status, docomo.source) == (Status.OK, Source.LIVE)
    assert len(person.shown) == 2  # a new image after the wrong answer
    assert all(c.image is not None and c.image.startswith(b"GIF8") for c in person.shown)
    wrong, right = _challenges(store)
    assert (wrong.status, wrong.answer, wrong.outcome) == (
        ChallengeStatus.ANSWERED,
        "123",
        "captcha",
    )
    assert (right.status, right.outcome) == (ChallengeStatus.ANSWERED, "ok")
    assert wrong.session is None  # settled: the carrier session is not kept
    assert right.session is None


async def test_three_refused_codes_pause_docomo(sandboxed, store) -> None:
    person = ScriptedPerson(captcha_answers=["1", "2", "3"])
    async with sandboxed(store=store, carriers={"docomo": {"mode": "captcha"}}) as (checker, _):
        checker.person = person
        report = await checker.check(OK_AT_DOCOMO, carriers=[Carrier.DOCOMO])
        assert checker.paused == {Carrier.DOCOMO: CaptchaRequired.code}
    assert report.verdict is Verdict.INCOMPLETE
    assert report.results[0].status is Status.UNKNOWN
    assert [c.outcome for c in _challenges(store)] == ["captcha"] * 3


async def test_without_a_person_a_captcha_pauses_docomo(sandboxed, store) -> None:
    async with sandboxed(store=store, carriers={"docomo": {"mode": "captcha"}}) as (checker, _):
        report = await checker.check(OK_AT_DOCOMO, carriers=[Carrier.DOCOMO])
    assert report.verdict is Verdict.INCOMPLETE
    assert report.results[0].error == "captcha"
    assert _challenges(store) == []


async def test_a_challenge_nobody_answers_expires_and_pauses_the_carrier(sandboxed, store) -> None:
    queue = ChallengeQueue(patience=timedelta(milliseconds=300), poll_s=0.05)
    async with sandboxed(store=store, carriers={"au": {"mode": "blocked"}}) as (checker, _):
        checker.person = queue
        report = await checker.check(RESTRICTED_AT_AU, carriers=[Carrier.AU])
        assert checker.paused == {Carrier.AU: "blocked"}
    assert report.verdict is Verdict.INCOMPLETE
    assert report.results[0].status is Status.UNKNOWN
    (challenge,) = _challenges(store)
    assert challenge.status is ChallengeStatus.EXPIRED
    assert open_challenges(store) == []
    assert [o.source for o in store.history(RESTRICTED_AT_AU)] == [Source.LIVE]


async def test_an_answer_given_in_this_process_wakes_the_check_at_once(sandboxed, store) -> None:
    """The check looks in the store only once a minute here: the answer must wake it."""
    queue = ChallengeQueue(poll_s=60)
    async with sandboxed(store=store, carriers={"au": {"mode": "blocked"}}) as (checker, _):
        checker.person = queue
        checking = asyncio.create_task(checker.check(RESTRICTED_AT_AU, carriers=[Carrier.AU]))
        (challenge,) = await _posted(store)
        started = time.monotonic()
        await asyncio.to_thread(answer_challenge, store, challenge.id, " × ", "sato")
        report = await asyncio.wait_for(checking, timeout=10)
    assert time.monotonic() - started < 5
    assert report.verdict is Verdict.RED
    assert report.results[0].source is Source.MANUAL


async def test_a_cancelled_check_withdraws_its_challenge(sandboxed, store) -> None:
    async with sandboxed(store=store, carriers={"au": {"mode": "blocked"}}) as (checker, _):
        checker.person = ChallengeQueue(poll_s=0.05)
        checking = asyncio.create_task(checker.check(RESTRICTED_AT_AU, carriers=[Carrier.AU]))
        (challenge,) = await _posted(store)
        checking.cancel()
        await asyncio.gather(checking, return_exceptions=True)
    assert store.challenge(challenge.id, tenant=None).status is ChallengeStatus.VOID


async def test_a_check_cancelled_while_its_challenge_is_being_posted_withdraws_it(
    sandboxed, store, monkeypatch
) -> None:
    """The row is written in a worker thread that a cancel cannot stop: it is voided."""
    post = store.post_challenge

    def slow_post(new):  # the row is in the store well before the asker hears back
        posted = post(new)
        time.sleep(0.3)
        return posted

    monkeypatch.setattr(store, "post_challenge", slow_post)
    async with sandboxed(store=store, carriers={"au": {"mode": "blocked"}}) as (checker, _):
        checker.person = ChallengeQueue(poll_s=0.05)
        checking = asyncio.create_task(checker.check(RESTRICTED_AT_AU, carriers=[Carrier.AU]))
        (challenge,) = await _posted(store)
        checking.cancel()
        await asyncio.gather(checking, return_exceptions=True)
    assert store.challenge(challenge.id, tenant=None).status is ChallengeStatus.VOID


async def test_a_wall_clock_that_jumps_does_not_expire_a_waiting_challenge(
    sandboxed, store, monkeypatch
) -> None:
    """A machine resumed from sleep, or NTP stepping the clock: patience is measured on
    the asker's monotonic clock, so the person still has their ten minutes."""
    async with sandboxed(store=store, carriers={"au": {"mode": "blocked"}}) as (checker, _):
        checker.person = ChallengeQueue(poll_s=0.05)
        checking = asyncio.create_task(checker.check(RESTRICTED_AT_AU, carriers=[Carrier.AU]))
        (challenge,) = await _posted(store)

        class _Jumped(datetime):
            @classmethod
            def now(cls, tz=None):
                return datetime.now(tz) + timedelta(hours=1)

        monkeypatch.setattr("akarom.services.challenges.datetime", _Jumped)
        await asyncio.sleep(0.3)  # several looks in the store
        assert store.challenge(challenge.id, tenant=None).status is ChallengeStatus.OPEN
        checking.cancel()
        await asyncio.gather(checking, return_exceptions=True)
    assert store.challenge(challenge.id, tenant=None).status is ChallengeStatus.VOID


async def _posted(store: Store, count: int = 1) -> list[StoredChallenge]:
    """The open challenges, once ``count`` are posted."""
    for _ in range(500):
        waiting = await asyncio.to_thread(open_challenges, store)
        if len(waiting) >= count:
            return waiting
        await asyncio.sleep(0.01)
    raise AssertionError("no challenge was posted")


# --- answered in another process ------------------------------------------------------

_STAFF = """
import sys, time
from pathlib import Path
from akarom.services.challenges import answer_challenge, open_challenges
from akarom.storage import Store

store = Store.open(None, Path(sys.argv[1]))
seen = set()
while True:
    waiting = [c for c in open_challenges(store) if c.id not in seen]
    if not waiting:
        time.sleep(0.02)
        continue
    challenge = waiting[0]
    seen.add(challenge.id)
    print(challenge.id, challenge.kind.value, challenge.carrier.value, flush=True)
    typed = sys.stdin.readline()
    if not typed:
        break
    answer_challenge(store, challenge.id, typed.strip(), sys.argv[2])
    print("answered", flush=True)
"""


class Staff:
    """Staff answering from another process on the same database, as they type."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def next_question(self) -> tuple[int, str, str]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout=30)
        challenge_id, kind, carrier = line.decode().split()
        return int(challenge_id), kind, carrier

    async def type(self, text: str) -> None:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(f"{text}\n".encode())
        await self.process.stdin.drain()
        assert await asyncio.wait_for(self.process.stdout.readline(), timeout=30) == b"answered\n"


@asynccontextmanager
async def _staff(data_dir: Path, name: str) -> AsyncIterator[Staff]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _STAFF,
        str(data_dir),
        name,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        yield Staff(process)
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def test_staff_in_another_process_read_the_page(sandboxed, store, tmp_path) -> None:
    async with (
        sandboxed(store=store, carriers={"au": {"mode": "blocked"}}) as (checker, _),
        _staff(tmp_path / "db", "suzuki") as staff,
    ):
        checker.person = ChallengeQueue(poll_s=0.05)
        checking = asyncio.create_task(checker.check(RESTRICTED_AT_AU, carriers=[Carrier.AU]))
        challenge_id, kind, carrier = await staff.next_question()
        assert (kind, carrier) == ("page", "au")
        await staff.type("×")
        report = await asyncio.wait_for(checking, timeout=30)
    assert report.verdict is Verdict.RED
    assert (report.results[0].status, report.results[0].source) == (
        Status.RESTRICTED,
        Source.MANUAL,
    )
    (kept,) = [o for o in store.history(RESTRICTED_AT_AU) if o.source is Source.MANUAL]
    assert kept.entered_by == "suzuki"
    assert store.challenge(challenge_id, tenant=None).outcome == "restricted"


async def test_staff_in_another_process_answer_docomos_captcha(sandboxed, store, tmp_path) -> None:
    person = ScriptedPerson()  # only its eye: it sees the codes, staff type them
    async with (
        sandboxed(store=store, carriers={"docomo": {"mode": "captcha"}}) as (checker, _),
        _staff(tmp_path / "db", "suzuki") as staff,
    ):
        checker.person = ChallengeQueue(poll_s=0.05)
        person.watch(checker)
        checking = asyncio.create_task(checker.check(OK_AT_DOCOMO, carriers=[Carrier.DOCOMO]))
        _, kind, _ = await staff.next_question()
        assert kind == "captcha"
        wrong = person.codes[-1][:-1] + str((int(person.codes[-1][-1]) + 1) % 10)
        await staff.type(wrong)
        _, kind, _ = await staff.next_question()  # refused: a new image
        assert kind == "captcha"
        await staff.type(person.codes[-1])
        report = await asyncio.wait_for(checking, timeout=30)
    assert report.verdict is Verdict.CLEAR
    assert (report.results[0].status, report.results[0].source) == (Status.OK, Source.LIVE)
    assert [c.outcome for c in _challenges(store)] == ["captcha", "ok"]


# --- the person at the terminal -------------------------------------------------------


async def test_akarom_check_in_a_terminal_still_asks_the_person(
    sandboxed, store: Store, monkeypatch, tmp_path: Path
) -> None:
    """The whole loop: a blocked carrier, the person reads its page, the answer is kept."""
    keyboard = Keyboard(monkeypatch)
    keyboard.lines = ["×"]
    async with sandboxed(store=store, carriers={"au": {"mode": "blocked"}}) as (checker, _):
        checker.person = TerminalPerson("tanaka", "en", tmp_path)
        report = await checker.check(RESTRICTED_AT_AU)
    assert report.verdict is Verdict.RED
    au = next(r for r in report.results if r.carrier is Carrier.AU)
    assert (au.status, au.source) == (Status.RESTRICTED, Source.MANUAL)
    manual = [o for o in store.history(RESTRICTED_AT_AU) if o.source is Source.MANUAL]
    assert [o.entered_by for o in manual] == ["tanaka"]
    assert "/cmn/WCV009001/WCE009001.hc" in keyboard.shown
