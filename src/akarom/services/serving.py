"""What a long-running server holds for every request: one ``Hub``.

A CLI run opens the database and a ``Checker`` for one command and closes them when
it ends. A server (``akarom serve``) keeps them for its whole life instead, so every
page, API call and job of the process draws on the same politeness budget per
carrier, the same database pool and the same advice rules:

- one ``Store``;
- one ``Checker`` per tenant, made when first needed: the public page's has nobody
  to answer a captcha (the carrier pauses for a while), a dealer's posts captchas
  and pages to read to that dealer's staff queue (``ChallengeQueue(tenant=…)``).
  Every Checker of the process asks each carrier through the same limiter (one
  pace, one cap on requests in flight), so more tenants never mean more requests
  at a carrier;
- the advice rules, loaded once at start (a broken rules file stops the start).

A pause (a block, or a captcha nobody answered) lasts ``pause_s`` in a server, not
for ever: the carrier is tried again after it, once, politely.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

from akarom.config import Settings
from akarom.domain import Carrier, CarrierResult
from akarom.ratelimit import URGENT, RateLimiter
from akarom.services.advising import RuleSet, load_advice_rules, today_in_japan
from akarom.services.challenges import ChallengeQueue
from akarom.services.checking import CheckOutcome, CheckRequest, check_with
from akarom.services.checks import Checker, carrier_limiters
from akarom.storage import Store

__all__ = ["DEFAULT_PAUSE_S", "Hub", "tenant_of"]

#: How long a carrier stays paused in a server after a block or an unanswered captcha.
DEFAULT_PAUSE_S = 15 * 60.0

#: How long a dealer's staff have to answer a captcha or read a page in a server.
STAFF_PATIENCE = timedelta(minutes=30)


def tenant_of(dealer_id: int | None) -> str | None:
    """The tenant a dealer's challenges are posted under (None: the public page)."""
    return None if dealer_id is None else str(dealer_id)


@dataclass(slots=True)
class Hub:
    """The store, the Checkers and the rules of one server process.

    ``transports`` replaces each carrier's network (the demo's in-process sandbox,
    tests); ``aclose`` closes every Checker, then the store.
    """

    settings: Settings
    store: Store
    transports: Mapping[Carrier, httpx.AsyncBaseTransport] | None = None
    pause_s: float = DEFAULT_PAUSE_S
    #: Told every carrier answer of every Checker (the server's metrics).
    observers: list[Callable[[CarrierResult], None]] = field(default_factory=list)
    rules: RuleSet = field(init=False)
    _checkers: dict[tuple[str | None, bool], Checker] = field(init=False, default_factory=dict)
    #: One limiter per carrier for every tenant's Checker: one pace, one cap in flight.
    _limiters: dict[Carrier, RateLimiter] | None = field(init=False, default=None)
    started_at: datetime = field(init=False, default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        self.rules = load_advice_rules(self.settings)

    def checker(self, dealer_id: int | None, *, staff: bool = True) -> Checker:
        """The Checker that checks for ``dealer_id`` (None: the public page).

        With ``staff`` a dealer's captchas and pages to read wait in its staff queue;
        without (a caller that cannot wait half an hour: one API request), nobody is
        asked and that carrier stays unknown, as on the public page.
        """
        tenant = tenant_of(dealer_id)
        key = (tenant, staff and tenant is not None)
        checker = self._checkers.get(key)
        if checker is None:
            person = (
                ChallengeQueue(tenant=tenant, patience=STAFF_PATIENCE)
                if tenant is not None and staff
                else None
            )
            if self._limiters is None:
                self._limiters = carrier_limiters(self.settings)
            checker = Checker(
                self.settings,
                store=self.store,
                person=person,
                transports=self.transports,
                limiters=self._limiters,
                pause_s=self.pause_s,
            )
            checker.observers = self.observers  # one list: observers added later see all
            self._checkers[key] = checker
        return checker

    async def check(
        self, request: CheckRequest, *, dealer_id: int | None, staff: bool = True
    ) -> CheckOutcome:
        """``request`` checked for ``dealer_id`` and advised under today's rules
        (``staff``: as for ``checker``)."""
        checker = self.checker(dealer_id, staff=staff)
        # A person waits for this answer: its requests go ahead of any batch's, here
        # and across the fleet (``ratelimit.URGENT``).
        urgent = URGENT.set(True)
        try:
            return await check_with(checker, request, self.rules, request.on or today_in_japan())
        finally:
            URGENT.reset(urgent)

    @property
    def checkers(self) -> Mapping[tuple[str | None, bool], Checker]:
        return self._checkers

    async def aclose(self) -> None:
        try:
            for checker in list(self._checkers.values()):
                await checker.aclose()
            for limiter in (self._limiters or {}).values():
                await limiter.aclose()
        finally:
            self._checkers.clear()
            self._limiters = None
            await asyncio.to_thread(self.store.close)
