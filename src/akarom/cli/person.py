"""The person at this terminal, for the person-in-the-loop (captchas, pages read by hand)."""

from __future__ import annotations

import asyncio
import webbrowser
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from akarom.domain import Carrier
from akarom.services.checks import CaptchaChallenge
from akarom.texts import Lang, text

__all__ = ["TerminalPerson"]

err = Console(stderr=True, highlight=False)


class TerminalPerson:
    """The person at this terminal: shown captchas and official pages, asked what they read."""

    def __init__(self, name: str, lang: Lang, data_dir: Path) -> None:
        self.name = name
        self.lang = lang
        self.data_dir = data_dir
        self._one_question = asyncio.Lock()  # carriers ask concurrently; questions do not

    async def solve_captcha(self, challenge: CaptchaChallenge) -> str | None:
        folder = self.data_dir / "captcha"
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        extension = challenge.media_type.rsplit("/", 1)[-1] or "img"
        path = folder / f"{challenge.carrier.value}-{stamp}.{extension}"
        async with self._one_question:
            await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
            await asyncio.to_thread(path.write_bytes, challenge.image)
            await asyncio.to_thread(webbrowser.open, path.as_uri())
            err.print(
                text("person.captcha", self.lang).format(
                    carrier=challenge.carrier.label(self.lang), path=path
                )
            )
            return await asyncio.to_thread(self._ask, text("person.captcha_prompt", self.lang))

    async def read_page(self, carrier: Carrier, url: str, imei: str) -> str | None:
        async with self._one_question:
            err.print(
                text("manual.instructions", self.lang).format(
                    carrier=carrier.label(self.lang), url=url, imei=imei
                )
            )
            return await asyncio.to_thread(self._ask, text("person.page_prompt", self.lang))

    @staticmethod
    def _ask(prompt: str) -> str | None:
        try:
            answer = err.input(f"{prompt}: ")
        except EOFError:
            return None
        return answer.strip() or None
