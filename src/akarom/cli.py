"""The ``akarom`` command: thin — parse arguments, call the services, print.

Exit codes (INTERFACES.md §3): ``validate`` 0 all valid / 1 any invalid;
``check`` 0 clear, 3 caution, 4 red, 5 incomplete, 2 invalid input or usage
(with several devices the highest applies).
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table
from rich.text import Text

from akarom import __version__
from akarom.config import Settings
from akarom.domain import Carrier, Status, Verdict, resolve_carrier
from akarom.errors import ConfigError
from akarom.services.checks import Checker, DeviceReport
from akarom.services.reports import (
    advice_for,
    device_json,
    invalid_message,
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
    carrier: Annotated[
        list[str] | None,
        typer.Option(
            "--carrier",
            "-c",
            help="Ask only this carrier (docomo, au, softbank, rakuten, or a brand such as "
            "ahamo, uq, ymobile). Repeatable.",
            show_default=False,
        ),
    ] = None,
    all_carriers: Annotated[
        bool,
        typer.Option(
            "--all-carriers", help="Ask every carrier, even after the selling one answered."
        ),
    ] = False,
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh", help="Ignore saved answers. (This version keeps none: always live.)"
        ),
    ] = False,
    as_json: JsonOption = False,
    lang: LangOption = None,
) -> None:
    """IMEI ごとに各キャリアの利用制限を確認します。Check each device at the carriers."""
    settings = _settings()
    chosen = _lang(lang, settings)
    try:
        carriers = [resolve_carrier(name) for name in carrier] if carrier else None
    except ValueError as problem:
        err.print(f"akarom: {problem} (docomo, au, softbank, rakuten)")
        raise typer.Exit(2) from None
    del fresh  # answers are not stored yet, so every check is already fresh
    reports, manual_urls = asyncio.run(_check(settings, imeis, carriers, all_carriers))
    for report in reports:
        if as_json:
            line = device_json(report, chosen, manual_urls)
            print(json.dumps(line, ensure_ascii=False), flush=True)
        else:
            _print_report(report, chosen, manual_urls)
    raise typer.Exit(max(report.verdict.exit_code for report in reports))


async def _check(
    settings: Settings, imeis: list[str], carriers: list[Carrier] | None, all_carriers: bool
) -> tuple[list[DeviceReport], dict[Carrier, str]]:
    async with Checker(settings) as checker:
        reports = await checker.check_many(imeis, carriers=carriers, all_carriers=all_carriers)
        manual_urls = {c: checker.adapter(c).entry_url for c in Carrier}
    return reports, manual_urls


def _print_report(report: DeviceReport, lang: Lang, manual_urls: dict[Carrier, str]) -> None:
    verdict_line = Text.assemble(
        (f"{text('label.verdict', lang)}: ", "bold"),
        (text(f"verdict.{report.verdict.value}.headline", lang), _VERDICT_STYLE[report.verdict]),
    )
    if report.origin_carrier is not None:
        origin = text(f"carrier.{report.origin_carrier.value}", lang)
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
            when = ""
            if result.checked_at is not None and result.source is not None:
                stamp = result.checked_at.strftime("%Y-%m-%d %H:%M")
                when = f"{stamp} ({text(f'label.source.{result.source.value}', lang)})"
            table.add_row(
                text(f"carrier.{result.carrier.value}", lang),
                Text(result.symbol, _STATUS_STYLE[result.status]),
                meaning,
                when,
            )
        out.print(table)
    summary, actions = advice_for(report, lang, manual_urls)
    out.print(Text.assemble((f"{text('label.advice', lang)}: ", "bold"), summary))
    for action in actions:
        out.print(f"  ・{action}")
    out.print()


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
