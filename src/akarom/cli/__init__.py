"""The ``akarom`` command: a thin skin — parse arguments, call a service, render.

Every command calls one service of ``akarom.services`` with typed input and renders
the typed result; none prints an error or chooses an exit code for one. Problems
are raised, and the error edge (``akarom.cli._edge``) turns each into one line in the
person's language and the exit code of its class.

Start-up is part of the interface: this module imports Typer and the few light types
its options need. Rich, and each service with what it needs (HTTP, the database,
the carriers), are imported inside the command that uses them, so ``akarom
validate``, ``explain imei`` and ``--help`` never load them.

Exit codes (INTERFACES.md §3): ``validate`` 0 all valid / 1 any invalid; ``check`` 0
clear, 3 caution, 4 red, 5 incomplete, 2 invalid input or usage (with several
devices the highest applies); ``bulk`` 0 when every row got a verdict, 130 when
interrupted; an unexpected error 1 (``_edge.EXIT_CODES``).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, ClassVar

import typer

from akarom import __version__
from akarom.cli._edge import UNEXPECTED, EdgeGroup, note_verbosity, report_unexpected, speak
from akarom.domain import Carrier
from akarom.services.options import Role, SellerKind, SimLock

if TYPE_CHECKING:
    from datetime import date

    from akarom.cli.person import TerminalPerson
    from akarom.config import Settings
    from akarom.services.bulk import BulkSummary
    from akarom.services.checking import BulkRequest, CheckOutcome, CheckRequest
    from akarom.texts import Lang

__all__ = ["app", "main"]


class _Akarom(EdgeGroup):
    """``akarom``: the commands below, and these groups, each loaded when named."""

    LAZY: ClassVar[Mapping[str, tuple[str, str]]] = {
        "worker": ("akarom.cli.worker", "worker_app"),
        "dealer": ("akarom.cli.accounts", "dealer_app"),
        "apikey": ("akarom.cli.accounts", "apikey_app"),
        "intake": ("akarom.cli.guarantee", "intake_app"),  # intakes, sales, claims
        "guarantee": ("akarom.cli.guarantee", "guarantee_app"),
        "claim": ("akarom.cli.guarantee", "claim_app"),
        "monitor": ("akarom.cli.monitor", "monitor_app"),
        "alert": ("akarom.cli.alerts", "alert_app"),
        "certificate": ("akarom.cli.certificate", "certificate_app"),
    }


app = typer.Typer(
    name="akarom",
    cls=_Akarom,
    help="赤ロム（ネットワーク利用制限）を各キャリアの公式確認ページで調べます。 "
    "Checks whether a used phone is 赤ロム on docomo, au, SoftBank and Rakuten.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,  # the edge reports bugs; no traceback reaches a person
)

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
    SimLock | None,
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
    SellerKind | None,
    typer.Option("--seller", help="Who lists it: individual or store.", show_default=False),
]
CompensatesOption = Annotated[
    bool,
    typer.Option("--compensates", help="The seller compensates the buyer if the phone turns ×."),
]


def _begin(lang_option: str | None) -> tuple[Settings, Lang]:
    """The settings and the language of this command; problems are said in it from now on.

    A bad ``--lang`` is refused first, so a broken setting is then said in the
    language asked for.
    """
    from akarom.config import Settings
    from akarom.errors import UsageError

    asked: Lang | None = None
    if lang_option is not None:
        chosen = lang_option.strip().lower()
        if chosen not in ("ja", "en"):
            raise UsageError(
                f"--lang must be ja or en, not {lang_option!r}", key="usage.lang", value=lang_option
            )
        asked = "ja" if chosen == "ja" else "en"
        speak(asked)
    settings = Settings.from_env()
    lang = asked or settings.lang
    speak(lang)
    return settings, lang


def _version(value: bool) -> None:
    if value:
        print(f"akarom {__version__}")
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
    note_verbosity(verbose)


def _log_to_terminal() -> None:
    """Send logs to standard error, at the level ``-v``/``-vv`` asked for.

    Called by the commands that run services, which log; ``validate`` and the
    catalogue's explanations log nothing and do not load ``logging`` at all.
    """
    from akarom.cli._edge import verbosity
    from akarom.cli._logs import log_to_terminal

    log_to_terminal(verbosity())


@app.command()
def validate(
    values: Annotated[list[str], typer.Argument(help="IMEI, IMEISV or MEID values.")],
    as_json: JsonOption = False,
    lang: LangOption = None,
) -> None:
    """IMEI を正規化・検証します（ネットワーク通信なし）。Normalise and validate, offline."""
    from akarom.cli._output import json_line, print_validations
    from akarom.services.validation import validate as validate_values

    _, chosen = _begin(lang)
    checked = validate_values(values)
    if as_json:
        for line in checked:
            json_line(line.as_json(chosen))
    else:
        print_validations(checked, chosen)
    raise typer.Exit(0 if all(line.valid for line in checked) else 1)


def _check_request(
    settings: Settings,
    imeis: tuple[str, ...],
    *,
    carrier: list[str] | None,
    all_carriers: bool,
    fresh: bool,
    roles: tuple[Role, ...],
    sim: SimLock | None,
    bought: str | None,
    after_repair: bool,
    seller: SellerKind | None,
    compensates: bool,
    rules_file: Path | None,
    day: date,
) -> CheckRequest:
    """What ``check`` and ``explain IMEI`` ask of the service: the devices, the carriers
    named, and the circumstances and rules the advice is decided under as of ``day``."""
    from akarom.services.advising import circumstances, load_advice_rules
    from akarom.services.checking import CheckRequest
    from akarom.services.options import carriers_named

    return CheckRequest(
        imeis=imeis,
        carriers=carriers_named(carrier) if carrier else None,
        all_carriers=all_carriers,
        fresh=fresh,
        roles=roles,
        circumstances=circumstances(
            sim=sim,
            bought=bought,
            after_repair=after_repair,
            seller=seller,
            compensates=compensates,
            today=day,
        ),
        rules=load_advice_rules(settings, rules_file),
        on=day,
    )


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
    from akarom.cli._output import json_line
    from akarom.cli._reports import check_json, print_check
    from akarom.services.advising import today_in_japan

    settings, chosen = _begin(lang)
    _log_to_terminal()
    request = _check_request(
        settings,
        tuple(imeis),
        carrier=carrier,
        all_carriers=all_carriers,
        fresh=fresh,
        roles=(role,),
        sim=sim,
        bought=bought,
        after_repair=after_repair,
        seller=seller,
        compensates=compensates,
        rules_file=rules_file,
        day=today_in_japan(),
    )
    outcome = _checked(settings, request, chosen, as_json)
    for device in outcome.devices:
        if as_json:
            json_line(check_json(device, outcome, chosen))
        else:
            print_check(device, outcome, chosen)
    raise typer.Exit(max(report.verdict.exit_code for report in outcome.reports))


def _checked(settings: Settings, request: CheckRequest, lang: Lang, as_json: bool) -> CheckOutcome:
    """``request`` answered from the store when that settles it, else asked at the carriers."""
    from akarom.services.checking import stored_outcome

    outcome = stored_outcome(settings, request)
    if outcome is None:
        from akarom.services import run_paced
        from akarom.services.checking import check_devices

        person = _person(settings, lang, as_json)
        outcome = run_paced(check_devices(settings, request, person=person))
    return outcome


def _person(settings: Settings, lang: Lang, as_json: bool) -> TerminalPerson | None:
    """Someone to ask, when a person is at the keyboard (never for --json or piped use)."""
    import getpass

    from akarom.cli._output import err

    if as_json or not (sys.stdin.isatty() and err().is_terminal):
        return None
    from akarom.cli.person import TerminalPerson

    return TerminalPerson(getpass.getuser(), lang, settings.data_dir)


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
    from akarom.cli._output import explanation_json, json_line, print_explanation
    from akarom.services.explaining import explain_topic, find_topic

    settings, chosen = _begin(lang)
    asked = tuple(dict.fromkeys(roles)) if roles else tuple(Role)
    found = find_topic(topic)
    if found.kind != "device":
        explanation = explain_topic(found, chosen, asked)
        if as_json:
            json_line(explanation_json(found, explanation))
        else:
            print_explanation(explanation, chosen)
        raise typer.Exit(0)

    from akarom.cli._reports import explained_device_json, print_explained_device
    from akarom.services.advising import parse_rules_day

    _log_to_terminal()
    request = _check_request(
        settings,
        (topic,),
        carrier=carrier,
        all_carriers=False,
        fresh=fresh,
        roles=asked,
        sim=sim,
        bought=bought,
        after_repair=after_repair,
        seller=seller,
        compensates=compensates,
        rules_file=rules_file,
        day=parse_rules_day(on),
    )
    outcome = _checked(settings, request, chosen, as_json)
    if as_json:
        json_line(explained_device_json(outcome, chosen))
    else:
        print_explained_device(outcome, chosen)
    raise typer.Exit(outcome.reports[0].verdict.exit_code)


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
    from akarom.cli._edge import on_interrupt
    from akarom.cli._reports import print_bulk_summary
    from akarom.services import run_paced
    from akarom.services.advising import load_advice_rules, today_in_japan
    from akarom.services.checking import BulkRequest

    settings, chosen = _begin(lang)
    _log_to_terminal()
    request = BulkRequest(
        input=input_file,
        output=output,
        column=column,
        resume=resume,
        all_carriers=all_carriers,
        fresh=fresh,
        role=role,
        rules=load_advice_rules(settings, rules_file) if role is not None else None,
        on=today_in_japan(),
        lang=chosen,
    )
    on_interrupt("bulk.interrupted", input=input_file, output=output)
    summary = run_paced(_bulk_with_progress(settings, request, chosen))
    print_bulk_summary(summary, chosen)
    raise typer.Exit(0)


async def _bulk_with_progress(settings: Settings, request: BulkRequest, lang: Lang) -> BulkSummary:
    """``check_table`` under a progress bar on standard error (when it is a terminal)."""
    import time

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from akarom.cli._output import err
    from akarom.services.checking import check_table
    from akarom.texts import text

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=err(),
        disable=not err().is_terminal,
        transient=False,
    )
    started = time.monotonic()
    with progress:
        task = progress.add_task(text("bulk.progress", lang), total=None, rate="")

        def advance(done: int, total: int) -> None:
            rate = done / max(time.monotonic() - started, 1e-6)
            progress.update(task, completed=done, total=total, rate=f"{rate:.1f} rows/s")

        return await check_table(settings, request, on_progress=advance)


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
    from akarom.cli._output import err, json_line
    from akarom.cli._reports import print_history
    from akarom.services.history import history_json, read_history
    from akarom.texts import text

    settings, chosen = _begin(lang)
    _log_to_terminal()
    found = read_history(settings, imei, evidence=evidence)
    if evidence is not None:
        err().print(
            text("history.exported", chosen).format(count=len(found.exported), folder=evidence)
        )
    if as_json:
        for entry in found.entries:
            json_line(history_json(entry))
    else:
        print_history(found, chosen)


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
    import getpass

    from akarom.cli._output import out
    from akarom.errors import UsageError
    from akarom.services.manual import ManualReading, manual_target, record_reading
    from akarom.services.reports import result_reason
    from akarom.texts import text

    settings, chosen = _begin(lang)
    _log_to_terminal()
    target = manual_target(settings, imei, carrier)
    if symbol is None:
        out().print(
            text("manual.instructions", chosen).format(
                carrier=target.carrier.label(chosen), url=target.url, imei=target.imei
            )
        )
        if not sys.stdin.isatty():
            raise UsageError("give the symbol with --symbol", key="manual.need_symbol")
        symbol = typer.prompt(text("manual.prompt", chosen))
    who = by or getpass.getuser()
    result = record_reading(settings, ManualReading(target.imei, target.carrier, symbol, who, note))
    out().print(
        text("manual.recorded", chosen).format(
            carrier=target.carrier.label(chosen),
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
    from akarom.cli._output import json_line
    from akarom.cli._reports import doctor_json, print_diagnosis
    from akarom.services import run_paced
    from akarom.services.doctor import diagnose

    settings, chosen = _begin(lang)
    _log_to_terminal()
    diagnosis = run_paced(diagnose(settings, live=live))
    if as_json:
        json_line(doctor_json(diagnosis, chosen))
    else:
        print_diagnosis(diagnosis, chosen)
    raise typer.Exit(0 if diagnosis.ok else 1)


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
    from akarom.errors import UsageError
    from akarom.sandbox import run_sandbox  # the server stack loads only for this command

    _log_to_terminal()
    try:
        run_sandbox(scenario, host=host, port=port)
    except ValueError as problem:  # the sandbox's own error for a scenario it cannot use
        raise UsageError(str(problem), key="usage.scenario", detail=problem) from None


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo", help="Run the carrier sandbox in the same process and mark every page demo."
        ),
    ] = False,
) -> None:
    """Webの確認ページ・販売店ワークスペース・REST APIを起動します。Serve the web app and API."""
    from akarom.web.server import run_server  # the web stack loads only for this command

    settings, _ = _begin(None)
    run_server(settings, host=host, port=port, demo=demo)


def main() -> None:
    """Entry point of the ``akarom`` console script: run, flush, and leave at once.

    The interpreter's teardown (freeing every module and object one by one) takes
    longer than a short command itself, so once everything is written — each
    service has closed its database and files before returning, and here standard
    output, standard error and the log handlers are flushed — the process ends with
    ``os._exit``. Only here: tests run ``app`` through ``CliRunner`` and keep their
    interpreter.
    """
    try:
        app()
        code = 0
    except SystemExit as done:
        code = _exit_status(done.code)
    except BaseException as error:  # noqa: BLE001 — outside a command (parsing), still one line
        report_unexpected(error, sys.argv)
        code = UNEXPECTED
    if "logging" in sys.modules:  # loaded only by the commands that log
        sys.modules["logging"].shutdown()
    for stream in (sys.stdout, sys.stderr):
        # A closed pipe (akarom … | head) or stream: nothing more can be said there.
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def _exit_status(code: object) -> int:
    """What ``sys.exit(code)`` would have made the process's status."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1
