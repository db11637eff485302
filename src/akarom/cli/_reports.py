"""Rendering what the services return: reports, advice, history, bulk and doctor.

Imported by the commands that check or read the database, never at start-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

from akarom.cli._output import out
from akarom.domain import JST, Carrier, CarrierResult, Source, Status, Verdict
from akarom.services.device_reports import DeviceReport
from akarom.services.options import Role
from akarom.services.reports import (
    advice_json,
    advice_lines,
    age_text,
    device_json,
    invalid_message,
    manual_check_lines,
    outcome_lines,
    result_reason,
)
from akarom.texts import Lang, text

if TYPE_CHECKING:  # each command imports the service it renders; these are its results
    from akarom.services.advising import DeviceAdvice, SituationAdvice
    from akarom.services.bulk import BulkSummary
    from akarom.services.checking import CheckedDevice, CheckOutcome
    from akarom.services.doctor import Diagnosis, PageDrift
    from akarom.services.history import DeviceHistory

__all__ = [
    "VERDICT_STYLE",
    "check_json",
    "doctor_checks",
    "doctor_json",
    "explained_device_json",
    "print_bulk_summary",
    "print_check",
    "print_diagnosis",
    "print_explained_device",
    "print_history",
]

VERDICT_STYLE = {
    Verdict.CLEAR: "bold green",
    Verdict.CAUTION: "bold yellow",
    Verdict.RED: "bold red",
    Verdict.INCOMPLETE: "bold magenta",
    Verdict.INVALID: "bold red",
}
_STATUS_STYLE = {
    Status.OK: "green",
    Status.PENDING: "yellow",
    Status.RESTRICTED: "bold red",
    Status.UNREGISTERED: "dim",
    Status.UNKNOWN: "magenta",
}
_DECISION_STYLE = {
    "allow": "bold green",
    "allow_with_conditions": "bold yellow",
    "refuse": "bold red",
    "recheck": "bold magenta",
    "advise": "bold",
    "undecided": "bold magenta",
}


# -- check ----------------------------------------------------------------------------


def check_json(device: CheckedDevice, outcome: CheckOutcome, lang: Lang) -> dict[str, object]:
    """One line of ``akarom check --json`` (INTERFACES.md §3): the first role's advice."""
    return device_json(device.report, device.advice[0], lang, outcome.manual_urls)


def print_check(device: CheckedDevice, outcome: CheckOutcome, lang: Lang) -> None:
    """The report, then the short advice of the role asked."""
    _print_report(device.report, lang)
    _print_advice(device.advice[0], device.report, lang, outcome.manual_urls)


def _print_report(report: DeviceReport, lang: Lang) -> None:
    verdict_line = Text.assemble(
        (f"{text('label.verdict', lang)}: ", "bold"),
        (text(f"verdict.{report.verdict.value}.headline", lang), VERDICT_STYLE[report.verdict]),
    )
    if report.origin_carrier is not None:
        origin = report.origin_carrier.label(lang)
        verdict_line.append(f"  ({text('label.origin', lang)}: {origin})")
    shown = report.identity.value if report.identity else ""
    out().print(
        Text.assemble((report.input, "bold"), f"  {shown}" if shown != report.input else "")
    )
    out().print(verdict_line)
    if report.invalid is not None:
        out().print(f"  {invalid_message(report.invalid, report.input, lang)}")
    if report.results:
        table = Table(box=None, padding=(0, 2, 0, 2), show_edge=False)
        # Fold, never truncate: a reason cut off at "…" is no reason at all.
        table.add_column(text("label.carrier", lang), no_wrap=True)
        table.add_column(text("label.result", lang), no_wrap=True)
        table.add_column(text("label.meaning", lang), overflow="fold", ratio=3)
        table.add_column(text("label.checked_at", lang), overflow="fold", ratio=1)
        for result in report.results:
            meaning = Text(result_reason(result, lang))
            if result.message:
                meaning.append(f"\n{text('label.carrier_says', lang)}: 「{result.message}」", "dim")
            if result.evidence:
                meaning.append(f"\n{text('label.evidence', lang)}: {result.evidence[0]}", "dim")
            table.add_row(
                result.carrier.label(lang),
                Text(result.symbol, _STATUS_STYLE[result.status]),
                meaning,
                _when(result, lang),
            )
        out().print(table)


def _when(result: CarrierResult, lang: Lang) -> str:
    """``2026-11-27 01:50 (今回確認)``, or with the age of a stored answer."""
    if result.checked_at is None or result.source is None:
        return ""
    stamp = result.checked_at.astimezone(JST).strftime("%Y-%m-%d %H:%M")
    source = text(f"label.source.{result.source.value}", lang)
    if result.source is Source.LIVE:
        return f"{stamp} ({source})"
    return f"{stamp} ({source}, {age_text(datetime.now(UTC) - result.checked_at, lang)})"


def _print_advice(
    advice: DeviceAdvice, report: DeviceReport, lang: Lang, manual_urls: Mapping[Carrier, str]
) -> None:
    """The short form under a check: summary, actions, and the rules that decided."""
    summary, actions = advice_lines(advice, report, lang, manual_urls)
    out().print(Text.assemble((f"{text('label.advice', lang)}: ", "bold"), summary))
    for action in actions:
        out().print(f"  ・{action}")
    decided_by = ", ".join(dict.fromkeys(s.decision.rule_id or "-" for s in advice.situations))
    out().print(Text(f"  {text('label.rule', lang)}: {decided_by}", "dim"))
    out().print()


# -- explain a device -----------------------------------------------------------------


def explained_device_json(outcome: CheckOutcome, lang: Lang) -> dict[str, object]:
    """``check --json``'s line, with every role's advice under ``advice_by_role``."""
    (device,) = outcome.devices
    line = check_json(device, outcome, lang)
    line["advice_by_role"] = {
        advice.role.value: advice_json(advice, device.report, lang, outcome.manual_urls)
        for advice in device.advice
    }
    return line


def print_explained_device(outcome: CheckOutcome, lang: Lang) -> None:
    """The report, every role's decisions in full, and where to look by hand."""
    (device,) = outcome.devices
    _print_report(device.report, lang)
    for advice in device.advice:
        _print_full_advice(advice, device.report, lang)
    for line in manual_check_lines(device.report, lang, outcome.manual_urls):
        out().print(f"・{line}")
    out().print(Text(text("label.rules_on", lang).format(date=outcome.on.isoformat()), "dim"))


def _print_full_advice(advice: DeviceAdvice, report: DeviceReport, lang: Lang) -> None:
    """Every decision of one role, with its figures, rule and sources."""
    out().print(Text(f"■ {text(f'role.{advice.role.value}', lang)}", "bold underline"))
    if advice.role is Role.SELLER:
        out().print(f"  {advice_lines(advice, report, lang)[0]}")
    for advised in advice.situations:
        topic = (
            f"marketplace.{advised.marketplace.value}"
            if advised.marketplace
            else f"situation.{advised.situation}"
        )
        out().print(Text(f"  {text(topic, lang)}: ", "bold") + _decision_text(advised, lang))
        decision = advised.decision
        out().print(f"    {decision.summary[lang]}")
        for line in outcome_lines(decision, lang):
            out().print(f"    {line}")
        for action in decision.actions[lang]:
            out().print(f"    ・{action}")
        if decision.rule_id is not None:
            rule = f"{text('label.rule', lang)}: {decision.rule_id} ({decision.rule_file})"
            out().print(Text(f"    {rule}", "dim"))
            out().print(
                Text(f"    {text('label.sources', lang)}: {'; '.join(decision.sources)}", "dim")
            )
    out().print()


def _decision_text(advised: SituationAdvice, lang: Lang) -> Text:
    decision = advised.decision.decision.value
    return Text(text(f"decision.{decision}", lang), _DECISION_STYLE[decision])


# -- bulk -----------------------------------------------------------------------------


def print_bulk_summary(summary: BulkSummary, lang: Lang) -> None:
    table = Table(title=text("bulk.summary", lang), box=None, padding=(0, 2, 0, 2))
    table.add_column(text("label.verdict", lang))
    table.add_column(text("bulk.rows", lang), justify="right")
    for verdict in Verdict:
        if summary.verdicts.get(verdict.value):
            table.add_row(
                Text(text(f"verdict.{verdict.value}.short", lang), VERDICT_STYLE[verdict]),
                str(summary.verdicts[verdict.value]),
            )
    out().print(table)
    out().print(
        text("bulk.totals", lang).format(
            rows=summary.rows,
            devices=summary.devices_checked,
            checks=summary.carrier_checks,
            cached=summary.cached_answers,
            duplicates=summary.duplicate_rows,
            resumed=summary.resumed_rows,
            seconds=summary.elapsed_s,
            output=summary.output,
        )
    )
    for carrier, code in summary.paused.items():
        out().print(
            Text(
                text("bulk.paused", lang).format(
                    carrier=carrier.label(lang),
                    reason=text(f"error.{code}", lang),
                    id=carrier.value,
                ),
                "bold magenta",
            )
        )


# -- history --------------------------------------------------------------------------


def print_history(history: DeviceHistory, lang: Lang) -> None:
    if not history.entries:
        out().print(text("history.none", lang).format(imei=history.imei))
        return
    table = Table(box=None, padding=(0, 2, 0, 2), show_edge=False)
    for key in ("label.checked_at", "label.carrier", "label.result", "label.meaning"):
        table.add_column(text(key, lang), overflow="fold")
    table.add_column(text("history.source", lang), overflow="fold")
    for entry in history.entries:
        observation = entry.observation
        meaning = Text(result_reason(observation.to_result(), lang))
        if observation.message:
            meaning.append(f"\n「{observation.message}」", "dim")
        source = text(f"label.source.{observation.source.value}", lang)
        if observation.entered_by:
            source += f" ({observation.entered_by})"
        pages = text("history.pages", lang).format(count=len(entry.pages))
        table.add_row(
            observation.checked_at.astimezone(JST).strftime("%Y-%m-%d %H:%M:%S"),
            observation.carrier.label(lang),
            Text(observation.status.symbol, _STATUS_STYLE[observation.status]),
            meaning,
            f"{source}\n#{observation.id} {pages}",
        )
    out().print(Text(history.entries[0].observation.imei, "bold"))
    out().print(table)


# -- doctor ---------------------------------------------------------------------------


def doctor_checks(diagnosis: Diagnosis, lang: Lang) -> list[tuple[str, bool, str]]:
    """The setup's lines (name, ok, detail): carriers, database, answer pages, rules."""
    checks = []
    for pace in diagnosis.paces:
        where = pace.base_url or text("doctor.live_site", lang)
        speed = text("doctor.pace", lang).format(rate=pace.rate, concurrency=pace.concurrency)
        checks.append((pace.carrier.label(lang), True, f"{where}: {speed}"))
    database = diagnosis.database
    checks.append((text("doctor.database", lang), database.ok, database.detail))
    if diagnosis.drift is not None:
        checks.extend(_drift_checks(diagnosis.drift, lang))
    rules = diagnosis.rules
    if rules.ok:
        source = str(rules.source) if rules.source else text("doctor.rules.shipped", lang)
        detail = text("doctor.rules.count", lang).format(count=rules.count, source=source)
    else:
        detail = rules.problem or ""
    checks.append((text("doctor.rules", lang), rules.ok, detail))
    return checks


def _drift_checks(drift: PageDrift, lang: Lang) -> list[tuple[str, bool, str]]:
    """One line per carrier whose answer pages were read or refused lately."""
    from akarom.services.doctor import DRIFT_WINDOW

    days = DRIFT_WINDOW.days
    lines = []
    for pages in drift.carriers:
        name = text("doctor.pages", lang).format(carrier=pages.carrier.label(lang))
        if not pages.refused:
            lines.append(
                (name, True, text("doctor.pages.ok", lang).format(read=pages.read, days=days))
            )
            continue
        reasons = ", ".join(f"{reason} ×{count}" for reason, count in pages.reasons.items())
        detail = text("doctor.pages.refused", lang).format(
            refused=pages.refused, read=pages.read, days=days, reasons=reasons
        )
        last = pages.last_refused
        if pages.stopped_matching and last is not None:
            detail += " " + text("doctor.pages.stopped", lang).format(
                observation=last.id, imei=last.imei, detail=last.detail or ""
            )
        else:
            detail += " " + text("doctor.pages.recovered", lang)
        lines.append((name, not pages.stopped_matching, detail))
    return lines


def doctor_json(diagnosis: Diagnosis, lang: Lang) -> dict[str, object]:
    """``akarom doctor --json``: the setup's lines, the probes and the answer pages."""
    return {
        "ok": diagnosis.ok,
        "checks": [
            {"name": name, "ok": ok, "detail": detail}
            for name, ok, detail in doctor_checks(diagnosis, lang)
        ],
        "carriers": diagnosis.live.as_dict() if diagnosis.live is not None else None,
        "pages": diagnosis.drift.as_dict() if diagnosis.drift is not None else None,
    }


def print_diagnosis(diagnosis: Diagnosis, lang: Lang) -> None:
    for name, ok, detail in doctor_checks(diagnosis, lang):
        out().print(
            Text.assemble(
                ("✓ " if ok else "✗ ", "green" if ok else "bold red"), name, f": {detail}"
            )
        )
    if diagnosis.live is None:
        return
    for probe in diagnosis.live.probes:
        mark, style = ("✓ ", "green") if probe.ok else ("✗ ", "bold red")
        out().print(
            Text.assemble(
                (mark, style),
                probe.carrier.label(lang),
                f" {probe.url}: ",
                text(f"doctor.outcome.{probe.outcome}", lang),
            )
        )
        for problem in probe.problems:
            out().print(f"    - {problem}")
        if probe.detail and not probe.ok:
            out().print(f"    {probe.detail}")
