"""Dated, per-carrier advice rules: load them, merge a dealer's file, decide.

A *rule* says what to do in one *situation* (a consumer purchase, a marketplace
listing, a dealer buy-back, a dealer sale grade, the dealer's 赤ロム guarantee) when
the facts about a device match its ``when`` condition. Rules live in YAML files
(``advice/rules/<situation>.yaml``), one list per file::

    situation: buyback
    rules:
      - id: buyback.pending
        situation: buyback
        effective_from: 2016-06-01      # applies on and after this day
        effective_until: 2030-01-01     # optional; applies strictly before this day
        carriers: any                   # or a list: [docomo, au]; matched against origin_carrier
        when:                           # every condition must hold; a missing fact never matches
          verdict: [caution]
          days_since_purchase: {min: 0, max: 2}
          after_repair: true
        outcome: {decision: allow_with_conditions, price_factor: 0.5}
                                        # also: grade_cap: A, recheck_after_days: 2,
                                        # must_state: [imei, contract_status]
        priority: 20
        summary: {ja: "...", en: "..."}
        actions: {ja: ["..."], en: ["..."]}
        sources: ["domain.md §5 ..."]

Commands read the shipped rules from ``advice/rules/shipped.json``, the same files
compiled by ``python scripts/compile_data.py`` (a test fails while the two differ):
importing a YAML parser and parsing cost a cached ``akarom check`` a sixth of its
time. The YAML files stay the ones to edit; a dealer's file is read as YAML.

A dealer's override file has the same rule format, with an optional top-level
``disable: [ids]``. An override rule whose ``id`` is a shipped rule's replaces it;
a new ``id`` adds a rule.

**Precedence.** Of the rules that apply (situation, date, carrier and ``when`` all
match), the one with the highest ``priority`` decides; on a tie the most specific
(one point per ``when`` condition, one for a carrier list); then the newest
``effective_from``; then the greatest ``id``, so the answer never depends on file
order. A rule change (a new law, a marketplace's new policy) is therefore a new rule
with a later ``effective_from`` and the same priority and conditions.

**Safety.** An ``allow`` or ``allow_with_conditions`` outcome never decides for a
device whose verdict is not ``clear`` or ``caution``: such a rule is refused when
loaded if its ``when.verdict`` names ``red``, ``incomplete`` or ``invalid``, and is
skipped at decision time otherwise. When no rule applies the decision is
``undecided`` and names no rule.

>>> rules = load_rules()
>>> d = rules.decide("buyback", Facts(verdict=Verdict.CAUTION, status=Status.PENDING),
...                  on=date(2025, 1, 1))
>>> d.decision, d.outcome.price_factor, d.rule_id
(<Action.ALLOW_WITH_CONDITIONS: 'allow_with_conditions'>, 0.5, 'buyback.pending')
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from akarom.domain import (
    Carrier,
    Status,
    Verdict,
)
from akarom.errors import ConfigError

__all__ = [
    "SAFE_ACTIONS",
    "SAFE_VERDICTS",
    "SITUATIONS",
    "Action",
    "Condition",
    "Decision",
    "Disclosure",
    "Facts",
    "Grade",
    "Lang",
    "Marketplace",
    "Outcome",
    "Rule",
    "RuleError",
    "RuleSet",
    "Seller",
    "Sim",
    "load_rule_file",
    "load_rules",
    "shipped_rule_files",
]

Lang = Literal["ja", "en"]
LANGS: tuple[Lang, ...] = ("ja", "en")

SITUATIONS: tuple[str, ...] = ("purchase", "marketplace", "buyback", "sale_grade", "guarantee")


class Action(StrEnum):
    """What the advice tells the person to do."""

    ALLOW = "allow"
    ALLOW_WITH_CONDITIONS = "allow_with_conditions"
    REFUSE = "refuse"
    RECHECK = "recheck"
    ADVISE = "advise"  # no yes/no: what to do with a device one already has
    UNDECIDED = "undecided"  # no rule applies (never written in a rule file)


SAFE_ACTIONS: frozenset[Action] = frozenset({Action.ALLOW, Action.ALLOW_WITH_CONDITIONS})
#: The only verdicts for which a safe action may decide.
SAFE_VERDICTS: frozenset[Verdict] = frozenset({Verdict.CLEAR, Verdict.CAUTION})


class Sim(StrEnum):
    """How the device is locked (domain.md §2)."""

    FREE = "free"  # SIMフリー: sold without a lock
    UNLOCKED = "unlocked"  # SIMロック解除済み
    LOCKED = "locked"


class Marketplace(StrEnum):
    MERCARI = "mercari"
    YAHOO = "yahoo"  # Yahoo!オークション / Yahoo!フリマ
    RAKUMA = "rakuma"  # 楽天ラクマ


class Disclosure(StrEnum):
    """What a marketplace listing must state (domain.md §5)."""

    IMEI = "imei"
    CONTRACT_STATUS = "contract_status"  # 契約状況: paid off / instalments remaining
    ACQUISITION = "acquisition"  # 入手経路: where the seller got the phone
    RESTRICTION_STATUS = "restriction_status"  # the ○/△/× shown by the selling carrier
    COMPENSATION = "compensation"  # what the seller pays if the phone turns ×


class Seller(StrEnum):
    INDIVIDUAL = "individual"
    STORE = "store"


class Grade(StrEnum):
    """RMJ condition grades, best first (domain.md §7)."""

    S = "S"
    A = "A"
    B = "B"
    C = "C"
    J = "J"


class RuleError(ConfigError):
    """A rule file that cannot be used; the message names the file, the rule and the field."""

    def __init__(
        self, message: str, *, path: str, rule_id: str | None = None, field: str | None = None
    ) -> None:
        where = path
        if rule_id is not None:
            where += f": rule {rule_id!r}"
        if field is not None:
            where += f": field {field!r}"
        super().__init__(f"{where}: {message}")
        self.path = path
        self.rule_id = rule_id
        self.field = field


# --- facts ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Facts:
    """What is known about one device when advice is asked for.

    ``status`` is the selling carrier's answer (``unregistered`` when no carrier has a
    record). ``days_since_purchase`` is set once the person owns the device (0 = today);
    ``after_repair`` when the check follows a repair that may have changed the IMEI.
    ``seller``/``compensates`` describe a marketplace seller (Yahoo! store sellers).
    """

    verdict: Verdict
    status: Status | None = None
    origin_carrier: Carrier | None = None
    sim: Sim | None = None
    days_since_purchase: int | None = None
    after_repair: bool | None = None
    marketplace: Marketplace | None = None
    seller: Seller | None = None
    compensates: bool | None = None


_CHOICE_FACTS: dict[str, tuple[str, ...]] = {
    "verdict": tuple(Verdict),
    "status": tuple(Status),
    "origin_carrier": tuple(Carrier),
    "sim": tuple(Sim),
    "marketplace": tuple(Marketplace),
    "seller": tuple(Seller),
}
_RANGE_FACTS = ("days_since_purchase",)
_FLAG_FACTS = ("after_repair", "compensates")
FACT_NAMES: tuple[str, ...] = (*_CHOICE_FACTS, *_RANGE_FACTS, *_FLAG_FACTS)


@dataclass(frozen=True, slots=True)
class Condition:
    """One fact's test: one of ``values``, within ``low``..``high``, or equal to ``flag``."""

    fact: str
    values: frozenset[str] | None = None
    low: int | None = None
    high: int | None = None
    flag: bool | None = None

    def holds(self, facts: Facts) -> bool:
        value = getattr(facts, self.fact)
        if value is None:
            return False
        if self.values is not None:
            return str(value) in self.values
        if self.flag is not None:
            return bool(value) is self.flag
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)


# --- rules --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    decision: Action
    price_factor: float | None = None  # multiply the normal buy-back price
    grade_cap: Grade | None = None  # best grade the device may be sold under
    recheck_after_days: int | None = None
    must_state: tuple[Disclosure, ...] = ()  # what a listing must state


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    situation: str
    effective_from: date
    outcome: Outcome
    summary: Mapping[Lang, str]
    actions: Mapping[Lang, tuple[str, ...]]
    sources: tuple[str, ...]
    effective_until: date | None = None
    carriers: frozenset[Carrier] | None = None  # None: any carrier (or none known)
    when: tuple[Condition, ...] = ()
    priority: int = 0
    file: str = ""

    @property
    def specificity(self) -> int:
        return len(self.when) + (self.carriers is not None)

    def in_force(self, on: date) -> bool:
        return self.effective_from <= on and (
            self.effective_until is None or on < self.effective_until
        )

    def applies(self, situation: str, facts: Facts, on: date) -> bool:
        if self.situation != situation or not self.in_force(on):
            return False
        if self.carriers is not None and facts.origin_carrier not in self.carriers:
            return False
        if self.outcome.decision in SAFE_ACTIONS and facts.verdict not in SAFE_VERDICTS:
            return False
        return all(condition.holds(facts) for condition in self.when)


@dataclass(frozen=True, slots=True)
class Decision:
    """The advice for one device in one situation, and the rule that gave it."""

    situation: str
    outcome: Outcome
    summary: Mapping[Lang, str]
    actions: Mapping[Lang, tuple[str, ...]]
    rule_id: str | None
    rule_file: str | None
    sources: tuple[str, ...]
    on: date
    considered: tuple[str, ...] = field(default=())  # every rule that applied, deciding one first

    @property
    def decision(self) -> Action:
        return self.outcome.decision


_UNDECIDED_SUMMARY: dict[Lang, str] = {
    "ja": "この状況に当てはまるルールがありません。人が判断してください。",
    "en": "No rule covers this case; a person has to decide.",
}
_UNDECIDED_ACTIONS: dict[Lang, tuple[str, ...]] = {
    "ja": ("各キャリアの回答を確認し、必要なら再チェックしてください。",),
    "en": ("Look at each carrier's answer and check again if needed.",),
}


def _precedence(rule: Rule) -> tuple[int, int, date, str]:
    return (rule.priority, rule.specificity, rule.effective_from, rule.id)


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: Mapping[str, Rule]

    def for_situation(self, situation: str) -> list[Rule]:
        return [rule for rule in self.rules.values() if rule.situation == situation]

    def decide(self, situation: str, facts: Facts, on: date) -> Decision:
        """The advice in force ``on`` that day; see the module docstring for precedence."""
        if situation not in SITUATIONS:
            raise ValueError(f"unknown situation {situation!r}; expected one of {SITUATIONS}")
        applying = sorted(
            (rule for rule in self.rules.values() if rule.applies(situation, facts, on)),
            key=_precedence,
            reverse=True,
        )
        if not applying:
            return Decision(
                situation=situation,
                outcome=Outcome(Action.UNDECIDED),
                summary=_UNDECIDED_SUMMARY,
                actions=_UNDECIDED_ACTIONS,
                rule_id=None,
                rule_file=None,
                sources=(),
                on=on,
            )
        rule = applying[0]
        return Decision(
            situation=situation,
            outcome=rule.outcome,
            summary=rule.summary,
            actions=rule.actions,
            rule_id=rule.id,
            rule_file=rule.file,
            sources=rule.sources,
            on=on,
            considered=tuple(r.id for r in applying),
        )

    def with_override(self, path: str | Path) -> RuleSet:
        """These rules with a dealer's file merged in (replace by id, add, ``disable``)."""
        name = str(Path(path))
        added, disabled = _rules_of(_read_yaml(Path(path)), name, file=name, shipped=False)
        merged = dict(self.rules)
        for rule_id in disabled:
            if rule_id not in merged and rule_id not in {r.id for r in added}:
                raise RuleError(
                    "disables a rule that does not exist",
                    path=str(path),
                    rule_id=rule_id,
                    field="disable",
                )
            merged.pop(rule_id, None)
        for rule in added:
            merged[rule.id] = rule
        return RuleSet(merged)


# --- loading ------------------------------------------------------------------------

_RULE_KEYS = {
    "id",
    "situation",
    "effective_from",
    "effective_until",
    "carriers",
    "when",
    "outcome",
    "priority",
    "summary",
    "actions",
    "sources",
}
_REQUIRED_KEYS = ("id", "situation", "effective_from", "outcome", "summary", "actions", "sources")
_OUTCOME_KEYS = {"decision", "price_factor", "grade_cap", "recheck_after_days", "must_state"}
_UNSAFE_VERDICTS = {str(v) for v in Verdict} - {str(v) for v in SAFE_VERDICTS}


class _Reader:
    """Validates one rule's raw mapping, raising RuleError with file, id and field."""

    def __init__(self, path: str, raw: Mapping[str, Any], rule_id: str | None) -> None:
        self.path = path
        self.raw = raw
        self.rule_id = rule_id

    def fail(self, field: str, message: str) -> RuleError:
        return RuleError(message, path=self.path, rule_id=self.rule_id, field=field)

    def date(self, field: str) -> date | None:
        value = self.raw.get(field)
        if value is None:
            return None
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        raise self.fail(field, f"expected a date YYYY-MM-DD, got {value!r}")

    def texts(self, field: str) -> dict[Lang, Any]:
        value = self.raw[field]
        if not isinstance(value, Mapping) or set(value) != set(LANGS):
            raise self.fail(field, "expected a mapping with exactly the languages ja and en")
        return {lang: value[lang] for lang in LANGS}

    def rule(self, file: str) -> Rule:
        raw = self.raw
        unknown = set(raw) - _RULE_KEYS
        if unknown:
            raise self.fail(sorted(unknown)[0], f"unknown field; allowed: {sorted(_RULE_KEYS)}")
        for key in _REQUIRED_KEYS:
            if key not in raw:
                raise self.fail(key, "missing")
        situation = raw["situation"]
        if situation not in SITUATIONS:
            raise self.fail(
                "situation", f"unknown situation {situation!r}; expected one of {SITUATIONS}"
            )
        effective_from = self.date("effective_from")
        assert effective_from is not None  # required above
        effective_until = self.date("effective_until")
        if effective_until is not None and effective_until <= effective_from:
            raise self.fail("effective_until", "must be after effective_from")
        outcome = self.outcome()
        when = self.when()
        for condition in when:
            if (
                condition.fact == "verdict"
                and outcome.decision in SAFE_ACTIONS
                and condition.values is not None
                and condition.values & _UNSAFE_VERDICTS
            ):
                raise self.fail(
                    "outcome",
                    f"{outcome.decision} is not allowed for verdicts {sorted(_UNSAFE_VERDICTS)}",
                )
        priority = raw.get("priority", 0)
        if not isinstance(priority, int) or isinstance(priority, bool):
            raise self.fail("priority", f"expected an integer, got {priority!r}")
        summary = self.texts("summary")
        for lang, text in summary.items():
            if not isinstance(text, str) or not text.strip():
                raise self.fail("summary", f"{lang}: expected a non-empty string")
        actions = self.texts("actions")
        for lang, items in actions.items():
            if not isinstance(items, list) or not all(
                isinstance(i, str) and i.strip() for i in items
            ):
                raise self.fail("actions", f"{lang}: expected a list of non-empty strings")
        if len(actions["ja"]) != len(actions["en"]):
            raise self.fail("actions", "ja and en must list the same number of actions")
        sources = raw["sources"]
        if (
            not isinstance(sources, list)
            or not sources
            or not all(isinstance(s, str) and s for s in sources)
        ):
            raise self.fail("sources", "expected a non-empty list of URLs or document names")
        return Rule(
            id=raw["id"],
            situation=situation,
            effective_from=effective_from,
            effective_until=effective_until,
            carriers=self.carriers(),
            when=when,
            outcome=outcome,
            priority=priority,
            summary=summary,
            actions={lang: tuple(actions[lang]) for lang in LANGS},
            sources=tuple(sources),
            file=file,
        )

    def carriers(self) -> frozenset[Carrier] | None:
        value = self.raw.get("carriers", "any")
        if value == "any":
            return None
        if not isinstance(value, list) or not value:
            raise self.fail("carriers", f"expected 'any' or a list of carriers, got {value!r}")
        try:
            return frozenset(Carrier(c) for c in value)
        except ValueError:
            raise self.fail(
                "carriers", f"unknown carrier in {value!r}; expected {[str(c) for c in Carrier]}"
            ) from None

    def outcome(self) -> Outcome:
        raw = self.raw["outcome"]
        if isinstance(raw, str):
            raw = {"decision": raw}
        if not isinstance(raw, Mapping) or "decision" not in raw:
            raise self.fail("outcome", "expected a mapping with a 'decision'")
        unknown = set(raw) - _OUTCOME_KEYS
        if unknown:
            raise self.fail(
                f"outcome.{sorted(unknown)[0]}", f"unknown field; allowed: {sorted(_OUTCOME_KEYS)}"
            )
        allowed = [str(a) for a in Action if a is not Action.UNDECIDED]
        if raw["decision"] not in allowed:
            raise self.fail("outcome.decision", f"{raw['decision']!r} is not one of {allowed}")
        price_factor = raw.get("price_factor")
        if price_factor is not None and (
            isinstance(price_factor, bool)
            or not isinstance(price_factor, int | float)
            or not 0 <= price_factor <= 1
        ):
            raise self.fail(
                "outcome.price_factor", f"expected a number from 0 to 1, got {price_factor!r}"
            )
        grade_cap = raw.get("grade_cap")
        if grade_cap is not None and grade_cap not in [str(g) for g in Grade]:
            raise self.fail(
                "outcome.grade_cap", f"{grade_cap!r} is not one of {[str(g) for g in Grade]}"
            )
        days = raw.get("recheck_after_days")
        if days is not None and (not isinstance(days, int) or isinstance(days, bool) or days < 0):
            raise self.fail(
                "outcome.recheck_after_days", f"expected a whole number of days, got {days!r}"
            )
        must_state = raw.get("must_state", [])
        disclosures = [str(d) for d in Disclosure]
        if not isinstance(must_state, list) or any(d not in disclosures for d in must_state):
            raise self.fail("outcome.must_state", f"expected a list of {disclosures}")
        return Outcome(
            decision=Action(raw["decision"]),
            price_factor=None if price_factor is None else float(price_factor),
            grade_cap=None if grade_cap is None else Grade(grade_cap),
            recheck_after_days=days,
            must_state=tuple(Disclosure(d) for d in must_state),
        )

    def when(self) -> tuple[Condition, ...]:
        raw = self.raw.get("when") or {}
        if not isinstance(raw, Mapping):
            raise self.fail("when", "expected a mapping of fact → condition")
        conditions = []
        for fact, test in raw.items():
            name = f"when.{fact}"
            if fact in _CHOICE_FACTS:
                choices = _CHOICE_FACTS[fact]
                values = [test] if isinstance(test, str) else test
                if not isinstance(values, list) or not values:
                    raise self.fail(name, f"expected a list of {list(choices)}")
                bad = [v for v in values if v not in choices]
                if bad:
                    raise self.fail(name, f"{bad[0]!r} is not one of {list(choices)}")
                conditions.append(Condition(fact, values=frozenset(values)))
            elif fact in _RANGE_FACTS:
                if not isinstance(test, Mapping) or not test or set(test) - {"min", "max"}:
                    raise self.fail(name, "expected {min: N} and/or {max: N}")
                for bound in test.values():
                    if not isinstance(bound, int) or isinstance(bound, bool):
                        raise self.fail(name, f"expected whole numbers, got {bound!r}")
                conditions.append(Condition(fact, low=test.get("min"), high=test.get("max")))
            elif fact in _FLAG_FACTS:
                if not isinstance(test, bool):
                    raise self.fail(name, f"expected true or false, got {test!r}")
                conditions.append(Condition(fact, flag=test))
            else:
                raise self.fail(name, f"unknown fact; known facts: {list(FACT_NAMES)}")
        return tuple(conditions)


#: The shipped rules, read from their YAML files and compiled into one JSON file.
RULES_FOLDER = Path(__file__).parent / "rules"
COMPILED_RULES = RULES_FOLDER / "shipped.json"


@functools.cache
def _yaml_loader() -> Any:
    """Safe YAML that keeps dates as text, so a bad date is reported with its rule and field.

    libyaml's parser where installed. Built on first use: YAML is imported only by
    what reads a YAML file (a dealer's rules, the compiler, the tests).
    """
    import yaml

    class Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
        pass

    def timestamp_as_text(loader: yaml.SafeLoader, node: yaml.Node) -> str:
        return str(node.value)

    Loader.add_constructor("tag:yaml.org,2002:timestamp", timestamp_as_text)
    return Loader


def _read_yaml(path: Path) -> object:
    import yaml

    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_yaml_loader())
    except OSError as exc:
        raise RuleError(f"cannot read: {exc.strerror or exc}", path=str(path)) from None
    except yaml.YAMLError as exc:
        raise RuleError(f"not valid YAML: {exc}", path=str(path)) from None


def _rules_of(data: object, name: str, *, file: str, shipped: bool) -> tuple[list[Rule], list[str]]:
    """The rules (and ids to disable) of one file's ``data``; ``RuleError`` naming ``name``."""
    if not isinstance(data, Mapping):
        raise RuleError("expected a mapping with 'rules'", path=name)
    allowed = {"situation", "rules"} | (set() if shipped else {"disable"})
    unknown = set(data) - allowed
    if unknown:
        raise RuleError(
            f"unknown top-level key; allowed: {sorted(allowed)}",
            path=name,
            field=sorted(unknown)[0],
        )
    file_situation = data.get("situation")
    raw_rules = data.get("rules") or []
    if not isinstance(raw_rules, list):
        raise RuleError("expected a list of rules", path=name, field="rules")
    seen: set[str] = set()
    for index, raw in enumerate(raw_rules):
        if not isinstance(raw, Mapping):
            raise RuleError(f"rule #{index + 1} is not a mapping", path=name, field="rules")
        rule_id = raw.get("id")
        if not isinstance(rule_id, str) or not rule_id:
            raise RuleError(f"rule #{index + 1} has no id", path=name, field="id")
        if rule_id in seen:
            raise RuleError("duplicate id in this file", path=name, rule_id=rule_id, field="id")
        seen.add(rule_id)
    rules: list[Rule] = []
    for raw in raw_rules:
        rule_id = raw["id"]
        rule = _Reader(name, raw, rule_id).rule(file=file)
        if file_situation is not None and rule.situation != file_situation:
            raise RuleError(
                f"situation {rule.situation!r} in a file for {file_situation!r}",
                path=name,
                rule_id=rule_id,
                field="situation",
            )
        rules.append(rule)
    disable = data.get("disable") or []
    if not isinstance(disable, list) or not all(isinstance(i, str) for i in disable):
        raise RuleError("expected a list of rule ids", path=name, field="disable")
    return rules, disable


def load_rule_file(path: str | Path) -> list[Rule]:
    """The rules of one file in the shipped format, validated."""
    path = Path(path)
    rules, _ = _rules_of(_read_yaml(path), str(path), file=path.name, shipped=True)
    return rules


def shipped_rule_files() -> list[Path]:
    """The YAML files the shipped rules are edited in (``compiled_rules`` reads them)."""
    return sorted(RULES_FOLDER / f"{situation}.yaml" for situation in SITUATIONS)


def compiled_rules() -> str:
    """The shipped YAML files as the JSON commands read (``COMPILED_RULES``)."""
    files = {path.name: _read_yaml(path) for path in shipped_rule_files()}
    return json.dumps(files, ensure_ascii=False, indent=1) + "\n"


def load_rules(
    override: str | Path | None = None, *, files: Sequence[Path] | None = None
) -> RuleSet:
    """The shipped rules (or the YAML ``files``), with a dealer's ``override`` file merged in."""
    if files is None:
        compiled = json.loads(COMPILED_RULES.read_text(encoding="utf-8"))
        sources = [(RULES_FOLDER / name, data) for name, data in compiled.items()]
    else:
        sources = [(path, _read_yaml(path)) for path in files]
    rules: dict[str, Rule] = {}
    for path, data in sources:
        loaded, _ = _rules_of(data, str(path), file=path.name, shipped=True)
        for rule in loaded:
            if rule.id in rules:
                raise RuleError(
                    f"id also used in {rules[rule.id].file}",
                    path=str(path),
                    rule_id=rule.id,
                    field="id",
                )
            rules[rule.id] = rule
    ruleset = RuleSet(rules)
    return ruleset if override is None else ruleset.with_override(override)
