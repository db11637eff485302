"""``akarom certificate issue|verify|key``, as a dealer and a buyer run them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from akarom.cli import app
from akarom.domain import Carrier, Status
from akarom.storage import NewObservation, Store

IMEI = "352099001761481"
NEVER_CHECKED = "490154203237518"

Run = Callable[..., Result]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """The data folder, holding a database in which IMEI was checked: ○ at docomo."""
    folder = tmp_path / "data"
    with Store.open(None, folder) as store:
        store.record(
            NewObservation(
                imei=IMEI,
                carrier=Carrier.DOCOMO,
                status=Status.OK,
                checked_at=datetime.now(UTC) - timedelta(hours=1),
            )
        )
    return folder


@pytest.fixture
def run(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # where issue writes its default file

    def invoke(*args: str, lang: str = "", **env: str) -> Result:
        environment = {
            "AKAROM_DATA_DIR": str(data_dir),
            "AKAROM_LANG": lang,
            "AKAROM_PUBLIC_URL": "https://akarom.example.jp",
            **env,
        }
        return CliRunner().invoke(app, ["certificate", *args], env=environment)

    return invoke


def test_a_certificate_is_issued_and_verifies(run: Run) -> None:
    issued = run("issue", IMEI)
    assert issued.exit_code == 0, issued.output
    written = Path(f"akarom-certificate-{IMEI}.pdf")
    assert written.read_bytes().startswith(b"%PDF-")
    assert f"証明書を発行しました: {written}" in issued.stdout
    assert "判定: 問題なし" in issued.stdout
    assert "検証ページ: https://akarom.example.jp/certificates/" in issued.stdout

    verified = run("verify", str(written))
    assert verified.exit_code == 0, verified.output
    assert "本物の証明書です" in verified.stdout
    assert IMEI in verified.stdout
    assert "ドコモ: ○" in verified.stdout

    english = run("verify", str(written), "--lang", "en")
    assert english.exit_code == 0
    assert english.stdout.startswith("Authentic")


def test_issue_writes_where_asked(run: Run, tmp_path: Path) -> None:
    target = tmp_path / "out" / "cert.pdf"
    target.parent.mkdir()
    issued = run("issue", "35-209900-176148-1", "-o", str(target), lang="en")
    assert issued.exit_code == 0, issued.output
    assert f"certificate issued: {target}" in issued.stdout
    assert run("verify", str(target)).exit_code == 0
    unwritable = run("issue", IMEI, "-o", str(tmp_path / "no" / "such" / "dir" / "c.pdf"))
    assert unwritable.exit_code == 2
    assert "書き込めませんでした" in unwritable.stderr


def test_a_device_never_checked_gets_no_certificate(run: Run) -> None:
    refused = run("issue", NEVER_CHECKED)
    assert refused.exit_code == 2
    assert "まだ確認されていません" in refused.stderr
    assert f"akarom check {NEVER_CHECKED}" in refused.stderr
    assert list(Path().iterdir()) == []
    assert run("issue", "352099001761482").exit_code == 2  # not an IMEI (check digit)


def test_a_changed_byte_exits_1_and_no_certificate_exits_2(run: Run) -> None:
    assert run("issue", IMEI, "-o", "c.pdf").exit_code == 0
    data = bytearray(Path("c.pdf").read_bytes())
    data[len(data) // 3] ^= 0x01
    Path("changed.pdf").write_bytes(bytes(data))
    changed = run("verify", "changed.pdf")
    assert changed.exit_code == 1
    assert "本物の証明書と確認できません" in changed.stdout
    assert "変更されています" in changed.stdout

    Path("garbage.pdf").write_bytes(os.urandom(3000).replace(b"%", b""))
    Path("half.pdf").write_bytes(bytes(data[: len(data) // 2]))
    for name in ("garbage.pdf", "half.pdf"):
        unreadable = run("verify", name)
        assert unreadable.exit_code == 2
        assert "akarom の証明書ではありません" in unreadable.stderr
    missing = run("verify", "missing.pdf")
    assert missing.exit_code == 2
    assert "ファイルを読めません" in missing.stderr


def test_anyone_verifies_offline_with_the_public_key(run: Run, tmp_path: Path) -> None:
    assert run("issue", IMEI, "-o", "c.pdf").exit_code == 0
    printed = run("key")
    assert printed.exit_code == 0
    assert printed.stdout.startswith("-----BEGIN PUBLIC KEY-----")
    assert "--key" in printed.stderr
    Path("issuer.pem").write_text(printed.stdout)
    elsewhere = tmp_path / "elsewhere"  # another machine: no database, no key file
    offline = run("verify", "c.pdf", "--key", "issuer.pem", AKAROM_DATA_DIR=str(elsewhere))
    assert offline.exit_code == 0, offline.output
    assert not elsewhere.exists()  # verifying with --key opened no database

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    Path("stranger.pem").write_bytes(
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    wrong = run("verify", "c.pdf", "--key", "stranger.pem")
    assert wrong.exit_code == 1
    assert "知らない鍵" in wrong.stdout
    not_a_key = run("verify", "c.pdf", "--key", "c.pdf")
    assert not_a_key.exit_code == 2
    assert "公開鍵" in not_a_key.stderr


def test_a_masked_certificate_confirms_the_phone_with_imei(run: Run) -> None:
    issued = run("issue", IMEI, "--mask")
    assert issued.exit_code == 0, issued.output
    assert IMEI not in issued.stdout
    [written] = Path().glob("akarom-certificate-*.pdf")
    assert IMEI not in written.name
    assert run("verify", str(written), "--imei", IMEI).exit_code == 0
    other = run("verify", str(written), "--imei", "352099001761499")
    assert other.exit_code == 1
    assert "IMEI 352099001761499 の端末のものではありません" in other.stdout
    assert run("verify", str(written), "--imei", "12345").exit_code == 2


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_a_key_others_can_read_is_refused(run: Run, data_dir: Path) -> None:
    assert run("key").exit_code == 0
    (data_dir / "certificate-key.pem").chmod(0o644)
    refused = run("issue", IMEI)
    assert refused.exit_code == 2
    assert "chmod 600" in refused.stderr


def test_a_dealer_issues_under_its_name(run: Run, data_dir: Path) -> None:
    with Store.open(None, data_dir) as store:
        dealer = store.create_dealer("中古スマホ堂")
    refused = run("issue", IMEI, "--dealer", "中古スマホ堂")
    assert refused.exit_code == 2  # this dealer never checked it
    with Store.open(None, data_dir) as store:
        store.note_dealer_devices(dealer.id, [IMEI])
    assert run("issue", IMEI, "--dealer", "中古スマホ堂", "-o", "c.pdf").exit_code == 0
    verified = run("verify", "c.pdf")
    assert "発行者: 中古スマホ堂" in verified.stdout
    assert run("issue", IMEI, "--dealer", "no such shop").exit_code == 2


#: Runs the command line as the console script does, then reports what it imported.
WRAPPER = """
import json, os, sys
import akarom.cli
try:
    akarom.cli.app()
except SystemExit as exit:
    code = exit.code
with open(os.environ["MODULES_OUT"], "w") as out:
    json.dump({"code": code, "modules": sorted(n for n, m in sys.modules.items() if m)}, out)
"""


def test_verifying_offline_loads_neither_the_pdf_writer_nor_the_database(
    run: Run, tmp_path: Path
) -> None:
    assert run("issue", IMEI, "-o", "c.pdf").exit_code == 0
    Path("issuer.pem").write_text(run("key").stdout)
    listing = tmp_path / "modules.json"
    env = {**os.environ, "MODULES_OUT": str(listing), "AKAROM_DATA_DIR": str(tmp_path / "x")}
    args = ["certificate", "verify", "c.pdf", "--key", "issuer.pem"]
    subprocess.run([sys.executable, "-c", WRAPPER, *args], env=env, check=True, timeout=60)
    found = json.loads(listing.read_text())
    assert found["code"] == 0
    heavy = ("fpdf", "segno", "sqlalchemy", "httpx", "pydantic", "akarom.storage")
    assert [m for m in found["modules"] if m.split(".")[0] in heavy or m in heavy] == []
