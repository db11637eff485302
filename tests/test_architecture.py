"""Imports flow one way: interfaces → services → carriers/storage → domain (STYLE.md §1).

Parsed from the source, so a forbidden import fails here before it couples two layers.
Imports under ``if TYPE_CHECKING:`` are annotations only and do not count.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

SRC = Path(__file__).parent.parent / "src" / "akarom"

# Layer → the akarom layers it may import (itself always allowed).
ALLOWED: dict[str, set[str]] = {
    "domain": set(),
    "errors": set(),
    "identity": {"errors"},
    "texts": set(),
    "ratelimit": set(),
    "sealing": {"errors"},
    "config": {"domain", "errors"},
    "http": {"ratelimit", "__init__"},
    "carriers": {"domain", "errors", "identity"},
    "sandbox": {"domain"},
    "storage": {"domain", "errors", "ratelimit", "sealing"},
    "advice": {"domain", "errors"},
    "tabular": {"identity", "errors", "domain"},
    "services": {
        "advice",
        "carriers",
        "config",
        "domain",
        "errors",
        "http",
        "identity",
        "ratelimit",
        "sealing",
        "storage",
        "tabular",
        "texts",
    },
    "cli": {"services", "config", "domain", "errors", "texts", "sandbox", "web", "__init__"},
    "web": {"services", "config", "domain", "errors", "texts", "sandbox", "storage", "__init__"},
    "__main__": {"cli"},
    "__init__": set(),
}


def _layer(module: Path) -> str:
    relative = module.relative_to(SRC)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def _runtime_imports(module: Path) -> set[str]:
    tree = ast.parse(module.read_text(encoding="utf-8"))
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_only.update(id(child) for child in ast.walk(node))
    found = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("akarom"):
            parts = node.module.split(".")
            if len(parts) == 1:  # from akarom import identity / __version__
                found.update(
                    "__init__" if alias.name.startswith("__") else alias.name
                    for alias in node.names
                )
            else:
                found.add(parts[1])
        elif isinstance(node, ast.Import):
            found.update(
                alias.name.split(".")[1] for alias in node.names if alias.name.startswith("akarom.")
            )
    return found


MODULES = sorted(SRC.rglob("*.py"))


@pytest.mark.parametrize("module", MODULES, ids=lambda m: str(m.relative_to(SRC)))
def test_imports_flow_one_way(module: Path) -> None:
    layer = _layer(module)
    assert layer in ALLOWED, f"new layer {layer!r}: add it to ALLOWED with its rule"
    forbidden = _runtime_imports(module) - ALLOWED[layer] - {layer}
    assert not forbidden, f"{module.relative_to(SRC)} ({layer}) imports {sorted(forbidden)}"


@pytest.mark.parametrize("module", MODULES, ids=lambda m: str(m.relative_to(SRC)))
def test_public_names_exist(module: Path) -> None:
    relative = module.relative_to(SRC.parent).with_suffix("")
    name = ".".join(relative.parts).removesuffix(".__init__")
    if name.endswith("__main__"):
        return
    imported = importlib.import_module(name)
    for public in getattr(imported, "__all__", ()):
        assert hasattr(imported, public), f"{name}.__all__ names {public!r}, which is not there"


#: Modules every command loads at start-up, and the only imports they may make at
#: module level (outside functions and ``TYPE_CHECKING``): no Rich, HTTP, database or
#: carriers, which a command imports when it needs them (tests/test_cli_startup.py
#: checks the same as behaviour).
START_UP = {
    "cli/__init__.py",
    "cli/_edge.py",
    "cli/_params.py",
    "cli/_output.py",
    "services/__init__.py",
    "services/options.py",
    "services/validation.py",
    "services/explaining.py",
}
HEAVY = ("rich", "httpx", "sqlalchemy", "alembic", "selectolax", "openpyxl", "pydantic")
HEAVY_AKAROM = ("akarom.carriers", "akarom.storage", "akarom.http", "akarom.sandbox")
LIGHT_SERVICES = {"akarom.services.options", "akarom.services.validation"}
LIGHT_SERVICES |= {"akarom.services.explaining"}


def _module_level_imports(module: Path) -> set[str]:
    tree = ast.parse(module.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Try):  # an optional import (cli/_params.py)
            for inner in node.body:
                if isinstance(inner, ast.ImportFrom) and inner.module:
                    found.add(inner.module)
    return found


@pytest.mark.parametrize("relative", sorted(START_UP))
def test_start_up_modules_import_nothing_heavy(relative: str) -> None:
    imported = _module_level_imports(SRC / relative)
    services = {name for name in imported if name.startswith("akarom.services.")}
    heavy = {
        name
        for name in imported
        if name.split(".")[0] in HEAVY
        or any(name == h or name.startswith(f"{h}.") for h in HEAVY_AKAROM)
    } | (services - LIGHT_SERVICES)
    assert not heavy, f"{relative} imports {sorted(heavy)} at start-up: import it where used"
