"""Reports as people and programs read them: the JSON of INTERFACES.md §3 and the advice.

The CLI and the API render from here, so both say the same thing.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from akarom.domain import Carrier, CarrierResult, Status, Verdict
from akarom.errors import InvalidImei
from akarom.identity import compact, parse
from akarom.services.checks import DeviceReport
from akarom.texts import Lang, text

__all__ = [
    "Advice",
    "advice_for",
    "age_text",
    "device_json",
    "invalid_message",
    "result_json",
    "result_reason",
    "validation_json",
]

Advice = tuple[str, list[str]]


def age_text(age: timedelta, lang: Lang) -> str:
    """How old a stored answer is, the way a person says it: ``3時間前`` / ``3 h ago``.

    >>> age_text(timedelta(minutes=90), "ja"), age_text(timedelta(days=2), "en")
    ('1時間前', '2 d ago')
    """
    seconds = max(0, int(age.total_seconds()))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            return text(f"age.{unit}", lang).format(n=seconds // size)
    return text("age.now", lang)


def invalid_message(err: InvalidImei, raw: str, lang: Lang) -> str:
    """Why ``raw`` is not an IMEI, in words a person can act on."""
    key = f"imei.{err.code}"
    if err.code == "length":
        digits = compact(raw)  # normalisation only; never raises for a str
        if len(digits) == 14 and digits.isdecimal():
            key = "imei.length.14"
    return text(key, lang)


def validation_json(raw: str, lang: Lang) -> dict[str, Any]:
    """One line of ``akarom validate --json``."""
    try:
        identity = parse(raw)
    except InvalidImei as err:
        return {
            "input": raw,
            "valid": False,
            "imei": None,
            "kind": None,
            "tac": None,
            "error": err.code,
            "message": invalid_message(err, raw, lang),
        }
    return {
        "input": raw,
        "valid": True,
        "imei": identity.value,
        "kind": identity.kind,
        "tac": identity.tac,
        "error": None,
        "message": None,
    }


def result_reason(result: CarrierResult, lang: Lang) -> str:
    """What a result means for a person: the status's meaning, or why there is none."""
    if result.error is None:
        return text(f"status.{result.status.value}.meaning", lang)
    try:
        return text(f"error.{result.error}", lang)
    except KeyError:
        return text("error.error", lang)


def result_json(result: CarrierResult) -> dict[str, Any]:
    return {
        "carrier": result.carrier.value,
        "status": result.status.value,
        "symbol": result.symbol,
        "checked_at": result.checked_at.isoformat(timespec="seconds")
        if result.checked_at
        else None,
        "source": result.source.value if result.source else None,
        "message": result.message,
        "error": result.error,
    }


def device_json(
    report: DeviceReport, lang: Lang, manual_urls: dict[Carrier, str] | None = None
) -> dict[str, Any]:
    """One line of ``akarom check --json``."""
    summary, actions = advice_for(report, lang, manual_urls)
    data: dict[str, Any] = {
        "input": report.input,
        "imei": report.identity.value if report.identity else None,
        "verdict": report.verdict.value,
        "origin_carrier": report.origin_carrier.value if report.origin_carrier else None,
        "results": [result_json(result) for result in report.results],
        "advice": {"summary": summary, "actions": actions},
    }
    if report.invalid is not None:
        data["error"] = report.invalid.code
    return data


def advice_for(
    report: DeviceReport, lang: Lang, manual_urls: dict[Carrier, str] | None = None
) -> Advice:
    """A one-line summary and the next steps for this verdict.

    ``manual_urls`` are the carriers' own check pages, offered when a carrier
    could not be asked so a person can look for themselves.
    """
    verdict = report.verdict
    if verdict is Verdict.INVALID:
        reason = invalid_message(report.invalid, report.input, lang) if report.invalid else ""
        summary = text("advice.invalid.summary", lang)
        return f"{summary} ({reason})" if reason else summary, [
            text("advice.invalid.action.find_imei", lang)
        ]
    if verdict is Verdict.RED:
        return text("advice.red.summary", lang), [
            text("advice.red.action.dont_buy", lang),
            text("advice.red.action.contact_seller", lang),
            text("advice.red.action.other_networks", lang),
        ]
    if verdict is Verdict.CAUTION:
        actions = [text("advice.caution.action.ask_proof", lang)]
        if report.origin_carrier is Carrier.DOCOMO:
            actions.append(text("advice.caution.action.docomo_new", lang))
        return text("advice.caution.summary", lang), actions
    if verdict is Verdict.CLEAR:
        if report.origin_carrier is None:
            return text("advice.clear.unregistered.summary", lang), [
                text("advice.clear.action.recheck_new", lang),
                text("advice.clear.action.keep_record", lang),
            ]
        return text("advice.clear.summary", lang), [text("advice.clear.action.keep_record", lang)]
    actions = [text("advice.incomplete.action.retry", lang)]
    unanswered = [r.carrier for r in report.results if r.status is Status.UNKNOWN]
    if manual_urls and unanswered:
        actions.append(text("advice.incomplete.action.manual", lang))
        actions.extend(
            f"{text(f'carrier.{carrier.value}', lang)}: {manual_urls[carrier]}"
            for carrier in unanswered
            if carrier in manual_urls
        )
    return text("advice.incomplete.summary", lang), actions
