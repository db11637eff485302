"""What ``akarom explain`` is asked about: a symbol, a term, how to find the IMEI, or a device.

>>> find_topic("▲")
Topic(kind='symbol', key='pending')
>>> find_topic(" 白ROM ")
Topic(kind='term', key='white_rom')
>>> find_topic("IMEI")
Topic(kind='imei_help', key='imei')
>>> find_topic("35-209900-176148-1")
Topic(kind='device', key='352099001761481')

Cheap to import: a symbol, a term or the IMEI help is found and explained without
loading the IMEI rules or the carriers; only a variant symbol (▲ 〇 －…) asks the
carriers' table.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Literal

from akarom.domain import Status
from akarom.errors import InvalidImei, UnknownTopic
from akarom.services.options import Role
from akarom.texts import Lang, text

__all__ = ["Explanation", "Topic", "explain_topic", "find_topic"]

TopicKind = Literal["symbol", "term", "imei_help", "device"]


@dataclass(frozen=True, slots=True)
class Topic:
    kind: TopicKind
    key: str  # a status, a term's key, "imei", or the device's normalised IMEI


def _folded(value: str) -> str:
    folded = unicodedata.normalize("NFKC", value).casefold()
    return "".join(ch for ch in folded if not ch.isspace() and ch not in "-_・")


#: How people write the terms (folded as ``_folded`` does): katakana, romaji, English.
_TERMS: dict[str, str] = {
    **dict.fromkeys(
        ["白ロム", "白rom", "しろろむ", "シロロム", "shirorom", "whiterom"], "white_rom"
    ),
    **dict.fromkeys(
        ["黒ロム", "黒rom", "くろろむ", "クロロム", "kurorom", "blackrom"], "black_rom"
    ),
    **dict.fromkeys(
        ["赤ロム", "赤rom", "あかろむ", "アカロム", "akarom", "redrom", "ネットワーク利用制限"],
        "red_rom",
    ),
    **dict.fromkeys(["simフリー", "simfree", "シムフリー"], "sim_free"),
    **dict.fromkeys(
        ["simロック解除済み", "simロック解除済", "simロック解除", "simunlocked", "unlocked"],
        "sim_unlocked",
    ),
}
_IMEI_HELP = {"imei", "imei番号", "製造番号", "端末識別番号"}
#: Symbols as people type them, besides the characters carriers print.
_SYMBOL_WORDS: dict[str, Status] = {
    "まる": Status.OK,
    "maru": Status.OK,
    "さんかく": Status.PENDING,
    "sankaku": Status.PENDING,
    "ばつ": Status.RESTRICTED,
    "バツ": Status.RESTRICTED,
    "batsu": Status.RESTRICTED,
    "x": Status.RESTRICTED,
    "?": Status.UNKNOWN,  # ？ too: NFKC folds it
    **{status.value: status for status in Status},
    **{status.symbol: status for status in Status},  # ○ △ × - ?, as akarom prints them
}


def _printed_symbol(query: str) -> Status | None:
    """The status of a symbol as some carrier prints it (▲ 〇 － …), else None."""
    stripped = query.strip()
    if len(stripped) != 1:  # every printed symbol is one character: skip loading the table
        return None
    from akarom.carriers import symbol_status  # the carriers load only for a variant

    return symbol_status(stripped)


def find_topic(query: str) -> Topic:
    """The topic ``query`` names; raises ``UnknownTopic`` when it is none and no IMEI either."""
    folded = _folded(query)
    status = _SYMBOL_WORDS.get(query.strip()) or _SYMBOL_WORDS.get(folded)
    if status is not None:
        return Topic("symbol", status.value)
    if folded in _TERMS:
        return Topic("term", _TERMS[folded])
    if folded in _IMEI_HELP:
        return Topic("imei_help", "imei")
    status = _printed_symbol(query)
    if status is not None:
        return Topic("symbol", status.value)
    from akarom.identity import parse  # IMEI rules (python-stdnum) load only for a device

    try:
        return Topic("device", parse(query).value)
    except InvalidImei as invalid:
        raise UnknownTopic(query, invalid) from None


@dataclass(frozen=True, slots=True)
class Explanation:
    title: str
    paragraphs: tuple[str, ...]
    by_role: tuple[tuple[Role, str], ...] = ()  # what it means for each role asked about


def explain_topic(topic: Topic, lang: Lang, roles: tuple[Role, ...] = tuple(Role)) -> Explanation:
    """The catalogue's explanation of a symbol, a term or the IMEI (not of a device)."""
    if topic.kind == "device":
        raise ValueError("a device is explained from its check, not from the catalogue")
    prefix = {"symbol": "explain.symbol.", "term": "explain.term.", "imei_help": "explain."}
    base = prefix[topic.kind] + topic.key
    by_role: tuple[tuple[Role, str], ...] = ()
    if topic.kind == "symbol":
        by_role = tuple((role, text(f"{base}.{role.value}", lang)) for role in roles)
    return Explanation(
        title=text(f"{base}.title", lang),
        paragraphs=tuple(text(f"{base}.body", lang).splitlines()),
        by_role=by_role,
    )
