"""Where the command line writes, built on first use: results to stdout, the rest to stderr.

Cheap to import. Rich's consoles are made when a command first prints, so ``akarom
--help`` never loads Rich. Neither console reads markup or emoji codes: what is
printed includes what people and carriers wrote (an IMEI typed as ``[red]``, a
carrier's ``:ok:``), and that is shown as written.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from akarom.texts import Lang, text

if TYPE_CHECKING:
    from rich.console import Console

    from akarom.services.explaining import Explanation, Topic
    from akarom.services.validation import Validation

__all__ = [
    "err",
    "explanation_json",
    "json_line",
    "out",
    "print_explanation",
    "print_validations",
]


@cache
def out() -> Console:
    """Standard output: results."""
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True, markup=False, emoji=False)


@cache
def err() -> Console:
    """Standard error: progress, logs and questions to the person."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, markup=False, emoji=False)


def json_line(data: Any) -> None:
    """One JSON object on its own line, flushed at once for a reading program."""
    import json

    print(json.dumps(data, ensure_ascii=False, default=str), flush=True)


def print_validations(checked: Sequence[Validation], lang: Lang) -> None:
    """``✓ input → IMEI (kind) TAC …`` or ``✗ input: why``, one line each."""
    from rich.text import Text

    for line in checked:
        if line.identity is not None:
            kind = text(f"label.kind.{line.identity.kind}", lang)
            tac = f"  TAC {line.identity.tac}" if line.identity.tac else ""
            out().print(f"✓ {line.input} → {line.identity.value}  ({kind}){tac}")
        else:
            out().print(Text.assemble(("✗ ", "bold red"), f"{line.input}: {line.message(lang)}"))


def explanation_json(topic: Topic, explanation: Explanation) -> dict[str, object]:
    return {
        "topic": topic.kind,
        "key": topic.key,
        "title": explanation.title,
        "paragraphs": list(explanation.paragraphs),
        "by_role": {role.value: line for role, line in explanation.by_role},
    }


def print_explanation(explanation: Explanation, lang: Lang) -> None:
    from rich.text import Text

    out().print(Text(explanation.title, "bold"))
    for paragraph in explanation.paragraphs:
        out().print(f"  {paragraph}")
    for role, line in explanation.by_role:
        out().print(Text.assemble((f"  {text(f'role.{role.value}', lang)}: ", "bold"), line))
