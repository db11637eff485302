"""``akarom validate``: is this an IMEI, and which? Offline, and cheap to import.

>>> [v.valid for v in validate(["35-209900-176148-1", "352099001761482"])]
[True, False]
>>> validate(["３５２０９９００１７６１４８１"])[0].as_json("en")["imei"]
'352099001761481'
>>> validate(["35209900176148"])[0].message("en")
'14 digits: an IMEI has 15; the last (check) digit seems to be missing'
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from akarom.errors import InvalidImei
from akarom.identity import Identity, compact, parse
from akarom.texts import Lang, text

__all__ = [
    "Validation",
    "invalid_message",
    "parse_imei",
    "said",
    "validate",
    "validation_json",
]


def said(value: object, lang: Lang) -> object:
    """A field of an error as a person reads it: why an IMEI is invalid, a verdict's
    short name in ``lang``; anything else as it is."""
    from akarom.domain import Verdict  # an enum module, already loaded by whoever has one

    if isinstance(value, InvalidImei):
        return invalid_message(value, value.value or "", lang)
    if isinstance(value, Verdict):
        return text(f"verdict.{value.value}.short", lang)
    return value


def invalid_message(err: InvalidImei, raw: str, lang: Lang) -> str:
    """Why ``raw`` is not an IMEI, in words a person can act on."""
    key = f"imei.{err.code}"
    if err.code == "length":
        digits = compact(raw)  # normalisation only; never raises for a str
        if len(digits) == 14 and digits.isdecimal():
            key = "imei.length.14"
    return text(key, lang)


def parse_imei(raw: str) -> Identity:
    """The device ``raw`` names; raises ``InvalidImei`` naming ``raw`` (``.value``)."""
    try:
        return parse(raw)
    except InvalidImei as err:
        raise err.about(raw) from None


@dataclass(frozen=True, slots=True)
class Validation:
    """One value checked: its identity, or why it is none."""

    input: str
    identity: Identity | None
    error: InvalidImei | None

    @property
    def valid(self) -> bool:
        return self.identity is not None

    def message(self, lang: Lang) -> str | None:
        """Why the value is not an IMEI (None when it is one)."""
        return None if self.error is None else invalid_message(self.error, self.input, lang)

    def as_json(self, lang: Lang) -> dict[str, Any]:
        """One line of ``akarom validate --json`` (INTERFACES.md §3)."""
        identity = self.identity
        return {
            "input": self.input,
            "valid": identity is not None,
            "imei": identity.value if identity else None,
            "kind": identity.kind if identity else None,
            "tac": identity.tac if identity else None,
            "error": self.error.code if self.error else None,
            "message": self.message(lang),
        }


def validate(values: Iterable[str]) -> tuple[Validation, ...]:
    """Each value normalised and checked, in order; never raises for a bad value."""
    checked = []
    for raw in values:
        try:
            checked.append(Validation(raw, parse(raw), None))
        except InvalidImei as err:
            checked.append(Validation(raw, None, err))
    return tuple(checked)


def validation_json(raw: str, lang: Lang) -> dict[str, Any]:
    """One line of ``akarom validate --json``."""
    return validate([raw])[0].as_json(lang)
