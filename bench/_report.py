"""The generated part of docs/benchmarks.md: one marked section per benchmark.

Each benchmark owns the text between ``<!-- bench:NAME:start -->`` and
``<!-- bench:NAME:end -->`` and rewrites only that, so ``--only`` refreshes one
figure without touching the others, and the hand-written introduction above the
first marker is never rewritten. A section missing from the file is appended.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Outcome", "markdown_table", "update_doc"]


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


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"


def update_doc(path: Path, sections: Sequence[tuple[str, str]]) -> None:
    """Replace (or append) the marked section of each ``(name, markdown)`` in ``path``."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    for name, markdown in sections:
        start, end = _markers(name)
        block = f"{start}\n{markdown.strip()}\n{end}"
        found = re.search(re.escape(start) + r".*?" + re.escape(end), text, re.S)
        if found:
            text = text[: found.start()] + block + text[found.end() :]
        else:
            text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")
