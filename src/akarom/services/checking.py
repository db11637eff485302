"""Checking devices as a person or a program asks for it: a request in, an outcome out.

``check_devices`` is ``akarom check`` (and ``explain`` of a device, and the REST
API's ``POST /checks``): the devices asked at the carriers through one ``Checker``,
each report advised for every role asked under the rules of the day, with the
carriers' own pages for a person to look at when an answer stayed open.
``check_table`` is ``akarom bulk``: a ``BulkRequest`` mapped onto ``run_bulk``.

Both open the settings' database for the call and close it before they return, so
nothing is left to flush when the process ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from akarom.config import Settings
from akarom.domain import Carrier
from akarom.services.advising import (
    Circumstances,
    DeviceAdvice,
    RuleSet,
    advise,
    load_advice_rules,
    today_in_japan,
)
from akarom.services.checks import Checker, DeviceReport, Person
from akarom.services.database import open_store
from akarom.services.options import Role
from akarom.storage import Store
from akarom.texts import Lang

if TYPE_CHECKING:
    from akarom.services.bulk import BulkSummary, ProgressCallback

__all__ = [
    "BulkRequest",
    "CheckOutcome",
    "CheckRequest",
    "CheckedDevice",
    "check_devices",
    "check_table",
    "check_with",
]


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
    """Every device asked, in input order, and each carrier's page for a person to read."""

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
    with open_store(settings) as store:
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
