"""The command line's one error edge: every problem becomes one line and one exit code.

Commands raise; they never print an error or choose an exit code for one. The edge
(``EdgeGroup.invoke``, around every command, whether run as ``akarom`` or through
``CliRunner`` in tests) turns what escapes into:

- an ``AkaromError`` (or an exception group of them, from concurrent checks): one
  line in the person's language (``akarom: …``) and the exit code ``EXIT_CODES``
  gives its class;
- Ctrl-C: a line saying so (with the command's own hint, such as bulk's
  ``--resume``) and 130;
- anything else, a bug: one line naming the file that holds the full report
  (traceback, version, command line, Python), written under the data folder as
  ``reports/crash-<time>.txt``, and 1. Never a traceback on the terminal.

Typer's and Click's own signals (``Exit``, ``Abort``, usage errors) pass through
untouched: Click already prints those as one line with exit code 2.
"""

from __future__ import annotations

import contextvars
import importlib
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from akarom import __version__
from akarom.cli._params import lighten
from akarom.errors import (
    AkaromError,
    CarrierError,
    ConfigError,
    InvalidImei,
    StorageError,
    UsageError,
    expected_error,
)

if TYPE_CHECKING:
    # Typer's own copy of Click, whose Context its group methods take.
    from typer._click import Command, Context

    from akarom.texts import Lang

__all__ = [
    "EXIT_CODES",
    "INTERRUPTED",
    "UNEXPECTED",
    "EdgeGroup",
    "describe",
    "exit_code_for",
    "note_verbosity",
    "on_interrupt",
    "report_unexpected",
    "speak",
    "verbosity",
    "write_crash_report",
]

#: Exit code of an error that is a bug of ours: "no result" (a Python crash's status too;
#: ``validate`` alone also uses 1, for "some value is invalid").
UNEXPECTED = 1
#: Exit code after Ctrl-C, as shells report a process ended by SIGINT.
INTERRUPTED = 130

#: Every expected error's exit code, by class; the first class that matches wins.
#: INTERFACES.md §3: 2 is "invalid input or usage" for every command. A setting or a
#: database that cannot be used is the setup given to akarom, so it is usage too; a
#: carrier's failure that escapes a check leaves the answer open, as ``incomplete`` (5).
EXIT_CODES: tuple[tuple[type[AkaromError], int], ...] = (
    (UsageError, 2),
    (InvalidImei, 2),
    (ConfigError, 2),
    (StorageError, 2),
    (CarrierError, 5),
    (AkaromError, 2),  # e.g. a spreadsheet that cannot be read (tabular.TableError)
)


def exit_code_for(error: AkaromError) -> int:
    """The exit code ``EXIT_CODES`` gives ``error``'s class."""
    return next(code for kind, code in EXIT_CODES if isinstance(error, kind))


@dataclass
class _Invocation:
    """What the edge knows of the command running: its words, language and Ctrl-C hint."""

    argv: list[str] = field(default_factory=list)
    lang: Lang | None = None
    interrupt_hint: tuple[str, dict[str, object]] | None = None
    verbosity: int = 0


_current: contextvars.ContextVar[_Invocation | None] = contextvars.ContextVar(
    "akarom_invocation", default=None
)


def speak(lang: Lang) -> None:
    """Say problems of this command in ``lang`` (commands call it once they know it)."""
    invocation = _current.get()
    if invocation is not None:
        invocation.lang = lang


def note_verbosity(level: int) -> None:
    """Remember ``-v``/``-vv`` for ``verbosity`` (the group's options run first)."""
    invocation = _current.get()
    if invocation is not None:
        invocation.verbosity = level


def verbosity() -> int:
    """How many ``-v`` the command was given."""
    invocation = _current.get()
    return 0 if invocation is None else invocation.verbosity


def on_interrupt(key: str, **fields: object) -> None:
    """If the person presses Ctrl-C from now on, tell them catalogue sentence ``key``."""
    invocation = _current.get()
    if invocation is not None:
        invocation.interrupt_hint = (key, fields)


def _language(invocation: _Invocation) -> Lang:
    """The command's language; before it knew one, ``AKAROM_LANG`` if usable, else ja."""
    if invocation.lang is not None:
        return invocation.lang
    return "en" if os.environ.get("AKAROM_LANG", "").strip().lower() == "en" else "ja"


def _said(value: object, lang: Lang) -> object:
    if isinstance(value, InvalidImei) or type(value).__name__ == "Verdict":
        from akarom.services.validation import said  # only when there is one

        return said(value, lang)
    return value


def describe(error: AkaromError, lang: Lang) -> str:
    """The one line (without ``akarom: ``) that tells a person what went wrong."""
    return _one_line(_sentence(error, lang), limit=600)


def _sentence(error: AkaromError, lang: Lang) -> str:
    from akarom.texts import text  # the catalogue loads when there is something to say

    if isinstance(error, UsageError):
        fields = {name: _said(value, lang) for name, value in error.fields.items()}
        line = text(error.key, lang).format(**fields)
        if error.hint is None:
            return line
        return ("" if lang == "ja" else " ").join((line, text(error.hint, lang)))
    if isinstance(error, InvalidImei):
        reason = _said(error, lang)
        return f"{error.value}: {reason}" if error.value else str(reason)
    if isinstance(error, CarrierError):
        try:
            reason = text(f"error.{error.code}", lang)
        except KeyError:
            reason = text("error.error", lang)
        return f"{error.carrier.label(lang)}: {reason}" if error.carrier else reason
    return f"{text(_headline(error), lang)}: {error}"


def _headline(error: AkaromError) -> str:
    """The catalogue key that says what kind of thing could not be used."""
    if isinstance(error, ConfigError):
        return "failure.config"
    if isinstance(error, StorageError):
        return "failure.storage"
    # Usually loaded already: only bulk reads spreadsheets, and it raised the error.
    from akarom.services.bulk import TableError

    return "bulk.file_error" if isinstance(error, TableError) else "failure.error"


def _one_line(message: str, limit: int = 300) -> str:
    """A message squeezed onto one line: a driver's multi-line text must not spill."""
    flat = " ".join(message.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _complain(line: str) -> None:
    """Write the one line to standard error (plain text: a message is never markup)."""
    print(f"akarom: {line}", file=sys.stderr, flush=True)


def _crash_folders() -> tuple[Path, ...]:
    """Where a crash report may go: the data folder the person configured, else /tmp."""
    import tempfile

    from akarom.config import Settings

    fallback = Path(tempfile.gettempdir()) / "akarom" / "reports"
    try:
        return (Settings.from_env().data_dir / "reports", fallback)
    except ConfigError:
        return (fallback,)


def write_crash_report(error: BaseException, argv: Sequence[str]) -> Path:
    """Write everything needed to find the bug behind ``error``; return the file.

    Tries the data folder, then the system's temporary folder; raises ``OSError``
    when neither can be written.
    """
    import platform
    import shlex
    import traceback
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    body = "\n".join(
        [
            f"akarom {__version__} crash report, {now.isoformat(timespec='seconds')}",
            f"command: {shlex.join(argv)}",
            f"python: {sys.version.splitlines()[0]} ({sys.executable})",
            f"platform: {platform.platform()}",
            "",
            "".join(traceback.format_exception(error)),
        ]
    )
    name = f"crash-{now.strftime('%Y%m%dT%H%M%S%fZ')}.txt"
    problem: OSError | None = None
    for folder in _crash_folders():
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / name
            path.write_text(body, encoding="utf-8")
            return path
        except OSError as unwritable:
            problem = unwritable
    assert problem is not None
    raise problem


def report_unexpected(error: BaseException, argv: Sequence[str], lang: Lang | None = None) -> None:
    """The one line for a bug: what it was, and where its full report is.

    ``lang`` None: ``AKAROM_LANG`` if usable, else Japanese.
    """
    from akarom.texts import text

    lang = lang or _language(_Invocation())
    what = f"{type(error).__name__}: {_one_line(str(error), 160)}".rstrip(": ")
    try:
        path = write_crash_report(error, argv)
    except OSError as unwritable:
        _complain(text("failure.unexpected.unsaved", lang).format(error=what, problem=unwritable))
        return
    _complain(text("failure.unexpected", lang).format(error=what, report=path))


def _built(sub: typer.Typer) -> Command:
    """A sub-command's Typer app as Click's: a group when declared with a group class
    (even of one command, ``akarom dealer create``), else its one command."""
    declared = sub.info.cls
    if isinstance(declared, type) and issubclass(declared, TyperGroup):
        return typer.main.get_group(sub)
    return typer.main.get_command(sub)


class EdgeGroup(TyperGroup):
    """The ``akarom`` group, with the error edge around every command it runs.

    ``LAZY`` names sub-commands kept in modules of their own, as (module, Typer app):
    each is imported and built only when it is named (or for ``--help``), so a
    command does not pay for building every other command's options at start-up.
    """

    LAZY: ClassVar[Mapping[str, tuple[str, str]]] = {}

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: Context | None = None,
        **extra: Any,
    ) -> Context:
        # The words as typed, before parsing consumes them: the crash report's command line.
        words = [info_name or "akarom", *args]
        context = super().make_context(info_name, args, parent, **extra)
        context.meta["akarom.argv"] = words
        return context

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        lighten(self.get_params(ctx))  # the options before the command: -v, --version, --help
        return super().parse_args(ctx, args)

    def list_commands(self, ctx: Context) -> list[str]:
        unbuilt = [name for name in self.LAZY if name not in self.commands]
        return [*super().list_commands(ctx), *unbuilt]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in self.LAZY:
            module, attribute = self.LAZY[cmd_name]
            command = _built(getattr(importlib.import_module(module), attribute))
            command.name = cmd_name
            self.add_command(command)
        if command is not None:
            lighten(command.get_params(ctx))
        return command

    def invoke(self, ctx: Context) -> Any:
        invocation = _Invocation(argv=ctx.meta.get("akarom.argv", ["akarom"]))
        token = _current.set(invocation)
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            from akarom.texts import text

            lang = _language(invocation)
            if invocation.interrupt_hint is not None:
                key, fields = invocation.interrupt_hint
                _complain(text(key, lang).format(**fields))
            else:
                _complain(text("failure.interrupted", lang))
            raise typer.Exit(INTERRUPTED) from None
        except (typer.Exit, typer.Abort, TyperException):  # Click's own signals and errors
            raise
        except Exception as error:  # noqa: BLE001 — the edge: every problem becomes one line
            expected = expected_error(error)
            if expected is None:  # a bug: one line, and the traceback in a report file
                report_unexpected(error, invocation.argv, _language(invocation))
                raise typer.Exit(UNEXPECTED) from None
            _complain(describe(expected, _language(invocation)))
            raise typer.Exit(exit_code_for(expected)) from None
        finally:
            _current.reset(token)
