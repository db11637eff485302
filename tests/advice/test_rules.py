"""Every shipped advice rule decides its own case; overrides and dates change advice."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from akarom.advice import (
    Action,
    Facts,
    Marketplace,
    RuleError,
    Seller,
    Sim,
    load_rule_file,
    load_rules,
)
from akarom.advice.engine import (
    COMPILED_RULES,
    SAFE_ACTIONS,
    SITUATIONS,
    compiled_rules,
    shipped_rule_files,
)
from akarom.domain import Carrier, Status, Verdict

TODAY = date(2025, 6, 1)
RULES = load_rules()
EXAMPLE_OVERRIDE = (
    Path(__file__).parents[2] / "src" / "akarom" / "advice" / "examples" / "dealer_override.yaml"
)

C, V, S = Carrier, Verdict, Status


def facts(
    verdict: Verdict, status: Status | None, carrier: Carrier | None = None, **kw: Any
) -> Facts:
    return Facts(verdict=verdict, status=status, origin_carrier=carrier, **kw)


MERCARI, YAHOO, RAKUMA = Marketplace.MERCARI, Marketplace.YAHOO, Marketplace.RAKUMA

# rule id → (situation, facts, expected decision). Every shipped rule needs a case.
CASES: dict[str, tuple[str, Facts, Action]] = {
    "purchase.clear": ("purchase", facts(V.CLEAR, S.OK, C.AU), Action.ALLOW),
    "purchase.clear.unregistered": (
        "purchase",
        facts(V.CLEAR, S.UNREGISTERED, sim=Sim.FREE),
        Action.ALLOW_WITH_CONDITIONS,
    ),
    "purchase.caution": (
        "purchase",
        facts(V.CAUTION, S.PENDING, C.AU),
        Action.ALLOW_WITH_CONDITIONS,
    ),
    "purchase.caution.owned": (
        "purchase",
        facts(V.CAUTION, S.PENDING, C.SOFTBANK, days_since_purchase=10),
        Action.ADVISE,
    ),
    "purchase.pending.docomo": ("purchase", facts(V.CAUTION, S.PENDING, C.DOCOMO), Action.RECHECK),
    "purchase.unregistered.just_bought": (
        "purchase",
        facts(V.CLEAR, S.UNREGISTERED, days_since_purchase=1),
        Action.RECHECK,
    ),
    "purchase.unregistered.after_repair": (
        "purchase",
        facts(V.INCOMPLETE, S.UNREGISTERED, after_repair=True),
        Action.RECHECK,
    ),
    "purchase.red": ("purchase", facts(V.RED, S.RESTRICTED, C.SOFTBANK), Action.REFUSE),
    "purchase.red.owned": (
        "purchase",
        facts(V.RED, S.RESTRICTED, C.SOFTBANK, days_since_purchase=30, sim=Sim.LOCKED),
        Action.ADVISE,
    ),
    "purchase.red.owned_unlocked": (
        "purchase",
        facts(V.RED, S.RESTRICTED, C.AU, days_since_purchase=30, sim=Sim.UNLOCKED),
        Action.ADVISE,
    ),
    "purchase.incomplete": ("purchase", facts(V.INCOMPLETE, None), Action.RECHECK),
    "purchase.invalid": ("purchase", facts(V.INVALID, None), Action.RECHECK),
    "marketplace.red": (
        "marketplace",
        facts(V.RED, S.RESTRICTED, C.AU, marketplace=MERCARI),
        Action.REFUSE,
    ),
    "marketplace.incomplete": (
        "marketplace",
        facts(V.INCOMPLETE, None, marketplace=YAHOO),
        Action.RECHECK,
    ),
    "marketplace.mercari.clear": (
        "marketplace",
        facts(V.CLEAR, S.OK, C.DOCOMO, marketplace=MERCARI),
        Action.ALLOW_WITH_CONDITIONS,
    ),
    "marketplace.mercari.caution": (
        "marketplace",
        facts(V.CAUTION, S.PENDING, C.AU, marketplace=MERCARI),
        Action.REFUSE,
    ),
    "marketplace.yahoo.ok": (
        "marketplace",
        facts(V.CLEAR, S.OK, C.AU, marketplace=YAHOO),
        Action.ALLOW_WITH_CONDITIONS,
    ),
    "marketplace.yahoo.unregistered": (
        "marketplace",
        facts(V.CLEAR, S.UNREGISTERED, marketplace=YAHOO),
        Action.REFUSE,
    ),
    "marketplace.yahoo.pending": (
        "marketplace",
        facts(V.CAUTION, S.PENDING, C.SOFTBANK, marketplace=YAHOO),
        Action.REFUSE,
    ),
    "marketplace.yahoo.pending.au": (
        "marketplace",
        facts(V.CAUTION, S.PENDING, C.AU, marketplace=YAHOO, seller=Seller.INDIVIDUAL),
        Action.REFUSE,
    ),
    "marketplace.yahoo.pending.store": (
        "marketplace",
        facts(V.CAUTION, S.PENDING, C.AU, marketplace=YAHOO, seller=Seller.STORE, compensates=True),
        Action.ALLOW_WITH_CONDITIONS,
    ),
    "marketplace.rakuma.pending": (
        "marketplace",
        facts(V.CAUTION, S.PENDING, C.RAKUTEN, marketplace=RAKUMA),
        Action.REFUSE,
    ),
    "marketplace.rakuma.unregistered": (
        "marketplace",
        facts(V.CLEAR, S.UNREGISTERED, marketplace=RAKUMA, sim=Sim.FREE),
        Action.REFUSE,
    ),
    "marketplace.rakuma.ok": (
        "marketplace",
        facts(V.CLEAR, S.OK, C.RAKUTEN, marketplace=RAKUMA),
        Action.ALLOW_WITH_CONDITIONS,
    ),
    "buyback.clear": ("buyback", facts(V.CLEAR, S.OK, C.DOCOMO), Action.ALLOW),
    "buyback.pending": ("buyback", facts(V.CAUTION, S.PENDING, C.AU), Action.ALLOW_WITH_CONDITIONS),
    "buyback.red": ("buyback", facts(V.RED, S.RESTRICTED, C.AU), Action.REFUSE),
    "buyback.incomplete": ("buyback", facts(V.INCOMPLETE, None), Action.RECHECK),
    "sale_grade.clear": ("sale_grade", facts(V.CLEAR, S.UNREGISTERED), Action.ALLOW),
    "sale_grade.pending": (
        "sale_grade",
        facts(V.CAUTION, S.PENDING, C.SOFTBANK),
        Action.ALLOW_WITH_CONDITIONS,
    ),
    "sale_grade.red": ("sale_grade", facts(V.RED, S.RESTRICTED, C.DOCOMO), Action.REFUSE),
    "sale_grade.incomplete": ("sale_grade", facts(V.INVALID, None), Action.RECHECK),
    "guarantee.clear": ("guarantee", facts(V.CLEAR, S.OK, C.AU), Action.ALLOW),
    "guarantee.pending": (
        "guarantee",
        facts(V.CAUTION, S.PENDING, C.AU),
        Action.ALLOW_WITH_CONDITIONS,
    ),
    "guarantee.red": ("guarantee", facts(V.RED, S.RESTRICTED, C.AU), Action.REFUSE),
    "guarantee.incomplete": ("guarantee", facts(V.INCOMPLETE, None), Action.RECHECK),
}


def test_every_shipped_rule_has_a_case() -> None:
    assert set(CASES) == set(RULES.rules)


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_decides_its_case(rule_id: str) -> None:
    situation, known, expected = CASES[rule_id]
    decision = RULES.decide(situation, known, on=TODAY)
    assert decision.rule_id == rule_id, decision.considered
    assert decision.decision is expected
    rule = RULES.rules[rule_id]
    assert decision.sources == rule.sources
    assert decision.rule_file == f"{situation}.yaml"
    assert decision.summary["ja"]
    assert decision.summary["en"]


def test_one_file_per_situation() -> None:
    assert [p.stem for p in shipped_rule_files()] == sorted(SITUATIONS)
    for path in shipped_rule_files():
        assert {r.situation for r in load_rule_file(path)} == {path.stem}


def test_the_compiled_rules_are_the_yaml_ones() -> None:
    """Commands read shipped.json; a rule edited in its YAML file alone never decides."""
    assert COMPILED_RULES.read_text(encoding="utf-8") == compiled_rules(), (
        "a rule file changed: run python scripts/compile_data.py"
    )
    assert load_rules() == load_rules(files=shipped_rule_files())


def test_buyback_pending_is_half_price() -> None:
    decision = RULES.decide("buyback", facts(V.CAUTION, S.PENDING, C.AU), on=TODAY)
    assert decision.outcome.price_factor == 0.5


def test_sale_grade_pending_caps_the_grade() -> None:
    decision = RULES.decide("sale_grade", facts(V.CAUTION, S.PENDING, C.AU), on=TODAY)
    assert decision.outcome.grade_cap == "A"


def test_just_bought_recheck_after_two_days() -> None:
    decision = RULES.decide(
        "purchase", facts(V.CLEAR, S.UNREGISTERED, days_since_purchase=0), TODAY
    )
    assert decision.outcome.recheck_after_days == 2


def test_yahoo_au_pending_before_2019_has_no_rule() -> None:
    au_pending = facts(V.CAUTION, S.PENDING, C.AU, marketplace=YAHOO)
    assert RULES.decide("marketplace", au_pending, on=date(2018, 6, 1)).decision is Action.UNDECIDED
    assert RULES.decide("marketplace", au_pending, on=date(2019, 1, 1)).decision is Action.REFUSE


def test_docomo_pending_rule_starts_june_2016() -> None:
    docomo = facts(V.CAUTION, S.PENDING, C.DOCOMO)
    assert RULES.decide("purchase", docomo, on=date(2016, 5, 31)).rule_id == "purchase.caution"
    assert (
        RULES.decide("purchase", docomo, on=date(2016, 6, 1)).rule_id == "purchase.pending.docomo"
    )


def test_unknown_situation() -> None:
    with pytest.raises(ValueError, match="unknown situation"):
        RULES.decide("rental", facts(V.CLEAR, S.OK), on=TODAY)


# --- safety -------------------------------------------------------------------------

FACTS = st.builds(
    Facts,
    verdict=st.sampled_from(Verdict),
    status=st.none() | st.sampled_from(Status),
    origin_carrier=st.none() | st.sampled_from(tuple(Carrier)),
    sim=st.none() | st.sampled_from(Sim),
    days_since_purchase=st.none() | st.integers(min_value=0, max_value=5000),
    after_repair=st.none() | st.booleans(),
    marketplace=st.none() | st.sampled_from(Marketplace),
    seller=st.none() | st.sampled_from(Seller),
    compensates=st.none() | st.booleans(),
)


@given(
    situation=st.sampled_from(SITUATIONS),
    known=FACTS,
    on=st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)),
)
def test_never_safe_for_red_or_incomplete(situation: str, known: Facts, on: date) -> None:
    decision = RULES.decide(situation, known, on=on)
    if known.verdict in (Verdict.RED, Verdict.INCOMPLETE, Verdict.INVALID):
        assert decision.decision not in SAFE_ACTIONS


@given(situation=st.sampled_from(SITUATIONS), known=FACTS)
def test_never_safe_for_red_even_with_a_careless_override(
    situation: str, known: Facts, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("override") / "careless.yaml"
    if not path.exists():
        path.write_text(
            "rules:\n" + _rule_yaml(f"careless.{situation}", situation, "{}", "allow", 99),
            encoding="utf-8",
        )
    decision = load_rules(override=path).decide(situation, known, on=TODAY)
    if known.verdict not in (Verdict.CLEAR, Verdict.CAUTION):
        assert decision.decision not in SAFE_ACTIONS
    else:
        assert decision.rule_id == f"careless.{situation}"


# --- overrides and dates --------------------------------------------------------------


def _rule_yaml(
    rule_id: str,
    situation: str,
    when: str,
    decision: str,
    priority: int = 0,
    effective_from: str = "2010-01-01",
    extra: str = "",
) -> str:
    return f"""\
  - id: {rule_id}
    situation: {situation}
    effective_from: {effective_from}
    carriers: any
    when: {when}
    outcome: {{decision: {decision}{extra}}}
    priority: {priority}
    summary: {{ja: "テスト", en: "test"}}
    actions: {{ja: ["テスト"], en: ["test"]}}
    sources: ["test"]
"""


def test_example_override_excludes_au_pending_from_the_guarantee() -> None:
    rules = load_rules(override=EXAMPLE_OVERRIDE)
    au = rules.decide("guarantee", facts(V.CAUTION, S.PENDING, C.AU), on=TODAY)
    assert (au.decision, au.rule_id) == (Action.REFUSE, "dealer.guarantee.pending.au")
    assert au.rule_file == str(EXAMPLE_OVERRIDE)
    docomo = rules.decide("guarantee", facts(V.CAUTION, S.PENDING, C.DOCOMO), on=TODAY)
    assert docomo.rule_id == "guarantee.pending"


def test_override_replaces_a_rule_by_id(tmp_path: Path) -> None:
    path = tmp_path / "dealer.yaml"
    path.write_text(
        "rules:\n"
        + _rule_yaml(
            "buyback.pending",
            "buyback",
            "{verdict: [caution]}",
            "allow_with_conditions",
            extra=", price_factor: 0.3",
        ),
        encoding="utf-8",
    )
    pending = facts(V.CAUTION, S.PENDING, C.AU)
    assert RULES.decide("buyback", pending, on=TODAY).outcome.price_factor == 0.5
    assert load_rules(override=path).decide("buyback", pending, TODAY).outcome.price_factor == 0.3


def test_override_disables_and_adds(tmp_path: Path) -> None:
    path = tmp_path / "dealer.yaml"
    path.write_text(
        "disable: [buyback.pending]\nrules:\n"
        + _rule_yaml("dealer.buyback.pending", "buyback", "{verdict: [caution]}", "refuse"),
        encoding="utf-8",
    )
    decision = load_rules(override=path).decide("buyback", facts(V.CAUTION, S.PENDING), TODAY)
    assert (decision.decision, decision.rule_id) == (Action.REFUSE, "dealer.buyback.pending")
    assert "buyback.pending" not in load_rules(override=path).rules


def test_future_dated_rule_changes_advice_only_from_its_date(tmp_path: Path) -> None:
    # A 総務省-style change: from 2027-04-01, △ is bought back at full price.
    path = tmp_path / "dealer.yaml"
    path.write_text(
        "rules:\n"
        + _rule_yaml(
            "buyback.pending.2027",
            "buyback",
            "{verdict: [caution]}",
            "allow_with_conditions",
            effective_from="2027-04-01",
            extra=", price_factor: 1.0",
        ),
        encoding="utf-8",
    )
    rules = load_rules(override=path)
    pending = facts(V.CAUTION, S.PENDING, C.DOCOMO)
    before = rules.decide("buyback", pending, on=date(2027, 3, 31))
    after = rules.decide("buyback", pending, on=date(2027, 4, 1))
    assert (before.rule_id, before.outcome.price_factor) == ("buyback.pending", 0.5)
    assert (after.rule_id, after.outcome.price_factor) == ("buyback.pending.2027", 1.0)


def test_effective_until_ends_a_rule(tmp_path: Path) -> None:
    path = tmp_path / "dealer.yaml"
    text = _rule_yaml("dealer.sale", "sale_grade", "{verdict: [caution]}", "refuse", priority=5)
    path.write_text(
        "rules:\n" + text.replace("    carriers", "    effective_until: 2026-01-01\n    carriers"),
        encoding="utf-8",
    )
    rules = load_rules(override=path)
    pending = facts(V.CAUTION, S.PENDING)
    assert rules.decide("sale_grade", pending, on=date(2025, 12, 31)).rule_id == "dealer.sale"
    assert rules.decide("sale_grade", pending, on=date(2026, 1, 1)).rule_id == "sale_grade.pending"


# --- bad files ----------------------------------------------------------------------

BAD = [
    ("outcome: {decision: maybe}", "'outcome.decision'"),
    ("when: {colour: [red]}", "'when.colour'"),
    ("when: {verdict: [reddish]}", "'when.verdict'"),
    ("when: {verdict: [red]}\n    outcome: allow", "'outcome'"),
    ("effective_from: 2025-13-01", "'effective_from'"),
    ("carriers: [docomo, vodafone]", "'carriers'"),
    ("summary: {ja: 'only'}", "'summary'"),
    ("outcome: {decision: allow, price_factor: 2}", "'outcome.price_factor'"),
    ("outcome: {decision: allow, grade_cap: Z}", "'outcome.grade_cap'"),
    ("sources: []", "'sources'"),
    ("priority: high", "'priority'"),
    ("when: {days_since_purchase: {max: two}}", "'when.days_since_purchase'"),
    ("effective_until: 2000-01-01", "'effective_until'"),
]

GOOD = {
    "id": "bad.rule",
    "situation": "buyback",
    "effective_from": "2020-01-01",
    "carriers": "any",
    "when": "{verdict: [clear]}",
    "outcome": "{decision: allow}",
    "priority": "0",
    "summary": "{ja: 'テスト', en: 'test'}",
    "actions": "{ja: ['テスト'], en: ['test']}",
    "sources": "['test']",
}


def _file(tmp_path: Path, change: str) -> Path:
    fields = dict(GOOD)
    for line in change.split("\n"):
        key, _, value = line.strip().partition(": ")
        fields[key] = value
    path = tmp_path / "rules.yaml"
    body = "\n".join(f"    {key}: {value}" for key, value in fields.items())
    path.write_text("rules:\n  -" + body[3:] + "\n", encoding="utf-8")
    return path


def test_the_bad_file_helper_builds_a_good_rule(tmp_path: Path) -> None:
    assert [r.id for r in load_rule_file(_file(tmp_path, "priority: 1"))] == ["bad.rule"]


@pytest.mark.parametrize(("change", "field"), BAD)
def test_bad_rule_names_file_rule_and_field(tmp_path: Path, change: str, field: str) -> None:
    path = _file(tmp_path, change)
    with pytest.raises(RuleError) as caught:
        load_rule_file(path)
    message = str(caught.value)
    assert str(path) in message
    assert "'bad.rule'" in message
    assert field in message


def test_missing_field(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - {id: x, situation: buyback}\n", encoding="utf-8")
    with pytest.raises(RuleError, match=r"rule 'x': field 'effective_from': missing"):
        load_rule_file(path)


def test_not_yaml_and_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("rules: [\n", encoding="utf-8")
    with pytest.raises(RuleError, match="not valid YAML"):
        load_rule_file(path)
    path.write_text("rules:\n  - {id: x}\n  - {id: x}\n", encoding="utf-8")
    with pytest.raises(RuleError, match="duplicate id"):
        load_rule_file(path)


def test_disabling_an_unknown_rule(tmp_path: Path) -> None:
    path = tmp_path / "dealer.yaml"
    path.write_text("disable: [no.such.rule]\n", encoding="utf-8")
    with pytest.raises(RuleError, match=r"rule 'no.such.rule': field 'disable'"):
        load_rules(override=path)


def test_wrong_situation_for_the_file(tmp_path: Path) -> None:
    path = tmp_path / "buyback.yaml"
    path.write_text(
        "situation: buyback\nrules:\n" + _rule_yaml("x", "purchase", "{}", "refuse"),
        encoding="utf-8",
    )
    with pytest.raises(RuleError, match=r"rule 'x': field 'situation'"):
        load_rule_file(path)
