"""Start-up: a command loads only what it needs, and a process ends as soon as it is done.

Behaviour, not timing: which modules a command imports is what decides how fast it
starts (docs/benchmarks.md has the figures), and it does not flake on a busy machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_support import json_lines
from tests.conftest import serving
from tests.services.conftest import DEVICES, OK_AT_DOCOMO

#: What a command that never checks a device must not load: the database, HTTP, the
#: carriers' adapters, and pydantic (Typer's coercion, see akarom.cli._params).
HEAVY = ("sqlalchemy", "alembic", "httpx", "akarom.storage", "akarom.carriers", "pydantic")

#: What a check answered from the store must not load: all but the store's plain reader
#: (``akarom.storage.sqlite_file``), and no event loop.
BESIDE_THE_STORE = ("sqlalchemy", "alembic", "httpx", "akarom.carriers", "pydantic", "asyncio")

#: Runs the command line as the console script does, then reports what it imported
#: (a None in ``sys.modules`` is a module kept from loading: akarom keeps httpx's CLI out).
WRAPPER = """
import json, os, sys
import akarom.cli
try:
    akarom.cli.app()
except SystemExit:
    pass
with open(os.environ["MODULES_OUT"], "w") as out:
    json.dump(sorted(name for name, module in sys.modules.items() if module), out)
"""


def _imported(tmp_path: Path, *args: str, **env: str) -> set[str]:
    listing = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, *args],
        env={**os.environ, "MODULES_OUT": str(listing), "AKAROM_DATA_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr
    return set(json.loads(listing.read_text()))


@pytest.mark.parametrize(
    "args",
    [
        ("validate", OK_AT_DOCOMO),
        ("validate", "--json", "--lang", "en", OK_AT_DOCOMO, "1234"),
        ("explain", "imei"),
        ("explain", "○", "--for", "dealer"),
        ("explain", "白ロム", "--json"),
        ("--help",),
        ("check", "--help"),
    ],
    ids=" ".join,
)
def test_commands_that_check_nothing_load_nothing_heavy(tmp_path: Path, args) -> None:
    assert _heavy(_imported(tmp_path, *args)) == []


def _heavy(imported: set[str], heavy: tuple[str, ...] = HEAVY) -> list[str]:
    return sorted(
        name for name in imported if any(name == h or name.startswith(f"{h}.") for h in heavy)
    )


def test_a_device_checked_today_is_answered_from_the_store_alone(tmp_path: Path) -> None:
    """Checked again the same day, a device's answer is read without SQLAlchemy, HTTP or
    the adapters, and reads exactly as the answer read through the whole checker."""
    with serving({"devices": DEVICES}) as url:
        first = _akarom(tmp_path, "check", OK_AT_DOCOMO, "1234", AKAROM_CARRIERS_URL=url)
    assert first.returncode == 2, first.stderr  # one invalid input
    nowhere = {"AKAROM_CARRIERS_URL": "http://127.0.0.1:9"}  # the sandbox is gone
    imported = _imported(tmp_path, "check", OK_AT_DOCOMO, **nowhere)
    assert _heavy(imported, BESIDE_THE_STORE) == []
    assert "akarom.storage.sqlite_file" in imported
    # Naming the same file as a URL takes the whole way: Store, the checker, its cache.
    whole_way = {**nowhere, "AKAROM_DATABASE_URL": f"sqlite:///{tmp_path / 'akarom.sqlite3'}"}
    for args in [(OK_AT_DOCOMO, "1234"), ("--json", "--for", "dealer", OK_AT_DOCOMO, "1234")]:
        stored = _akarom(tmp_path, "check", *args, **nowhere)
        checked = _akarom(tmp_path, "check", *args, **whole_way)
        assert (stored.returncode, stored.stdout) == (checked.returncode, checked.stdout)
        assert stored.returncode == 2
        assert "保存済み" in stored.stdout or '"source": "cache"' in stored.stdout


def test_the_services_package_loads_nothing_until_asked(tmp_path: Path) -> None:
    code = (
        "import sys, akarom.services\n"
        "heavy = [m for m, loaded in sys.modules.items()\n"
        "         if loaded and m.startswith(('sqlalchemy', 'httpx', 'akarom.ca'))]\n"
        "assert not heavy, heavy\n"
        "assert akarom.services.Checker.__name__ == 'Checker'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_what_sends_a_bulk_runs_requests_loads_without_sqlalchemy() -> None:
    """A bulk run's first requests leave while the store opens in another thread
    (``OpeningStore``): only if sending them does not import SQLAlchemy first."""
    code = (
        "import sys\n"
        "import akarom.services.bulk, akarom.services.checks, akarom.services.database\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'alembic')]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.parametrize("module", ["akarom.storage.repo", "akarom.storage.jobs"])
def test_a_storage_module_imported_first_imports_whole(module: str) -> None:
    """The lazy package must not load ``Store`` while one of its own modules is loading."""
    code = f"import {module}, akarom.storage\nassert akarom.storage.Store.__name__ == 'Store'\n"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def _akarom(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m akarom`` as a separate process: through ``main`` and its fast exit."""
    return subprocess.run(
        [sys.executable, "-m", "akarom", *args],
        env={**os.environ, "AKAROM_DATA_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_fast_exit_loses_no_output_and_keeps_the_exit_code(tmp_path: Path) -> None:
    values = [OK_AT_DOCOMO] * 3000 + ["1234"]
    done = _akarom(tmp_path, "validate", "--json", *values)
    assert done.returncode == 1  # one invalid value
    lines = json_lines(done.stdout)
    assert len(lines) == len(values)
    assert lines[-1]["error"] == "length"


def test_a_fast_exit_keeps_every_answer_and_report_row(tmp_path: Path) -> None:
    """A check's answers are in the database, and bulk's report complete, after the exit."""
    with serving({"devices": DEVICES}) as url:
        env = {"AKAROM_CARRIERS_URL": url, "AKAROM_RATE_LIMIT": "50"}
        check = _akarom(tmp_path, "check", "--json", "--carrier", "docomo", OK_AT_DOCOMO, **env)
        assert check.returncode == 0, check.stderr
        source, report = tmp_path / "in.csv", tmp_path / "out.csv"
        source.write_text("IMEI\n" + f"{OK_AT_DOCOMO}\n" * 200, encoding="utf-8")
        bulk = _akarom(tmp_path, "bulk", str(source), "-o", str(report), **env)
        assert bulk.returncode == 0, bulk.stderr
    history = json_lines(_akarom(tmp_path, "history", "--json", OK_AT_DOCOMO).stdout)
    assert [(entry["carrier"], entry["source"]) for entry in history] == [("docomo", "live")]
    rows = report.read_text(encoding="utf-8-sig").splitlines()
    assert len(rows) == 201
    assert all(row.split(",")[2] == "clear" for row in rows[1:])
