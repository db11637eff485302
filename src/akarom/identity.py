"""IMEI, IMEISV and MEID: the numbers that name a phone, as people in Japan type them.

The IMEI (International Mobile Equipment Identity) has 15 digits: an 8-digit
TAC (Type Allocation Code, the model), a 6-digit serial number and a Luhn check
digit. The IMEISV has 16 digits: the same TAC and serial followed by a 2-digit
software version number (SVN) and no check digit; akarom reduces it to its IMEI.
au's old CDMA phones carry a MEID instead: 14 hexadecimal digits.

This module builds on python-stdnum (``stdnum.imei``, ``stdnum.luhn``,
``stdnum.meid``) and adds only the layer stdnum lacks: the normalisation of
what people in Japan type or paste (full-width digits, ``IMEI:`` and
``製造番号：`` labels, dash look-alikes) and akarom's error codes (see
``akarom.errors``). Unlike stdnum it rejects a 14-digit IMEI without its check
digit (see ``parse``).

More information:

* https://en.wikipedia.org/wiki/International_Mobile_Equipment_Identity
* https://en.wikipedia.org/wiki/Mobile_equipment_identifier
* https://en.wikipedia.org/wiki/Luhn_algorithm
* https://arthurdejong.org/python-stdnum/doc/latest/stdnum.imei
* https://www.gsma.com/services/tac-allocation/

>>> compact('ＩＭＥＩ：３５－２０９９００－１７６１４８－１')
'352099001761481'
>>> validate('35-209900-176148-1')
'352099001761481'
>>> validate('IMEI: 35 209900 176148 1')
'352099001761481'
>>> parse('35686800-004141-20')  # doctest: +NORMALIZE_WHITESPACE
Identity(input='35686800-004141-20', value='356868000041418', kind='imeisv',
         tac='35686800', svn='20')
>>> parse('meid a0000012345678')  # doctest: +NORMALIZE_WHITESPACE
Identity(input='meid a0000012345678', value='A0000012345678', kind='meid',
         tac=None, svn=None)
>>> validate('35-209900-176148-2')
Traceback (most recent call last):
    ...
akarom.errors.InvalidChecksum: the check digit (15th digit) does not match the first 14 digits
>>> validate('35209900176148')
Traceback (most recent call last):
    ...
akarom.errors.InvalidLength: 14 digits: the check digit or another digit seems to be missing
>>> is_valid('352099001761481'), is_valid('352099001761482'), is_valid(None)
(True, False, False)
>>> split('352099001761481')
('35209900', '176148', '1')
>>> format('352099001761481')
'35-209900-176148-1'
>>> format('IMEISV 3568680000414120', separator=' ')
'35 686800 004141 8'
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from stdnum import imei as _imei
from stdnum import luhn as _luhn
from stdnum import meid as _meid
from stdnum.exceptions import InvalidChecksum as _StdnumInvalidChecksum
from stdnum.exceptions import ValidationError as _StdnumValidationError

from akarom.errors import (
    EmptyInput,
    InvalidCharacters,
    InvalidChecksum,
    InvalidImei,
    InvalidLength,
)

__all__ = [
    "Identity",
    "Kind",
    "compact",
    "format",
    "is_valid",
    "parse",
    "split",
    "validate",
]

Kind = Literal["imei", "imeisv", "meid"]


@dataclass(frozen=True, slots=True)
class Identity:
    """One device identity, parsed from what a person typed.

    ``value`` is canonical: the 15-digit IMEI (an IMEISV is reduced to its IMEI),
    or the 14-hex-digit upper-case MEID.
    """

    #: What the person typed, unchanged.
    input: str
    #: The 15-digit IMEI, or the 14-hex-digit upper-case MEID.
    value: str
    kind: Kind
    #: The first 8 digits of the IMEI (the model); ``None`` for a MEID.
    tac: str | None
    #: The 2-digit software version number of an IMEISV, else ``None``.
    svn: str | None


#: Longer input is refused before any normalisation: a label, an IMEISV and generous
#: separators fit easily, and a web form or spreadsheet cell can hold anything.
_MAX_INPUT = 256

_DIGITS = frozenset("0123456789")
_HEX = frozenset("0123456789ABCDEF")

# A leading label, matched after NFKC and upper-casing (so full-width letters, colons
# and parentheses have become ASCII). The digit of "IMEI1"/"IMEI 2" counts as part of
# the label only when a separator follows it; otherwise it is the number's first digit.
_LABEL = re.compile(
    r"""
    \A\s*
    (?:
        製造番号\s*(?:\(\s*(?:IMEI|MEID|IMEI\s*/\s*MEID)\s*\))?   # 製造番号, 製造番号(IMEI)
      | IMEI\s*番号                                               # IMEI番号
      | IMEISV
      | IMEI(?:\s*[12](?=[\s:=]))?                                # IMEI, IMEI1, IMEI 2
      | MEID
    )
    \s*[:=]?\s*
    """,
    re.VERBOSE,
)

# What people type between digit groups, as it stands after NFKC: every kind of
# white space, hyphen and dash look-alikes (ー U+30FC included: Japanese IMEs give it
# for "-"), dots, slashes, and the invisible characters that copy and paste brings.
_SEPARATORS = re.compile(
    "[\\s\\-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fc./\u00ad\u200b\u200c\u200d\u2060\ufeff]+"
)


def compact(value: str) -> str:
    """Normalise what a person typed, without validating it.

    In this order: Unicode NFKC (full-width ``３５``, ``ＩＭＥＩ``, ``：``, ``（）`` and
    ``－`` become ASCII), upper-case (for a MEID's hex letters), remove one leading
    label (``IMEI``, ``IMEI1``, ``IMEI 2``, ``IMEISV``, ``MEID``, ``IMEI番号``,
    ``製造番号``, ``製造番号(IMEI)``, with an optional ``:`` or ``=``), then remove
    white space, hyphens and dash look-alikes, dots and slashes anywhere.

    Digits of other scripts (Arabic-Indic ``٣``, Devanagari ``३``) are kept as they
    are, so that ``parse`` rejects them.

    >>> compact('35-209900-176148-1')
    '352099001761481'
    >>> compact('３５２０９９００１７６１４８１')
    '352099001761481'
    >>> compact('imei1: 352099001761481')
    '352099001761481'
    >>> compact('IMEI 2 352099001761481')
    '352099001761481'
    >>> compact('製造番号（IMEI）：352099001761481')
    '352099001761481'
    >>> compact('IMEI番号 = 35\u3000209900\u3000176148\u30001')
    '352099001761481'
    >>> compact('35ー209900−176148‐1')
    '352099001761481'
    >>> compact('35.209900/176148 1')
    '352099001761481'
    >>> compact('MEID: a0 00 00 12 34 56 78')
    'A0000012345678'
    >>> compact('٣٥٢٠٩٩')
    '٣٥٢٠٩٩'
    """
    text = unicodedata.normalize("NFKC", value).upper()
    text = _LABEL.sub("", text, count=1)
    return _SEPARATORS.sub("", text)


def parse(value: object) -> Identity:
    """Parse what a person typed into an ``Identity``, or raise an ``InvalidImei``.

    After ``compact``: 15 digits are an IMEI (the Luhn check digit must match); 16
    digits an IMEISV (reduced to its IMEI); 14 hex digits with at least one letter a
    MEID, as is the 18-digit decimal form of a MEID (with or without its check digit).
    Any other input raises ``EmptyInput``, ``InvalidCharacters``, ``InvalidLength`` or
    ``InvalidChecksum``, and never any other exception.

    >>> parse('IMEI: 35-209900-176148-1')  # doctest: +NORMALIZE_WHITESPACE
    Identity(input='IMEI: 35-209900-176148-1', value='352099001761481', kind='imei',
             tac='35209900', svn=None)
    >>> validate('29360 87365 0070 3710'), validate('29360 87365 0070 3710 0')
    ('AF0123450ABCDE', 'AF0123450ABCDE')
    >>> parse('35209900176148X')
    Traceback (most recent call last):
        ...
    akarom.errors.InvalidCharacters: contains characters that are neither digits nor A-F
    >>> parse(b'352099001761481')
    Traceback (most recent call last):
        ...
    akarom.errors.InvalidCharacters: expected text, got bytes
    """
    if not isinstance(value, str):
        raise InvalidCharacters(f"expected text, got {type(value).__name__}")
    if len(value) > _MAX_INPUT:
        raise InvalidLength(f"input is {len(value)} characters long; at most {_MAX_INPUT}")
    number = compact(value)
    if not number:
        raise EmptyInput("nothing left after removing labels, spaces and hyphens")
    if not _HEX.issuperset(number):
        raise InvalidCharacters("contains characters that are neither digits nor A-F")
    if _DIGITS.issuperset(number):
        return _parse_digits(value, number)
    return _parse_hex_meid(value, number)


def _parse_digits(value: str, number: str) -> Identity:
    """Parse a string of ASCII digits: IMEI, IMEISV or decimal MEID."""
    length = len(number)
    if length == 15:
        try:
            _imei.validate(number)
        except _StdnumValidationError:
            raise InvalidChecksum(
                "the check digit (15th digit) does not match the first 14 digits"
            ) from None
        return Identity(value, number, "imei", number[:8], None)
    if length == 16:
        # An IMEISV has no check digit: the IMEI is its first 14 digits plus the Luhn
        # check digit computed over them; the last two digits are the SVN.
        body = number[:14]
        return Identity(value, body + _luhn.calc_check_digit(body), "imeisv", body[:8], number[14:])
    if length == 14:
        # Deliberately unlike stdnum (which accepts a 14-digit IMEI without its check
        # digit): 14 digits are far more often a 15-digit IMEI with one digit dropped
        # than a deliberate IMEI without check digit. "Completing" it would name some
        # other device, whose clean record akarom would then report as this device's:
        # a false "safe". The person must type all 15 digits.
        raise InvalidLength("14 digits: the check digit or another digit seems to be missing")
    if length in (18, 19):
        return _parse_meid(value, number)
    raise InvalidLength(f"{length} digits; an IMEI has 15 (an IMEISV 16)")


def _parse_hex_meid(value: str, number: str) -> Identity:
    """Parse a string of hex digits with at least one letter: only a 14-digit MEID."""
    if len(number) != 14:
        # A letter in anything but a 14-digit MEID is far more likely a mistyped IMEI
        # digit than a MEID with a wrong length; the 15-digit hex form (MEID plus its
        # check digit) is not accepted either, for the same reason.
        raise InvalidCharacters(
            f"contains letters A-F but has {len(number)} characters; only a 14-digit MEID may"
        )
    return _parse_meid(value, number)


def _parse_meid(value: str, number: str) -> Identity:
    """Validate a 14-hex-digit or 18/19-digit decimal MEID with stdnum."""
    try:
        canonical = _meid.validate(number)
    except _StdnumInvalidChecksum:
        raise InvalidChecksum(
            "the check digit (19th digit) of the decimal MEID does not match"
        ) from None
    except _StdnumValidationError:
        raise InvalidLength(
            f"{len(number)} digits but not a decimal MEID (manufacturer code or serial too large)"
        ) from None
    return Identity(value, canonical.upper(), "meid", None, None)


def validate(value: object) -> str:
    """Return the canonical IMEI (or MEID) for what a person typed, or raise.

    >>> validate('IMEI1：３５２０９９００１７６１４８１')
    '352099001761481'
    >>> validate('')
    Traceback (most recent call last):
        ...
    akarom.errors.EmptyInput: nothing left after removing labels, spaces and hyphens
    """
    return parse(value).value


def is_valid(value: object) -> bool:
    """Tell whether ``value`` is a valid IMEI, IMEISV or MEID; never raises.

    >>> is_valid('35-209900-176148-1'), is_valid('35-209900-176148'), is_valid(object())
    (True, False, False)
    """
    try:
        parse(value)
    except InvalidImei:
        return False
    return True


def split(imei: str) -> tuple[str, str, str]:
    """Split an IMEI into its TAC, serial number and check digit.

    The input is parsed first, so any accepted form will do; an IMEISV is reduced to
    its IMEI. A MEID, having no TAC, raises ``InvalidCharacters``.

    >>> split('35686800-004141-20')
    ('35686800', '004141', '8')
    >>> split('A0000012345678')
    Traceback (most recent call last):
        ...
    akarom.errors.InvalidCharacters: a MEID has no TAC, serial number and check digit to split
    """
    identity = parse(imei)
    if identity.kind == "meid":
        raise InvalidCharacters("a MEID has no TAC, serial number and check digit to split")
    tac, serial, check = _imei.split(identity.value)
    return tac, serial, check


def format(imei: str, separator: str = "-") -> str:
    """Format an IMEI as printed on labels: 2-6-6-1 digits (``35-209900-176148-1``).

    The input is parsed first; an IMEISV is shown as its IMEI, and a MEID in pairs of
    hex digits.

    >>> format('352099001761481')
    '35-209900-176148-1'
    >>> format('a0000012345678', separator=' ')
    'A0 00 00 12 34 56 78'
    """
    identity = parse(imei)
    if identity.kind == "meid":
        return _meid.format(identity.value, separator=separator)
    return _imei.format(identity.value, separator=separator)
