"""Behaviour and property tests for ``akarom.identity`` (corner cases: identity.doctest)."""

from __future__ import annotations

import dataclasses
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stdnum import imei as stdnum_imei
from stdnum import luhn

from akarom import identity
from akarom.errors import (
    EmptyInput,
    InvalidCharacters,
    InvalidChecksum,
    InvalidImei,
    InvalidLength,
)
from akarom.identity import Identity, compact, format, is_valid, parse, split, validate

VALID_IMEIS = [
    "352099001761481",
    "356938035643809",
    "490154203237518",
    "353879234252633",
    "354178036859789",
]
IMEISV = "3568680000414120"

# Deterministic and quick: the same examples on every run, no example database.
PROPERTY = settings(derandomize=True, max_examples=200, database=None, deadline=None)


def _code(value: object) -> str:
    try:
        parse(value)
    except InvalidImei as error:
        return error.code
    return "valid"


# --- behaviour ----------------------------------------------------------------------


def test_public_names() -> None:
    assert sorted(identity.__all__) == sorted(
        ["Identity", "Kind", "compact", "format", "is_valid", "parse", "split", "validate"]
    )
    for name in identity.__all__:
        assert hasattr(identity, name)


@pytest.mark.parametrize("value", VALID_IMEIS)
def test_valid_imeis(value: str) -> None:
    result = parse(value)
    assert result == Identity(input=value, value=value, kind="imei", tac=value[:8], svn=None)
    assert validate(value) == value
    assert is_valid(value)
    assert stdnum_imei.is_valid(value)


def test_identity_is_frozen() -> None:
    result = parse(VALID_IMEIS[0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.value = "x"  # type: ignore[misc]


def test_input_is_kept_unchanged() -> None:
    typed = " 製造番号（ＩＭＥＩ）：３５－２０９９００－１７６１４８－１ "
    assert parse(typed).input == typed
    assert parse(typed).value == "352099001761481"


def test_imeisv_reduced_to_imei() -> None:
    result = parse(IMEISV)
    assert result.kind == "imeisv"
    assert result.value == "356868000041418"
    assert result.tac == "35686800"
    assert result.svn == "20"
    # The reduction agrees with stdnum's own "IMEI with computed check digit".
    assert stdnum_imei.format(IMEISV[:14], separator="", add_check_digit=True) == result.value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("A0000012345678", "A0000012345678"),
        ("a0000012345678", "A0000012345678"),
        ("MEID: AF 01 23 45 0A BC DE", "AF0123450ABCDE"),
        ("293608736500703710", "AF0123450ABCDE"),
        ("2936087365007037100", "AF0123450ABCDE"),
    ],
)
def test_meid(value: str, expected: str) -> None:
    result = parse(value)
    assert (result.kind, result.value, result.tac, result.svn) == ("meid", expected, None, None)


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("", EmptyInput),
        (" \t\n\u3000", EmptyInput),
        ("IMEI:", EmptyInput),
        ("---", EmptyInput),
        ("35209900176148", InvalidLength),
        ("352099001761", InvalidLength),
        ("35209900176148112", InvalidLength),
        ("352099001761482", InvalidChecksum),
        ("2936087365007037101", InvalidChecksum),
        ("35209900176148X", InvalidCharacters),
        ("AF0123450ABCDEC", InvalidCharacters),
        ("٣٥٢٠٩٩٠٠١٧٦١٤٨١", InvalidCharacters),
        ("३५२०९९००१७६१४८१", InvalidCharacters),
        ("\ud800", InvalidCharacters),
        (None, InvalidCharacters),
        (b"352099001761481", InvalidCharacters),
        (352099001761481, InvalidCharacters),
        (["352099001761481"], InvalidCharacters),
    ],
)
def test_refused(value: object, error: type[InvalidImei]) -> None:
    with pytest.raises(error) as caught:
        parse(value)
    assert type(caught.value) is error
    assert isinstance(caught.value, ValueError)
    assert str(caught.value)  # a specific message for the logs
    assert not is_valid(value)


def test_fourteen_digits_message_says_a_digit_is_missing() -> None:
    with pytest.raises(InvalidLength, match="check digit or another digit seems to be missing"):
        validate("35-209900-176148")
    # stdnum accepts it; akarom deliberately does not.
    assert stdnum_imei.is_valid("35209900176148")


def test_error_codes_match_interfaces() -> None:
    assert {
        _code(""),
        _code("x"),
        _code("1234"),
        _code("352099001761482"),
    } == {"empty", "characters", "length", "checksum"}


def test_split_and_format() -> None:
    assert split("35-209900-176148-1") == ("35209900", "176148", "1")
    assert split(IMEISV) == ("35686800", "004141", "8")
    assert format("352099001761481") == "35-209900-176148-1"
    assert format("352099001761481", separator=" ") == "35 209900 176148 1"
    assert format("A0000012345678") == "A0-00-00-12-34-56-78"
    with pytest.raises(InvalidCharacters):
        split("A0000012345678")
    with pytest.raises(InvalidChecksum):
        format("352099001761482")


def test_compact_does_not_validate() -> None:
    assert compact("hello") == "HELLO"
    assert compact("") == ""
    assert compact("IMEI:") == ""


# --- properties ---------------------------------------------------------------------


def _valid_imeis() -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", min_size=14, max_size=14).map(
        lambda body: body + luhn.calc_check_digit(body)
    )


_junk = st.one_of(
    st.none(),
    st.from_type(object),
    st.binary(max_size=40),
    st.integers(),
    st.text(max_size=40),
    st.text(
        alphabet=st.characters(categories=["Nd", "No", "Pd", "Zs", "So", "Cf"]),
        max_size=30,
    ),
    st.text(alphabet="0123456789ABCDEFabcdef -:", max_size=25),
    st.text(alphabet="0123456789", min_size=13, max_size=20),
)


@settings(PROPERTY, suppress_health_check=[HealthCheck.too_slow])
@given(_junk)
def test_junk_raises_only_invalid_imei(value: object) -> None:
    valid = is_valid(value)
    assert isinstance(valid, bool)
    if valid:
        assert parse(value).input is value
        return
    with pytest.raises(InvalidImei) as caught:
        parse(value)
    assert caught.value.code in {"empty", "characters", "length", "checksum"}


@PROPERTY
@given(st.text(alphabet="0123456789", min_size=15, max_size=16))
def test_accepted_imeis_are_luhn_valid_15_digits(value: str) -> None:
    if not is_valid(value):
        return
    result = parse(value)
    assert result.kind in {"imei", "imeisv"}
    assert len(result.value) == 15
    assert result.value.isascii()
    assert result.value.isdigit()
    assert luhn.is_valid(result.value)
    assert result.tac == result.value[:8]
    assert result.value[:14] == value[:14]
    assert result.svn == (value[14:] if result.kind == "imeisv" else None)


@PROPERTY
@given(st.data(), _valid_imeis())
def test_survives_human_formatting(data: st.DataObject, imei: str) -> None:
    chars: list[str] = []
    full_width = data.draw(st.booleans(), label="full width")
    for digit in imei:
        chars.append(chr(ord(digit) + 0xFEE0) if full_width else digit)
        chars.append(
            data.draw(
                st.sampled_from(["", "", "", " ", "-", "－", "ー", "−", "\u3000", "‐", "."]),
                label="separator",
            )
        )
    prefix = data.draw(
        st.sampled_from(
            ["", "IMEI:", "IMEI: ", "imei ", "ＩＭＥＩ：", "IMEI1 ", "製造番号：", "IMEI番号 "]
        ),
        label="prefix",
    )
    typed = prefix + "".join(chars)
    assert validate(typed) == imei
    assert validate(unicodedata.normalize("NFKC", typed)) == imei
    assert parse(typed).input == typed


@PROPERTY
@given(_valid_imeis(), st.integers(0, 14), st.integers(1, 9))
def test_any_single_digit_change_fails_the_checksum(imei: str, position: int, delta: int) -> None:
    changed = imei[:position] + str((int(imei[position]) + delta) % 10) + imei[position + 1 :]
    assert changed != imei
    with pytest.raises(InvalidChecksum):
        parse(changed)
    assert not is_valid(changed)


@PROPERTY
@given(_valid_imeis())
def test_split_and_format_round_trip(imei: str) -> None:
    tac, serial, check = split(imei)
    assert tac + serial + check == imei
    assert validate(format(imei)) == imei
    assert format(imei).replace("-", "") == imei
