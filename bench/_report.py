"""The generated part of docs/benchmarks.md: one marked section per benchmark.

Each benchmark owns the text between ``<!-- bench:NAME:start -->`` and
``<!-- bench:NAME:end -->`` and rewrites only that, so ``--only`` refreshes one
figure without touching the others, and the hand-written introduction above the
first marker is never rewritten. A section missing from the file is appended; the
section of a benchmark that no longer exists is removed when it is named as retired.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Outcome", "at_most", "markdown_table", "update_doc"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """A finished benchmark: its section of the doc (Markdown) and how long it took."""

    name: str
    title: str
    body: str
    seconds: float


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table; the first column left-aligned, the others right-aligned."""
    align = [":---"] + ["---:"] * (len(header) - 1)
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def at_most(value: float, goal: float | None, unit: str = "") -> str:
    """A figure against its goal (lower is better): ``≤ 1.05: met``, bold when missed."""
    if goal is None:
        return "–"
    return f"≤ {goal:g}{unit}: " + ("met" if value <= goal else "**missed**")


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"


def update_doc(
    path: Path,
    sections: Sequence[tuple[str, str]],
    *,
    order: Sequence[str] = (),
    retired: Sequence[str] = (),
) -> None:
    """Replace the marked section of each ``(name, markdown)`` in ``path``, and remove the
    sections named in ``retired``. A new section goes before the first section that
    follows it in ``order`` (all section names, in the doc's order), else at the end."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    for name in retired:
        start, end = _markers(name)
        text = re.sub(r"\n*" + re.escape(start) + r".*?" + re.escape(end), "", text, flags=re.S)
    for name, markdown in sections:
        start, end = _markers(name)
        block = f"{start}\n{markdown.strip()}\n{end}"
        found = re.search(re.escape(start) + r".*?" + re.escape(end), text, re.S)
        if found:
            text = text[: found.start()] + block + text[found.end() :]
            continue
        later = list(order)[list(order).index(name) + 1 :] if name in order else []
        anchors = [at for other in later if (at := text.find(_markers(other)[0])) >= 0]
        if anchors:
            text = text[: anchors[0]] + block + "\n\n" + text[anchors[0] :]
        else:
            text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")
