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
import functools
import itertools
import logging
import random
import time
import uuid
from asyncio import FIRST_COMPLETED
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any

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
from akarom.domain import JST, SKIPPED, Carrier, CarrierResult, Source, Status
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
from akarom.ratelimit import Gate, RateLimiter, SharedPace, SpacingLedger
from akarom.services._reading import read
from akarom.services._writer import ObservationWriter
from akarom.services.challenges import ChallengeDesk, ChallengeStatus, Person
from akarom.services.device_reports import (
    DEFAULT_CACHE_WINDOW,
    DeviceReport,
    device_report,
    reused,
    still_to_ask,
    unknown,
)
from akarom.storage.observations import StoredObservation
from akarom.storage.pace import FleetBudget, libpq_url
from akarom.storage.records import NewObservation, NewPage

if TYPE_CHECKING:
    from akarom.storage import Store

__all__ = [
    "ON_RESULT",
    "CaptchaChallenge",
    "Checker",
    "Person",
    "RetryPolicy",
    "adapter_for",
    "carrier_limiters",
    "carriers_taking",
    "effective_limits",
]

logger = logging.getLogger(__name__)

UNSUPPORTED = "unsupported"

#: The bulk run a check belongs to: its id, or the id to come while the run's row is
#: being written (a run's first checks go out before; each waits only to store).
RunId = int | asyncio.Future[int] | None

#: Told a carrier and the status read from its page as soon as it is read, before the
#: answer is stored: for deciding what to ask next, never for telling anyone (answers
#: reach people stored first).
PageRead = Callable[[Carrier, Status], None]

#: Called with each carrier's answer as it arrives (cached ones first), in the context
#: of the ``check`` that set it: a web page shows the answers one by one.
ON_RESULT: ContextVar[Callable[[CarrierResult], None] | None] = ContextVar(
    "ON_RESULT", default=None
)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try one carrier for one device before answering ``unknown``.

    Only transient failures (time-out, 5xx, 429) are retried. Each retry first
    defers the whole carrier (``RateLimiter.defer``), so a struggling site gets
    less traffic from every task, not just this one; a 429 also lowers the
    carrier's pace for the rest of the run (``RateLimiter.refused_for_rate``).
    """

    attempts: int = 3
    #: Refusals for rate (429) one request may meet: each slows the carrier down, so a
    #: few are expected while the pace comes down to what the site allows.
    rate_attempts: int = 8
    backoff_s: float = 2.0
    max_retry_after_s: float = 60.0

    def backoff(self, attempt: int) -> float:
        """Exponential back-off with ±25 % jitter: 2 s, 4 s, 8 s… for the defaults."""
        jitter = random.uniform(0.75, 1.25)  # spreads retries out; not security
        return float(self.backoff_s * 2 ** (attempt - 1) * jitter)


def adapter_for(carrier: Carrier) -> type[CarrierAdapter]:
    """The adapter class that checks ``carrier`` (its politeness floor, its pages)."""
    return adapter_class(carrier)


def carriers_taking(identity: Identity) -> list[Carrier]:
    """The carriers whose check page takes this device: all for an IMEI, fewer for a MEID."""
    return [c for c in Carrier if identity.kind != "meid" or adapter_for(c).ACCEPTS_MEID]


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


class _CarrierLine:
    """One carrier's adapter, client and limiter, and whether it is paused."""

    def __init__(
        self, adapter: CarrierAdapter, limiter: RateLimiter, *, pause_s: float | None = None
    ) -> None:
        self.adapter = adapter
        self.limiter = limiter
        #: Checks waiting to ask this carrier wait here rather than in its limiter, so
        #: that a check others wait for (the first device of a model nobody has seen:
        #: ``urgent``) can go ahead of a long queue instead of behind it, and the others
        #: go in the order their devices' checks began: a device asking its second
        #: carrier is not sent behind every device read since (in a bulk run, hundreds,
        #: while its row holds back every later row's output).
        self.admission = Gate(limiter.concurrency)
        #: How long a pause lasts (None: for the rest of the run, as a CLI run wants).
        self.pause_s = pause_s
        self._paused: CarrierError | None = None
        self._paused_at = 0.0
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

    @property
    def paused(self) -> CarrierError | None:
        """Why this carrier is paused (a block or an unanswered captcha), else None.

        In a long-running server a pause ends after ``pause_s``: the carrier is tried
        again, politely, and a new block pauses it again (logged once each way).
        """
        if (
            self._paused is not None
            and self.pause_s is not None
            and time.monotonic() - self._paused_at >= self.pause_s
        ):
            logger.warning(
                "%s: the pause (%s) is over; asking it again",
                self.adapter.CARRIER,
                self._paused.code,
            )
            self._paused = None
        return self._paused

    def pause(self, err: CarrierError) -> None:
        if self.paused is None:
            self._paused = err
            self._paused_at = time.monotonic()
            how_long = "in this run" if self.pause_s is None else f"for {self.pause_s:.0f} s"
            logger.warning(
                "%s is paused (%s): no more requests to it %s. A person can read "
                "its page and record answers with `akarom manual IMEI --carrier %s`.",
                self.adapter.CARRIER,
                err.code,
                how_long,
                self.adapter.CARRIER,
            )


def carrier_limiters(
    settings: Settings,
    *,
    share_limits: bool = True,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> dict[Carrier, RateLimiter]:
    """One politeness limiter per carrier, as ``settings`` ask (never above a live
    site's floor). With ``share_limits`` each shares its budget with every other
    process: through the database on PostgreSQL (a fleet of workers on any machines),
    else through a ledger file every process on this machine reads."""
    limiters = {}
    fleet = _fleet_budget(settings) if share_limits else None
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
        key = f"{carrier}@{configured.base_url or adapter_type.BASE_URL}"
        ledger: SharedPace | SpacingLedger | None = None
        if fleet is not None:
            ledger = fleet.pace(key)
        elif share_limits and SpacingLedger.available():
            ledger = SpacingLedger(settings.data_dir / "ratelimit", key)
        limiters[carrier] = RateLimiter(
            rate, concurrency, ledger=ledger, name=carrier.value, clock=clock, sleep=sleep
        )
    return limiters


def _fleet_budget(settings: Settings) -> FleetBudget | None:
    """The database-kept budget when the database is PostgreSQL (a fleet), else None."""
    url = settings.database_url
    if url is None or not url.startswith("postgresql"):
        return None
    return FleetBudget(libpq_url(url))


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
        limiters: Mapping[Carrier, RateLimiter] | None = None,
        pause_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """``share_limits`` makes the per-carrier gap hold across processes (see ratelimit);
        ``limiters`` are the carriers' limiters when several Checkers share them (a
        server's tenants: one cap on requests in flight per carrier, not one per
        tenant); ``pause_s`` ends a carrier's pause after that long (None: the run)."""
        self.settings = settings
        self.retry = retry or RetryPolicy()
        self.store = store
        self.person = person
        #: Told every carrier answer this Checker gives, cached ones too (a server's metrics).
        self.observers: list[Callable[[CarrierResult], None]] = []
        #: Names this Checker on the challenges it posts, so a terminal answers only its own.
        self._challenge_origin = uuid.uuid4().hex
        self.cache_window = cache_window
        #: Every observation goes through one writer, stored in batches.
        self._writer = ObservationWriter(store) if store is not None else None
        self._lines: dict[Carrier, _CarrierLine] = {}
        #: Each check's place in the carriers' queues (``_CarrierLine.admission``).
        self._ranks = itertools.count()
        # Every carrier of the one list, each with its adapter: a carrier without one
        # fails here, before any check starts (adapter_class raises LookupError).
        #: Limiters made here are closed here; shared ones by whoever shares them.
        self._owns_limiters = not limiters
        limiters = limiters or carrier_limiters(
            settings, share_limits=share_limits, clock=clock, sleep=sleep
        )
        for carrier in Carrier:
            adapter_type = adapter_class(carrier)
            limiter = limiters[carrier]
            transport = (transports or {}).get(carrier)
            client = build_client(limiter, transport=transport)
            adapter = adapter_type(client, base_url=settings.carrier(carrier).base_url)
            logger.info(
                "%s: %s, at most %.2f requests/s, %d at a time",
                carrier,
                adapter.base_url,
                limiter.configured_rate_per_s,
                limiter.concurrency,
            )
            self._lines[carrier] = _CarrierLine(adapter, limiter, pause_s=pause_s)

    async def __aenter__(self) -> Checker:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def flush(self) -> None:
        """Wait until every answer received so far is stored (before a run stops)."""
        if self._writer is not None:
            await self._writer.aclose()

    async def aclose(self) -> None:
        try:
            await self.flush()
        finally:
            for line in self._lines.values():
                await line.adapter.client.aclose()
                if self._owns_limiters:
                    await line.limiter.aclose()

    def _announce(self, result: CarrierResult) -> None:
        for observer in self.observers:
            observer(result)
        if (listener := ON_RESULT.get()) is not None:
            listener(result)

    def adapter(self, carrier: Carrier) -> CarrierAdapter:
        return self._lines[carrier].adapter

    def limiter(self, carrier: Carrier) -> RateLimiter:
        """The politeness limiter every request to ``carrier`` passes through."""
        return self._lines[carrier].limiter

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
        run_id: RunId = None,
        cached_since: datetime | None = None,
        stored: Mapping[Carrier, StoredObservation] | None = None,
        urgent: bool = False,
        rank: int | None = None,
        any_seller: bool = False,
        on_read: PageRead | None = None,
    ) -> DeviceReport:
        """Check one device. An invalid input is reported, never sent anywhere.

        Answers stored within ``cache_window`` (or since ``cached_since``, the start
        of a resumed run) are reused (``source=cache``) unless ``fresh``; ``stored``
        is what ``stored_answers`` found for this device, looked up by the caller
        for many devices at once (a bulk run's read-ahead). An ``urgent`` device
        (others wait for its answer) goes ahead of the others waiting for a carrier;
        the others go by ``rank`` (``place()``; by default, taken as this call begins);
        with ``any_seller`` (nothing tells who sold it) one at a time asks next
        where the fewest checks wait, not in ``order``.
        ``order``
        (most likely seller first) with ``one_at_a_time`` asks one carrier after
        another and stops at the first that has a record: fewest requests, for bulk
        runs; otherwise every carrier is asked at once. ``on_read`` is told each status
        read from a carrier's page before the answer is stored (see ``PageRead``).
        """
        if rank is None:
            rank = self.place()
        try:
            identity = parse(raw)
        except InvalidImei as err:
            return DeviceReport.of_invalid(raw, err)
        supported = carriers_taking(identity)
        wanted = tuple(dict.fromkeys(carriers)) if carriers else tuple(supported)
        if order is not None:
            wanted = tuple(sorted(wanted, key=lambda c: list(order).index(c) if c in order else 9))
        results: dict[Carrier, CarrierResult] = {
            # Asked for by name, but this carrier's page cannot take a MEID.
            carrier: unknown(carrier, UNSUPPORTED)
            for carrier in wanted
            if carrier not in supported
        }
        if stored is not None:
            results.update(reused(stored, wanted))
        elif not fresh:
            results.update(await self._cached(identity.value, wanted, cached_since))
        for result in results.values():
            self._announce(result)
        to_ask = still_to_ask(results, wanted, supported, all_carriers)
        results.update(
            await self._ask(
                identity,
                to_ask,
                all_carriers,
                one_at_a_time=one_at_a_time,
                run_id=run_id,
                urgent=urgent,
                rank=rank,
                any_seller=any_seller,
                on_read=on_read,
            )
        )
        return device_report(raw, identity, results, supported)

    def place(self) -> int:
        """A place in the carriers' queues, after every place given before (``check(rank=)``)."""
        return next(self._ranks)

    def _reuse_since(self, since: datetime | None) -> datetime | None:
        """From when a stored answer may be reused: the cache window, or a resumed run's start."""
        window_start = datetime.now(UTC) - self.cache_window
        if since is None:
            return window_start if self.cache_window > timedelta(0) else None
        return min(since, window_start)

    def stored_answers(
        self, imeis: Sequence[str], *, cached_since: datetime | None = None
    ) -> dict[str, dict[Carrier, StoredObservation]]:
        """Stored answers young enough to reuse, for many devices in one query (blocking).

        Pass each device's entry to ``check(stored=...)``; see ``check`` for ``cached_since``.
        """
        since = self._reuse_since(cached_since)
        if self.store is None or since is None or not imeis:
            return {}
        return self.store.latest_many(imeis, since=since)

    async def _cached(
        self, imei: str, carriers: Sequence[Carrier], since: datetime | None = None
    ) -> dict[Carrier, CarrierResult]:
        """Stored answers young enough to reuse (or stored ``since``); failures never."""
        if self.store is None:
            return {}
        stored = await read(self.store, self.stored_answers, [imei], cached_since=since)
        return reused(stored.get(imei, {}), carriers)

    async def _ask(
        self,
        identity: Identity,
        carriers: Sequence[Carrier],
        all_carriers: bool,
        *,
        one_at_a_time: bool = False,
        run_id: RunId = None,
        urgent: bool = False,
        rank: int,
        any_seller: bool = False,
        on_read: PageRead | None = None,
    ) -> dict[Carrier, CarrierResult]:
        """Ask ``carriers``; once the selling carrier answers, call off the rest.

        At once (the default): only carriers that have not sent a request yet are
        called off (``skipped``); a carrier already asked is always heard out, its
        answer or its failure part of the record, so the verdict does not depend on
        which came first. One at a time: in the given order, until a record.
        """
        if one_at_a_time:
            return await self._ask_in_turn(
                identity,
                carriers,
                all_carriers,
                run_id=run_id,
                urgent=urgent,
                rank=rank,
                any_seller=any_seller,
                on_read=on_read,
            )
        results: dict[Carrier, CarrierResult] = {}
        # A carrier nobody else is waiting for is as good as asked: it is never called
        # off, so a single device's verdict does not depend on which page loads first.
        sent: set[Carrier] = set()
        tasks: dict[Carrier, asyncio.Task[CarrierResult]] = {}
        for carrier in carriers:
            line = self._lines[carrier]
            if line.queued == 0 and not line.limiter.busy():
                sent.add(carrier)
            line.queued += 1
            task = asyncio.create_task(
                self._ask_one(
                    carrier, identity, sent, run_id, urgent=urgent, rank=rank, on_read=on_read
                )
            )
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
                    self._announce(result)
                    if result.status.is_record and not all_carriers:
                        # The selling carrier has answered; the others have no record to give.
                        for carrier, other in tasks.items():
                            if carrier not in sent and other.cancel():
                                results[carrier] = unknown(carrier, SKIPPED)
        finally:
            for task in tasks.values():
                task.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)
        return results

    async def _ask_in_turn(
        self,
        identity: Identity,
        carriers: Sequence[Carrier],
        all_carriers: bool,
        *,
        run_id: RunId,
        urgent: bool,
        rank: int,
        any_seller: bool,
        on_read: PageRead | None,
    ) -> dict[Carrier, CarrierResult]:
        """One carrier after another, until one has a record (``_ask``).

        The next carrier is asked as soon as the previous page is read, while its answer
        is being stored: at a run's start the store may still be opening, and a device
        that waited for each answer to be stored before asking on would keep its model's
        other devices waiting too. The answers are all stored before they are reported.
        """
        remaining = list(carriers)
        read: list[Status] = []
        # Each carrier in the order considered: the task asking it, or why it was not.
        decided: list[asyncio.Task[CarrierResult] | CarrierResult] = []
        try:
            while remaining:
                carrier = self._shortest_queue(remaining) if any_seller else remaining[0]
                remaining.remove(carrier)
                if any(status.is_record for status in read) and not all_carriers:
                    decided.append(unknown(carrier, SKIPPED))
                    continue
                page: asyncio.Future[Status] = asyncio.get_running_loop().create_future()
                line = self._lines[carrier]
                line.queued += 1
                task = asyncio.create_task(
                    self._ask_one(
                        carrier,
                        identity,
                        set(),
                        run_id,
                        urgent=urgent,
                        rank=rank,
                        on_read=functools.partial(_page_read, page, on_read),
                    )
                )
                task.add_done_callback(line.dequeue)
                decided.append(task)
                either: list[asyncio.Future[Any]] = [task, page]
                await asyncio.wait(either, return_when=FIRST_COMPLETED)
                # A page read, or an answer without one (a failure, stored as unknown).
                read.append(page.result() if page.done() else task.result().status)
            results: dict[Carrier, CarrierResult] = {}
            for step in decided:
                result = step if isinstance(step, CarrierResult) else await step
                results[result.carrier] = result
                if not isinstance(step, CarrierResult):
                    self._announce(result)
            return results
        finally:
            asked = [step for step in decided if isinstance(step, asyncio.Task)]
            for task in asked:
                task.cancel()
            await asyncio.gather(*asked, return_exceptions=True)

    def _shortest_queue(self, carriers: Sequence[Carrier]) -> Carrier:
        """Of ``carriers`` (likeliest first), the one with the fewest checks waiting.

        Where a device goes next when nothing tells who sold it (a model nobody has
        seen, no hint): any carrier may be the seller, and asking where nobody queues
        finds it soonest (and keeps every carrier busy while a run learns its models).
        """
        return min(carriers, key=lambda c: (self._lines[c].queued, carriers.index(c)))

    async def _ask_one(
        self,
        carrier: Carrier,
        identity: Identity,
        sent: set[Carrier],
        run_id: RunId,
        *,
        urgent: bool = False,
        rank: int,
        on_read: PageRead | None = None,
    ) -> CarrierResult:
        """Ask one carrier, retrying what is worth retrying; store what was seen."""
        line = self._lines[carrier]
        ON_REQUEST_SENT.set(lambda: sent.add(carrier))  # this task's own context
        imei = identity.value
        failures = 0  # pages that failed in a way worth another try
        refusals = 0  # refusals for rate: a budget of their own (see RetryPolicy)
        while True:
            if line.paused is not None:
                return unknown(carrier, line.paused.code, detail=f"paused: {line.paused}")
            try:
                async with line.admission.enter(urgent=urgent, rank=rank):
                    observation = await line.adapter.check(imei)
            except asyncio.CancelledError:
                raise
            except RateLimited as err:
                # Refused for going too fast: the whole carrier slows down for good (so a
                # limit set above what the site allows converges), and this request waits
                # its back-off and goes again, on a budget of its own.
                refusals += 1
                wait = err.retry_after
                if wait is None:
                    wait = self.retry.backoff(refusals)
                line.limiter.refused_for_rate(wait)
                if refusals >= self.retry.rate_attempts or wait > self.retry.max_retry_after_s:
                    return await self._failed(carrier, imei, err, run_id)
                logger.info("%s asked us to wait %.1f s (refusal %d)", carrier, wait, refusals)
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
                failures += 1
                if not err.transient or failures >= self.retry.attempts:
                    return await self._failed(carrier, imei, err, run_id)
                wait = self.retry.backoff(failures)
                line.limiter.defer(wait)
                logger.info("%s: %s; retrying in %.1f s (try %d)", carrier, err, wait, failures)
            except Exception:
                # A bug of ours, not the carrier's answer: unknown, loudly, never a status.
                logger.exception("%s %s: the adapter failed unexpectedly", carrier, imei)
                return unknown(carrier, "error")
            else:
                line.recognised()
                if on_read is not None:
                    on_read(carrier, observation.reading.status)
                return await self._keep(imei, _answered(observation), observation.pages, run_id)

    async def _ask_person(
        self, line: _CarrierLine, identity: Identity, err: CarrierError, run: RunId
    ) -> CarrierResult | None:
        """A person solves the captcha, or reads the page by hand; None if nobody does.

        Each question is a challenge stored for ``person`` (``services.challenges``) and
        answered there, in this process or another; a Checker without a store has
        nowhere to post it, and pauses the carrier instead.
        """
        if self.person is None or self.store is None:
            return None
        desk = ChallengeDesk(self.store, self.person, origin=self._challenge_origin)
        imei = identity.value
        run_id = await _known(run)
        async with line.person_turn:
            if line.paused is not None:
                return None  # nobody answered for this carrier while we waited
            if isinstance(err, CaptchaRequired):
                flow, solved = await self._solve_captcha(desk, line, imei, run_id)
                if flow:
                    return solved
                # No captcha flow is known for this carrier: the person reads the page.
            for _ in range(3):
                read = await desk.ask_page(
                    line.adapter.CARRIER, line.adapter.entry_url, imei, run_id=run_id
                )
                if read.status is not ChallengeStatus.ANSWERED or not read.answer:
                    return None
                status = symbol_status(read.answer)
                if status is None or not read.closed_by:
                    # Checked where it was typed; a row written any other way is not trusted.
                    logger.warning("%r is not a symbol a carrier prints (○ △ × -)", read.answer)
                    await desk.settle(read, "not_a_symbol")
                    continue
                result = CarrierResult(
                    carrier=line.adapter.CARRIER,
                    status=status,
                    # When the person read the page, not when this task woke up.
                    checked_at=(read.closed_at or datetime.now(UTC)).astimezone(JST),
                    source=Source.MANUAL,
                    printed_symbol=read.answer,
                )
                kept = await self._keep(imei, result, (), run_id, entered_by=read.closed_by)
                await desk.settle(read, status.value)
                return kept
        return None

    async def _solve_captcha(
        self, desk: ChallengeDesk, line: _CarrierLine, imei: str, run_id: int | None
    ) -> tuple[bool, CarrierResult | None]:
        """A person types what the captcha image shows; three tries, then the carrier pauses.

        Returns whether a captcha flow was there at all, and the answer if one came.
        A code the carrier refuses is followed by a new challenge (a new image).
        """
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
            solved = await desk.ask_captcha(challenge, run_id=run_id)
            if solved.status is not ChallengeStatus.ANSWERED or not solved.answer:
                return True, None
            try:
                observation = await line.adapter.answer_captcha(challenge, solved.answer)
            except ValueError as problem:  # checked where it was typed; nothing was sent
                logger.warning("%s", problem)
                await desk.settle(solved, "not_an_answer")
                continue
            except CaptchaFailed as err:
                logger.warning("%s: the captcha answer was not accepted", line.adapter.CARRIER)
                await desk.settle(solved, err.code)
                continue
            except CarrierError as err:
                await desk.settle(solved, err.code)
                return True, await self._failed(line.adapter.CARRIER, imei, err, run_id)
            result = await self._keep(imei, _answered(observation), observation.pages, run_id)
            await desk.settle(solved, result.status.value)
            return True, result
        return True, None

    async def _failed(
        self, carrier: Carrier, imei: str, err: CarrierError, run_id: RunId
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
        run: RunId,
        *,
        entered_by: str | None = None,
    ) -> CarrierResult:
        """Store the observation and its pages; the result then names where they are."""
        if self._writer is None:
            return result
        new = NewObservation.from_result(
            imei,
            result,
            adapter_version=None if entered_by else self.adapter(result.carrier).VERSION,
            entered_by=entered_by,
            run_id=await _known(run),
        )
        stored = await self._writer.keep(new, [NewPage.from_page(page) for page in pages])
        # Name the evidence only when there is some: a refused connection has no page.
        return replace(result, evidence=(f"observation #{stored.id}",)) if pages else result


def _page_read(
    page: asyncio.Future[Status], also: PageRead | None, carrier: Carrier, status: Status
) -> None:
    page.set_result(status)
    if also is not None:
        also(carrier, status)


async def _known(run: RunId) -> int | None:
    """The run's id, once its row is written (shielded: the run outlives this check)."""
    return await asyncio.shield(run) if isinstance(run, asyncio.Future) else run


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
