"""Checking devices as a person or a program asks for it: a request in, an outcome out.

``check_devices`` is ``akarom check`` (and ``explain`` of a device, and the REST
API's ``POST /checks``): the devices asked at the carriers through one ``Checker``,
each report advised for every role asked under the rules of the day, with the
carriers' own pages for a person to look at when an answer stayed open.
``stored_outcome`` is the same outcome when the answers stored within the day settle
every device: read without SQLAlchemy, HTTP or an event loop, so that a device
checked again costs a few imports, not the whole machinery (None: call
``check_devices``). ``check_table`` is ``akarom bulk``: a ``BulkRequest`` mapped onto
``run_bulk``.

They open the settings' database for the call and close it before they return, so
nothing is left to flush when the process ends. The checker and the store are
imported by the calls that use them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, cast

from akarom.config import Settings
from akarom.domain import Carrier, Verdict
from akarom.errors import InvalidImei
from akarom.identity import Identity, parse
from akarom.services.advising import (
    Circumstances,
    DeviceAdvice,
    RuleSet,
    advise,
    load_advice_rules,
    today_in_japan,
)
from akarom.services.device_reports import (
    DEFAULT_CACHE_WINDOW,
    DeviceReport,
    device_report,
    reused,
    still_to_ask,
)
from akarom.services.options import Role
from akarom.storage.observations import StoredObservation
from akarom.storage.sqlite_file import SQLITE_FILENAME, latest_answers
from akarom.texts import Lang

if TYPE_CHECKING:
    from akarom.services.bulk import BulkSummary, ProgressCallback
    from akarom.services.checks import Checker, Person
    from akarom.storage import Store

__all__ = [
    "BulkRequest",
    "CheckOutcome",
    "CheckRequest",
    "CheckedDevice",
    "check_devices",
    "check_table",
    "check_with",
    "stored_outcome",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CheckRequest:
    """Which devices to check, where, and whose advice to give.

    ``carriers`` None asks every carrier that applies; ``all_carriers`` keeps asking
    after the selling carrier answered; ``fresh`` ignores stored answers. Each device
    is advised for every role in ``roles``, in that order, under ``rules`` (None: the
    shipped rules with the settings' file) in force ``on`` (None: today in Japan).
    """

    imeis: tuple[str, ...]
    carriers: tuple[Carrier, ...] | None = None
    all_carriers: bool = False
    fresh: bool = False
    roles: tuple[Role, ...] = (Role.BUYER,)
    circumstances: Circumstances = field(default_factory=Circumstances)
    rules: RuleSet | None = None
    on: date | None = None


@dataclass(frozen=True, slots=True)
class CheckedDevice:
    """One input's report and its advice, one ``DeviceAdvice`` per role asked."""

    report: DeviceReport
    advice: tuple[DeviceAdvice, ...]


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    """Every device asked, in input order, and each carrier's page for a person to read.

    ``manual_urls`` are offered only for a verdict that stayed open (``incomplete``).
    """

    devices: tuple[CheckedDevice, ...]
    manual_urls: Mapping[Carrier, str]
    on: date

    @property
    def reports(self) -> tuple[DeviceReport, ...]:
        return tuple(device.report for device in self.devices)


async def check_devices(
    settings: Settings,
    request: CheckRequest,
    *,
    person: Person | None = None,
    store: Store | None = None,
) -> CheckOutcome:
    """Check and advise every device of ``request``.

    The rules are loaded before any carrier is asked (``ConfigError`` naming the
    file, rule and field). ``person`` answers captchas and reads pages by hand when
    a carrier needs it. ``store`` None opens the settings' database for this call
    (``StorageError`` if it cannot be used).
    """
    rules = request.rules if request.rules is not None else load_advice_rules(settings)
    day = request.on or today_in_japan()
    if store is None:
        from akarom.services.database import open_store

        with open_store(settings) as opened:
            return await _check(settings, request, rules, day, person, opened)
    return await _check(settings, request, rules, day, person, store)


async def _check(
    settings: Settings,
    request: CheckRequest,
    rules: RuleSet,
    day: date,
    person: Person | None,
    store: Store,
) -> CheckOutcome:
    from akarom.services.checks import Checker

    async with Checker(settings, store=store, person=person) as checker:
        return await check_with(checker, request, rules, day)


async def check_with(
    checker: Checker, request: CheckRequest, rules: RuleSet, day: date
) -> CheckOutcome:
    """``request`` checked through a ``Checker`` the caller holds (a server's, long-lived),
    each report advised under ``rules`` as of ``day``."""
    reports = await checker.check_many(
        request.imeis,
        carriers=request.carriers,
        all_carriers=request.all_carriers,
        fresh=request.fresh,
    )
    manual_urls = {carrier: checker.adapter(carrier).entry_url for carrier in Carrier}
    return _advised(reports, request, rules, day, manual_urls)


def stored_outcome(settings: Settings, request: CheckRequest) -> CheckOutcome | None:
    """``check_devices``' outcome when the answers stored within the day settle it; else None.

    Exactly what ``check_devices`` would return without asking anyone (a test holds
    the two together), read from the default SQLite file with the standard library.
    None whenever a carrier would be asked or anything is unsure, and the caller
    calls ``check_devices``: ``fresh`` asked, a database named by
    ``AKAROM_DATABASE_URL``, a MEID (which carriers take it is the adapters' to
    say), a database that is not there or not at this akarom's schema, a device
    whose stored answers leave a carrier to ask, or a verdict left ``incomplete``
    (its report offers the carriers' pages, which only the adapters know).
    """
    if request.fresh or settings.database_url is not None:
        return None
    parsed: list[tuple[str, Identity | InvalidImei]] = []
    for raw in request.imeis:
        try:
            parsed.append((raw, parse(raw)))
        except InvalidImei as err:
            parsed.append((raw, err))
    devices = [found for _, found in parsed if isinstance(found, Identity)]
    if any(device.kind == "meid" for device in devices):
        return None
    stored: dict[str, dict[Carrier, StoredObservation]] | None = {}
    if devices:
        since = datetime.now(UTC) - DEFAULT_CACHE_WINDOW
        path = settings.data_dir / SQLITE_FILENAME
        stored = latest_answers(path, [device.value for device in devices], since=since)
    if stored is None:
        return None
    wanted = tuple(dict.fromkeys(request.carriers)) if request.carriers else tuple(Carrier)
    every = tuple(Carrier)  # every carrier's page takes an IMEI
    reports = []
    first: dict[str, DeviceReport] = {}  # a device given twice is reported as its first spelling
    for raw, found in parsed:
        if isinstance(found, InvalidImei):
            reports.append(DeviceReport.of_invalid(raw, found))
            continue
        if found.value not in first:
            results = reused(stored[found.value], wanted)
            if still_to_ask(results, wanted, every, request.all_carriers):
                return None
            first[found.value] = device_report(raw, found, results, every)
            if first[found.value].verdict is Verdict.INCOMPLETE:
                return None
        reports.append(first[found.value].for_input(raw))
    logger.info("every device answered by the answers stored in the last %s", DEFAULT_CACHE_WINDOW)
    rules = request.rules if request.rules is not None else load_advice_rules(settings)
    return _advised(reports, request, rules, request.on or today_in_japan(), {})


def _advised(
    reports: Sequence[DeviceReport],
    request: CheckRequest,
    rules: RuleSet,
    day: date,
    manual_urls: Mapping[Carrier, str],
) -> CheckOutcome:
    """Each report advised for every role ``request`` asks, under ``rules`` as of ``day``."""
    devices = tuple(
        CheckedDevice(
            report,
            tuple(
                advise(report, rules, role, request.circumstances, on=day) for role in request.roles
            ),
        )
        for report in reports
    )
    return CheckOutcome(devices, manual_urls, day)


@dataclass(frozen=True, slots=True)
class BulkRequest:
    """A spreadsheet to check (``akarom bulk``): every row back, in order, in ``output``.

    ``column`` names the IMEI column when its header is not one akarom knows;
    ``resume`` continues an interrupted run of the same file; ``role`` adds that
    role's advice columns, decided under ``rules`` (None: shipped and the settings'
    file) in force ``on`` (None: today in Japan); ``lang`` is the report's language.
    """

    input: Path
    output: Path
    column: str | None = None
    resume: bool = False
    all_carriers: bool = False
    fresh: bool = False
    role: Role | None = None
    rules: RuleSet | None = None
    on: date | None = None
    lang: Lang = "ja"


async def check_table(
    settings: Settings,
    request: BulkRequest,
    *,
    on_progress: ProgressCallback | None = None,
) -> BulkSummary:
    """Run ``request`` (``run_bulk``) with its own ``Checker`` and database.

    Raises ``TableError`` for a file that cannot be used, before any carrier is
    asked; ``on_progress(done, total)`` follows the rows.
    """
    from akarom.services.bulk import RowAdvice, run_bulk  # spreadsheets load only for bulk

    advice = None
    if request.role is not None:
        rules = request.rules if request.rules is not None else load_advice_rules(settings)
        advice = RowAdvice(rules, request.role, request.on or today_in_japan(), request.lang)
    from akarom.services.database import OpeningStore, open_store

    # A new run's first requests go out while the store opens (imports SQLAlchemy); a
    # resumed run reads its finished rows from the store first.
    opening = None if request.resume else OpeningStore.begin(settings)
    from akarom.services.checks import Checker

    # The stand-in offers every Store method a run and its Checker call (``OpeningStore``).
    with cast("Store", opening) if opening is not None else open_store(settings) as store:
        async with Checker(settings, store=store) as checker:
            return await run_bulk(
                checker,
                store,
                request.input,
                request.output,
                column=request.column,
                resume=request.resume,
                all_carriers=request.all_carriers,
                fresh=request.fresh,
                lang=request.lang,
                on_progress=on_progress,
                advice=advice,
            )
