"""Tests for ``akarom.tabular``: dealers' CSV/TSV/XLSX files in, the bulk report out.

Every file is built in ``tmp_path`` the way Excel in Japan writes it (CRLF, cp932,
Japanese headers); nothing binary is committed.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import zipfile
from pathlib import Path

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from akarom import tabular
from akarom.errors import AkaromError
from akarom.tabular import (
    InputRow,
    TableError,
    TableFormat,
    lost_digits,
    open_output,
    open_table,
    result_columns,
)

IMEI = "352099001761481"
IMEI_B = "356938035643809"
IMEI_C = "490154203237518"

PROPERTY = settings(derandomize=True, max_examples=60, database=None, deadline=None)


def _csv(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.write_bytes("".join(line + "\r\n" for line in lines).encode(encoding))
    return path


def _xlsx(path: Path, rows: list[list[object]]) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


def _read(path: Path, column: str | None = None) -> tuple[list[str], int, list[InputRow]]:
    with open_table(path, column=column) as table:
        return table.header, table.imei_index, list(table.rows())


def _trim(cells: list[str]) -> list[str]:
    while cells and not cells[-1]:
        cells = cells[:-1]
    return cells


def _cells(path: Path) -> list[list[str]]:
    with open_table(path, column="1") as table:
        return [table.header, *(row.cells for row in table.rows())]


# --- API -------------------------------------------------------------------------------


def test_public_names() -> None:
    assert sorted(tabular.__all__) == sorted(
        [
            "result_columns",
            "XLSX_MAX_ROWS",
            "InputRow",
            "Table",
            "TableError",
            "TableFormat",
            "Writer",
            "lost_digits",
            "open_output",
            "open_table",
        ]
    )
    assert result_columns() == (
        "imei_normalized",
        "verdict",
        "origin_carrier",
        "docomo",
        "au",
        "softbank",
        "rakuten",
        "checked_at",
        "error",
    )


def test_table_error_is_a_value_error_naming_file_row_and_column(tmp_path: Path) -> None:
    error = TableError("why", path=tmp_path / "in.csv", code="malformed", row=3, column="IMEI")
    assert isinstance(error, ValueError)
    assert isinstance(error, AkaromError)
    assert str(error) == f"{tmp_path / 'in.csv'}, row 3, column IMEI: why"
    assert (error.code, error.row, error.reason) == ("malformed", 3, "why")


# --- CSV input -------------------------------------------------------------------------


def test_cp932_csv_as_excel_in_japan_writes_it(tmp_path: Path) -> None:
    path = _csv(
        tmp_path / "在庫.csv",
        [
            "管理番号,機種,製造番号,販売キャリア,備考",
            "1,iPhone 13,３５２０９９００１７６１４８１,ドコモ,傷あり",
            "2,Galaxy,35-209900-176148-1,au,",
            ",,,,",
            "3,Pixel",  # a broken row: cells missing
            f"4,AQUOS,{IMEI_B},ソフトバンク,重複",
            f"5,AQUOS,{IMEI_B},ソフトバンク,重複,はみ出し",
            "",
            ",,,,",
        ],
        encoding="cp932",
    )
    with open_table(path) as table:
        assert table.format == TableFormat("csv", encoding="cp932", delimiter=",")
        assert (table.encoding, table.delimiter) == ("cp932", ",")
        assert table.header == ["管理番号", "機種", "製造番号", "販売キャリア", "備考"]
        assert (table.imei_index, table.hint_index, table.imei_column) == (2, 3, "製造番号")
        assert (table.header_row, table.has_header, table.preamble) == (1, True, [])
        rows = list(table.rows())
    assert [row.number for row in rows] == [1, 2, 3, 4, 5, 6]
    assert [row.source_row for row in rows] == [2, 3, 4, 5, 6, 7]
    assert [row.imei for row in rows] == [
        "３５２０９９００１７６１４８１",
        "35-209900-176148-1",
        "",
        "",
        IMEI_B,
        IMEI_B,
    ]
    assert [row.hint for row in rows] == ["ドコモ", "au", "", "", "ソフトバンク", "ソフトバンク"]
    assert rows[2].cells == []  # blank in the middle: kept
    assert rows[3].cells == ["3", "Pixel"]  # short: kept as read
    assert rows[5].cells[-1] == "はみ出し"  # long: kept as read


def test_utf8_with_bom(tmp_path: Path) -> None:
    path = _csv(tmp_path / "bom.csv", ["IMEI,メモ", f"{IMEI},新品"], encoding="utf-8-sig")
    with open_table(path) as table:
        assert table.encoding == "utf-8-sig"
        assert table.header == ["IMEI", "メモ"]
        assert [row.cells for row in table.rows()] == [[IMEI, "新品"]]


def test_plain_utf8(tmp_path: Path) -> None:
    header, index, rows = _read(_csv(tmp_path / "u.csv", ["機種,IMEI番号", f"ｉＰｈｏｎｅ,{IMEI}"]))
    assert (header, index) == (["機種", "IMEI番号"], 1)
    assert rows[0].cells == ["ｉＰｈｏｎｅ", IMEI]


def test_utf16_excel_unicode_text(tmp_path: Path) -> None:
    path = tmp_path / "unicode.tsv"
    path.write_bytes(f"IMEI\t機種\r\n{IMEI}\tiPhone\r\n".encode("utf-16"))
    with open_table(path) as table:
        assert table.encoding == "utf-16"
        assert [row.imei for row in table.rows()] == [IMEI]


def test_encoding_decided_past_a_long_ascii_start(tmp_path: Path) -> None:
    # The first non-ASCII byte comes after several 64 KiB chunks, and a multibyte
    # character straddles a chunk edge: still UTF-8, not cp932.
    filler = [f"{IMEI},x" for _ in range(12_000)]
    utf8 = _csv(tmp_path / "late.csv", ["IMEI,memo", *filler, f"{IMEI}," + "あ" * 40_000])
    sjis = _csv(tmp_path / "late-sjis.csv", ["IMEI,memo", *filler, f"{IMEI},傷あり"], "cp932")
    with open_table(utf8) as table:
        assert table.encoding == "utf-8"
        assert list(table.rows())[-1].cells[1] == "あ" * 40_000
    with open_table(sjis) as table:
        assert table.encoding == "cp932"
        assert list(table.rows())[-1].cells[1] == "傷あり"


def test_ascii_only_is_read_as_utf8(tmp_path: Path) -> None:
    with open_table(_csv(tmp_path / "a.csv", ["IMEI", IMEI])) as table:
        assert table.encoding == "utf-8"


def test_neither_utf8_nor_cp932(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(b"IMEI\r\n\x81\x20\x81\x20\r\n")
    with pytest.raises(TableError, match="neither UTF-8 nor Shift_JIS") as caught:
        open_table(path)
    assert caught.value.code == "encoding"


def test_bad_bytes_after_the_sniffed_part_stop_with_the_row(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    start = f"IMEI,memo\r\n{IMEI},傷\r\n".encode()
    filler = f"{IMEI},x\r\n".encode() * 70_000  # > 1 MiB past the first non-ASCII byte
    path.write_bytes(start + filler + f"{IMEI},傷\r\n".encode("cp932"))
    with open_table(path) as table:
        assert table.encoding == "utf-8"
        with pytest.raises(TableError, match="not valid utf-8") as caught:
            list(table.rows())
    assert caught.value.code == "encoding"
    assert caught.value.row is not None
    assert caught.value.row > 60_000


def test_tsv(tmp_path: Path) -> None:
    path = _csv(tmp_path / "x.tsv", ["製造番号\tメモ, カンマ", f"{IMEI}\ta,b"])
    with open_table(path) as table:
        assert table.delimiter == "\t"
        assert [row.cells for row in table.rows()] == [[IMEI, "a,b"]]


@pytest.mark.parametrize("delimiter", ["\t", ";"])
def test_csv_with_another_delimiter_in_its_header(tmp_path: Path, delimiter: str) -> None:
    path = _csv(tmp_path / "x.csv", [f"IMEI{delimiter}memo", f"{IMEI}{delimiter}a,b"])
    with open_table(path) as table:
        assert table.delimiter == delimiter
        assert [row.cells for row in table.rows()] == [[IMEI, "a,b"]]


def test_quoted_fields_with_newlines_commas_and_quotes(tmp_path: Path) -> None:
    path = _csv(
        tmp_path / "q.csv",
        ["IMEI,memo", f'{IMEI},"画面割れ,\r\n""要""交換"', f'"{IMEI_B}","a\nb"'],
    )
    _, _, rows = _read(path)
    assert [row.cells for row in rows] == [
        [IMEI, '画面割れ,\r\n"要"交換'],
        [IMEI_B, "a\nb"],
    ]
    assert [row.source_row for row in rows] == [2, 3]


def test_excel_text_formula_notation(tmp_path: Path) -> None:
    path = _csv(
        tmp_path / "f.csv",
        ["IMEI,code,other", f'="{IMEI}",="0123",=A1', f'"=""{IMEI_B}""","=""a""""b""",="x'],
    )
    _, _, rows = _read(path)
    assert [row.cells for row in rows] == [
        [IMEI, "0123", "=A1"],
        [IMEI_B, 'a"b', '="x'],
    ]


def test_unclosed_quote_is_an_error_with_the_row(tmp_path: Path) -> None:
    # Leniently read, the quote would swallow every following row into one cell.
    lines = ["IMEI,memo", *[f"{IMEI},ok"] * 15, f'{IMEI_B},"never closed', "x,y"]
    table = open_table(_csv(tmp_path / "u.csv", lines))
    with table, pytest.raises(TableError, match="quote") as caught:
        list(table.rows())
    assert (caught.value.code, caught.value.row) == ("malformed", 17)
    with pytest.raises(TableError, match="quote") as caught:  # found among the first rows
        open_table(_csv(tmp_path / "v.csv", ["IMEI,memo", f'{IMEI},"never closed']))
    assert (caught.value.code, caught.value.row) == ("malformed", 2)


def test_rows_can_be_read_twice(tmp_path: Path) -> None:
    with open_table(_csv(tmp_path / "a.csv", ["IMEI", IMEI, IMEI_B])) as table:
        assert list(table.rows()) == list(table.rows())
        assert sum(1 for _ in table.rows()) == 2


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(TableError, match="empty") as caught:
        open_table(path)
    assert caught.value.code == "empty"


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(TableError, match="no such file") as caught:
        open_table(tmp_path / "nope.csv")
    assert caught.value.code == "not_found"
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(TableError, match="folder"):
        open_table(tmp_path / "dir.csv")


@pytest.mark.parametrize(
    ("name", "hint"),
    [("stock.xls", "97-2003"), ("stock.txt", "rename it to .tsv"), ("stock.json", None)],
)
def test_unsupported_extension(tmp_path: Path, name: str, hint: str | None) -> None:
    path = tmp_path / name
    path.write_bytes(b"IMEI\r\n")
    with pytest.raises(TableError, match=r"\.csv, \.tsv or \.xlsx") as caught:
        open_table(path)
    assert caught.value.code == "unsupported_format"
    assert str(path) in str(caught.value)
    if hint:
        assert hint in str(caught.value)


def test_extension_is_case_insensitive(tmp_path: Path) -> None:
    with open_table(_csv(tmp_path / "EXPORT.CSV", ["IMEI", IMEI])) as table:
        assert table.format.kind == "csv"


# --- header detection --------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "IMEI",
        "imei",
        "ＩＭＥＩ",
        " IMEI ",
        "IMEI番号",
        "製造番号",
        "製造番号(IMEI)",
        "製造番号（IMEI）",
        "IMEI1",
        "IMEI 1",
        "imei_no",
        "端末識別番号",
        "MEID",
        "IMEI/MEID",
        "【IMEI】",
        "IMEI※15桁",
    ],
)
def test_imei_header_variants(tmp_path: Path, name: str) -> None:
    header, index, rows = _read(_csv(tmp_path / "h.csv", [f"機種,{name},メモ", f"x,{IMEI},y"]))
    assert (header[index], index) == (name, 1)
    assert rows[0].imei == IMEI


@pytest.mark.parametrize(
    ("names", "chosen"),
    [
        (["IMEI2", "IMEI"], "IMEI"),
        (["IMEI 2", "IMEI1"], "IMEI1"),
        (["製造番号", "IMEI"], "IMEI"),
        (["MEID", "製造番号"], "製造番号"),
        (["imei_normalized", "IMEI"], "IMEI"),
        (["IMEI2", "メモ"], "IMEI2"),
    ],
)
def test_the_better_imei_column_wins(tmp_path: Path, names: list[str], chosen: str) -> None:
    header, index, _ = _read(_csv(tmp_path / "h.csv", [",".join(names), "1,2"]))
    assert header[index] == chosen


@pytest.mark.parametrize(
    "names", [["IMEI", "imei"], ["IMEI", "IMEI1"], ["製造番号", "端末製造番号"]]
)
def test_equally_good_columns_ask_for_column(tmp_path: Path, names: list[str]) -> None:
    with pytest.raises(TableError, match="--column") as caught:
        open_table(_csv(tmp_path / "h.csv", [",".join(names), "1,2"]))
    assert caught.value.code == "ambiguous_column"


def test_title_rows_above_the_header_are_the_preamble(tmp_path: Path) -> None:
    path = _csv(
        tmp_path / "t.csv",
        ["IMEIチェック用 在庫一覧,,", "2026/11/26,,", "No,IMEI,キャリア", f"1,{IMEI},docomo"],
    )
    with open_table(path) as table:
        assert table.preamble == [["IMEIチェック用 在庫一覧", "", ""], ["2026/11/26", "", ""]]
        assert (table.header_row, table.imei_index, table.hint_index) == (3, 1, 2)
        rows = list(table.rows())
    assert [(row.number, row.source_row, row.imei) for row in rows] == [(1, 4, IMEI)]


@pytest.mark.parametrize(
    ("name", "index"),
    [("carrier", 1), ("キャリア", 1), ("Brand", 1), ("ブランド", 1), ("回線", 1), ("ｷｬﾘｱ", 1)],
)
def test_hint_column(tmp_path: Path, name: str, index: int) -> None:
    with open_table(_csv(tmp_path / "h.csv", [f"IMEI,{name}", f"{IMEI},ahamo"])) as table:
        assert table.hint_index == index
        assert [row.hint for row in table.rows()] == ["ahamo"]


def test_carrier_beats_brand_and_no_hint_column(tmp_path: Path) -> None:
    with open_table(_csv(tmp_path / "a.csv", ["ブランド,IMEI,キャリア", f"UQ,{IMEI},au"])) as t:
        assert t.hint_index == 2
    with open_table(_csv(tmp_path / "b.csv", ["IMEI,メモ", f"{IMEI},x"])) as t:
        assert t.hint_index is None
        assert [row.hint for row in t.rows()] == [None]


def test_no_imei_column(tmp_path: Path) -> None:
    with pytest.raises(TableError, match="--column NAME") as caught:
        open_table(_csv(tmp_path / "n.csv", ["機種,メモ", "iPhone,x"]))
    assert caught.value.code == "no_imei_column"


def test_headerless_file_whose_first_row_is_an_imei(tmp_path: Path) -> None:
    with open_table(_csv(tmp_path / "n.csv", [f"iPhone,{IMEI}", f"Pixel,{IMEI_B}"])) as table:
        assert (table.has_header, table.header, table.imei_index) == (False, ["", ""], 1)
        assert table.imei_column == "column 2"
        assert [(row.number, row.imei) for row in table.rows()] == [(1, IMEI), (2, IMEI_B)]


def test_headerless_file_with_two_imei_columns(tmp_path: Path) -> None:
    with pytest.raises(TableError, match="--column") as caught:
        open_table(_csv(tmp_path / "n.csv", [f"{IMEI},{IMEI_B}"]))
    assert caught.value.code == "ambiguous_column"


@pytest.mark.parametrize("column", ["端末番号", " 端末 番号", "2", "２", "B", "b"])
def test_column_option_by_name_number_or_letter(tmp_path: Path, column: str) -> None:
    path = _csv(tmp_path / "c.csv", ["機種,端末番号,IMEI", f"x,{IMEI_B},{IMEI}"])
    _, index, rows = _read(path, column)
    assert (index, rows[0].imei) == (1, IMEI_B)


def test_column_option_names_win_over_letters(tmp_path: Path) -> None:
    _, index, _ = _read(_csv(tmp_path / "c.csv", ["A,B,C", "1,2,3"]), "c")
    assert index == 2


def test_column_option_by_number_without_header(tmp_path: Path) -> None:
    with open_table(_csv(tmp_path / "c.csv", [f"{IMEI},{IMEI_B}"]), column="2") as table:
        assert not table.has_header
        assert [row.imei for row in table.rows()] == [IMEI_B]


@pytest.mark.parametrize(
    ("column", "message"), [("シリアル", "no column named"), ("7", "column 7")]
)
def test_column_option_not_found(tmp_path: Path, column: str, message: str) -> None:
    path = _csv(tmp_path / "c.csv", ["機種,IMEI", f"x,{IMEI}"])
    with pytest.raises(TableError, match=message) as caught:
        open_table(path, column=column)
    assert caught.value.code == "column_not_found"
    assert "機種" in str(caught.value)  # the header is shown


def test_column_option_with_duplicate_names(tmp_path: Path) -> None:
    with pytest.raises(TableError, match="several columns") as caught:
        open_table(_csv(tmp_path / "c.csv", ["番号,番号", "1,2"]), column="番号")
    assert caught.value.code == "ambiguous_column"


# --- XLSX input --------------------------------------------------------------------------


def test_xlsx_numbers_text_dates_and_gaps(tmp_path: Path) -> None:
    path = tmp_path / "stock.xlsx"
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "在庫"
    sheet.append(["製造番号", "値段", "入荷日", "付属品", "メモ"])
    sheet.append([int(IMEI), 12800, dt.datetime(2026, 11, 26), True, None])  # noqa: DTZ001 (Excel dates are naive)
    sheet.append([float(IMEI_B), 12800.5, dt.datetime(2026, 11, 26, 16, 5), False, "x"])  # noqa: DTZ001
    sheet.append([IMEI_C, 0.1 + 0.2, dt.date(2026, 1, 2), None, "=1+1"])
    sheet.append([3568680000414120, -3.0, dt.time(9, 30), None, None])  # 16 digits: IMEISV
    sheet["A7"] = 13327000000000  # row 6 left out: a gap
    sheet["A7"].number_format = "000000000000000"
    workbook.save(path)
    with open_table(path) as table:
        assert table.format == TableFormat("xlsx", sheet="在庫")
        assert (table.encoding, table.imei_index) == (None, 0)
        rows = list(table.rows())
    assert [row.cells for row in rows] == [
        [IMEI, "12800", "2026/11/26", "TRUE"],  # the file has no cell E2
        [IMEI_B, "12800.5", "2026/11/26 16:05:00", "FALSE", "x"],
        [IMEI_C, "0.3", "2026/01/02", "", ""],  # a formula without cached value: ""
        ["3.56868000041412E+15", "-3", "09:30:00"],
        [],
        ["013327000000000"],
    ]
    assert [row.source_row for row in rows] == [2, 3, 4, 5, 6, 7]
    assert lost_digits(rows[3].imei)


def test_xlsx_wrong_stored_size_does_not_cut_rows(tmp_path: Path) -> None:
    # Some tools write <dimension ref="A1"/> whatever the sheet holds.
    path = _xlsx(tmp_path / "d.xlsx", [["IMEI", "memo"], [IMEI, "a"], [IMEI_B, "b"]])
    import zipfile

    patched = tmp_path / "patched.xlsx"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(patched, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b'<dimension ref="A1:B3"/>', b'<dimension ref="A1"/>')
                assert b'ref="A1"' in data
            target.writestr(item, data)
    _, _, rows = _read(patched)
    assert [row.cells for row in rows] == [[IMEI, "a"], [IMEI_B, "b"]]


def test_xlsx_that_is_not_a_workbook(tmp_path: Path) -> None:
    path = tmp_path / "fake.xlsx"
    path.write_bytes(b"IMEI\r\n")
    with pytest.raises(TableError, match=r"not a readable \.xlsx") as caught:
        open_table(path)
    assert caught.value.code == "malformed"


def test_a_zip_bomb_named_xlsx_is_refused_before_anything_is_unpacked(tmp_path: Path) -> None:
    """A few hundred kilobytes that would unpack to 300 MB of sheet XML."""
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as bomb:
        with bomb.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            for _ in range(300):
                sheet.write(b"0" * 2**20)
        bomb.writestr("[Content_Types].xml", "<Types/>")
    assert path.stat().st_size < 2**20
    with pytest.raises(TableError) as caught:
        open_table(path)
    assert caught.value.code == "too_large"
    assert "compressed" in caught.value.reason


def test_a_real_workbook_passes_the_zip_bomb_check(tmp_path: Path) -> None:
    path = tmp_path / "ok.xlsx"
    book = openpyxl.Workbook()
    for number in range(20_000):
        book.active.append([f"35209900{number:06d}", "iPhone"])
    book.save(path)
    tabular.check_xlsx_archive(path)  # does not raise


def test_xlsx_table_closes_its_workbook(tmp_path: Path) -> None:
    table = open_table(_xlsx(tmp_path / "a.xlsx", [["IMEI"], [IMEI]]))
    assert [row.imei for row in table.rows()] == [IMEI]
    table.close()
    assert vars(table._source)["_workbook"]._archive.fp is None


def test_lost_digits() -> None:
    assert lost_digits("3.52099E+14")
    assert lost_digits(" 3.52099e14 ")
    assert not lost_digits(IMEI)
    assert not lost_digits("E+14")


# --- output ------------------------------------------------------------------------------

HEADER = ["No", "IMEI", "メモ"]
ROWS = [
    ["1", IMEI, "画面割れ,\r\n要交換"],
    [],
    ["3"],
    ["4", IMEI_B, "x", "はみ出し", "", ""],
    ["5", "=SUM(A1)", '"引用"'],
]
RESULT = {"imei_normalized": IMEI, "verdict": "clear", "docomo": "○", "au": "-"}


def _write(
    path: Path, *, input_format: TableFormat | None = None, encoding: str | None = None
) -> None:
    with open_output(path, HEADER, input_format=input_format, encoding=encoding) as writer:
        for cells in ROWS:
            writer.write_row(cells, RESULT)
        assert writer.rows_written == len(ROWS)


@pytest.mark.parametrize("name", ["out.csv", "out.tsv", "out.xlsx"])
def test_output_round_trip(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    _write(path)
    result = [IMEI, "clear", "", "○", "-", "", "", "", ""]
    expected = [
        [*HEADER, *result_columns()],
        [*ROWS[0], *result],
        ["", "", "", *result],
        ["3", "", "", *result],
        ["4", IMEI_B, "x", *result, "はみ出し"],
        [*ROWS[4], *result],
    ]
    if name.endswith(".xlsx"):
        expected[1][2] = "画面割れ,\n要交換"  # XML keeps line breaks as LF
        # Empty cells are not stored, so a row read back ends at its last value.
        expected = [_trim(row) for row in expected]
    assert _cells(path) == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no temporary left


def test_output_xlsx_cells_are_text(tmp_path: Path) -> None:
    path = tmp_path / "out.xlsx"
    with open_output(path, ["IMEI", "memo"]) as writer:
        writer.write_row([IMEI, "=HYPERLINK(1)"], {"error": "bell\x07"})
    sheet = openpyxl.load_workbook(path).active
    assert [cell.data_type for cell in sheet[2][:2]] == ["s", "s"]
    assert sheet["A2"].value == IMEI
    assert sheet["B2"].value == "=HYPERLINK(1)"
    assert sheet["K2"].value == "bell\ufffd"
    assert sheet.freeze_panes == "A2"


def test_output_preamble_is_written_first(tmp_path: Path) -> None:
    source = _csv(tmp_path / "in.csv", ["在庫一覧,", "IMEI,memo", f"{IMEI},a"])
    with (
        open_table(source) as table,
        open_output(
            tmp_path / "out.csv", table.header, input_format=table.format, preamble=table.preamble
        ) as writer,
    ):
        for row in table.rows():
            writer.write_row(row.cells)
    lines = (tmp_path / "out.csv").read_bytes().decode("utf-8-sig").split("\r\n")
    assert lines[:3] == [
        "在庫一覧,",
        "IMEI,memo," + ",".join(result_columns()),
        f"{IMEI},a" + "," * 9,
    ]


def test_output_csv_encoding(tmp_path: Path) -> None:
    _write(tmp_path / "bom.csv")
    assert (tmp_path / "bom.csv").read_bytes().startswith(b"\xef\xbb\xbfNo,IMEI,")
    cp932 = TableFormat("csv", encoding="cp932", delimiter=",")
    _write(tmp_path / "sjis.csv", input_format=cp932)
    data = (tmp_path / "sjis.csv").read_bytes()
    assert data.startswith(b"No,IMEI,")
    assert "メモ".encode("cp932") in data
    assert b"\r\n" in data
    with open_table(tmp_path / "sjis.csv") as table:
        assert table.encoding == "cp932"
    _write(tmp_path / "plain.csv", input_format=cp932, encoding="utf-8")
    assert (tmp_path / "plain.csv").read_bytes().startswith(b"No,IMEI,")
    with pytest.raises(ValueError, match="unknown encoding"):
        open_output(tmp_path / "x.csv", HEADER, encoding="klingon")


def test_nothing_appears_until_close(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    writer = open_output(path, HEADER)
    writer.write_row(ROWS[0])
    assert not path.exists()
    assert len(list(tmp_path.iterdir())) == 1  # the hidden temporary file
    writer.close()
    writer.close()  # a second close does nothing
    assert path.exists()


@pytest.mark.parametrize("name", ["out.csv", "out.xlsx"])
def test_interrupted_write_leaves_no_output(tmp_path: Path, name: str) -> None:
    path = tmp_path / name

    def interrupted_run() -> None:
        with open_output(path, HEADER) as writer:
            writer.write_row(ROWS[0])
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted_run()
    assert list(tmp_path.iterdir()) == []


def test_abort_keeps_an_older_output(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    path.write_text("old", encoding="utf-8")
    writer = open_output(path, HEADER)
    writer.write_row(ROWS[0])
    writer.abort()
    assert path.read_text(encoding="utf-8") == "old"
    assert list(tmp_path.iterdir()) == [path]
    with pytest.raises(ValueError, match="closed"):
        writer.write_row(ROWS[0])


def test_write_row_rejects_unknown_result_columns(tmp_path: Path) -> None:
    with open_output(tmp_path / "out.csv", HEADER) as writer, pytest.raises(ValueError, match="x"):
        writer.write_row(ROWS[0], {"x": "1"})


def test_output_errors(tmp_path: Path) -> None:
    with pytest.raises(TableError, match=r"\.csv, \.tsv or \.xlsx") as caught:
        open_output(tmp_path / "out.xls", HEADER)
    assert caught.value.code == "unsupported_format"
    with pytest.raises(TableError, match="does not exist") as caught:
        open_output(tmp_path / "missing" / "out.csv", HEADER)
    assert caught.value.code == "write_failed"


def test_xlsx_output_row_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tabular, "XLSX_MAX_ROWS", 3)
    writer = open_output(tmp_path / "out.xlsx", HEADER)
    writer.write_row(ROWS[0])
    writer.write_row(ROWS[0])
    with pytest.raises(TableError, match=r"as \.csv") as caught:
        writer.write_row(ROWS[0])
    assert caught.value.code == "too_many_rows"
    writer.abort()


# --- property ----------------------------------------------------------------------------

_TEXT = st.text(
    st.characters(codec="utf-8"),  # no lone surrogates
    max_size=12,
).map(lambda text: text.replace('="', "= "))  # Excel's ="…" notation reads as its value
_JAPANESE = st.sampled_from(["製造番号", "３５２０", "ｶﾅ", "a,b", '"q"', "x\r\ny", "\n", "", " "])
_CELL = st.one_of(_TEXT, _JAPANESE)


@PROPERTY
@given(
    rows=st.lists(st.lists(_CELL, min_size=3, max_size=3), max_size=8),
    kind=st.sampled_from(["csv", "tsv"]),
)
def test_csv_round_trip_keeps_every_cell(rows: list[list[str]], kind: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"out.{kind}"
        with open_output(path, ["メモ", "IMEI", "備考"]) as writer:
            for cells in rows:
                writer.write_row(cells, {"verdict": "invalid"})
        with open_table(path) as table:
            assert table.imei_index == 1
            back = [row.cells[:3] for row in table.rows()]
    assert back == rows


def test_a_failed_rename_keeps_the_finished_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(source: object, target: object) -> None:
        raise PermissionError(13, "Permission denied")

    writer = open_output(tmp_path / "out.csv", HEADER)
    writer.write_row(ROWS[0], RESULT)
    monkeypatch.setattr(tabular.os, "replace", refuse)
    with pytest.raises(TableError, match="finished report is in") as caught:
        writer.close()
    assert caught.value.code == "write_failed"
    (kept,) = tmp_path.iterdir()
    assert kept.name.startswith(".out.csv.")
    assert IMEI in kept.read_bytes().decode("utf-8-sig")
