"""Advice for a checked device, per role: the dated rules decide, the catalogue words it.

A *role* is who asks: a ``buyer`` (a consumer buying, or who just bought, a used phone),
a ``seller`` (listing it on a marketplace) or a ``dealer`` (buying it back, grading it,
guaranteeing it). Each role maps to the situations of ``akarom.advice`` it needs; the
rules in force on the day decide each one and name the rule that did.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from akarom.advice import (
    Action,
    Decision,
    Facts,
    Marketplace,
    RuleSet,
    Seller,
    Sim,
    load_rules,
)
from akarom.config import Settings
from akarom.domain import JST, Carrier, Status, Verdict
from akarom.errors import UsageError
from akarom.services.device_reports import DeviceReport
from akarom.services.options import Role, SellerKind, SimLock

__all__ = [
    "ROLE_SITUATIONS",
    "Answer",
    "Circumstances",
    "DeviceAdvice",
    "Marketplace",
    "Role",
    "RuleSet",
    "Seller",
    "Sim",
    "SituationAdvice",
    "advise",
    "circumstances",
    "load_advice_rules",
    "parse_purchase_date",
    "parse_rules_day",
    "today_in_japan",
]


#: The situations each role is advised on, the one that answers its first question first.
ROLE_SITUATIONS: Mapping[Role, tuple[str, ...]] = {
    Role.BUYER: ("purchase",),
    Role.SELLER: ("marketplace",),
    Role.DEALER: ("buyback", "sale_grade", "guarantee"),
}


def today_in_japan() -> date:
    """The day the advice is for: carriers and marketplaces date their rules in JST."""
    return datetime.now(JST).date()


#: Words people use for a purchase date, and how many days ago each is.
_DAY_WORDS = {"today": 0, "今日": 0, "きょう": 0, "yesterday": 1, "昨日": 1, "きのう": 1}


def parse_purchase_date(value: str, today: date) -> date:
    """The day ``value`` names: ``YYYY-MM-DD``, ``today``/``今日`` or ``yesterday``/``昨日``.

    Raises ``UsageError`` for anything else, and for a day after ``today``: nobody
    has bought a phone tomorrow, and advice counted from then would be wrong.

    >>> parse_purchase_date(" 昨日 ", date(2026, 3, 1))
    datetime.date(2026, 2, 28)
    >>> parse_purchase_date("2026-03-02", date(2026, 3, 1))
    Traceback (most recent call last):
    ...
    akarom.errors.UsageError: --bought 2026-03-02 is in the future
    """
    word = value.strip().casefold()
    try:
        day = (
            today - timedelta(days=_DAY_WORDS[word])
            if word in _DAY_WORDS
            else date.fromisoformat(word)
        )
    except ValueError:
        raise UsageError(
            f"--bought must be YYYY-MM-DD, today or yesterday, not {value!r}",
            key="usage.bought",
            value=value,
        ) from None
    if day > today:
        raise UsageError(
            f"--bought {day} is in the future", key="usage.bought_future", value=day.isoformat()
        )
    return day


def parse_rules_day(value: str | None) -> date:
    """The day whose rules decide (``YYYY-MM-DD``); today in Japan when ``value`` is None.

    Raises ``UsageError`` for a value that is not a date.
    """
    if value is None:
        return today_in_japan()
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise UsageError(
            f"--on must be a date YYYY-MM-DD, not {value!r}", key="usage.on", value=value
        ) from None


def load_advice_rules(settings: Settings, override: Path | None = None) -> RuleSet:
    """The shipped rules with the dealer's file (``override``, else ``AKAROM_RULES_FILE``).

    Raises ``akarom.advice.RuleError`` (a ``ConfigError``) naming the file, rule and field.
    """
    return load_rules(override=override or settings.rules_file)


@dataclass(frozen=True, slots=True)
class Circumstances:
    """What the person knows about the device besides the carriers' answers.

    ``bought_on`` is set once the person owns the device; ``after_repair`` when the
    check follows a repair that swapped the body (a new IMEI). ``seller`` and
    ``compensates`` describe the one listing it on a marketplace.
    """

    sim: Sim | None = None
    bought_on: date | None = None
    after_repair: bool | None = None
    seller: Seller | None = None
    compensates: bool | None = None

    def facts(self, answer: Answer, on: date, marketplace: Marketplace | None) -> Facts:
        if self.bought_on is not None and self.bought_on > on:
            raise ValueError(f"the purchase date {self.bought_on} is after {on}")
        return Facts(
            verdict=answer.verdict,
            status=answer.status,
            origin_carrier=answer.origin_carrier,
            sim=self.sim,
            days_since_purchase=None if self.bought_on is None else (on - self.bought_on).days,
            after_repair=self.after_repair,
            marketplace=marketplace,
            seller=self.seller,
            compensates=self.compensates,
        )


def circumstances(
    *,
    sim: SimLock | Sim | None = None,
    bought: str | None = None,
    after_repair: bool = False,
    seller: SellerKind | Seller | None = None,
    compensates: bool = False,
    today: date,
) -> Circumstances:
    """What a person said about the device, as options say it.

    A flag not given is unknown (None), never "no". ``bought`` is read by
    ``parse_purchase_date`` (``UsageError`` for a bad or future day).
    """
    return Circumstances(
        sim=None if sim is None else Sim(sim.value),
        bought_on=None if bought is None else parse_purchase_date(bought, today),
        after_repair=True if after_repair else None,
        seller=None if seller is None else Seller(seller.value),
        compensates=True if compensates else None,
    )


@dataclass(frozen=True, slots=True)
class Answer:
    """What the carriers said, as far as advice needs it."""

    verdict: Verdict
    status: Status | None  # the selling carrier's; unregistered when no carrier has a record
    origin_carrier: Carrier | None

    @classmethod
    def of(cls, report: DeviceReport) -> Answer:
        return cls.from_symbols(
            report.verdict,
            report.origin_carrier,
            {result.carrier: result.status for result in report.results},
        )

    @classmethod
    def from_symbols(
        cls, verdict: Verdict, origin: Carrier | None, statuses: Mapping[Carrier, Status]
    ) -> Answer:
        status = None
        if origin is not None:
            status = statuses.get(origin)
        elif verdict is Verdict.CLEAR:
            status = Status.UNREGISTERED  # clear without a seller: every carrier said "-"
        return cls(verdict, status, origin)


@dataclass(frozen=True, slots=True)
class SituationAdvice:
    """The decision for one situation (and marketplace, when listing)."""

    situation: str
    marketplace: Marketplace | None
    decision: Decision

    @property
    def allowed(self) -> bool | None:
        """True or False when the rules say so; None when nobody can say yet."""
        if self.decision.decision in (Action.ALLOW, Action.ALLOW_WITH_CONDITIONS):
            return True
        if self.decision.decision is Action.REFUSE:
            return False
        return None


@dataclass(frozen=True, slots=True)
class DeviceAdvice:
    """One role's advice for one device on one day."""

    role: Role
    on: date
    situations: tuple[SituationAdvice, ...]  # ROLE_SITUATIONS order; sellers: per marketplace
    marketplaces: tuple[SituationAdvice, ...]  # every marketplace, whatever the role

    @property
    def first(self) -> Decision:
        return self.situations[0].decision


def advise(
    report: DeviceReport | Answer,
    rules: RuleSet,
    role: Role = Role.BUYER,
    circumstances: Circumstances | None = None,
    on: date | None = None,
) -> DeviceAdvice:
    """Decide every situation ``role`` needs for ``report``, under the rules in force ``on``."""
    if isinstance(report, DeviceReport):
        report = Answer.of(report)
    known = circumstances or Circumstances()
    day = on or today_in_japan()
    marketplaces = tuple(
        SituationAdvice(
            "marketplace",
            place,
            rules.decide("marketplace", known.facts(report, day, place), on=day),
        )
        for place in Marketplace
    )
    situations: list[SituationAdvice] = []
    for situation in ROLE_SITUATIONS[role]:
        if situation == "marketplace":
            situations.extend(marketplaces)
        else:
            facts = known.facts(report, day, None)
            situations.append(
                SituationAdvice(situation, None, rules.decide(situation, facts, on=day))
            )
    return DeviceAdvice(role=role, on=day, situations=tuple(situations), marketplaces=marketplaces)
