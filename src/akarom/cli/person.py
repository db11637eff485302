"""The person at this terminal, for the person-in-the-loop (captchas, pages read by hand).

``TerminalPerson`` is a ``ChallengeQueue`` that answers its own: when the ``Checker``
posts a challenge, the person is shown it here (the captcha image saved and opened,
or the official page to open and the IMEI to enter) and what they type is recorded
through ``answer_challenge``, the same path the web workspace's staff queue takes.
"""

from __future__ import annotations

import asyncio
import webbrowser
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from akarom.services.challenges import (
    ChallengeClosed,
    ChallengeKind,
    ChallengeQueue,
    ChallengeStatus,
    StoredChallenge,
    answer_challenge,
    open_challenges,
    skip_challenge,
)
from akarom.texts import Lang, text

if TYPE_CHECKING:
    from akarom.storage import Store

__all__ = ["TERMINAL_PATIENCE", "TerminalPerson"]

err = Console(stderr=True, highlight=False)

#: How long a check waits for the person at the terminal. Longer than a staff queue's
#: wait: the person is right here, and may first have to find the page or the image.
TERMINAL_PATIENCE = timedelta(hours=1)

#: Answers refused before the question counts as skipped (a person's typos).
_TRIES = 3

_CLOSED = {
    ChallengeStatus.ANSWERED: "person.status.answered",
    ChallengeStatus.SKIPPED: "person.status.skipped",
    ChallengeStatus.EXPIRED: "person.status.expired",
    ChallengeStatus.VOID: "person.status.void",
}


class TerminalPerson(ChallengeQueue):
    """The person at this terminal: shown the challenges of its own check, one at a time."""

    def __init__(
        self, name: str, lang: Lang, data_dir: Path, *, patience: timedelta = TERMINAL_PATIENCE
    ) -> None:
        super().__init__(tenant=None, patience=patience)
        #: Recorded with every answer the person gives (``entered_by``).
        self.name = name
        self.lang = lang
        self.data_dir = data_dir
        self._one_question = asyncio.Lock()  # carriers ask concurrently; questions do not

    async def attend(self, store: Store, challenge: StoredChallenge) -> None:
        """Answer, at the prompt, every open challenge its asker has posted so far."""
        async with self._one_question:
            waiting = await asyncio.to_thread(
                open_challenges, store, tenant=self.tenant, origin=challenge.origin
            )
            for question in waiting:
                await self._answer(store, question)

    async def _answer(self, store: Store, challenge: StoredChallenge) -> None:
        if challenge.kind is ChallengeKind.CAPTCHA:
            await self._show_captcha(challenge)
            prompt = text("person.captcha_prompt", self.lang)
        else:
            err.print(
                text("manual.instructions", self.lang).format(
                    carrier=challenge.carrier.label(self.lang),
                    url=challenge.url,
                    imei=challenge.imei,
                )
            )
            prompt = text("person.page_prompt", self.lang)
        try:
            for _ in range(_TRIES):
                typed = await asyncio.to_thread(self._ask, prompt)
                if typed is None:
                    break
                try:
                    await asyncio.to_thread(
                        answer_challenge, store, challenge.id, typed, self.name, tenant=self.tenant
                    )
                except ValueError:
                    err.print(self._refusal(challenge, typed))
                    continue
                return
            await asyncio.to_thread(
                skip_challenge, store, challenge.id, self.name, tenant=self.tenant
            )
        except ChallengeClosed as closed:
            status = text(_CLOSED[closed.challenge.status], self.lang)
            err.print(
                text("person.closed", self.lang).format(
                    carrier=challenge.carrier.label(self.lang), status=status
                )
            )

    def _refusal(self, challenge: StoredChallenge, typed: str) -> str:
        if challenge.kind is ChallengeKind.CAPTCHA:
            return text("person.captcha_digits", self.lang)
        return text("person.not_a_symbol", self.lang).format(typed=typed)

    async def _show_captcha(self, challenge: StoredChallenge) -> None:
        """Save the image in the data folder and open it with the system's viewer."""
        folder = self.data_dir / "captcha"
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        media_type = challenge.media_type or "image/gif"
        extension = media_type.rsplit("/", 1)[-1] or "img"
        path = folder / f"{challenge.carrier.value}-{stamp}.{extension}"
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        await asyncio.to_thread(path.write_bytes, challenge.image or b"")
        await asyncio.to_thread(webbrowser.open, path.as_uri())
        err.print(
            text("person.captcha", self.lang).format(
                carrier=challenge.carrier.label(self.lang), path=path
            )
        )

    @staticmethod
    def _ask(prompt: str) -> str | None:
        try:
            answer = err.input(f"{prompt}: ")
        except EOFError:
            return None
        return answer.strip() or None
