"""The schema's revisions, read from the Alembic revision files without importing Alembic.

``migrate`` needs the head revision to tell a current database from an old one, and
the read-only answers (``storage.readonly``) need it to trust a database at all;
neither should cost Alembic and Mako (a third of a second) or SQLAlchemy. The
revision files are plain modules whose ``revision`` and ``down_revision`` are
literals, so reading them is enough; where a file is unclear, the answer is None
and the caller leaves the decision to Alembic (a test compares with Alembic's own).
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

__all__ = ["MIGRATIONS", "VERSIONS", "find_head", "head_revision", "revision_graph", "single_head"]

MIGRATIONS = Path(__file__).parent / "migrations"
VERSIONS = MIGRATIONS / "versions"

# Which files in ``versions/`` Alembic reads as revisions: ``*.py`` except
# ``__init__*`` and editor lock files ``.#*`` (``_only_source_rev_file`` in
# alembic/script/base.py).
_REVISION_FILE = re.compile(r"(?!\.\#|__init__)(.*\.py)$")

# ``revision: str = "0001"`` as the revision template (``script.py.mako``) writes it,
# alone on its line; anything else is left to the full parse in ``_read_revision``.
_ASSIGNMENT = re.compile(
    r"^(revision|down_revision)(?:[ \t]*:[^=\n]*)?[ \t]*=[ \t]*(.*?)[ \t]*$", re.MULTILINE
)


def head_revision() -> str | None:
    """The newest revision in ``migrations/versions``, read without importing Alembic.

    None when the files do not name exactly one head in a way this reader is sure
    of (then ``migrate`` leaves every decision to Alembic). Read once per process.
    """
    revisions = revision_graph()
    return None if revisions is None else single_head(revisions)


def find_head(versions: Path) -> str | None:
    """The single head revision among the revision files in ``versions`` (see ``head_revision``)."""
    revisions = _read_revisions(versions)
    return None if revisions is None else single_head(revisions)


@functools.cache
def revision_graph() -> dict[str, tuple[str, ...]] | None:
    """Each shipped revision with the revisions it follows; None if unsure. Read once."""
    return _read_revisions(VERSIONS)


def _read_revisions(versions: Path) -> dict[str, tuple[str, ...]] | None:
    """Each revision in ``versions`` with the revisions it follows; None if unsure."""
    try:
        paths = sorted(
            path
            for path in versions.iterdir()
            if _REVISION_FILE.match(path.name) and path.is_file()
        )
        graph: dict[str, tuple[str, ...]] = {}
        for path in paths:
            revision, down = _read_revision(path.read_text(encoding="utf-8"))
            if revision in graph:
                return None  # two files claim one revision: Alembic will say so
            graph[revision] = down
    except (OSError, UnicodeError, ValueError, SyntaxError):
        return None
    followed = {down for downs in graph.values() for down in downs}
    return graph if followed <= graph.keys() else None


def _read_revision(source: str) -> tuple[str, tuple[str, ...]]:
    """``revision`` and ``down_revision`` of one revision file; ``ValueError`` if unclear.

    The values are literals on their own lines in every file the template writes, so
    a line match is enough; anything else (a tuple over several lines, a computed
    value) goes through a full parse of the module.
    """
    found: dict[str, list[str]] = {}
    for name, value in _ASSIGNMENT.findall(source):
        found.setdefault(name, []).append(value)
    try:
        if len(found.get("revision", ())) != 1 or len(found.get("down_revision", ())) != 1:
            raise ValueError("not one assignment each")
        values = {name: ast.literal_eval(texts[0]) for name, texts in found.items()}
    except (ValueError, SyntaxError):
        values = _module_literals(source, ("revision", "down_revision"))
    revision, down = values.get("revision"), values.get("down_revision", ...)
    if not isinstance(revision, str) or not revision:
        raise ValueError("no revision id")
    if down is None:
        return revision, ()
    if isinstance(down, str):
        return revision, (down,)
    if isinstance(down, tuple | list) and all(isinstance(item, str) for item in down):
        return revision, tuple(down)
    raise ValueError(f"revision {revision}: unreadable down_revision {down!r}")


def _module_literals(source: str, names: tuple[str, ...]) -> dict[str, object]:
    """The literal values assigned to ``names`` at the top level of a module."""
    values: dict[str, object] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in names:
            values[target.id] = ast.literal_eval(value)  # ValueError when computed
    return values


def single_head(revisions: dict[str, tuple[str, ...]]) -> str | None:
    """The one revision no other follows; None when there are several (a branch)."""
    heads = revisions.keys() - {down for downs in revisions.values() for down in downs}
    return next(iter(heads)) if len(heads) == 1 else None
