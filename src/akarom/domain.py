"""akarom's vocabulary: carriers, statuses, verdicts, and the rule that joins them.

A phone sold by a Japanese carrier can be put under ネットワーク利用制限 (network
usage restriction) by that carrier; such a phone is called 赤ロム ("red ROM"). Each
carrier's check page answers one of four symbols for one IMEI:

====  ==============  ==========================================================
○     ``ok``          paid for; not restricted now
△     ``pending``     payment remains or under review; may become restricted
×     ``restricted``  赤ロム: no calls or mobile data on that carrier
\\-    ``unregistered`` the carrier has no record of this IMEI
?     ``unknown``     akarom could not find out; never counted as safe
====  ==============  ==========================================================

>>> Status.PENDING.symbol
'△'
>>> resolve_carrier("Y!mobile")
<Carrier.SOFTBANK: 'softbank'>
>>> decide_verdict([answer(Carrier.DOCOMO, Status.OK)]).verdict
<Verdict.CLEAR: 'clear'>
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

__all__ = [
    "ALL_CARRIERS",
    "BRANDS",
    "Carrier",
    "CarrierResult",
    "Source",
    "Status",
    "Verdict",
    "VerdictDecision",
    "answer",
    "decide_verdict",
    "resolve_carrier",
]


class Carrier(StrEnum):
    """A carrier whose check page akarom asks; the value is the INTERFACES id."""

    DOCOMO = "docomo"
    AU = "au"
    SOFTBANK = "softbank"
    RAKUTEN = "rakuten"


ALL_CARRIERS: tuple[Carrier, ...] = tuple(Carrier)

#: The brands whose phones each carrier's page answers for (INTERFACES.md §2).
BRANDS: dict[Carrier, tuple[str, ...]] = {
    Carrier.DOCOMO: ("NTT docomo", "ahamo"),
    Carrier.AU: ("au", "UQ mobile", "povo"),
    Carrier.SOFTBANK: ("SoftBank", "Y!mobile", "LINEMO"),
    Carrier.RAKUTEN: ("Rakuten Mobile",),
}

# Brand names people type, after _alias_key() folding. Sub-brands are checked on
# their parent's page (carrier-sites.md §6): ahamo on docomo's, UQ and povo on
# KDDI's, Y!mobile, LINEMO and the old EMOBILE on SoftBank's.
_BRAND_ALIASES: dict[str, Carrier] = {
    "docomo": Carrier.DOCOMO,
    "nttdocomo": Carrier.DOCOMO,
    "ドコモ": Carrier.DOCOMO,
    "nttドコモ": Carrier.DOCOMO,
    "ahamo": Carrier.DOCOMO,
    "アハモ": Carrier.DOCOMO,
    "au": Carrier.AU,
    "kddi": Carrier.AU,
    "エーユー": Carrier.AU,
    "uq": Carrier.AU,
    "uqmobile": Carrier.AU,
    "uqモバイル": Carrier.AU,
    "ユーキューモバイル": Carrier.AU,
    "povo": Carrier.AU,
    "ポヴォ": Carrier.AU,
    "softbank": Carrier.SOFTBANK,
    "ソフトバンク": Carrier.SOFTBANK,
    "sb": Carrier.SOFTBANK,
    "ymobile": Carrier.SOFTBANK,
    "ワイモバイル": Carrier.SOFTBANK,
    "linemo": Carrier.SOFTBANK,
    "ラインモ": Carrier.SOFTBANK,
    "emobile": Carrier.SOFTBANK,
    "イーモバイル": Carrier.SOFTBANK,
    "rakuten": Carrier.RAKUTEN,
    "rakutenmobile": Carrier.RAKUTEN,
    "楽天": Carrier.RAKUTEN,
    "楽天モバイル": Carrier.RAKUTEN,
}


def _alias_key(name: str) -> str:
    folded = unicodedata.normalize("NFKC", name).casefold()
    return "".join(ch for ch in folded if ch not in " \t-_.・!！/")


def resolve_carrier(name: str) -> Carrier:
    """Return the carrier for an id or a brand name (``ahamo``, ``UQ mobile``, ``ワイモバイル``).

    Raises ``ValueError`` for a name that is neither.

    >>> resolve_carrier("ＵＱ mobile")
    <Carrier.AU: 'au'>
    >>> resolve_carrier("mvno")
    Traceback (most recent call last):
    ...
    ValueError: unknown carrier or brand: 'mvno'
    """
    carrier = _BRAND_ALIASES.get(_alias_key(name))
    if carrier is None:
        raise ValueError(f"unknown carrier or brand: {name!r}")
    return carrier


class Status(StrEnum):
    """What one carrier said about one IMEI."""

    OK = "ok"
    PENDING = "pending"
    RESTRICTED = "restricted"
    UNREGISTERED = "unregistered"
    UNKNOWN = "unknown"

    @property
    def symbol(self) -> str:
        """The canonical symbol: ○ △ × - or ? for unknown."""
        return _CANONICAL_SYMBOLS[self]

    @property
    def is_record(self) -> bool:
        """True when the carrier holds a record of the device (○ △ ×): it sold it."""
        return self in (Status.OK, Status.PENDING, Status.RESTRICTED)


_CANONICAL_SYMBOLS = {
    Status.OK: "○",
    Status.PENDING: "△",
    Status.RESTRICTED: "×",
    Status.UNREGISTERED: "-",
    Status.UNKNOWN: "?",
}


class Verdict(StrEnum):
    """The answer for one device across all carriers (INTERFACES.md §2)."""

    RED = "red"
    CAUTION = "caution"
    CLEAR = "clear"
    INCOMPLETE = "incomplete"
    INVALID = "invalid"

    @property
    def exit_code(self) -> int:
        """Exit code of ``akarom check`` for this verdict; with several devices the highest wins."""
        return _EXIT_CODES[self]


_EXIT_CODES = {
    Verdict.CLEAR: 0,
    Verdict.INVALID: 2,
    Verdict.CAUTION: 3,
    Verdict.RED: 4,
    Verdict.INCOMPLETE: 5,
}


class Source(StrEnum):
    """Where an answer came from."""

    LIVE = "live"
    CACHE = "cache"
    MANUAL = "manual"


# Error code of a carrier that was deliberately not asked. Only such results may be
# left open when the selling carrier has answered; a carrier that was asked and
# failed always keeps the verdict from being ``clear``.
SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class CarrierResult:
    """One carrier's answer for one device, or why there is none.

    ``status`` is ``unknown`` exactly when ``error`` is set. ``printed_symbol`` is the
    character as the page printed it (``▲``, ``－``, ``〇``); ``message`` is the
    carrier's own wording, if the page carried any. ``reason`` says, for a page the
    adapter did not recognise (``error`` ``unrecognised_page``), how it differed
    (``unaccounted text``, ``imei echo``…): what ``akarom doctor`` counts as drift.
    """

    carrier: Carrier
    status: Status
    checked_at: datetime | None = None
    source: Source | None = None
    message: str | None = None
    error: str | None = None
    detail: str | None = None
    printed_symbol: str | None = None
    elapsed_s: float | None = None
    evidence: tuple[str, ...] = field(default=())
    reason: str | None = None

    def __post_init__(self) -> None:
        if (self.status is Status.UNKNOWN) != (self.error is not None):
            raise ValueError("a result is unknown exactly when it carries an error code")

    @property
    def symbol(self) -> str:
        return self.status.symbol

    @property
    def skipped(self) -> bool:
        return self.error == SKIPPED


def answer(carrier: Carrier, status: Status, **fields: object) -> CarrierResult:
    """Shorthand for a result that carries a status (tests and doctests use it)."""
    return CarrierResult(carrier, status, **fields)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class VerdictDecision:
    verdict: Verdict
    origin_carrier: Carrier | None


_SEVERITY = (Status.RESTRICTED, Status.PENDING, Status.OK)


def decide_verdict(
    results: Iterable[CarrierResult], carriers: Collection[Carrier] = ALL_CARRIERS
) -> VerdictDecision:
    """Join per-carrier results into one verdict (INTERFACES.md §2).

    ``carriers`` are the carriers whose answer the device needs (all four, or only
    au for a MEID): ``clear`` by "nobody has a record" needs every one of them to
    have said ``unregistered``. A carrier that was asked and failed keeps the
    verdict from ``clear`` even when the selling carrier said ○.

    >>> d = decide_verdict([answer(Carrier.DOCOMO, Status.UNREGISTERED)])
    >>> d.verdict, d.origin_carrier
    (<Verdict.INCOMPLETE: 'incomplete'>, None)
    >>> decide_verdict([answer(Carrier.AU, Status.PENDING),
    ...                 answer(Carrier.DOCOMO, Status.RESTRICTED)]).origin_carrier
    <Carrier.DOCOMO: 'docomo'>
    """
    by_carrier = {result.carrier: result for result in results}
    statuses = {result.status for result in by_carrier.values()}
    origin = next(
        (
            carrier
            for severity in _SEVERITY
            for carrier, result in by_carrier.items()
            if result.status is severity
        ),
        None,
    )
    if Status.RESTRICTED in statuses:
        return VerdictDecision(Verdict.RED, origin)
    if Status.PENDING in statuses:
        return VerdictDecision(Verdict.CAUTION, origin)
    failed = any(r.status is Status.UNKNOWN and not r.skipped for r in by_carrier.values())
    if Status.OK in statuses:
        return VerdictDecision(Verdict.INCOMPLETE if failed else Verdict.CLEAR, origin)
    everyone_unregistered = all(
        carrier in by_carrier and by_carrier[carrier].status is Status.UNREGISTERED
        for carrier in carriers
    )
    return VerdictDecision(Verdict.CLEAR if everyone_unregistered else Verdict.INCOMPLETE, None)
