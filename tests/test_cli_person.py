"""The person at the terminal answers its own check's challenges, through the store."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console

from akarom.cli import person as terminal
from akarom.cli.person import TerminalPerson
from akarom.domain import Carrier
from akarom.services.challenges import ChallengeKind, ChallengeStatus, answer_challenge
from akarom.storage import NewChallenge, Store, StoredChallenge
from tests.services.conftest import RESTRICTED_AT_AU

URL = "https://au.example/cmn/WCV009001/WCE009001.hc"


class Keyboard:
    """What the person types at each prompt (None: Ctrl-D), and what the terminal showed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.lines: list[str | None] = []
        self.prompts: list[str] = []
        self.screen = io.StringIO()
        self.opened: list[str] = []
        console = Console(file=self.screen, width=200, highlight=False)

        def typed(prompt: str = "") -> str:
            self.prompts.append(prompt)
            line = self.lines.pop(0)
            if line is None:
                raise EOFError
            return line

        monkeypatch.setattr(console, "input", typed)
        monkeypatch.setattr(terminal, "err", console)
        monkeypatch.setattr(terminal.webbrowser, "open", self.opened.append)

    @property
    def shown(self) -> str:
        return self.screen.getvalue()


@pytest.fixture
def keyboard(monkeypatch: pytest.MonkeyPatch) -> Keyboard:
    return Keyboard(monkeypatch)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(None, tmp_path / "db") as opened:
        yield opened


def _post(store: Store, kind: ChallengeKind, origin: str = "checker-1") -> StoredChallenge:
    now = datetime.now(UTC)
    fields = (
        {
            "carrier": Carrier.DOCOMO,
            "image": b"GIF89a-the-image",
            "media_type": "image/gif",
            "session": {"token": "t", "cookie": None, "action": "/search.php", "fields": {}},
        }
        if kind is ChallengeKind.CAPTCHA
        else {"carrier": Carrier.AU, "url": URL}
    )
    new = NewChallenge(
        kind=kind,
        imei=RESTRICTED_AT_AU,
        origin=origin,
        created_at=now,
        expires_at=now + timedelta(minutes=10),
        **fields,
    )
    return store.post_challenge(new)


def _now(store: Store, challenge: StoredChallenge) -> StoredChallenge:
    current = store.challenge(challenge.id, tenant=None)
    assert current is not None
    return current


async def test_a_captcha_is_saved_opened_and_answered_in_digits(
    store: Store, keyboard: Keyboard, tmp_path: Path
) -> None:
    posted = _post(store, ChallengeKind.CAPTCHA)
    keyboard.lines = ["48a13", "４８２１３"]  # a letter first: asked again
    person = TerminalPerson("tanaka", "en", tmp_path / "data")
    await person.attend(store, posted)
    answered = _now(store, posted)
    assert (answered.status, answered.answer, answered.closed_by) == (
        ChallengeStatus.ANSWERED,
        "48213",
        "tanaka",
    )
    (saved,) = (tmp_path / "data" / "captcha").iterdir()
    assert saved.read_bytes() == b"GIF89a-the-image"
    assert saved.suffix == ".gif"
    assert keyboard.opened == [saved.as_uri()]
    assert "shows a captcha" in keyboard.shown
    assert "Type only the digits the image shows" in keyboard.shown
    assert len(keyboard.prompts) == 2


async def test_a_blocked_page_is_read_by_hand_in_japanese(
    store: Store, keyboard: Keyboard, tmp_path: Path
) -> None:
    posted = _post(store, ChallengeKind.PAGE)
    keyboard.lines = ["O", "×"]
    await TerminalPerson("tanaka", "ja", tmp_path).attend(store, posted)
    assert _now(store, posted).answer == "×"
    assert URL in keyboard.shown
    assert RESTRICTED_AT_AU in keyboard.shown
    assert "「O」は記号ではありません" in keyboard.shown


@pytest.mark.parametrize("lines", [[""], [None], ["O", "0", "maru"]])
async def test_nothing_typed_or_three_refusals_skip(
    store: Store, keyboard: Keyboard, tmp_path: Path, lines: list[str | None]
) -> None:
    posted = _post(store, ChallengeKind.PAGE)
    keyboard.lines = list(lines)
    await TerminalPerson("tanaka", "en", tmp_path).attend(store, posted)
    skipped = _now(store, posted)
    assert (skipped.status, skipped.answer, skipped.closed_by) == (
        ChallengeStatus.SKIPPED,
        None,
        "tanaka",
    )


async def test_only_its_own_checks_challenges_are_answered(
    store: Store, keyboard: Keyboard, tmp_path: Path
) -> None:
    other = _post(store, ChallengeKind.PAGE, origin="someone-else")
    mine = _post(store, ChallengeKind.CAPTCHA)
    keyboard.lines = ["12345"]
    await TerminalPerson("tanaka", "en", tmp_path).attend(store, mine)
    assert _now(store, mine).status is ChallengeStatus.ANSWERED
    assert _now(store, other).status is ChallengeStatus.OPEN


async def test_a_question_answered_elsewhere_meanwhile_is_said_so(
    store: Store, keyboard: Keyboard, tmp_path: Path
) -> None:
    posted = _post(store, ChallengeKind.PAGE)

    def typed_late(prompt: str = "") -> str:
        answer_challenge(store, posted.id, "○", "suzuki")  # staff were faster
        return "×"

    terminal.err.input = typed_late  # type: ignore[method-assign]
    await TerminalPerson("tanaka", "en", tmp_path).attend(store, posted)
    assert _now(store, posted).closed_by == "suzuki"
    assert "no longer open (au (KDDI), already answered)" in keyboard.shown
