"""The ``akarom`` command: thin — parse arguments, call the services, print.

Exit codes (INTERFACES.md §3): ``validate`` 0 all valid / 1 any invalid;
``check`` 0 clear, 3 caution, 4 red, 5 incomplete, 2 invalid input or usage
(with several devices the highest applies).
"""

from __future__ import annotations

import asyncio
import getpass
import json
import logging
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from akarom import __version__
from akarom.cli.person import TerminalPerson
from akarom.config import Settings
from akarom.domain import Carrier, CarrierResult, Source, Status, Verdict, resolve_carrier
from akarom.errors import ConfigError, InvalidImei, StorageError
from akarom.services.advising import (
    Circumstances,
    DeviceAdvice,
    Role,
    RuleSet,
    Seller,
    Sim,
    SituationAdvice,
    advise,
    load_advice_rules,
    today_in_japan,
)
from akarom.services.bulk import BulkSummary, RowAdvice, TableError, run_bulk
from akarom.services.checks import (
    JST,
    Checker,
    DeviceReport,
    adapter_for,
    effective_limits,
)
from akarom.services.database import Store, open_store
from akarom.services.doctor import DRIFT_WINDOW, DoctorReport, PageDrift, page_drift
from akarom.services.explaining import Explanation, Topic, explain_topic, find_topic
from akarom.services.history import device_history, export_evidence, history_json
from akarom.services.manual import carrier_page, record_manual
from akarom.services.reports import (
    advice_json,
    advice_lines,
    age_text,
    device_json,
    invalid_message,
    manual_check_lines,
    outcome_lines,
    result_reason,
    validation_json,
)
from akarom.texts import Lang, text

app = typer.Typer(
    name="akarom",
    help="赤ロム（ネットワーク利用制限）を各キャリアの公式確認ページで調べます。 "
    "Checks whether a used phone is 赤ロム on docomo, au, SoftBank and Rakuten.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)

LangOption = Annotated[
    str | None,
    typer.Option("--lang", help="ja (default) or en; also AKAROM_LANG.", show_default=False),
]
JsonOption = Annotated[bool, typer.Option("--json", help="One JSON object per line.")]
AllCarriersOption = Annotated[
    bool,
    typer.Option("--all-carriers", help="Ask every carrier, even after the selling one answered."),
]
FreshOption = Annotated[
    bool, typer.Option("--fresh", help="Ask the carriers even if a recent answer is stored.")
]

CarrierOption = Annotated[
    list[str] | None,
    typer.Option(
        "--carrier",
        "-c",
        help=f"Ask only this carrier ({', '.join(Carrier)}, or a brand such as "
        "ahamo, uq, ymobile). Repeatable.",
        show_default=False,
    ),
]
RulesOption = Annotated[
    Path | None,
    typer.Option(
        "--rules",
        help="A dealer's advice rules merged over the shipped ones; also AKAROM_RULES_FILE.",
        show_default=False,
    ),
]
SimOption = Annotated[
    Sim | None,
    typer.Option(
        "--sim", help="How the phone is locked: free, unlocked or locked.", show_default=False
    ),
]
BoughtOption = Annotated[
    str | None,
    typer.Option(
        "--bought",
        help="When you bought it: YYYY-MM-DD, today/今日 or yesterday/昨日.",
        show_default=False,
    ),
]
AfterRepairOption = Annotated[
    bool, typer.Option("--after-repair", help="The check follows a repair that swapped the body.")
]
SellerOption = Annotated[
    Seller | None,
    typer.Option("--seller", help="Who lists it: individual or store.", show_default=False),
]
CompensatesOption = Annotated[
    bool,
    typer.Option("--compensates", help="The seller compensates the buyer if the phone turns ×."),
]

_VERDICT_STYLE = {
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


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as problem:
        err.print(f"akarom: {problem}")
        raise typer.Exit(2) from None


def _lang(option: str | None, settings: Settings) -> Lang:
    chosen = (option or settings.lang).strip().lower()
    if chosen not in ("ja", "en"):
        err.print(f"akarom: --lang must be ja or en, not {option!r}")
        raise typer.Exit(2)
    return "ja" if chosen == "ja" else "en"


def _version(value: bool) -> None:
    if value:
        out.print(f"akarom {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="-v: progress, -vv: debug.")
    ] = 0,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Logs go to standard error; results to standard output."""
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logging.basicConfig(
        level=level,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_path=False, markup=False)],
        force=True,
    )
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))


@app.command()
def validate(
    values: Annotated[list[str], typer.Argument(help="IMEI, IMEISV or MEID values.")],
    as_json: JsonOption = False,
    lang: LangOption = None,
) -> None:
    """IMEI を正規化・検証します（ネットワーク通信なし）。Normalise and validate, offline."""
    chosen = _lang(lang, _settings())
    lines = [validation_json(value, chosen) for value in values]
    if as_json:
        for line in lines:
            print(json.dumps(line, ensure_ascii=False), flush=True)
    else:
        for line in lines:
            if line["valid"]:
                kind = text(f"label.kind.{line['kind']}", chosen)
                tac = f"  TAC {line['tac']}" if line["tac"] else ""
                out.print(f"✓ {line['input']} → {line['imei']}  ({kind}){tac}")
            else:
                out.print(Text.assemble(("✗ ", "bold red"), f"{line['input']}: {line['message']}"))
    raise typer.Exit(0 if all(line["valid"] for line in lines) else 1)


@app.command()
def check(
    imeis: Annotated[list[str], typer.Argument(help="One or more IMEIs.", show_default=False)],
    carrier: CarrierOption = None,
    all_carriers: AllCarriersOption = False,
    fresh: FreshOption = False,
    role: Annotated[
        Role, typer.Option("--for", help="Whose advice: buyer, seller or dealer.")
    ] = Role.BUYER,
    sim: SimOption = None,
    bought: BoughtOption = None,
    after_repair: AfterRepairOption = False,
    seller: SellerOption = None,
    compensates: CompensatesOption = False,
    rules_file: RulesOption = None,
    as_json: JsonOption = False,
    lang: LangOption = None,
) -> None:
    """IMEI ごとに各キャリアの利用制限を確認します。Check each device at the carriers."""
    settings = _settings()
    chosen = _lang(lang, settings)
    carriers = _carriers(carrier)
    rules = _rules(settings, rules_file)
    day = today_in_japan()
    known = _circumstances(sim, bought, after_repair, seller, compensates, day)
    person = _person(settings, chosen, as_json)
    with _store(settings) as store:
        reports, manual_urls = asyncio.run(
            _check(
                settings,
                store,
                imeis,
                carriers,
                all_carriers=all_carriers,
                fresh=fresh,
                person=person,
            )
        )
    for report in reports:
        advice = advise(report, rules, role, known, on=day)
        if as_json:
            line = device_json(report, advice, chosen, manual_urls)
            print(json.dumps(line, ensure_ascii=False), flush=True)
        else:
            _print_report(report, chosen)
            _print_advice(advice, report, chosen, manual_urls)
    raise typer.Exit(max(report.verdict.exit_code for report in reports))


def _carriers(names: list[str] | None) -> list[Carrier] | None:
    try:
        return [resolve_carrier(name) for name in names] if names else None
    except ValueError as problem:
        err.print(f"akarom: {problem} ({', '.join(Carrier)})")
        raise typer.Exit(2) from None


def _rules(settings: Settings, override: Path | None) -> RuleSet:
    try:
        return load_advice_rules(settings, override)
    except ConfigError as problem:
        err.print(f"akarom: {problem}")
        raise typer.Exit(2) from None


_DAY_WORDS = {"today": 0, "今日": 0, "きょう": 0, "yesterday": 1, "昨日": 1, "きのう": 1}


def _circumstances(
    sim: Sim | None,
    bought: str | None,
    after_repair: bool,
    seller: Seller | None,
    compensates: bool,
    today: date,
) -> Circumstances:
    """What the person told us; a flag not given is unknown (None), never "no"."""
    bought_on = None
    if bought is not None:
        word = bought.strip().casefold()
        try:
            bought_on = (
                today - timedelta(days=_DAY_WORDS[word])
                if word in _DAY_WORDS
                else date.fromisoformat(word)
            )
        except ValueError:
            err.print(f"akarom: --bought must be YYYY-MM-DD, today or yesterday, not {bought!r}")
            raise typer.Exit(2) from None
        if bought_on > today:
            err.print(f"akarom: --bought {bought_on} is in the future")
            raise typer.Exit(2)
    return Circumstances(
        sim=sim,
        bought_on=bought_on,
        after_repair=True if after_repair else None,
        seller=seller,
        compensates=True if compensates else None,
    )


def _person(settings: Settings, lang: Lang, as_json: bool) -> TerminalPerson | None:
    """Someone to ask, when a person is at the keyboard (never for --json or piped use)."""
    if as_json or not (sys.stdin.isatty() and err.is_terminal):
        return None
    return TerminalPerson(getpass.getuser(), lang, settings.data_dir)


def _store(settings: Settings) -> Store:
    try:
        return open_store(settings)
    except StorageError as problem:
        err.print(f"akarom: {problem}")
        raise typer.Exit(2) from None


async def _check(
    settings: Settings,
    store: Store,
    imeis: list[str],
    carriers: list[Carrier] | None,
    *,
    all_carriers: bool,
    fresh: bool,
    person: TerminalPerson | None,
) -> tuple[list[DeviceReport], dict[Carrier, str]]:
    async with Checker(settings, store=store, person=person) as checker:
        reports = await checker.check_many(
            imeis, carriers=carriers, all_carriers=all_carriers, fresh=fresh
        )
        manual_urls = {c: checker.adapter(c).entry_url for c in Carrier}
    return reports, manual_urls


def _print_report(report: DeviceReport, lang: Lang) -> None:
    verdict_line = Text.assemble(
        (f"{text('label.verdict', lang)}: ", "bold"),
        (text(f"verdict.{report.verdict.value}.headline", lang), _VERDICT_STYLE[report.verdict]),
    )
    if report.origin_carrier is not None:
        origin = report.origin_carrier.label(lang)
        verdict_line.append(f"  ({text('label.origin', lang)}: {origin})")
    shown = report.identity.value if report.identity else ""
    out.print(Text.assemble((report.input, "bold"), f"  {shown}" if shown != report.input else ""))
    out.print(verdict_line)
    if report.invalid is not None:
        out.print(f"  {invalid_message(report.invalid, report.input, lang)}")
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
            when = _when(result, lang)
            table.add_row(
                result.carrier.label(lang),
                Text(result.symbol, _STATUS_STYLE[result.status]),
                meaning,
                when,
            )
        out.print(table)


def _print_advice(
    advice: DeviceAdvice, report: DeviceReport, lang: Lang, manual_urls: dict[Carrier, str]
) -> None:
    """The short form under a check: summary, actions, and the rules that decided."""
    summary, actions = advice_lines(advice, report, lang, manual_urls)
    out.print(Text.assemble((f"{text('label.advice', lang)}: ", "bold"), summary))
    for action in actions:
        out.print(f"  ・{action}")
    decided_by = ", ".join(dict.fromkeys(s.decision.rule_id or "-" for s in advice.situations))
    out.print(Text(f"  {text('label.rule', lang)}: {decided_by}", "dim"))
    out.print()


@app.command()
def explain(
    topic: Annotated[
        str,
        typer.Argument(
            help="An IMEI; a symbol ○ △ × - ?; a term 白ロム 黒ロム 赤ロム SIMフリー "
            "SIMロック解除済み; or 'imei' for how to find it.",
            show_default=False,
        ),
    ],
    roles: Annotated[
        list[Role] | None,
        typer.Option(
            "--for", help="buyer, seller or dealer (repeatable; default: all).", show_default=False
        ),
    ] = None,
    carrier: CarrierOption = None,
    sim: SimOption = None,
    bought: BoughtOption = None,
    after_repair: AfterRepairOption = False,
    seller: SellerOption = None,
    compensates: CompensatesOption = False,
    rules_file: RulesOption = None,
    on: Annotated[
        str | None,
        typer.Option(
            "--on",
            help="Advise under the rules in force on this day (YYYY-MM-DD); default today.",
            show_default=False,
        ),
    ] = None,
    fresh: FreshOption = False,
    as_json: JsonOption = False,
    lang: LangOption = None,
) -> None:
    """記号・用語・端末へのアドバイスを説明します。Explain a symbol, a term or a device."""
    settings = _settings()
    chosen = _lang(lang, settings)
    asked = tuple(dict.fromkeys(roles)) if roles else tuple(Role)
    try:
        found = find_topic(topic)
    except InvalidImei as problem:
        reason = invalid_message(problem, topic, chosen)
        err.print(
            f"akarom: {text('explain.unknown_topic', chosen).format(topic=topic, reason=reason)}"
        )
        err.print(text("explain.topics", chosen))
        raise typer.Exit(2) from None
    if found.kind != "device":
        explanation = explain_topic(found, chosen, asked)
        if as_json:
            print(json.dumps(_explanation_json(found, explanation), ensure_ascii=False))
        else:
            _print_explanation(explanation, chosen)
        raise typer.Exit(0)
    day = _day(on)
    carriers = _carriers(carrier)
    rules = _rules(settings, rules_file)
    known = _circumstances(sim, bought, after_repair, seller, compensates, day)
    person = _person(settings, chosen, as_json)
    with _store(settings) as store:
        (report,), manual_urls = asyncio.run(
            _check(
                settings, store, [topic], carriers, all_carriers=False, fresh=fresh, person=person
            )
        )
    advices = [advise(report, rules, role, known, on=day) for role in asked]
    if as_json:
        line = device_json(report, advices[0], chosen, manual_urls)
        line["advice_by_role"] = {
            advice.role.value: advice_json(advice, report, chosen, manual_urls)
            for advice in advices
        }
        print(json.dumps(line, ensure_ascii=False), flush=True)
    else:
        _print_report(report, chosen)
        for advice in advices:
            _print_full_advice(advice, report, chosen)
        for line_text in manual_check_lines(report, chosen, manual_urls):
            out.print(f"・{line_text}")
        out.print(Text(text("label.rules_on", chosen).format(date=day.isoformat()), "dim"))
    raise typer.Exit(report.verdict.exit_code)


def _day(on: str | None) -> date:
    if on is None:
        return today_in_japan()
    try:
        return date.fromisoformat(on.strip())
    except ValueError:
        err.print(f"akarom: --on must be a date YYYY-MM-DD, not {on!r}")
        raise typer.Exit(2) from None


def _explanation_json(topic: Topic, explanation: Explanation) -> dict[str, object]:
    return {
        "topic": topic.kind,
        "key": topic.key,
        "title": explanation.title,
        "paragraphs": list(explanation.paragraphs),
        "by_role": {role.value: line for role, line in explanation.by_role},
    }


def _print_explanation(explanation: Explanation, lang: Lang) -> None:
    out.print(Text(explanation.title, "bold"))
    for paragraph in explanation.paragraphs:
        out.print(f"  {paragraph}")
    for role, line in explanation.by_role:
        out.print(Text.assemble((f"  {text(f'role.{role.value}', lang)}: ", "bold"), line))


_DECISION_STYLE = {
    "allow": "bold green",
    "allow_with_conditions": "bold yellow",
    "refuse": "bold red",
    "recheck": "bold magenta",
    "advise": "bold",
    "undecided": "bold magenta",
}


def _print_full_advice(advice: DeviceAdvice, report: DeviceReport, lang: Lang) -> None:
    """Every decision of one role, with its figures, rule and sources."""
    out.print(Text(f"■ {text(f'role.{advice.role.value}', lang)}", "bold underline"))
    if advice.role is Role.SELLER:
        out.print(f"  {advice_lines(advice, report, lang)[0]}")
    for advised in advice.situations:
        topic = (
            f"marketplace.{advised.marketplace.value}"
            if advised.marketplace
            else f"situation.{advised.situation}"
        )
        out.print(Text(f"  {text(topic, lang)}: ", "bold") + _decision_text(advised, lang))
        decision = advised.decision
        out.print(f"    {decision.summary[lang]}")
        for line in outcome_lines(decision, lang):
            out.print(f"    {line}")
        for action in decision.actions[lang]:
            out.print(f"    ・{action}")
        if decision.rule_id is not None:
            rule = f"{text('label.rule', lang)}: {decision.rule_id} ({decision.rule_file})"
            out.print(Text(f"    {rule}", "dim"))
            out.print(
                Text(f"    {text('label.sources', lang)}: {'; '.join(decision.sources)}", "dim")
            )
    out.print()


def _decision_text(advised: SituationAdvice, lang: Lang) -> Text:
    decision = advised.decision.decision.value
    return Text(text(f"decision.{decision}", lang), _DECISION_STYLE[decision])


def _when(result: CarrierResult, lang: Lang) -> str:
    """``2026-11-27 01:50 (今回確認)``, or with the age of a stored answer."""
    if result.checked_at is None or result.source is None:
        return ""
    stamp = result.checked_at.astimezone(JST).strftime("%Y-%m-%d %H:%M")
    source = text(f"label.source.{result.source.value}", lang)
    if result.source is Source.LIVE:
        return f"{stamp} ({source})"
    return f"{stamp} ({source}, {age_text(datetime.now(UTC) - result.checked_at, lang)})"


@app.command()
def bulk(
    input_file: Annotated[
        Path, typer.Argument(help=".csv / .tsv / .xlsx with an IMEI column.", exists=True)
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="The report (.csv/.tsv/.xlsx).")],
    column: Annotated[
        str | None, typer.Option("--column", help="The IMEI column (header name or number).")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue an interrupted run of the same file.")
    ] = False,
    all_carriers: AllCarriersOption = False,
    fresh: FreshOption = False,
    role: Annotated[
        Role | None,
        typer.Option(
            "--for",
            help="Add this role's advice columns: buyer, seller or dealer.",
            show_default=False,
        ),
    ] = None,
    rules_file: RulesOption = None,
    lang: LangOption = None,
) -> None:
    """表の全行を確認し、結果列を加えて書き出します。Check every row of a spreadsheet."""
    settings = _settings()
    chosen = _lang(lang, settings)
    advice = None
    if role is not None:
        advice = RowAdvice(_rules(settings, rules_file), role, today_in_japan(), chosen)
    with _store(settings) as store:
        try:
            summary = asyncio.run(
                _bulk(
                    settings,
                    store,
                    input_file,
                    output,
                    column,
                    resume,
                    all_carriers,
                    fresh,
                    chosen,
                    advice,
                )
            )
        except TableError as problem:
            err.print(f"akarom bulk: {text('bulk.file_error', chosen)}: {problem}")
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err.print(text("bulk.interrupted", chosen).format(input=input_file, output=output))
            raise typer.Exit(130) from None
    _print_bulk_summary(summary, chosen)
    raise typer.Exit(0)


async def _bulk(
    settings: Settings,
    store: Store,
    input_file: Path,
    output: Path,
    column: str | None,
    resume: bool,
    all_carriers: bool,
    fresh: bool,
    lang: Lang,
    advice: RowAdvice | None,
) -> BulkSummary:
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=err,
        disable=not err.is_terminal,
        transient=False,
    )
    started = time.monotonic()
    with progress:
        task = progress.add_task(text("bulk.progress", lang), total=None, rate="")

        def advance(done: int, total: int) -> None:
            rate = done / max(time.monotonic() - started, 1e-6)
            progress.update(task, completed=done, total=total, rate=f"{rate:.1f} rows/s")

        async with Checker(settings, store=store) as checker:
            return await run_bulk(
                checker,
                store,
                input_file,
                output,
                column=column,
                resume=resume,
                all_carriers=all_carriers,
                fresh=fresh,
                lang=lang,
                on_progress=advance,
                advice=advice,
            )


def _print_bulk_summary(summary: BulkSummary, lang: Lang) -> None:
    table = Table(title=text("bulk.summary", lang), box=None, padding=(0, 2, 0, 2))
    table.add_column(text("label.verdict", lang))
    table.add_column(text("bulk.rows", lang), justify="right")
    for verdict in Verdict:
        if summary.verdicts.get(verdict.value):
            table.add_row(
                Text(text(f"verdict.{verdict.value}.short", lang), _VERDICT_STYLE[verdict]),
                str(summary.verdicts[verdict.value]),
            )
    out.print(table)
    out.print(
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
        out.print(
            Text(
                text("bulk.paused", lang).format(
                    carrier=carrier.label(lang),
                    reason=text(f"error.{code}", lang),
                    id=carrier.value,
                ),
                "bold magenta",
            )
        )


@app.command()
def history(
    imei: Annotated[str, typer.Argument(help="The device's IMEI.")],
    as_json: JsonOption = False,
    evidence: Annotated[
        Path | None,
        typer.Option("--evidence", help="Write every page kept as evidence into this folder."),
    ] = None,
    lang: LangOption = None,
) -> None:
    """端末の確認履歴を古い順に表示します。A device's answers over time, with evidence."""
    settings = _settings()
    chosen = _lang(lang, settings)
    with _store(settings) as store:
        try:
            entries = device_history(store, imei)
        except InvalidImei as problem:
            err.print(f"akarom: {imei}: {invalid_message(problem, imei, chosen)}")
            raise typer.Exit(2) from None
        if evidence is not None:
            written = export_evidence(store, entries, evidence)
            err.print(text("history.exported", chosen).format(count=len(written), folder=evidence))
    if as_json:
        for entry in entries:
            print(json.dumps(history_json(entry), ensure_ascii=False), flush=True)
        raise typer.Exit(0)
    if not entries:
        out.print(text("history.none", chosen).format(imei=imei))
        raise typer.Exit(0)
    table = Table(box=None, padding=(0, 2, 0, 2), show_edge=False)
    for key in ("label.checked_at", "label.carrier", "label.result", "label.meaning"):
        table.add_column(text(key, chosen), overflow="fold")
    table.add_column(text("history.source", chosen), overflow="fold")
    for entry in entries:
        observation = entry.observation
        result = observation.to_result()
        meaning = Text(result_reason(result, chosen))
        if observation.message:
            meaning.append(f"\n「{observation.message}」", "dim")
        source = text(f"label.source.{observation.source.value}", chosen)
        if observation.entered_by:
            source += f" ({observation.entered_by})"
        pages = text("history.pages", chosen).format(count=len(entry.pages))
        table.add_row(
            observation.checked_at.astimezone(JST).strftime("%Y-%m-%d %H:%M:%S"),
            observation.carrier.label(chosen),
            Text(observation.status.symbol, _STATUS_STYLE[observation.status]),
            meaning,
            f"{source}\n#{observation.id} {pages}",
        )
    out.print(Text(entries[0].observation.imei, "bold"))
    out.print(table)


@app.command()
def manual(
    imei: Annotated[str, typer.Argument(help="The device's IMEI.")],
    carrier: Annotated[str, typer.Option("--carrier", "-c", help="Whose page you read.")],
    symbol: Annotated[
        str | None, typer.Option("--symbol", help="What the page showed: ○ △ × or -.")
    ] = None,
    by: Annotated[
        str | None, typer.Option("--by", help="Who read it (default: your login name).")
    ] = None,
    note: Annotated[str | None, typer.Option("--note", help="The page's wording, if any.")] = None,
    lang: LangOption = None,
) -> None:
    """公式ページで読んだ結果を手入力で記録します。Record what a person read on the page."""
    settings = _settings()
    chosen = _lang(lang, settings)
    checked = validation_json(imei, chosen)
    if not checked["valid"]:
        err.print(f"akarom: {imei}: {checked['message']}")
        raise typer.Exit(2)
    try:
        which = resolve_carrier(carrier)
    except ValueError as problem:
        err.print(f"akarom: {problem}")
        raise typer.Exit(2) from None
    if symbol is None:
        url = carrier_page(settings, which)
        out.print(
            text("manual.instructions", chosen).format(
                carrier=which.label(chosen),
                url=url,
                imei=checked["imei"],
            )
        )
        if not sys.stdin.isatty():
            err.print(text("manual.need_symbol", chosen))
            raise typer.Exit(2)
        symbol = typer.prompt(text("manual.prompt", chosen))
    who = by or getpass.getuser()
    with _store(settings) as store:
        try:
            result = record_manual(store, checked["imei"], which, symbol, entered_by=who, note=note)
        except ValueError as problem:
            err.print(f"akarom: {problem}")
            raise typer.Exit(2) from None
    out.print(
        text("manual.recorded", chosen).format(
            carrier=which.label(chosen),
            symbol=result.symbol,
            meaning=result_reason(result, chosen),
            who=who,
        )
    )


@app.command()
def doctor(
    live: Annotated[
        bool,
        typer.Option(
            "--live",
            help="Also look at each carrier's page (GET only; no IMEI is ever submitted).",
        ),
    ] = False,
    as_json: JsonOption = False,
    lang: LangOption = None,
) -> None:
    """設定・データベース・（--live で）各キャリアのページを点検します。Check the setup."""
    settings = _settings()
    chosen = _lang(lang, settings)
    checks: list[tuple[str, bool, str]] = []
    for carrier in Carrier:
        configured = settings.carrier(carrier)
        where = configured.base_url or text("doctor.live_site", chosen)
        rate, concurrency = effective_limits(
            adapter_for(carrier),
            configured.rate_limit,
            configured.concurrency,
            live=configured.base_url is None,
        )
        pace = text("doctor.pace", chosen).format(rate=rate, concurrency=concurrency)
        checks.append((carrier.label(chosen), True, f"{where}: {pace}"))
    drift: PageDrift | None = None
    try:
        with open_store(settings) as store:
            checks.append((text("doctor.database", chosen), True, store.describe()))
            drift = page_drift(store)
    except StorageError as broken:
        checks.append((text("doctor.database", chosen), False, str(broken)))
    if drift is not None:
        checks.extend(_drift_checks(drift, chosen))
    try:
        rules = load_advice_rules(settings)
        source = (
            str(settings.rules_file)
            if settings.rules_file
            else text("doctor.rules.shipped", chosen)
        )
        detail = text("doctor.rules.count", chosen).format(count=len(rules.rules), source=source)
        checks.append((text("doctor.rules", chosen), True, detail))
    except ConfigError as broken:
        checks.append((text("doctor.rules", chosen), False, str(broken)))
    report = None
    if live:
        report = asyncio.run(_doctor_live(settings))
    healthy = all(ok for _, ok, _ in checks) and (report is None or report.ok)
    if as_json:
        print(
            json.dumps(
                {
                    "ok": healthy,
                    "checks": [{"name": n, "ok": ok, "detail": d} for n, ok, d in checks],
                    "carriers": report.as_dict() if report is not None else None,
                    "pages": drift.as_dict() if drift is not None else None,
                },
                ensure_ascii=False,
                default=str,
            )
        )
    else:
        for name, ok, detail in checks:
            out.print(
                Text.assemble(
                    ("✓ " if ok else "✗ ", "green" if ok else "bold red"), name, f": {detail}"
                )
            )
        if report is not None:
            for probe in report.probes:
                mark, style = ("✓ ", "green") if probe.ok else ("✗ ", "bold red")
                line = Text.assemble(
                    (mark, style),
                    probe.carrier.label(chosen),
                    f" {probe.url}: ",
                    text(f"doctor.outcome.{probe.outcome}", chosen),
                )
                out.print(line)
                for problem in probe.problems:
                    out.print(f"    - {problem}")
                if probe.detail and not probe.ok:
                    out.print(f"    {probe.detail}")
    raise typer.Exit(0 if healthy else 1)


def _drift_checks(drift: PageDrift, lang: Lang) -> list[tuple[str, bool, str]]:
    """One line per carrier whose answer pages were read or refused lately."""
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


async def _doctor_live(settings: Settings) -> DoctorReport:
    async with Checker(settings) as checker:
        return await DoctorReport.run(checker)


@app.command()
def sandbox(
    scenario: Annotated[
        Path | None,
        typer.Option(
            "--scenario", help="Scenario YAML (INTERFACES.md §5).", exists=True, dir_okay=False
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
) -> None:
    """キャリア確認ページのサンドボックスを起動します。Serve the carrier sandbox."""
    from akarom.sandbox import run_sandbox  # the server stack loads only for this command

    try:
        run_sandbox(scenario, host=host, port=port)
    except ValueError as problem:
        err.print(f"akarom sandbox: {problem}")
        raise typer.Exit(2) from None


def main() -> None:
    """Entry point of the ``akarom`` console script."""
    app()
