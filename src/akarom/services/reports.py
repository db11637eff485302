"""Reports as people and programs read them: the JSON of INTERFACES.md §3 and the advice.

The CLI and the API render from here, so both say the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from akarom.advice import Decision
from akarom.domain import JST, Carrier, CarrierResult, Status, Verdict
from akarom.services.advising import DeviceAdvice, Role, SituationAdvice
from akarom.services.device_reports import DeviceReport
from akarom.services.validation import invalid_message, validation_json
from akarom.texts import Lang, text

__all__ = [
    "ADVICE_COLUMNS",
    "advice_cells",
    "advice_json",
    "advice_lines",
    "advice_summary",
    "age_text",
    "device_json",
    "invalid_message",
    "manual_check_lines",
    "marketplace_json",
    "outcome_lines",
    "result_json",
    "result_reason",
    "seller_summary",
    "situation_json",
    "validation_json",
]


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
        # In Japan time, as the carriers date their answers, whether live or stored.
        "checked_at": result.checked_at.astimezone(JST).isoformat(timespec="seconds")
        if result.checked_at
        else None,
        "source": result.source.value if result.source else None,
        "message": result.message,
        "error": result.error,
    }


def device_json(
    report: DeviceReport,
    advice: DeviceAdvice,
    lang: Lang,
    manual_urls: Mapping[Carrier, str] | None = None,
) -> dict[str, Any]:
    """One line of ``akarom check --json``."""
    data: dict[str, Any] = {
        "input": report.input,
        "imei": report.identity.value if report.identity else None,
        "verdict": report.verdict.value,
        "origin_carrier": report.origin_carrier.value if report.origin_carrier else None,
        "results": [result_json(result) for result in report.results],
        "advice": advice_json(advice, report, lang, manual_urls),
    }
    if report.invalid is not None:
        data["error"] = report.invalid.code
    return data


def advice_json(
    advice: DeviceAdvice,
    report: DeviceReport,
    lang: Lang,
    manual_urls: Mapping[Carrier, str] | None = None,
) -> dict[str, Any]:
    """The ``advice`` object: INTERFACES' summary and actions, then how they were decided."""
    summary, actions = advice_lines(advice, report, lang, manual_urls)
    return {
        "summary": summary,
        "actions": actions,
        "role": advice.role.value,
        "on": advice.on.isoformat(),
        "decisions": [situation_json(situation, lang) for situation in advice.situations],
        "marketplaces": [marketplace_json(place, lang) for place in advice.marketplaces],
    }


def situation_json(advised: SituationAdvice, lang: Lang) -> dict[str, Any]:
    decision, outcome = advised.decision, advised.decision.outcome
    return {
        "situation": advised.situation,
        "marketplace": advised.marketplace.value if advised.marketplace else None,
        "decision": decision.decision.value,
        "summary": decision.summary[lang],
        "actions": list(decision.actions[lang]),
        "price_factor": outcome.price_factor,
        "grade_cap": outcome.grade_cap.value if outcome.grade_cap else None,
        "recheck_after_days": outcome.recheck_after_days,
        "must_state": [item.value for item in outcome.must_state],
        "rule": decision.rule_id,
        "rule_file": decision.rule_file,
        "sources": list(decision.sources),
    }


def marketplace_json(advised: SituationAdvice, lang: Lang) -> dict[str, Any]:
    """Whether one marketplace accepts the listing (null: cannot say yet) and what it needs."""
    assert advised.marketplace is not None
    return {
        "marketplace": advised.marketplace.value,
        "allowed": advised.allowed,
        "decision": advised.decision.decision.value,
        "must_state": [item.value for item in advised.decision.outcome.must_state],
        "summary": advised.decision.summary[lang],
        "rule": advised.decision.rule_id,
    }


def advice_lines(
    advice: DeviceAdvice,
    report: DeviceReport,
    lang: Lang,
    manual_urls: Mapping[Carrier, str] | None = None,
) -> tuple[str, list[str]]:
    """A one-line summary and the next steps, from every decision of the role.

    ``manual_urls`` are the carriers' own check pages, offered when a carrier
    could not be asked so a person can look for themselves.
    """
    summary = advice_summary(advice, lang)
    if advice.role is Role.SELLER:
        actions = _grouped_by_marketplace(advice.situations, lang)
    else:
        every = (action for s in advice.situations for action in s.decision.actions[lang])
        actions = list(dict.fromkeys(every))
    if report.invalid is not None:
        summary = f"{summary} ({invalid_message(report.invalid, report.input, lang)})"
    return summary, actions + manual_check_lines(report, lang, manual_urls)


def manual_check_lines(
    report: DeviceReport, lang: Lang, manual_urls: Mapping[Carrier, str] | None
) -> list[str]:
    """Where a person can look for themselves when a carrier could not be asked."""
    unanswered = [r.carrier for r in report.results if r.status is Status.UNKNOWN]
    if report.verdict is not Verdict.INCOMPLETE or not manual_urls or not unanswered:
        return []
    return [text("advice.incomplete.action.manual", lang)] + [
        f"{carrier.label(lang)}: {manual_urls[carrier]}"
        for carrier in unanswered
        if carrier in manual_urls
    ]


def outcome_lines(decision: Decision, lang: Lang) -> list[str]:
    """The outcome's figures in words: price, best grade, when to re-check, what to state.

    >>> from datetime import date
    >>> from akarom.advice import Action, Outcome
    >>> d = Decision("buyback", Outcome(Action.ALLOW_WITH_CONDITIONS, price_factor=0.5),
    ...              {}, {}, None, None, (), date(2026, 1, 1))
    >>> outcome_lines(d, "en")
    ['Buy-back price: 50% of normal']
    """
    outcome = decision.outcome
    lines = []
    if outcome.price_factor is not None and outcome.price_factor != 1:
        percent = f"{outcome.price_factor * 100:g}"
        lines.append(text("outcome.price_factor", lang).format(percent=percent))
    if outcome.grade_cap is not None:
        lines.append(text("outcome.grade_cap", lang).format(grade=outcome.grade_cap.value))
    if outcome.recheck_after_days is not None:
        days = outcome.recheck_after_days
        lines.append(text("outcome.recheck_after_days", lang).format(days=days))
    if outcome.must_state:
        items = _join([text(f"disclosure.{item.value}", lang) for item in outcome.must_state], lang)
        lines.append(text("outcome.must_state", lang).format(items=items))
    return lines


def advice_summary(advice: DeviceAdvice, lang: Lang) -> str:
    """The one line: where a seller may list it, else the first decision's summary."""
    if advice.role is Role.SELLER:
        return seller_summary(advice.marketplaces, lang)
    return advice.first.summary[lang]


#: The columns ``akarom bulk --for ROLE`` adds after INTERFACES' result columns.
ADVICE_COLUMNS: Mapping[Role, tuple[str, ...]] = {
    Role.BUYER: ("purchase", "advice", "advice_rules"),
    Role.SELLER: ("mercari", "yahoo", "rakuma", "advice", "advice_rules"),
    Role.DEALER: (
        "buyback",
        "buyback_price_factor",
        "sale_grade",
        "grade_cap",
        "guarantee",
        "advice",
        "advice_rules",
    ),
}


def advice_cells(advice: DeviceAdvice, lang: Lang) -> dict[str, str]:
    """One spreadsheet row's advice: a decision code per situation, its figures, the rules."""
    cells: dict[str, str] = {}
    for advised in advice.situations:
        outcome = advised.decision.outcome
        column = advised.marketplace.value if advised.marketplace else advised.situation
        cells[column] = advised.decision.decision.value
        if advised.situation == "buyback" and outcome.price_factor is not None:
            cells["buyback_price_factor"] = f"{outcome.price_factor:g}"
        if advised.situation == "sale_grade" and outcome.grade_cap is not None:
            cells["grade_cap"] = outcome.grade_cap.value
    cells["advice"] = advice_summary(advice, lang)
    cells["advice_rules"] = " ".join(s.decision.rule_id or "-" for s in advice.situations)
    return cells


def seller_summary(marketplaces: Sequence[SituationAdvice], lang: Lang) -> str:
    """``メルカリに出品できます。Yahoo!・ラクマには出品できません。`` in one line."""
    rules = {place.decision.rule_id for place in marketplaces}
    if len(rules) == 1:  # one rule for all three (a 赤ロム, no verdict yet): say it once
        return marketplaces[0].decision.summary[lang]
    parts = []
    for allowed, key in ((True, "allowed"), (False, "refused"), (None, "undecided")):
        names = [_marketplace_name(p, lang) for p in marketplaces if p.allowed is allowed]
        if names:
            parts.append(text(f"advice.seller.{key}", lang).format(places=_join(names, lang)))
    return ("" if lang == "ja" else " ").join(parts)


def _grouped_by_marketplace(situations: Sequence[SituationAdvice], lang: Lang) -> list[str]:
    """Each action once, prefixed with the marketplaces it is for unless it is for all."""
    places_by_action: dict[str, list[str]] = {}
    for advised in situations:
        for action in advised.decision.actions[lang]:
            places_by_action.setdefault(action, []).append(_marketplace_name(advised, lang))
    return [
        action if len(names) == len(situations) else f"{_join(names, lang)}: {action}"
        for action, names in places_by_action.items()
    ]


def _marketplace_name(advised: SituationAdvice, lang: Lang) -> str:
    assert advised.marketplace is not None
    return text(f"marketplace.{advised.marketplace.value}", lang)


def _join(names: Sequence[str], lang: Lang) -> str:
    return ("・" if lang == "ja" else ", ").join(names)
