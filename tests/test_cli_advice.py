"""Advice from the command line, against the sandbox: each status, each role, overrides, dates.

This module's sandbox answers normally; a case that needs an open answer puts Rakuten
into maintenance for its own duration.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli_support import json_lines
from tests.conftest import serving
from tests.services.conftest import (
    DEALER_RULES,
    DEVICES,
    OK_AT_DOCOMO,
    PENDING_AT_DOCOMO,
    PENDING_AT_SOFTBANK,
    RESTRICTED_AT_AU,
    UNREGISTERED,
)


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    with serving({"seed": 3, "devices": DEVICES}) as url:
        yield url


@pytest.fixture
def rakuten_in_maintenance(sandbox_url: str) -> Iterator[None]:
    def mode(name: str) -> None:
        response = httpx.put(f"{sandbox_url}/_sandbox/carriers/rakuten", json={"mode": name})
        response.raise_for_status()

    mode("maintenance")
    try:
        yield
    finally:
        mode("normal")


MARKETS = ("mercari", "yahoo", "rakuma")

# (device, extra arguments) → verdict, then the deciding rules per role.
CASES = {
    "ok at docomo": (
        (OK_AT_DOCOMO,),
        "clear",
        {
            "buyer": ["purchase.clear"],
            "seller": [
                "marketplace.mercari.clear",
                "marketplace.yahoo.ok",
                "marketplace.rakuma.ok",
            ],
            "dealer": ["buyback.clear", "sale_grade.clear", "guarantee.clear"],
        },
    ),
    "pending at softbank": (
        (PENDING_AT_SOFTBANK,),
        "caution",
        {
            "buyer": ["purchase.caution"],
            "seller": [
                "marketplace.mercari.caution",
                "marketplace.yahoo.pending",
                "marketplace.rakuma.pending",
            ],
            "dealer": ["buyback.pending", "sale_grade.pending", "guarantee.pending"],
        },
    ),
    "pending at docomo": (
        (PENDING_AT_DOCOMO,),
        "caution",
        {"buyer": ["purchase.pending.docomo"]},
    ),
    "restricted at au": (
        (RESTRICTED_AT_AU,),
        "red",
        {
            "buyer": ["purchase.red"],
            "seller": ["marketplace.red"] * 3,
            "dealer": ["buyback.red", "sale_grade.red", "guarantee.red"],
        },
    ),
    "no record anywhere": (
        (UNREGISTERED,),
        "clear",
        {
            "buyer": ["purchase.clear.unregistered"],
            "seller": [
                "marketplace.mercari.clear",
                "marketplace.yahoo.unregistered",
                "marketplace.rakuma.unregistered",
            ],
            "dealer": ["buyback.clear", "sale_grade.clear", "guarantee.clear"],
        },
    ),
    "a carrier in maintenance": (
        (UNREGISTERED, "maintenance"),
        "incomplete",
        {
            "buyer": ["purchase.incomplete"],
            "seller": ["marketplace.incomplete"] * 3,
            "dealer": ["buyback.incomplete", "sale_grade.incomplete", "guarantee.incomplete"],
        },
    ),
    "not an imei": (
        ("352099001761482",),
        "invalid",
        {"buyer": ["purchase.invalid"], "seller": ["marketplace.incomplete"] * 3},
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_check_advises_each_role_under_the_shipped_rules(run, request, case: str) -> None:
    arguments, verdict, by_role = CASES[case]
    if "maintenance" in arguments:
        request.getfixturevalue("rakuten_in_maintenance")
        arguments = tuple(a for a in arguments if a != "maintenance")
    for role, rules in by_role.items():
        result = run("check", "--json", "--for", role, *arguments)
        (line,) = json_lines(result.stdout)
        assert line["verdict"] == verdict, result.output
        advice = line["advice"]
        assert advice["role"] == role
        assert [d["rule"] for d in advice["decisions"]] == rules
        assert advice["summary"]
        assert advice["actions"]
        assert [m["marketplace"] for m in advice["marketplaces"]] == list(MARKETS)
        if verdict in ("red", "incomplete", "invalid"):
            assert all(
                d["decision"] not in ("allow", "allow_with_conditions") for d in advice["decisions"]
            )
            assert not any(m["allowed"] for m in advice["marketplaces"])


def test_the_marketplace_verdict_says_what_the_listing_must_state(run) -> None:
    (line,) = json_lines(run("check", "--json", OK_AT_DOCOMO).stdout)
    places = {m["marketplace"]: m for m in line["advice"]["marketplaces"]}
    assert {name: m["allowed"] for name, m in places.items()} == dict.fromkeys(MARKETS, True)
    assert places["mercari"]["must_state"] == ["imei", "contract_status", "acquisition"]
    assert places["yahoo"]["must_state"] == ["imei"]
    (line,) = json_lines(run("check", "--json", PENDING_AT_SOFTBANK).stdout)
    assert not any(m["allowed"] for m in line["advice"]["marketplaces"])
    store = run("check", "--json", PENDING_AT_SOFTBANK, "--seller", "store", "--compensates")
    (line,) = json_lines(store.stdout)
    yahoo = next(m for m in line["advice"]["marketplaces"] if m["marketplace"] == "yahoo")
    assert (yahoo["allowed"], yahoo["rule"]) == (True, "marketplace.yahoo.pending.store")
    assert "compensation" in yahoo["must_state"]


def test_what_the_buyer_knows_changes_the_advice(run) -> None:
    result = run("check", "--json", UNREGISTERED, "--bought", "today")
    (line,) = json_lines(result.stdout)
    (decision,) = line["advice"]["decisions"]
    assert (decision["rule"], decision["recheck_after_days"]) == (
        "purchase.unregistered.just_bought",
        2,
    )
    result = run("check", "--json", RESTRICTED_AT_AU, "--bought", "2026-01-05", "--sim", "unlocked")
    (line,) = json_lines(result.stdout)
    assert line["advice"]["decisions"][0]["rule"] == "purchase.red.owned_unlocked"
    assert any("Wi-Fi" in action for action in line["advice"]["actions"])


def test_a_bad_purchase_date_is_a_usage_error(run) -> None:
    result = run("check", OK_AT_DOCOMO, "--bought", "last week")
    assert result.exit_code == 2
    assert "--bought" in result.output
    assert run("check", OK_AT_DOCOMO, "--bought", "2999-01-01").exit_code == 2


def test_human_check_output_gives_the_advice_and_the_deciding_rule(run) -> None:
    result = run("check", PENDING_AT_SOFTBANK, "--for", "dealer")
    assert result.exit_code == 3
    assert "アドバイス: △：×になるおそれがあるため、買取価格を半額にします。" in result.stdout
    assert "根拠: buyback.pending, sale_grade.pending, guarantee.pending" in result.stdout


def test_a_dealers_file_changes_the_outcome(run, tmp_path: Path) -> None:
    ours = tmp_path / "ours.yaml"
    ours.write_text(DEALER_RULES, encoding="utf-8")
    shipped = json_lines(run("check", "--json", "--for", "dealer", PENDING_AT_SOFTBANK).stdout)
    overridden = json_lines(
        run("check", "--json", "--for", "dealer", PENDING_AT_SOFTBANK, "--rules", str(ours)).stdout
    )
    assert shipped[0]["advice"]["decisions"][0]["price_factor"] == 0.5
    buyback = overridden[0]["advice"]["decisions"][0]
    assert (buyback["rule"], buyback["price_factor"]) == ("buyback.pending", 0.3)
    assert buyback["rule_file"] == str(ours)
    # The same file from the environment, for every command of a shop's machines.
    (line,) = json_lines(
        run(
            "check",
            "--json",
            "--for",
            "dealer",
            OK_AT_DOCOMO,
            AKAROM_RULES_FILE=str(ours),
        ).stdout
    )
    grade = line["advice"]["decisions"][1]
    assert (grade["rule"], grade["grade_cap"]) == ("ours.sale_grade.clear.top_only_ok_or_none", "S")


def test_a_broken_dealers_file_stops_before_any_carrier_is_asked(run, tmp_path: Path) -> None:
    ours = tmp_path / "ours.yaml"
    ours.write_text(DEALER_RULES.replace("price_factor: 0.3", "price_factor: 30"), encoding="utf-8")
    result = run("check", PENDING_AT_SOFTBANK, "--rules", str(ours))
    assert result.exit_code == 2
    assert "buyback.pending" in result.output
    assert "price_factor" in result.output
    assert not (tmp_path / "akarom.sqlite3").exists() or "判定" not in result.stdout


FUTURE = """
rules:
  - id: purchase.caution.after_the_direction
    situation: purchase
    effective_from: 2027-04-01
    when: {verdict: [caution], status: [pending]}
    outcome: {decision: allow_with_conditions}
    summary:
      ja: "△：前の持ち主の未払いを理由とする制限は禁止されました。"
      en: "△: no restriction for a previous owner's debt."
    actions: {ja: ["購入記録を保管しましょう。"], en: ["Keep the purchase record."]}
    sources: ["a future rule change"]
"""


def test_a_rule_dated_in_the_future_changes_advice_only_from_its_date(run, tmp_path: Path) -> None:
    future = tmp_path / "future.yaml"
    future.write_text(FUTURE, encoding="utf-8")

    def deciding_rule(*extra: str) -> str:
        result = run(
            "explain",
            PENDING_AT_SOFTBANK,
            "--for",
            "buyer",
            "--json",
            "--rules",
            str(future),
            *extra,
        )
        (line,) = json_lines(result.stdout)
        return line["advice_by_role"]["buyer"]["decisions"][0]["rule"]

    assert deciding_rule() == "purchase.caution"  # today
    assert deciding_rule("--on", "2027-03-31") == "purchase.caution"
    assert deciding_rule("--on", "2027-04-01") == "purchase.caution.after_the_direction"


def test_explain_a_device_gives_every_roles_advice_with_rules_and_sources(run) -> None:
    result = run("explain", PENDING_AT_SOFTBANK)
    assert result.exit_code == 3  # the verdict's exit code, as check
    for heading in ("購入する方", "フリマ・オークションで売る方", "販売店"):
        assert heading in result.stdout
    for rule in ("purchase.caution", "buyback.pending", "marketplace.mercari.caution"):
        assert rule in result.stdout
    assert "買取価格: 通常の50%" in result.stdout
    assert "出典:" in result.stdout
    assert "時点のルールによる判断です" in result.stdout


def test_explain_a_device_for_one_role_in_english(run) -> None:
    result = run("explain", OK_AT_DOCOMO, "--for", "seller", "--lang", "en")
    assert result.exit_code == 0
    assert "Seller on a marketplace" in result.stdout
    assert "Buyer" not in result.stdout
    assert "The listing must state: the IMEI" in result.stdout


@pytest.mark.parametrize(
    ("topic", "needle"),
    [
        ("○", "支払い完了"),
        ("▲", "ソフトバンク"),
        ("×", "赤ロム"),
        ("-", "SIMフリー"),
        ("白ロム", "SIMカードが入っていない"),
        ("黒ロム", "契約中"),
        ("赤ロム", "ネットワーク利用制限"),
        ("SIMフリー", "SIMロックがかかっていない"),
        ("SIMロック解除済み", "あとからロックを解除"),
        ("imei", "*#06#"),
    ],
)
def test_explain_a_symbol_or_a_term(run, topic: str, needle: str) -> None:
    result = run("explain", topic)
    assert result.exit_code == 0, result.output
    assert needle in result.stdout


def test_explain_a_symbol_for_one_role_as_json(run) -> None:
    result = run("explain", "△", "--for", "dealer", "--json", "--lang", "en")
    (line,) = json_lines(result.stdout)
    assert (line["topic"], line["key"]) == ("symbol", "pending")
    assert list(line["by_role"]) == ["dealer"]


def test_explain_something_unknown_lists_what_it_can_explain(run) -> None:
    result = run("explain", "hello")
    assert result.exit_code == 2
    assert "説明できる項目" in result.output
    assert "白ロム" in result.output


def test_bulk_adds_the_dealers_advice_columns(run, tmp_path: Path) -> None:
    source, report = tmp_path / "intake.csv", tmp_path / "report.csv"
    imeis = [OK_AT_DOCOMO, PENDING_AT_SOFTBANK, RESTRICTED_AT_AU, "12345"]
    lines = [f"{number},{imei}" for number, imei in enumerate(imeis, start=1)]
    source.write_text("No,IMEI\n" + "\n".join(lines) + "\n", encoding="utf-8")
    ours = tmp_path / "ours.yaml"
    ours.write_text(DEALER_RULES, encoding="utf-8")
    result = run("bulk", str(source), "-o", str(report), "--for", "dealer", "--rules", str(ours))
    assert result.exit_code == 0, result.output
    with report.open(encoding="utf-8-sig", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert list(rows[0])[-7:] == [
        "buyback",
        "buyback_price_factor",
        "sale_grade",
        "grade_cap",
        "guarantee",
        "advice",
        "advice_rules",
    ]
    ok, pending, red, broken = rows
    assert (ok["buyback"], ok["grade_cap"]) == ("allow", "S")  # the dealer's own grade rule
    assert (pending["buyback"], pending["buyback_price_factor"]) == ("allow_with_conditions", "0.3")
    assert pending["advice"] == "△は通常の3割で買い取ります。"
    assert (red["buyback"], red["sale_grade"], red["guarantee"]) == ("refuse",) * 3
    assert broken["verdict"] == "invalid"
    assert broken["buyback"] == "recheck"
    assert broken["advice_rules"] == "buyback.incomplete sale_grade.incomplete guarantee.incomplete"


def test_bulk_without_a_role_keeps_the_interfaces_columns(run, tmp_path: Path) -> None:
    source, report = tmp_path / "intake.csv", tmp_path / "report.csv"
    source.write_text(f"IMEI\n{OK_AT_DOCOMO}\n", encoding="utf-8")
    assert run("bulk", str(source), "-o", str(report)).exit_code == 0
    header = report.read_text(encoding="utf-8-sig").splitlines()[0]
    assert header.endswith("checked_at,error")
