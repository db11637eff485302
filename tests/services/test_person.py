"""A person in the loop: captchas and blocked pages are answered by a person, never by machine."""

from __future__ import annotations

from dataclasses import dataclass, field

from akarom.carriers import CaptchaChallenge
from akarom.domain import Carrier, Source, Status, Verdict
from tests.services.conftest import OK_AT_DOCOMO, RESTRICTED_AT_AU, UNREGISTERED


@dataclass
class ScriptedPerson:
    """Plays the person at the keyboard: reads what a human would, types scripted answers."""

    name: str = "tanaka"
    symbols: list[str | None] = field(default_factory=list)
    captcha_answers: list[str | None] = field(default_factory=list)
    pages_shown: list[tuple[Carrier, str, str]] = field(default_factory=list)
    images_seen: list[bytes] = field(default_factory=list)

    async def solve_captcha(self, challenge: CaptchaChallenge) -> str | None:
        self.images_seen.append(challenge.image)
        scripted = self.captcha_answers.pop(0)
        if scripted != "read":
            return scripted
        # The sandbox prints the code in a header no real site has; a person reads the image.
        return challenge.pages[-1].headers["x-sandbox-captcha"]

    async def read_page(self, carrier: Carrier, url: str, imei: str) -> str | None:
        self.pages_shown.append((carrier, url, imei))
        return self.symbols.pop(0)


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
    assert person.pages_shown[0][1].endswith("/cmn/WCV009001/WCE009001.hc")
    assert person.pages_shown[0][2] == RESTRICTED_AT_AU
    kept = [o for o in store.history(RESTRICTED_AT_AU) if o.carrier is Carrier.AU]
    assert [(o.status, o.source, o.entered_by) for o in kept] == [
        (Status.UNKNOWN, Source.LIVE, None),  # the block page, kept as evidence
        (Status.RESTRICTED, Source.MANUAL, "tanaka"),
    ]


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
    assert len(person.pages_shown) == 1  # not asked again once they skipped


async def test_a_person_answers_docomos_captcha(sandboxed, store) -> None:
    person = ScriptedPerson(captcha_answers=["123", "read"])  # wrong first, then right
    async with sandboxed(store=store, carriers={"docomo": {"mode": "captcha"}}) as (checker, _):
        checker.person = person
        report = await checker.check(OK_AT_DOCOMO, carriers=[Carrier.DOCOMO])
    assert report.verdict is Verdict.CLEAR
    docomo = report.results[0]
    assert (docomo.status, docomo.source) == (Status.OK, Source.LIVE)
    assert all(image.startswith(b"GIF8") for image in person.images_seen)
    assert len(person.images_seen) == 2  # a new image after the wrong answer


async def test_without_a_person_a_captcha_pauses_docomo(sandboxed, store) -> None:
    async with sandboxed(store=store, carriers={"docomo": {"mode": "captcha"}}) as (checker, _):
        report = await checker.check(OK_AT_DOCOMO, carriers=[Carrier.DOCOMO])
    assert report.verdict is Verdict.INCOMPLETE
    assert report.results[0].error == "captcha"
