"""The command line's one error edge: every problem is one line and one exit code.

A person never sees a traceback: an expected problem is said in their language,
with the exit code INTERFACES.md §3 gives it; a bug is one line naming the report
file that holds the traceback.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import akarom.errors
from akarom.cli._edge import EXIT_CODES, describe, exit_code_for
from akarom.errors import (
    AkaromError,
    CarrierError,
    ConfigError,
    InvalidChecksum,
    StorageError,
    UsageError,
    expected_error,
)
from akarom.texts import LANGS, keys, text
from tests.services.conftest import OK_AT_DOCOMO

SRC = Path(__file__).parent.parent / "src" / "akarom"
UNREACHABLE_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:9/akarom"  # port 9: refused


def _one_line(output: str) -> str:
    lines = output.splitlines()
    assert len(lines) == 1, output
    assert lines[0].startswith("akarom: "), output
    assert "Traceback" not in output
    return lines[0]


# -- expected problems ------------------------------------------------------------------


def test_an_unreachable_database_during_check_is_one_line(run) -> None:
    result = run("check", OK_AT_DOCOMO, AKAROM_DATABASE_URL=UNREACHABLE_POSTGRES)
    assert result.exit_code == 2
    line = _one_line(result.output)
    assert line.startswith("akarom: データベースを使えません: ")
    assert "127.0.0.1" in line
    english = run("check", "--lang", "en", OK_AT_DOCOMO, AKAROM_DATABASE_URL=UNREACHABLE_POSTGRES)
    assert _one_line(english.output).startswith("akarom: the database cannot be used: ")


def test_a_garbage_database_file_is_one_line(run, tmp_path: Path) -> None:
    (tmp_path / "akarom.sqlite3").write_bytes(b"not a database, only garbage " * 100)
    result = run("check", "--json", OK_AT_DOCOMO)
    assert result.exit_code == 2
    assert "file is not a database" in _one_line(result.output)


def test_a_database_that_refuses_writes_mid_check_is_one_line(run, tmp_path: Path) -> None:
    """The check runs and the carriers answer; saving the answer fails: one line, no output."""
    assert run("history", OK_AT_DOCOMO).exit_code == 0  # creates and migrates the database
    read_only = f"sqlite:///file:{tmp_path / 'akarom.sqlite3'}?mode=ro&uri=true"
    result = run("check", "--json", "--fresh", OK_AT_DOCOMO, AKAROM_DATABASE_URL=read_only)
    assert result.exit_code == 2
    assert "readonly" in _one_line(result.output)
    assert not (tmp_path / "reports").exists()  # expected, so no crash report


@pytest.mark.parametrize(
    ("args", "ja", "en"),
    [
        (["validate", "--lang", "fr", "1"], "--lang は ja か en", "--lang must be ja or en"),
        (
            ["check", OK_AT_DOCOMO, "--bought", "last week"],
            "--bought は YYYY-MM-DD",
            "--bought must be YYYY-MM-DD",
        ),
        (["check", OK_AT_DOCOMO, "--bought", "2999-01-01"], "未来の日付", "in the future"),
        (["explain", OK_AT_DOCOMO, "--on", "soon"], "--on は YYYY-MM-DD", "--on must be a date"),
        (["history", "12345"], "12345: 桁数が正しくありません", "12345: wrong number of digits"),
        (["manual", "12345", "-c", "au", "--symbol", "○"], "12345: 桁数", "12345: wrong number"),
        (["manual", OK_AT_DOCOMO, "-c", "mvno", "--symbol", "○"], "「mvno」", "'mvno'"),
    ],
)
def test_usage_errors_are_said_in_the_persons_language(run, args, ja: str, en: str) -> None:
    result = run(*args)
    assert result.exit_code == 2
    assert ja in _one_line(result.output)
    english = run(*args, AKAROM_LANG="en")
    assert english.exit_code == 2
    assert en in _one_line(english.output)


def test_a_broken_setting_is_said_in_the_language_asked_for(run) -> None:
    result = run("validate", "--lang", "en", OK_AT_DOCOMO, AKAROM_RATE_LIMIT="fast")
    assert result.exit_code == 2
    assert _one_line(result.output).startswith("akarom: a setting cannot be used: ")
    assert "AKAROM_RATE_LIMIT" in result.output
    japanese = run("validate", OK_AT_DOCOMO, AKAROM_LANG="de")
    assert japanese.exit_code == 2
    assert _one_line(japanese.output).startswith("akarom: 設定を使えません: AKAROM_LANG")


def test_an_interrupted_bulk_run_says_how_to_resume(run, tmp_path: Path, monkeypatch) -> None:
    async def interrupted(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("akarom.services.checking.check_table", interrupted)
    source = tmp_path / "in.csv"
    source.write_text(f"IMEI\n{OK_AT_DOCOMO}\n", encoding="utf-8")
    result = run("bulk", str(source), "-o", str(tmp_path / "out.csv"))
    assert result.exit_code == 130
    assert "--resume" in _one_line(result.output)


# -- bugs -------------------------------------------------------------------------------


def test_a_bug_is_one_line_and_a_report_with_the_traceback(run, tmp_path, monkeypatch) -> None:
    def broken(values: object) -> None:
        raise RuntimeError("the validator fell over")

    monkeypatch.setattr("akarom.services.validation.validate", broken)
    result = run("validate", OK_AT_DOCOMO)
    assert result.exit_code == 1
    line = _one_line(result.output)
    assert "予期しないエラー" in line
    assert "RuntimeError: the validator fell over" in line
    (report,) = (tmp_path / "reports").glob("crash-*.txt")
    assert str(report) in line
    body = report.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in body
    assert 'raise RuntimeError("the validator fell over")' in body
    assert f"command: akarom validate {OK_AT_DOCOMO}" in body
    assert "akarom 0.1.0" in body
    assert "python: 3." in body
    english = run("validate", "--lang", "en", OK_AT_DOCOMO)
    assert "an unexpected error occurred" in _one_line(english.output)


def test_a_bug_as_a_process_leaves_only_the_line(tmp_path: Path) -> None:
    """Through ``main`` (and its ``os._exit``), as a person runs it."""
    wrapper = (
        "import akarom.services.validation as v, akarom.cli as cli\n"
        "def broken(values): raise ZeroDivisionError('boom')\n"
        "v.validate = broken\n"
        "cli.main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", wrapper, "validate", OK_AT_DOCOMO],
        env={**os.environ, "AKAROM_DATA_DIR": str(tmp_path), "AKAROM_LANG": "en"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert "ZeroDivisionError: boom" in _one_line(done.stderr)
    (report,) = (tmp_path / "reports").glob("crash-*.txt")
    assert "ZeroDivisionError" in report.read_text(encoding="utf-8")


# -- the table --------------------------------------------------------------------------


def _error_classes() -> list[type[AkaromError]]:
    found = [
        value
        for value in vars(akarom.errors).values()
        if isinstance(value, type) and issubclass(value, AkaromError)
    ]
    assert len(found) > 15
    return found


@pytest.mark.parametrize("kind", _error_classes(), ids=lambda kind: kind.__name__)
def test_every_error_has_an_exit_code_of_the_interfaces(kind: type[AkaromError]) -> None:
    """INTERFACES.md §3: 2 invalid input or usage; 5 an answer left open."""
    code = next(code for base, code in EXIT_CODES if issubclass(kind, base))
    assert code in (2, 5)


@given(st.sampled_from(LANGS), st.text(max_size=40))
def test_every_error_is_described_on_one_line(lang, detail: str) -> None:
    for error in (
        ConfigError(f"AKAROM_X: {detail}"),
        StorageError(f"cannot open\n{detail}"),
        CarrierError(detail),
        InvalidChecksum().about(detail),
        AkaromError(detail),
    ):
        line = describe(error, lang)
        assert line.strip()
        assert "\n" not in line


def test_an_exception_group_of_expected_errors_is_expected() -> None:
    group = ExceptionGroup("checks", [StorageError("disk full"), StorageError("again")])
    assert exit_code_for(expected_error(group)) == 2
    assert expected_error(ExceptionGroup("checks", [StorageError("x"), TypeError()])) is None


def _usage_keys() -> set[str]:
    """Every catalogue key a ``UsageError`` is raised with (``key=``, ``hint=``)."""
    found = set()
    for module in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.keyword)
                and node.arg in ("key", "hint")
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            ):
                found.add(node.value.value)
    return found


def test_every_usage_error_has_its_sentence_in_both_languages() -> None:
    used = _usage_keys()
    assert {"usage.carrier", "usage.bought", "explain.topics"} <= used
    assert sorted(used - set(keys())) == []
    for key in used:
        for lang in LANGS:
            assert text(key, lang).strip()
    assert isinstance(UsageError("x", key="usage.lang", value="fr"), ValueError)
