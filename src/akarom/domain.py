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
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from types import MappingProxyType
from typing import ClassVar, Generic, TypeVar

__all__ = [
    "JST",
    "SKIPPED",
    "Carrier",
    "CarrierParts",
    "CarrierResult",
    "Source",
    "Status",
    "Verdict",
    "VerdictDecision",
    "answer",
    "decide_verdict",
    "resolve_carrier",
]

#: Carriers report in Japan time; Japan has no daylight saving time.
JST = timezone(timedelta(hours=9), "JST")


def _alias_key(name: str) -> str:
    folded = unicodedata.normalize("NFKC", name).casefold()
    return "".join(ch for ch in folded if ch not in " \t-_.・!！/")


class _CarrierList(type):
    """Lets ``Carrier`` be used as the list of carriers: iterated, counted, called by id."""

    _registered: dict[str, Carrier]

    def __iter__(cls) -> Iterator[Carrier]:
        return iter(tuple(cls._registered.values()))

    def __len__(cls) -> int:
        return len(cls._registered)

    def __call__(cls, value: object) -> Carrier:
        found = cls._registered.get(value) if isinstance(value, str) else None
        if found is None:
            raise ValueError(f"{value!r} is not a valid Carrier")
        return found


class Carrier(str, metaclass=_CarrierList):
    """A carrier whose check page akarom asks; its value is the INTERFACES id.

    **The one list of carriers.** ``for carrier in Carrier`` gives every registered
    carrier in registration order, ``Carrier("au")`` the one with that id (or
    ``ValueError``), ``Carrier.AU`` a built-in. Every layer derives its carriers from
    here: the adapters, the sandbox's sites, the bulk report's columns, the CLI's help,
    the settings (``AKAROM_<ID>_URL``…). A carrier carries what people call it
    (``brands``, the ``aliases`` they type, a ``label`` per language); ``register``
    adds one (see "Adding a carrier" in ``docs/architecture.md``).

    >>> Carrier("softbank") is Carrier.SOFTBANK, Carrier.SOFTBANK == "softbank"
    (True, True)
    >>> [str(c) for c in Carrier]
    ['docomo', 'au', 'softbank', 'rakuten']
    """

    _registered: ClassVar[dict[str, Carrier]] = {}
    DOCOMO: ClassVar[Carrier]
    AU: ClassVar[Carrier]
    SOFTBANK: ClassVar[Carrier]
    RAKUTEN: ClassVar[Carrier]

    name: str
    brands: tuple[str, ...]
    aliases: frozenset[str]
    labels: Mapping[str, str]

    @classmethod
    def register(
        cls,
        value: str,
        *,
        brands: tuple[str, ...],
        labels: Mapping[str, str],
        aliases: Iterable[str] = (),
    ) -> Carrier:
        """Add a carrier to the list (``value``: its INTERFACES id, lower-case ASCII).

        ``labels`` names it for people (``ja`` and ``en``); ``aliases`` are the other
        names people type for it (its brands and the id are aliases already).
        ``ValueError`` for an id, label or alias already taken.
        """
        if not value.isascii() or not value.isidentifier() or value != value.lower():
            raise ValueError(f"a carrier id is a lower-case ASCII identifier, not {value!r}")
        if value in cls._registered:
            raise ValueError(f"the carrier {value!r} is already registered")
        if set(labels) != {"ja", "en"}:
            raise ValueError(f"{value}: labels in ja and en are needed, not {sorted(labels)}")
        keys = {_alias_key(name) for name in (value, *brands, *aliases)}
        for carrier in cls._registered.values():
            taken = keys & carrier.aliases
            if taken:
                raise ValueError(f"{value}: {sorted(taken)} already name {carrier}")
        carrier = str.__new__(cls, value)
        carrier.name = value.upper()
        carrier.brands = tuple(brands)
        carrier.aliases = frozenset(keys)
        carrier.labels = MappingProxyType(dict(labels))
        cls._registered[value] = carrier
        return carrier

    @classmethod
    def unregister(cls, carrier: Carrier) -> None:
        """Take a carrier off the list again (tests that register one of their own)."""
        if carrier in (cls.DOCOMO, cls.AU, cls.SOFTBANK, cls.RAKUTEN):
            raise ValueError(f"{carrier} is built in")
        cls._registered.pop(carrier.value, None)

    @property
    def value(self) -> str:
        """The INTERFACES id, as a plain ``str``."""
        return str.__str__(self)

    def label(self, lang: str) -> str:
        """What people call the carrier, in ``lang`` (``ja``, else English)."""
        return self.labels.get(lang, self.labels["en"])

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    def __repr__(self) -> str:
        return f"<Carrier.{self.name}: {self.value!r}>"

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return Carrier, (self.value,)


# Sub-brands are checked on their parent's page (carrier-sites.md §6): ahamo on
# docomo's, UQ and povo on KDDI's, Y!mobile, LINEMO and the old EMOBILE on SoftBank's.
Carrier.DOCOMO = Carrier.register(
    "docomo",
    brands=("NTT docomo", "ahamo"),
    labels={"ja": "ドコモ", "en": "docomo"},
    aliases=("ドコモ", "NTTドコモ", "アハモ"),
)
Carrier.AU = Carrier.register(
    "au",
    brands=("au", "UQ mobile", "povo"),
    labels={"ja": "au (KDDI)", "en": "au (KDDI)"},
    aliases=("KDDI", "エーユー", "UQ", "UQモバイル", "ユーキューモバイル", "ポヴォ"),
)
Carrier.SOFTBANK = Carrier.register(
    "softbank",
    brands=("SoftBank", "Y!mobile", "LINEMO"),
    labels={"ja": "ソフトバンク", "en": "SoftBank"},
    aliases=("ソフトバンク", "SB", "ワイモバイル", "ラインモ", "EMOBILE", "イーモバイル"),
)
Carrier.RAKUTEN = Carrier.register(
    "rakuten",
    brands=("Rakuten Mobile",),
    labels={"ja": "楽天モバイル", "en": "Rakuten Mobile"},
    aliases=("楽天", "楽天モバイル"),
)


_Part = TypeVar("_Part")


class CarrierParts(Generic[_Part]):
    """What one layer gives each carrier of the list: its adapter, its sandbox site.

    ``built_in`` are the parts shipped with akarom and cannot be taken away;
    ``register`` adds one for a carrier registered elsewhere (a plugin, a test),
    ``unregister`` removes it again. ``parts[carrier]`` raises ``LookupError`` for a
    carrier without one, saying how to register it, so a service fails at start-up.
    """

    def __init__(self, what: str, how: str, built_in: Mapping[Carrier, _Part]) -> None:
        self._what, self._how = what, how
        self._built_in = frozenset(built_in)
        self._parts = dict(built_in)

    def register(self, carrier: Carrier, part: _Part) -> _Part:
        """Give ``carrier`` its part; ``ValueError`` if it has one already."""
        if carrier in self._parts:
            raise ValueError(f"{carrier} already has a {self._what}")
        self._parts[carrier] = part
        return part

    def unregister(self, carrier: Carrier) -> None:
        """Take a registered part away again."""
        if carrier in self._built_in:
            raise ValueError(f"{carrier}'s {self._what} is built in")
        self._parts.pop(carrier, None)

    def __getitem__(self, carrier: Carrier) -> _Part:
        try:
            return self._parts[carrier]
        except KeyError:
            raise LookupError(
                f"no {self._what} for the carrier {carrier}: register one with {self._how} "
                "(docs/architecture.md, Adding a carrier)"
            ) from None


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
    key = _alias_key(name)
    for carrier in Carrier:
        if key in carrier.aliases:
            return carrier
    raise ValueError(f"unknown carrier or brand: {name!r}")


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
    results: Iterable[CarrierResult], carriers: Collection[Carrier] | None = None
) -> VerdictDecision:
    """Join per-carrier results into one verdict (INTERFACES.md §2).

    ``carriers`` are the carriers whose answer the device needs (every carrier by
    default, or only au for a MEID): ``clear`` by "nobody has a record" needs every one of them to
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
        for carrier in (Carrier if carriers is None else carriers)
    )
    return VerdictDecision(Verdict.CLEAR if everyone_unregistered else Verdict.INCOMPLETE, None)
