"""Keeping a check form between checks, so that most checks cost one request, not two.

au and SoftBank serve their check as a form page (GET) and the answer to that form
(POST). Their adapters derive from ``FormKeepingAdapter``: it keeps the last check
form that produced an answer (a ``CheckForm``: what to send, and where) on the
adapter instance, and POSTs it directly at the next check. Dealers check hundreds of
devices a day; this halves the requests they cost the carrier.

**Reuse is an optimisation whose safety rests on the fallback.** Whether a form can
be sent again is not known for every site (au's hidden fields, and whether any is a
per-session token, are UNVERIFIED), so nothing is assumed:

1. A kept form is used only while younger than ``FORM_TTL`` seconds, counted from
   the GET that read it (not from its last use), so a form never lives on forever.
2. A kept form's answer counts only if ``parse_result`` accepts it: the page
   matches a result template whole, and its IMEI echo, where the carrier has one,
   names the device asked about. Anything it refuses with ``ParseError`` (the form
   shown again, an error page such as 「不正な画面遷移です」, an unexpected HTTP
   status such as a 404 for a moved action, an echo of another device) drops the
   kept form and the check GETs a fresh form and POSTs once more; if that fails
   too, its error propagates as it always did. Both attempts' pages stay in the
   evidence (``Visit.pages``).
3. A block, captcha, maintenance page, 429, 5xx or time-out is not a stale form:
   it propagates at once, as without reuse, and the kept form stays.
4. A failed reuse pauses reuse for ``FORM_TTL``: should a site's forms turn out to
   be single-use, a check costs one wasted POST per ``FORM_TTL``, not one per check.
5. Only a form that produced an accepted answer is kept: a form whose own check
   failed is never tried again.

Concurrency. One adapter instance serves every check at its carrier, many at a
time. A ``CheckForm`` is immutable, and keeping or dropping one is a single
assignment, so a check always sends one whole form, never a mix of two. When no
form is kept, the first check to need one fetches it while holding a lock and the
others wait for it, then reuse its form, instead of all GETting their own (a
bulk run starts hundreds of checks at once). Reuse itself takes no lock.

The clock (``clock``, ``time.monotonic`` by default) is a constructor argument so
that tests move time instead of sleeping.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import httpx

from akarom.carriers._base import CarrierAdapter, Page, Reading, Visit
from akarom.errors import ParseError

__all__ = ["CheckForm", "FormKeepingAdapter"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CheckForm:
    """A check form as the adapter sends it: read once from a form page, then immutable.

    ``fields`` are what the form sends without a button, in page order (its hidden
    inputs among them); ``imei_field`` is the input the IMEI goes in, ``button`` the
    submit button "clicked" (name, label), if any; ``encoding`` the codec the form is
    percent-encoded in (the form page's own); ``referer`` the form page's URL.
    ``read_at`` is when the form page was fetched, on the adapter's clock.
    """

    method: str
    path: str
    fields: tuple[tuple[str, str], ...]
    imei_field: str
    encoding: str
    referer: str
    button: tuple[str, str] | None = None
    read_at: float = 0.0

    def submission(self, imei: str) -> dict[str, str]:
        """The fields to send for ``imei``: the form's, the IMEI, then the button.

        >>> form = CheckForm("POST", "/x", (("k", "v"), ("imei", "")), "imei", "cp932", "",
        ...                  button=("ACT", "確認"))
        >>> form.submission("352099001761481")
        {'k': 'v', 'imei': '352099001761481', 'ACT': '確認'}
        """
        data = dict(self.fields)
        data[self.imei_field] = imei
        if self.button is not None:
            data[self.button[0]] = self.button[1]
        return data


class FormKeepingAdapter(CarrierAdapter):
    """An adapter whose check is GET form → POST it, keeping the form between checks.

    A subclass implements ``read_check_form`` and calls
    ``_check_with_form`` from its ``_check``. See the module docstring for the rules.
    """

    #: Seconds a kept form is reused, counted from the GET that read it. Ten minutes:
    #: well inside a servlet's usual 30-minute session, long enough to cover a
    #: dealer's batch, and the fallback copes should a site expire forms sooner.
    FORM_TTL: ClassVar[float] = 600.0

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(client, base_url=base_url)
        self.clock = clock
        self._kept: CheckForm | None = None
        self._reuse_paused_until = -math.inf
        # Held by the one check that fetches a form when none is kept (see module doc).
        self._form_fetch = asyncio.Lock()

    @property
    def kept_form(self) -> CheckForm | None:
        """The form the next check will POST directly, if it is still young enough."""
        return self._usable(self.clock())

    def forget_form(self) -> None:
        """Drop the kept form: the next check GETs a fresh one."""
        self._kept = None

    @classmethod
    @abstractmethod
    def read_check_form(cls, page: Page, *, read_at: float = 0.0) -> CheckForm:
        """**Pure**: the ``CheckForm`` of a form page; ``ParseError`` when it has none."""

    async def _check_with_form(self, imei: str, visit: Visit) -> Reading:
        """POST the kept form, falling back to a fresh one; see the module docstring."""
        now = self.clock()
        if now < self._reuse_paused_until:
            return await self._with_fresh_form(imei, visit)
        kept = self._usable(now)
        if kept is None:
            async with self._form_fetch:
                # Another check may have kept a form while this one waited.
                kept = self._usable(self.clock())
                if kept is None:
                    return await self._with_fresh_form(imei, visit)
        try:
            return await self._submit(kept, imei, visit)
        except ParseError as err:
            self._drop(kept)
            logger.info(
                "%s: a kept form did not yield an answer (%s); fetching a fresh one",
                self.CARRIER,
                err,
            )
        return await self._with_fresh_form(imei, visit)

    def _usable(self, now: float) -> CheckForm | None:
        kept = self._kept
        if kept is None or not 0 <= now - kept.read_at < self.FORM_TTL:
            return None
        return kept

    def _drop(self, form: CheckForm) -> None:
        # Only this form: a concurrent check may already have kept a newer one.
        if self._kept is form:
            self._kept = None
        self._reuse_paused_until = self.clock() + self.FORM_TTL

    async def _with_fresh_form(self, imei: str, visit: Visit) -> Reading:
        page = await visit.fetch("GET", self.ENTRY_PATH)
        form = self.read_check_form(page, read_at=self.clock())
        reading = await self._submit(form, imei, visit)
        if self.clock() >= self._reuse_paused_until:
            self._kept = form
        return reading

    async def _submit(self, form: CheckForm, imei: str, visit: Visit) -> Reading:
        page = await visit.fetch(
            form.method,
            form.path,
            form=form.submission(imei),
            form_encoding=form.encoding,
            headers={"Referer": form.referer},
        )
        return self.parse_result(page, imei)
