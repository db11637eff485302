"""``akarom intake``, ``guarantee`` and ``claim`` as a dealer's staff run them."""

from __future__ import annotations

import stat
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from akarom.cli import app
from akarom.domain import Carrier, Status
from akarom.storage import Store
from tests.storage.helpers import IMEI, OTHER_TAC, observation

Run = Callable[..., Result]

SELLER = [
    "--seller-name", "山田 太郎",
    "--seller-address", "東京都千代田区千代田1-1",
    "--seller-occupation", "会社員",
    "--seller-age", "34",
    "--id-confirmed-by", "運転免許証",
]  # fmt: skip


@pytest.fixture
def run(tmp_path: Path) -> Run:
    with Store.open(None, tmp_path) as store:
        store.create_dealer("スマホ堂")
        checked = datetime.now(UTC) - timedelta(hours=3)
        store.record(observation(IMEI, Carrier.DOCOMO, Status.OK, at=checked))
        store.record(observation(OTHER_TAC, Carrier.AU, Status.RESTRICTED, at=checked))

    def invoke(*args: str, lang: str = "") -> Result:
        environment = {"AKAROM_DATA_DIR": str(tmp_path), "AKAROM_LANG": lang}
        return CliRunner().invoke(app, list(args), env=environment)

    return invoke


def test_an_intake_is_recorded_shown_to_staff_and_kept_three_years(
    run: Run, tmp_path: Path
) -> None:
    today = datetime.now(UTC).date().isoformat()
    added = run(
        "intake", "add", IMEI, "--dealer", "スマホ堂", "--bought", today, "--price", "30000",
        *SELLER, "--by", "佐藤",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "取引記録 1 を残しました" in added.stdout
    key = tmp_path / "data.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600  # the operator's key, made on first use
    shown = run("intake", "show", "1", "--dealer", "スマホ堂")
    assert "山田 太郎" in shown.stdout
    assert "運転免許証" in shown.stdout
    assert "山田" not in run("intake", "list", "--dealer", "スマホ堂").stdout
    early = run("intake", "erase", "1", "--dealer", "スマホ堂", "--by", "佐藤")
    assert early.exit_code == 2
    assert "保存期間中" in early.stderr
    exported = tmp_path / "intakes.csv"
    assert run("intake", "export", "--dealer", "スマホ堂", "-o", str(exported)).exit_code == 0
    assert "東京都千代田区千代田1-1" in exported.read_text(encoding="utf-8")


def test_a_sale_is_guaranteed_once_and_a_red_device_is_refused_with_the_reason(run: Run) -> None:
    today = datetime.now(UTC).date().isoformat()
    sale = ["--dealer", "スマホ堂", "--sold", today, "--by", "佐藤"]
    added = run("guarantee", "add", IMEI, "--order", "A-1", *sale)
    assert added.exit_code == 0, added.output
    assert "保証 1 を登録しました" in added.stdout
    again = run("guarantee", "add", IMEI, "--order", "A-1", *sale)
    assert again.exit_code == 2
    assert "注文番号 A-1 はすでに登録されています" in again.stderr
    red = run("guarantee", "add", OTHER_TAC, "--order", "A-2", *sale, lang="en")
    assert red.exit_code == 2
    assert "cannot be sold under guarantee: its verdict is red (rule" in red.stderr
    assert "A-1" in run("guarantee", "list", "--dealer", "スマホ堂").stdout


def test_a_claim_is_opened_settled_and_shown_with_its_evidence(run: Run) -> None:
    today = datetime.now(UTC).date().isoformat()
    run(
        "intake", "add", IMEI, "--dealer", "スマホ堂", "--bought", today, "--price", "30000",
        *SELLER, "--by", "佐藤",
    )  # fmt: skip
    run(
        "guarantee", "add", IMEI, "--dealer", "スマホ堂", "--order", "B-1", "--sold", today,
        "--intake", "1", "--customer-name", "鈴木", "--by", "佐藤",
    )  # fmt: skip
    assert run("claim", "open", "1", "--dealer", "スマホ堂", "--by", "佐藤").exit_code == 0
    no_reason = run("claim", "act", "1", "reject", "--dealer", "スマホ堂", "--by", "店長")
    assert no_reason.exit_code == 2
    assert "理由" in no_reason.stderr
    settled = run(
        "claim", "act", "1", "exchange", "--dealer", "スマホ堂", "--by", "店長", "--note", "交換"
    )
    assert settled.exit_code == 0, settled.output
    shown = run("claim", "show", "1", "--dealer", "スマホ堂")
    assert "販売前の確認" in shown.stdout
    assert "山田 太郎" in shown.stdout  # whom the shop bought it from
    assert "鈴木" in shown.stdout
    assert "exchange" in shown.stdout
    assert "店長" in shown.stdout
    other = run("claim", "show", "1", "--dealer", "別の店")
    assert other.exit_code == 2


def test_a_sales_sheet_comes_back_whole_with_each_row_s_result(run: Run, tmp_path: Path) -> None:
    today = datetime.now(UTC).date().isoformat()
    sheet = tmp_path / "売上.csv"
    sheet.write_text(
        "注文番号,IMEI,販売日,販売価格,氏名\r\n"
        f'S-1,{IMEI},{today},"59,800",鈴木\r\n'
        f"S-2,{OTHER_TAC},{today},30000,田中\r\n"
        f"S-3,35209900176148,{today},1000,\r\n"
        f"S-4,{IMEI},昨日,1000,\r\n",
        encoding="cp932",
    )
    report = tmp_path / "結果.csv"
    done = run(
        "guarantee", "import", str(sheet), "--dealer", "スマホ堂", "-o", str(report), "--by", "佐藤"
    )
    assert done.exit_code == 1  # some rows were refused
    assert "4 行のうち 1 行を保証に登録しました" in done.stdout
    lines = report.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == "注文番号,IMEI,販売日,販売価格,氏名,result,guarantee_id,reason"
    assert lines[1].startswith("S-1,")
    assert ",registered,1," in lines[1]
    assert ",refused,," in lines[2]
    assert "赤ロム（×）" in lines[2]
    assert ",invalid,," in lines[3]
    assert "15桁" in lines[3]
    assert ",invalid,," in lines[4]
    assert "日付ではありません" in lines[4]
    assert len(lines) == 5
