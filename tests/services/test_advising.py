"""Advice for a checked device: facts from the report, one decision per situation, words."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from akarom.advice import Action, Marketplace, Seller, Sim, load_rules
from akarom.config import Settings
from akarom.domain import (
    Carrier,
    CarrierResult,
    Status,
    Verdict,
    answer,
    decide_verdict,
)
from akarom.errors import ConfigError, InvalidChecksum, UsageError
from akarom.identity import parse
from akarom.services.advising import (
    Answer,
    Circumstances,
    Role,
    advise,
    load_advice_rules,
    parse_purchase_date,
    parse_rules_day,
    today_in_japan,
)
from akarom.services.bulk import RowAdvice, result_cells
from akarom.services.device_reports import DeviceReport
from akarom.services.reports import (
    ADVICE_COLUMNS,
    advice_cells,
    advice_json,
    advice_lines,
    device_json,
)
from tests.services.conftest import DEALER_RULES

RULES = load_rules()
DAY = date(2026, 11, 27)
IMEI = "352099001761481"


def report(*results: CarrierResult) -> DeviceReport:
    decision = decide_verdict(results, tuple(Carrier))
    return DeviceReport(
        input=IMEI,
        identity=parse(IMEI),
        invalid=None,
        verdict=decision.verdict,
        origin_carrier=decision.origin_carrier,
        results=results,
    )


def everyone_says(status: Status) -> tuple[CarrierResult, ...]:
    return tuple(answer(carrier, status) for carrier in Carrier)


def sold_by(carrier: Carrier, status: Status) -> DeviceReport:
    return report(*(answer(c, status if c is carrier else Status.UNREGISTERED) for c in Carrier))


def rule_ids(advice) -> list[str | None]:
    return [situation.decision.rule_id for situation in advice.situations]


def test_facts_come_from_the_selling_carriers_answer() -> None:
    facts = Circumstances(sim=Sim.UNLOCKED, bought_on=date(2026, 11, 20)).facts(
        Answer.of(sold_by(Carrier.AU, Status.PENDING)), DAY, None
    )
    assert (facts.verdict, facts.status, facts.origin_carrier) == (
        Verdict.CAUTION,
        Status.PENDING,
        Carrier.AU,
    )
    assert facts.days_since_purchase == 7
    assert facts.sim is Sim.UNLOCKED


def test_no_record_anywhere_is_unregistered_and_an_open_answer_has_no_status() -> None:
    clear = report(*everyone_says(Status.UNREGISTERED))
    assert Circumstances().facts(Answer.of(clear), DAY, None).status is Status.UNREGISTERED
    unknown = report(
        *(answer(c, Status.UNREGISTERED) for c in Carrier if c is not Carrier.RAKUTEN),
        CarrierResult(Carrier.RAKUTEN, Status.UNKNOWN, error="maintenance"),
    )
    facts = Circumstances().facts(Answer.of(unknown), DAY, None)
    assert (facts.verdict, facts.status) == (Verdict.INCOMPLETE, None)


def test_a_purchase_date_after_the_day_is_refused() -> None:
    with pytest.raises(ValueError, match="after"):
        Circumstances(bought_on=date(2026, 12, 1)).facts(Answer.of(report()), DAY, None)


@pytest.mark.parametrize(
    ("device", "role", "expected"),
    [
        (sold_by(Carrier.DOCOMO, Status.OK), Role.BUYER, ["purchase.clear"]),
        (sold_by(Carrier.SOFTBANK, Status.PENDING), Role.BUYER, ["purchase.caution"]),
        (sold_by(Carrier.DOCOMO, Status.PENDING), Role.BUYER, ["purchase.pending.docomo"]),
        (sold_by(Carrier.AU, Status.RESTRICTED), Role.BUYER, ["purchase.red"]),
        (
            sold_by(Carrier.DOCOMO, Status.OK),
            Role.SELLER,
            ["marketplace.mercari.clear", "marketplace.yahoo.ok", "marketplace.rakuma.ok"],
        ),
        (
            report(*everyone_says(Status.UNREGISTERED)),
            Role.SELLER,
            [
                "marketplace.mercari.clear",
                "marketplace.yahoo.unregistered",
                "marketplace.rakuma.unregistered",
            ],
        ),
        (
            sold_by(Carrier.AU, Status.RESTRICTED),
            Role.SELLER,
            ["marketplace.red"] * 3,
        ),
        (
            sold_by(Carrier.RAKUTEN, Status.PENDING),
            Role.DEALER,
            ["buyback.pending", "sale_grade.pending", "guarantee.pending"],
        ),
        (
            sold_by(Carrier.AU, Status.RESTRICTED),
            Role.DEALER,
            ["buyback.red", "sale_grade.red", "guarantee.red"],
        ),
    ],
)
def test_each_role_gets_the_rules_of_its_situations(device, role, expected) -> None:
    advice = advise(device, RULES, role, on=DAY)
    assert rule_ids(advice) == expected
    assert advice.on == DAY


def test_what_is_known_about_the_device_changes_the_advice() -> None:
    red_unlocked = advise(
        sold_by(Carrier.AU, Status.RESTRICTED),
        RULES,
        Role.BUYER,
        Circumstances(sim=Sim.UNLOCKED, bought_on=date(2026, 10, 1)),
        on=DAY,
    )
    assert rule_ids(red_unlocked) == ["purchase.red.owned_unlocked"]
    _summary, actions = advice_lines(red_unlocked, sold_by(Carrier.AU, Status.RESTRICTED), "ja")
    assert "販売者" in actions[0]
    assert any("他社の回線" in a for a in actions)

    nothing_yet = report(*everyone_says(Status.UNREGISTERED))
    just_bought = advise(nothing_yet, RULES, Role.BUYER, Circumstances(bought_on=DAY), on=DAY)
    assert rule_ids(just_bought) == ["purchase.unregistered.just_bought"]
    assert just_bought.first.outcome.recheck_after_days == 2
    repaired = advise(nothing_yet, RULES, Role.BUYER, Circumstances(after_repair=True), on=DAY)
    assert rule_ids(repaired) == ["purchase.unregistered.after_repair"]


def test_a_yahoo_store_seller_who_compensates_may_list_pending() -> None:
    pending = sold_by(Carrier.SOFTBANK, Status.PENDING)
    individual = advise(pending, RULES, Role.SELLER, on=DAY)
    store = advise(
        pending, RULES, Role.SELLER, Circumstances(seller=Seller.STORE, compensates=True), on=DAY
    )
    yahoo = {p.marketplace: p for p in store.marketplaces}[Marketplace.YAHOO]
    assert {p.marketplace: p.allowed for p in individual.marketplaces}[Marketplace.YAHOO] is False
    assert yahoo.allowed is True
    assert yahoo.decision.rule_id == "marketplace.yahoo.pending.store"
    assert [d.value for d in yahoo.decision.outcome.must_state] == [
        "imei",
        "restriction_status",
        "compensation",
    ]


def test_the_seller_hears_where_it_may_be_listed_in_one_line() -> None:
    device = report(*everyone_says(Status.UNREGISTERED))
    advice = advise(device, RULES, Role.SELLER, on=DAY)
    summary, actions = advice_lines(advice, device, "ja")
    assert (
        summary
        == "メルカリに出品できます。Yahoo!オークション/フリマ・楽天ラクマには出品できません。"
    )
    assert any(a.startswith("楽天ラクマ: ") for a in actions)  # said for Rakuma only
    red = sold_by(Carrier.AU, Status.RESTRICTED)
    red_summary, _ = advice_lines(advise(red, RULES, Role.SELLER, on=DAY), red, "en")
    assert red_summary == RULES.rules["marketplace.red"].summary["en"]  # one rule: said once


def test_json_names_the_rule_and_keeps_the_interfaces_fields() -> None:
    device = sold_by(Carrier.SOFTBANK, Status.PENDING)
    advice = advise(device, RULES, Role.DEALER, on=DAY)
    line = device_json(device, advice, "en")
    assert line["advice"]["summary"] == RULES.rules["buyback.pending"].summary["en"]
    assert isinstance(line["advice"]["actions"], list)
    assert line["advice"]["actions"]
    buyback, grade, guarantee = line["advice"]["decisions"]
    assert (buyback["rule"], buyback["price_factor"], buyback["decision"]) == (
        "buyback.pending",
        0.5,
        "allow_with_conditions",
    )
    assert grade["grade_cap"] == "A"
    assert guarantee["rule_file"] == "guarantee.yaml"
    assert guarantee["sources"]
    places = {p["marketplace"]: p for p in line["advice"]["marketplaces"]}
    assert places["mercari"]["allowed"] is False
    assert line["advice"]["on"] == "2026-11-27"


def test_an_invalid_input_says_why_and_is_never_allowed_anywhere() -> None:
    invalid = DeviceReport(
        input="352099001761482",
        identity=None,
        invalid=InvalidChecksum(),
        verdict=Verdict.INVALID,
        origin_carrier=None,
        results=(),
    )
    advice = advise(invalid, RULES, Role.SELLER, on=DAY)
    assert all(place.allowed is None for place in advice.marketplaces)
    summary = advice_json(advise(invalid, RULES, Role.BUYER, on=DAY), invalid, "ja")["summary"]
    assert "チェック" in summary  # the reason, in words


def test_the_dealers_file_comes_from_the_setting(tmp_path: Path) -> None:
    override = tmp_path / "ours.yaml"
    override.write_text(DEALER_RULES, encoding="utf-8")
    settings = Settings.from_env({"AKAROM_RULES_FILE": str(override)})
    ours = load_advice_rules(settings)
    device = sold_by(Carrier.DOCOMO, Status.PENDING)
    (buyback, *_) = advise(device, ours, Role.DEALER, on=DAY).situations
    assert buyback.decision.outcome.price_factor == 0.3
    assert buyback.decision.rule_file == str(override)
    broken = Settings.from_env({"AKAROM_RULES_FILE": str(tmp_path / "missing.yaml")})
    with pytest.raises(ConfigError, match=r"missing\.yaml"):
        load_advice_rules(broken)


@given(
    restricted=st.booleans(),
    carrier=st.sampled_from(list(Carrier)),
    role=st.sampled_from(list(Role)),
    sim=st.none() | st.sampled_from(list(Sim)),
    days=st.none() | st.integers(0, 3000),
    repaired=st.none() | st.booleans(),
    seller=st.none() | st.sampled_from(list(Seller)),
    compensates=st.none() | st.booleans(),
)
def test_no_role_is_ever_told_yes_for_a_red_or_open_device(
    restricted, carrier, role, sim, days, repaired, seller, compensates
) -> None:
    if restricted:
        device = sold_by(carrier, Status.RESTRICTED)
    else:  # one carrier could not be asked and nobody else claims the device
        device = report(
            *(answer(c, Status.UNREGISTERED) for c in Carrier if c is not carrier),
            CarrierResult(carrier, Status.UNKNOWN, error="timeout"),
        )
    assert device.verdict in (Verdict.RED, Verdict.INCOMPLETE)
    known = Circumstances(
        sim=sim,
        bought_on=None if days is None else date.fromordinal(DAY.toordinal() - days),
        after_repair=repaired,
        seller=seller,
        compensates=compensates,
    )
    advice = advise(device, RULES, role, known, on=DAY)
    for situation in (*advice.situations, *advice.marketplaces):
        assert situation.allowed is not True
        assert situation.decision.decision not in (Action.ALLOW, Action.ALLOW_WITH_CONDITIONS)


@pytest.mark.parametrize(
    "device",
    [
        sold_by(Carrier.DOCOMO, Status.OK),
        sold_by(Carrier.SOFTBANK, Status.PENDING),
        sold_by(Carrier.AU, Status.RESTRICTED),
        report(*everyone_says(Status.UNREGISTERED)),
    ],
)
@pytest.mark.parametrize("role", list(Role))
def test_a_spreadsheet_row_gets_the_advice_its_report_would(device, role) -> None:
    """Rows finished before an interruption come back as cells: same advice as live ones."""
    from_cells = RowAdvice(RULES, role, DAY, "ja").cells(result_cells(device, "ja"))
    assert from_cells == advice_cells(advise(device, RULES, role, on=DAY), "ja")
    assert set(from_cells) <= set(ADVICE_COLUMNS[role])


@given(days=st.integers(0, 20_000))
def test_a_purchase_date_in_any_spelling_people_use(days: int) -> None:
    bought = date.fromordinal(DAY.toordinal() - days)
    assert parse_purchase_date(bought.isoformat(), DAY) == bought
    assert parse_purchase_date(f" {bought.isoformat()} ", DAY) == bought


@pytest.mark.parametrize(
    ("word", "days_ago"),
    [("today", 0), ("今日", 0), ("きょう", 0), ("Yesterday", 1), ("昨日", 1), ("きのう", 1)],
)
def test_purchase_words(word: str, days_ago: int) -> None:
    assert parse_purchase_date(word, DAY) == date.fromordinal(DAY.toordinal() - days_ago)


@given(days=st.integers(1, 5000))
def test_a_purchase_in_the_future_is_refused(days: int) -> None:
    future = date.fromordinal(DAY.toordinal() + days)
    with pytest.raises(UsageError, match="in the future") as refused:
        parse_purchase_date(future.isoformat(), DAY)
    assert refused.value.key == "usage.bought_future"


@pytest.mark.parametrize("junk", ["", "last week", "2026-13-01", "26/11/2026", "明日"])
def test_anything_else_is_not_a_purchase_date(junk: str) -> None:
    with pytest.raises(UsageError) as refused:
        parse_purchase_date(junk, DAY)
    assert (refused.value.key, refused.value.fields) == ("usage.bought", {"value": junk})


def test_the_rules_day_is_today_unless_named() -> None:
    assert parse_rules_day("2027-04-01") == date(2027, 4, 1)
    assert parse_rules_day(None) == today_in_japan()
    with pytest.raises(UsageError, match="--on"):
        parse_rules_day("soon")
