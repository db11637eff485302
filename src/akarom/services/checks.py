"""Checking devices: validate → ask the carriers (politely) → verdict.

``Checker`` owns one adapter, one HTTP client and one ``RateLimiter`` per carrier
for its whole life, so every device and every retry shares the same politeness
budget. For each device it asks the applicable carriers concurrently; once one of
them answers with a record (○ △ ×) — the carrier that sold the phone — it stops
asking the others unless told to ask all. Every failure becomes ``unknown`` with
an error code; nothing that was not read from a carrier's page becomes a status.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from asyncio import FIRST_COMPLETED
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from types import TracebackType
from typing import Protocol

import httpx

from akarom.carriers import (
    CaptchaChallenge,
    CarrierAdapter,
    Observation,
    Page,
    adapter_class,
)
from akarom.carriers._symbols import symbol_status
from akarom.config import Settings
from akarom.domain import (
    SKIPPED,
    Carrier,
    CarrierResult,
    Source,
    Status,
    Verdict,
    decide_verdict,
)
from akarom.errors import (
    Blocked,
    CaptchaFailed,
    CaptchaRequired,
    CarrierError,
    InvalidImei,
    ParseError,
    RateLimited,
)
from akarom.http import ON_REQUEST_SENT, build_client
from akarom.identity import Identity, parse
from akarom.ratelimit import RateLimiter, SpacingLedger
from akarom.storage import NewObservation, NewPage, Store

__all__ = [
    "DEFAULT_CACHE_WINDOW",
    "JST",
    "CaptchaChallenge",
    "Checker",
    "DeviceReport",
    "Person",
    "RetryPolicy",
    "adapter_for",
    "effective_limits",
]

logger = logging.getLogger(__name__)

#: Carriers report in Japan time; Japan has no daylight saving time.
JST = timezone(timedelta(hours=9), "JST")

UNSUPPORTED = "unsupported"

#: How long a stored answer is reused instead of asking again. A day: statuses
#: change at most daily (changes show by the end of the day after next, §1.6).
DEFAULT_CACHE_WINDOW = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try one carrier for one device before answering ``unknown``.

    Only transient failures (time-out, 5xx, 429) are retried. Each retry first
    defers the whole carrier (``RateLimiter.defer``), so a struggling site gets
    less traffic from every task, not just this one.
    """

    attempts: int = 3
    backoff_s: float = 2.0
    max_retry_after_s: float = 60.0

    def backoff(self, attempt: int) -> float:
        """Exponential back-off with ±25 % jitter: 2 s, 4 s, 8 s… for the defaults."""
        jitter = random.uniform(0.75, 1.25)  # spreads retries out; not security
        return float(self.backoff_s * 2 ** (attempt - 1) * jitter)


@dataclass(frozen=True, slots=True)
class DeviceReport:
    """The outcome for one input: its identity (or why it is invalid), verdict and results."""

    input: str
    identity: Identity | None
    invalid: InvalidImei | None
    verdict: Verdict
    origin_carrier: Carrier | None
    results: tuple[CarrierResult, ...]

    def for_input(self, raw: str) -> DeviceReport:
        """The same report for another spelling of the same device (a repeated row)."""
        return self if raw == self.input else replace(self, input=raw)


def adapter_for(carrier: Carrier) -> type[CarrierAdapter]:
    """The adapter class that checks ``carrier`` (its politeness floor, its pages)."""
    return adapter_class(carrier)


def effective_limits(
    adapter: type[CarrierAdapter], rate_limit: float, concurrency: int, *, live: bool
) -> tuple[float, int]:
    """The rate and concurrency actually used: a live site never gets more than its floor allows.

    >>> from akarom.carriers import DocomoAdapter
    >>> effective_limits(DocomoAdapter, 10.0, 4, live=True)
    (0.5, 4)
    >>> effective_limits(DocomoAdapter, 10.0, 4, live=False)
    (10.0, 4)
    """
    if live:
        rate_limit = min(rate_limit, 1.0 / adapter.MIN_INTERVAL)
    return rate_limit, concurrency


class Person(Protocol):
    """Someone at the keyboard who can read what akarom must not answer by machine.

    Both methods return ``None`` when the person skips; the carrier is then paused.
    """

    #: Stored with every answer the person gives (``entered_by``).
    name: str

    async def solve_captcha(self, challenge: CaptchaChallenge) -> str | None:
        """The text the person reads in ``challenge.image``."""

    async def read_page(self, carrier: Carrier, url: str, imei: str) -> str | None:
        """The symbol the person reads on ``url`` after entering ``imei`` there."""


class _CarrierLine:
    """One carrier's adapter, client and limiter, and whether it is paused."""

    def __init__(self, adapter: CarrierAdapter, limiter: RateLimiter) -> None:
        self.adapter = adapter
        self.limiter = limiter
        #: Why this carrier is paused (a block or an unanswered captcha), else None.
        self.paused: CarrierError | None = None
        #: One question to the person at a time, per carrier.
        self.person_turn = asyncio.Lock()
        #: Checks of this carrier started and not yet finished, across devices.
        self.queued = 0
        #: Set while this carrier's answer pages are refused (drift), since when.
        self.drifting_since: datetime | None = None

    def dequeue(self, _: object = None) -> None:
        """One check of this carrier ended (a task's done callback)."""
        self.queued -= 1

    def refused(self, err: ParseError) -> None:
        """A page no template recognised: logged once when the pages stop matching."""
        if self.drifting_since is None:
            self.drifting_since = datetime.now(UTC)
            logger.error(
                "%s: its answer pages no longer match what the adapter recognises (%s). "
                "Its answers stay unknown until the adapter is updated; every refused page "
                "is kept as evidence, and `akarom doctor` counts them.",
                self.adapter.CARRIER,
                err.field,
            )

    def recognised(self) -> None:
        """A page a template recognised: logged once when the pages match again."""
        if self.drifting_since is not None:
            logger.warning(
                "%s: its answer pages match again (refused since %s).",
                self.adapter.CARRIER,
                self.drifting_since.isoformat(timespec="seconds"),
            )
            self.drifting_since = None

    def pause(self, err: CarrierError) -> None:
        if self.paused is None:
            self.paused = err
            logger.warning(
                "%s is paused (%s): no more requests to it in this run. A person can read "
                "its page and record answers with `akarom manual IMEI --carrier %s`.",
                self.adapter.CARRIER,
                err.code,
                self.adapter.CARRIER,
            )


class Checker:
    """Checks devices against the carriers; use as ``async with Checker(settings) as c``."""

    def __init__(
        self,
        settings: Settings,
        *,
        transports: Mapping[Carrier, httpx.AsyncBaseTransport] | None = None,
        retry: RetryPolicy | None = None,
        store: Store | None = None,
        person: Person | None = None,
        cache_window: timedelta = DEFAULT_CACHE_WINDOW,
        share_limits: bool = True,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """``share_limits`` makes the per-carrier gap hold across processes (see ratelimit)."""
        self.settings = settings
        self.retry = retry or RetryPolicy()
        self.store = store
        self.person = person
        self.cache_window = cache_window
        self._lines: dict[Carrier, _CarrierLine] = {}
        # Every carrier of the one list, each with its adapter: a carrier without one
        # fails here, before any check starts (adapter_class raises LookupError).
        for carrier in Carrier:
            adapter_type = adapter_class(carrier)
            configured = settings.carrier(carrier)
            live = configured.base_url is None
            rate, concurrency = effective_limits(
                adapter_type, configured.rate_limit, configured.concurrency, live=live
            )
            if live and rate < configured.rate_limit:
                logger.warning(
                    "%s: rate limit %.2f/s is above the live site's floor; using %.2f/s",
                    carrier,
                    configured.rate_limit,
                    rate,
                )
            host = configured.base_url or adapter_type.BASE_URL
            ledger = (
                SpacingLedger(settings.data_dir / "ratelimit", f"{carrier}@{host}")
                if share_limits and SpacingLedger.available()
                else None
            )
            limiter = RateLimiter(rate, concurrency, ledger=ledger, clock=clock, sleep=sleep)
            transport = (transports or {}).get(carrier)
            client = build_client(limiter, transport=transport)
            adapter = adapter_type(client, base_url=configured.base_url)
            logger.info(
                "%s: %s, at most %.2f requests/s, %d at a time",
                carrier,
                adapter.base_url,
                rate,
                concurrency,
            )
            self._lines[carrier] = _CarrierLine(adapter, limiter)

    async def __aenter__(self) -> Checker:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for line in self._lines.values():
            await line.adapter.client.aclose()

    def adapter(self, carrier: Carrier) -> CarrierAdapter:
        return self._lines[carrier].adapter

    @property
    def paused(self) -> dict[Carrier, str]:
        """Carriers paused in this run (blocked, or a captcha nobody answered): why."""
        return {c: line.paused.code for c, line in self._lines.items() if line.paused}

    async def check_many(
        self,
        inputs: Iterable[str],
        *,
        carriers: Sequence[Carrier] | None = None,
        all_carriers: bool = False,
        fresh: bool = False,
    ) -> list[DeviceReport]:
        """Check several devices concurrently; reports come back in input order.

        The same IMEI given twice (in any spelling) is asked once.
        """
        inputs = list(inputs)
        asked: dict[str, asyncio.Task[DeviceReport]] = {}
        pending: list[tuple[str, asyncio.Task[DeviceReport] | None]] = []
        async with asyncio.TaskGroup() as group:
            for raw in inputs:
                try:
                    identity = parse(raw)
                except InvalidImei:
                    pending.append((raw, None))
                    continue
                if identity.value not in asked:
                    asked[identity.value] = group.create_task(
                        self.check(raw, carriers=carriers, all_carriers=all_carriers, fresh=fresh)
                    )
                pending.append((raw, asked[identity.value]))
        reports = []
        for raw, task in pending:
            if task is None:
                reports.append(await self.check(raw))
            else:
                report = task.result()
                reports.append(report.for_input(raw))
        return reports

    async def check(
        self,
        raw: str,
        *,
        carriers: Sequence[Carrier] | None = None,
        all_carriers: bool = False,
        fresh: bool = False,
        order: Sequence[Carrier] | None = None,
        one_at_a_time: bool = False,
        run_id: int | None = None,
        cached_since: datetime | None = None,
    ) -> DeviceReport:
        """Check one device. An invalid input is reported, never sent anywhere.

        Answers stored within ``cache_window`` (or since ``cached_since``, the start
        of a resumed run) are reused (``source=cache``) unless ``fresh``. ``order``
        (most likely seller first) with ``one_at_a_time`` asks one carrier after
        another and stops at the first that has a record: fewest requests, for bulk
        runs; otherwise every carrier is asked at once.
        """
        try:
            identity = parse(raw)
        except InvalidImei as err:
            return DeviceReport(raw, None, err, Verdict.INVALID, None, ())
        supported = [c for c in Carrier if identity.kind != "meid" or self.adapter(c).ACCEPTS_MEID]
        wanted = tuple(dict.fromkeys(carriers)) if carriers else tuple(supported)
        if order is not None:
            wanted = tuple(sorted(wanted, key=lambda c: list(order).index(c) if c in order else 9))
        results: dict[Carrier, CarrierResult] = {
            # Asked for by name, but this carrier's page cannot take a MEID.
            carrier: _unknown(carrier, UNSUPPORTED)
            for carrier in wanted
            if carrier not in supported
        }
        if not fresh:
            results.update(await self._cached(identity.value, wanted, cached_since))
        settled = any(r.status.is_record for r in results.values()) and not all_carriers
        to_ask = [] if settled else [c for c in wanted if c in supported and c not in results]
        results.update(
            await self._ask(
                identity, to_ask, all_carriers, one_at_a_time=one_at_a_time, run_id=run_id
            )
        )
        decision = decide_verdict(results.values(), carriers=supported)
        if decision.verdict is Verdict.INCOMPLETE:
            # The verdict stayed open: show the carriers nobody asked, so the gap is visible.
            for carrier in supported:
                results.setdefault(carrier, _unknown(carrier, SKIPPED))
        else:
            # Settled: a carrier not asked is no part of the answer (INTERFACES.md §3).
            results = {c: r for c, r in results.items() if not r.skipped}
        ordered = tuple(results[c] for c in Carrier if c in results)
        return DeviceReport(raw, identity, None, decision.verdict, decision.origin_carrier, ordered)

    async def _cached(
        self, imei: str, carriers: Sequence[Carrier], since: datetime | None = None
    ) -> dict[Carrier, CarrierResult]:
        """Stored answers young enough to reuse (or stored ``since``); failures never."""
        if self.store is None:
            return {}
        window_start = datetime.now(UTC) - self.cache_window
        if since is None:
            if self.cache_window <= timedelta(0):
                return {}
            since = window_start
        since = min(since, window_start)
        stored = await asyncio.to_thread(self.store.latest, imei, since=since, carriers=carriers)
        # A hand-entered answer stays "manual": who read it matters as evidence.
        return {
            carrier: observation.to_result(cached=observation.source is Source.LIVE)
            for carrier, observation in stored.items()
        }

    async def _ask(
        self,
        identity: Identity,
        carriers: Sequence[Carrier],
        all_carriers: bool,
        *,
        one_at_a_time: bool = False,
        run_id: int | None = None,
    ) -> dict[Carrier, CarrierResult]:
        """Ask ``carriers``; once the selling carrier answers, call off the rest.

        At once (the default): only carriers that have not sent a request yet are
        called off (``skipped``); a carrier already asked is always heard out, its
        answer or its failure part of the record, so the verdict does not depend on
        which came first. One at a time: in the given order, until a record.
        """
        results: dict[Carrier, CarrierResult] = {}
        if one_at_a_time:
            for carrier in carriers:
                if any(r.status.is_record for r in results.values()) and not all_carriers:
                    results[carrier] = _unknown(carrier, SKIPPED)
                    continue
                results[carrier] = await self._ask_one(carrier, identity, set(), run_id)
            return results
        # A carrier nobody else is waiting for is as good as asked: it is never called
        # off, so a single device's verdict does not depend on which page loads first.
        sent: set[Carrier] = set()
        tasks: dict[Carrier, asyncio.Task[CarrierResult]] = {}
        for carrier in carriers:
            line = self._lines[carrier]
            if line.queued == 0 and not line.limiter.busy():
                sent.add(carrier)
            line.queued += 1
            task = asyncio.create_task(self._ask_one(carrier, identity, sent, run_id))
            task.add_done_callback(line.dequeue)
            tasks[carrier] = task
        waiting = set(tasks.values())
        try:
            while waiting:
                finished, waiting = await asyncio.wait(waiting, return_when=FIRST_COMPLETED)
                for task in finished:
                    if task.cancelled():
                        continue
                    result = task.result()
                    results[result.carrier] = result
                    if result.status.is_record and not all_carriers:
                        # The selling carrier has answered; the others have no record to give.
                        for carrier, other in tasks.items():
                            if carrier not in sent and other.cancel():
                                results[carrier] = _unknown(carrier, SKIPPED)
        finally:
            for task in tasks.values():
                task.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)
        return results

    async def _ask_one(
        self, carrier: Carrier, identity: Identity, sent: set[Carrier], run_id: int | None
    ) -> CarrierResult:
        """Ask one carrier, retrying what is worth retrying; store what was seen."""
        line = self._lines[carrier]
        ON_REQUEST_SENT.set(lambda: sent.add(carrier))  # this task's own context
        imei = identity.value
        attempt = 0
        while True:
            if line.paused is not None:
                return _unknown(carrier, line.paused.code, detail=f"paused: {line.paused}")
            attempt += 1
            try:
                observation = await line.adapter.check(imei)
            except asyncio.CancelledError:
                raise
            except RateLimited as err:
                wait = err.retry_after
                if wait is None:
                    wait = self.retry.backoff(attempt)
                line.limiter.defer(wait)
                if attempt >= self.retry.attempts or wait > self.retry.max_retry_after_s:
                    return await self._failed(carrier, imei, err, run_id)
                logger.info("%s asked us to wait %.1f s (attempt %d)", carrier, wait, attempt)
            except (Blocked, CaptchaRequired) as err:
                # Never got around by machine: a person answers, or the carrier pauses.
                failed = await self._failed(carrier, imei, err, run_id)
                answered = await self._ask_person(line, identity, err, run_id)
                if answered is None:
                    line.pause(err)
                return answered or failed
            except CarrierError as err:
                if isinstance(err, ParseError):
                    line.refused(err)
                if not err.transient or attempt >= self.retry.attempts:
                    return await self._failed(carrier, imei, err, run_id)
                wait = self.retry.backoff(attempt)
                line.limiter.defer(wait)
                logger.info("%s: %s; retrying in %.1f s (attempt %d)", carrier, err, wait, attempt)
            except Exception:
                # A bug of ours, not the carrier's answer: unknown, loudly, never a status.
                logger.exception("%s %s: the adapter failed unexpectedly", carrier, imei)
                return _unknown(carrier, "error")
            else:
                line.recognised()
                return await self._keep(imei, _answered(observation), observation.pages, run_id)

    async def _ask_person(
        self, line: _CarrierLine, identity: Identity, err: CarrierError, run_id: int | None
    ) -> CarrierResult | None:
        """Let the person solve the captcha, or read the page by hand; None if they skip."""
        if self.person is None:
            return None
        imei = identity.value
        async with line.person_turn:
            if line.paused is not None:
                return None  # the person skipped this carrier while we waited
            if isinstance(err, CaptchaRequired):
                flow, solved = await self._solve_captcha(line, imei, run_id)
                if flow:
                    return solved
                # No captcha flow is known for this carrier: the person reads the page.
            for _ in range(3):
                typed = await self.person.read_page(
                    line.adapter.CARRIER, line.adapter.entry_url, imei
                )
                if not typed or not typed.strip():
                    return None
                status = symbol_status(typed)
                if status is None:
                    logger.warning("%r is not a symbol a carrier prints (○ △ × -)", typed)
                    continue
                result = CarrierResult(
                    carrier=line.adapter.CARRIER,
                    status=status,
                    checked_at=datetime.now(UTC).astimezone(JST),
                    source=Source.MANUAL,
                    printed_symbol=typed.strip(),
                )
                return await self._keep(imei, result, (), run_id, entered_by=self.person.name)
        return None

    async def _solve_captcha(
        self, line: _CarrierLine, imei: str, run_id: int | None
    ) -> tuple[bool, CarrierResult | None]:
        """A person types what the captcha image shows; three tries, then the carrier pauses.

        Returns whether a captcha flow was there at all, and the answer if one came.
        """
        assert self.person is not None
        for attempt in range(3):
            try:
                challenge = await line.adapter.captcha_challenge(imei)
            except CarrierError:
                # No captcha flow we know (or the site changed): the page by hand instead.
                return attempt > 0, None
            if challenge is None:  # the captcha is gone: ask the usual way
                try:
                    observation = await line.adapter.check(imei)
                except CarrierError as err:
                    return True, await self._failed(line.adapter.CARRIER, imei, err, run_id)
                return True, await self._keep(
                    imei, _answered(observation), observation.pages, run_id
                )
            answer = await self.person.solve_captcha(challenge)
            if not answer or not answer.strip():
                return True, None
            try:
                observation = await challenge.answer(answer)
            except ValueError as problem:  # not digits: nothing was sent
                logger.warning("%s", problem)
                continue
            except CaptchaFailed:
                logger.warning("%s: the captcha answer was not accepted", line.adapter.CARRIER)
                continue
            except CarrierError as err:
                return True, await self._failed(line.adapter.CARRIER, imei, err, run_id)
            return True, await self._keep(imei, _answered(observation), observation.pages, run_id)
        return True, None

    async def _failed(
        self, carrier: Carrier, imei: str, err: CarrierError, run_id: int | None
    ) -> CarrierResult:
        result = CarrierResult(
            carrier=carrier,
            status=Status.UNKNOWN,
            checked_at=datetime.now(UTC).astimezone(JST),
            source=Source.LIVE,
            error=err.code,
            detail=str(err),
            reason=err.field if isinstance(err, ParseError) else None,
        )
        result = await self._keep(imei, result, err.pages, run_id)
        # A page we could not place is a bug or a site change: loud, and kept.
        (logger.warning if err.expected else logger.error)(
            "%s %s: %s (%s)%s",
            carrier,
            imei,
            err.code,
            err,
            f"; pages kept with {result.evidence[0]}" if result.evidence else "",
        )
        return result

    async def _keep(
        self,
        imei: str,
        result: CarrierResult,
        pages: Sequence[Page],
        run_id: int | None,
        *,
        entered_by: str | None = None,
    ) -> CarrierResult:
        """Store the observation and its pages; the result then names where they are."""
        if self.store is None:
            return result
        new = NewObservation.from_result(
            imei,
            result,
            adapter_version=None if entered_by else self.adapter(result.carrier).VERSION,
            entered_by=entered_by,
            run_id=run_id,
        )
        stored = await asyncio.to_thread(
            self.store.record, new, [NewPage.from_page(page) for page in pages]
        )
        # Name the evidence only when there is some: a refused connection has no page.
        return replace(result, evidence=(f"observation #{stored.id}",)) if pages else result


def _answered(observation: Observation) -> CarrierResult:
    reading = observation.reading
    return CarrierResult(
        carrier=observation.carrier,
        status=reading.status,
        checked_at=observation.started_at.astimezone(JST),
        source=Source.LIVE,
        message=reading.message,
        printed_symbol=reading.symbol,
        elapsed_s=observation.elapsed_s,
    )


def _unknown(carrier: Carrier, code: str, *, detail: str | None = None) -> CarrierResult:
    return CarrierResult(carrier=carrier, status=Status.UNKNOWN, error=code, detail=detail)
