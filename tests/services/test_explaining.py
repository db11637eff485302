"""What ``akarom explain`` understands, and what it answers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from akarom.errors import UnknownTopic, UsageError
from akarom.services.explaining import Topic, explain_topic, find_topic
from akarom.services.options import Role


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("○", "ok"),
        ("〇", "ok"),
        ("◯", "ok"),
        ("まる", "ok"),
        ("△", "pending"),
        ("▲", "pending"),
        ("×", "restricted"),
        ("✕", "restricted"),
        ("x", "restricted"),
        ("バツ", "restricted"),
        ("-", "unregistered"),
        ("－", "unregistered"),
        ("ー", "unregistered"),
        ("?", "unknown"),
        ("？", "unknown"),
        ("pending", "pending"),
    ],
)
def test_symbols_as_carriers_print_them_and_people_type_them(query: str, status: str) -> None:
    assert find_topic(query) == Topic("symbol", status)


@pytest.mark.parametrize(
    ("query", "term"),
    [
        ("白ロム", "white_rom"),
        ("白ROM", "white_rom"),
        (" しろろむ ", "white_rom"),
        ("黒ロム", "black_rom"),
        ("赤ロム", "red_rom"),
        ("ネットワーク利用制限", "red_rom"),
        ("SIMフリー", "sim_free"),
        ("ＳＩＭフリー", "sim_free"),
        ("sim free", "sim_free"),
        ("SIMロック解除済み", "sim_unlocked"),
        ("SIMロック解除済", "sim_unlocked"),
        ("unlocked", "sim_unlocked"),
    ],
)
def test_terms_in_the_spellings_people_use(query: str, term: str) -> None:
    assert find_topic(query) == Topic("term", term)


@pytest.mark.parametrize("query", ["imei", "IMEI", "ＩＭＥＩ", "製造番号", "IMEI番号"])
def test_how_to_find_the_imei(query: str) -> None:
    assert find_topic(query) == Topic("imei_help", "imei")


def test_an_imei_in_any_spelling_is_a_device() -> None:
    assert find_topic("IMEI: 35-209900-176148-1") == Topic("device", "352099001761481")


def test_anything_else_is_an_unknown_topic_with_the_imei_reason() -> None:
    with pytest.raises(UnknownTopic) as problem:
        find_topic("352099001761482")
    assert problem.value.invalid.code == "checksum"
    assert isinstance(problem.value, UsageError)  # the interfaces' edge: a usage error
    assert problem.value.fields["topic"] == "352099001761482"


@given(st.text(max_size=30))
def test_every_query_is_a_topic_or_a_clear_imei_error(query: str) -> None:
    try:
        topic = find_topic(query)
    except UnknownTopic:
        return
    assert topic.kind in ("symbol", "term", "imei_help", "device")


def test_a_symbol_is_explained_for_each_role_asked() -> None:
    explanation = explain_topic(Topic("symbol", "pending"), "ja")
    assert explanation.title.startswith("△")
    assert any("2016年6月" in p for p in explanation.paragraphs)  # the docomo nuance
    assert any("▲" in p for p in explanation.paragraphs)  # SoftBank's spelling
    assert [role for role, _ in explanation.by_role] == list(Role)
    only_dealer = explain_topic(Topic("symbol", "pending"), "en", (Role.DEALER,))
    ((role, line),) = only_dealer.by_role
    assert role is Role.DEALER
    assert "half" in line


def test_unknown_is_never_explained_as_safe() -> None:
    explanation = explain_topic(Topic("symbol", "unknown"), "en")
    assert any("never means safe" in p for p in explanation.paragraphs)


def test_terms_explain_that_white_and_red_rom_can_coexist() -> None:
    explanation = explain_topic(Topic("term", "white_rom"), "ja")
    assert any("白ロムで同時に赤ロム" in p for p in explanation.paragraphs)
    assert explanation.by_role == ()


def test_imei_help_covers_every_way_to_find_it() -> None:
    body = " ".join(explain_topic(Topic("imei_help", "imei"), "ja").paragraphs)
    for needle in ("*#06#", "iPhone", "Android", "SIMトレイ", "箱", "IMEI2"):
        assert needle in body


def test_a_device_is_not_explained_from_the_catalogue() -> None:
    with pytest.raises(ValueError, match="from its check"):
        explain_topic(Topic("device", "352099001761481"), "ja")
