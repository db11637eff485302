"""Dealers' spreadsheets in and out: the file layer of ``akarom bulk`` (INTERFACES.md §3).

Pure I/O: no carriers, no network, no database. :func:`open_table` reads an input
file row by row; :func:`open_output` writes the report row by row. Both stream, so
memory stays flat however many rows a file has (the one exception is noted under
XLSX below).

Formats (by extension, case-insensitive)
    ``.csv`` (comma), ``.tsv`` (tab) and ``.xlsx``. Anything else is a
    :class:`TableError` naming the file and what is accepted; the old ``.xls`` gets
    a hint to save as ``.xlsx``.

CSV/TSV encodings
    Detected from the bytes: a UTF-8 BOM means ``utf-8-sig`` (Excel's 「CSV UTF-8」),
    a UTF-16 BOM ``utf-16`` (Excel's 「Unicode テキスト」). Otherwise the file is fed
    to an incremental strict UTF-8 decoder, which never cuts a multibyte character
    at a chunk edge, until 1 MiB past the first non-ASCII byte (or the end). If that
    passes the file is ``utf-8``, if not it is tried as ``cp932`` (Shift_JIS as
    Excel in Japan saves it: Microsoft's superset with ①, ㈱, NEC/IBM kanji). When
    neither fits, the error says so and suggests saving as 「CSV UTF-8」. A file
    that is pure ASCII is read as UTF-8 (identical bytes). A bad byte later in the
    file stops the read with the row number: guessing would corrupt the
    dealer's other columns without anyone noticing.

CSV/TSV parsing
    The :mod:`csv` module in ``strict`` mode reads quoted fields with embedded
    newlines, delimiters and doubled quotes (``""``). Strict, because in lenient
    mode an unclosed quote silently swallows every following row into one cell;
    here it is an error with the line number. Excel never writes such files. A
    ``.csv`` whose first line has no comma but has tabs (or semicolons, as
    European Excel saves) is read with that delimiter; ``.tsv`` is always tab.
    Excel's text-forcing notation ``="0123"`` (used to keep leading zeros and
    long numbers) reads as the plain value ``0123``, as Excel shows it.

XLSX
    openpyxl in ``read_only`` mode with cached formula values (``data_only``); the
    sheet is the one Excel opens on (the active one). Cells read as a person
    sees them. Whole numbers below 10**15 print as all their digits (an IMEI
    stored as a number is ``352099001761481``, never ``3.52099001761481e+14``:
    15-digit integers are exact in a double), zero-padded when the cell's number
    format is ``000…0``. Excel keeps only 15 significant digits, so a number of
    16 or more digits (an IMEISV or decimal MEID typed as a number) may have lost
    its last digits before akarom saw it; it prints in exponent form
    (``3.56868000041412E+15``) so it can never be taken for a device, and
    :func:`lost_digits` recognises it. Other numbers print with up to 15
    significant digits; other number formats (currency, percent) are not
    applied. Dates print as ``2026/11/26`` (``2026/11/26 16:00:00`` with a
    time), booleans as ``TRUE``/``FALSE``. The sheet's stored size is ignored
    (some tools write a wrong one, and openpyxl would cut rows and columns to
    it). Memory: openpyxl holds the workbook's shared-string table (each
    distinct text once), so a huge XLSX of distinct texts costs memory in
    proportion; CSV does not.

Header and columns
    The header is the row, among the first ten, whose cells look most like an
    IMEI column name; rows above it (a title, a date) are the ``preamble`` and
    are written back unchanged. Names are compared after NFKC, case folding and
    dropping spaces and punctuation, so ``ＩＭＥＩ``, ``IMEI 1``,
    ``製造番号（IMEI）`` and ``imei_no`` all match. ``IMEI``/``IMEI1``/``IMEI番号``
    and the like beat ``製造番号`` (in a sheet with both, that is usually the
    maker's serial number), which beats ``MEID``, which beats ``IMEI2`` and
    other names merely containing ``IMEI``/``製造番号``. Two equally good columns
    are an error asking for ``--column``. ``--column`` takes a header name
    (folded the same way) or, when no header has that name, a 1-based column
    number or an Excel column letter. With no IMEI-like header, a first row with
    exactly one valid IMEI cell means the file has no header (its header is
    then blank names). An optional hint column (``carrier``, ``キャリア``,
    ``brand``, ``ブランド``, ``回線``, ``販売キャリア`` …) is found the same way;
    its raw value is passed on.

Rows
    Every row after the header comes back, in order, numbered from 1, with its
    cells as read: blank rows and rows with fewer or more cells than the header
    included. Only blank rows at the very end of the file are dropped (Excel
    and formatted sheets leave them; they hold nothing).

Output
    The original columns (each row padded to the header's width), then
    ``result_columns()``, then any cells a row had beyond the header's width,
    so nothing is dropped and the result columns stay under their names. The
    format follows OUTPUT's extension. CSV/TSV are written in UTF-8 with BOM,
    which every Excel since 2016 opens correctly in Japan, except that cp932
    input gives cp932 output, so the tools that made the file read the report
    back (``encoding=`` overrides; a character cp932 cannot hold becomes ``?``).
    Lines end in CRLF as Excel writes them. XLSX cells are all text, so IMEIs
    keep every digit and a cell starting with ``=`` stays text, not a formula;
    prefer ``.xlsx`` output for people who open the report in Excel, which
    turns a 15-digit IMEI in a CSV into ``3.52099E+14`` on display.

Atomic write
    Rows go to a hidden temporary file next to OUTPUT (same folder, so the
    rename cannot cross file systems), renamed over OUTPUT by
    :meth:`Writer.close` after an fsync. A run that stops before ``close``
    leaves no OUTPUT (and no half-written one that looks complete); an old
    OUTPUT stays as it was. If the rename fails (the file is open in Excel on
    Windows), the error names the temporary file that holds the finished report.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import importlib
import math
import os
import re
import secrets
import unicodedata
import warnings
import zipfile
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import islice
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal, Self, TypeAlias

from akarom import identity
from akarom.domain import Carrier
from akarom.errors import AkaromError

__all__ = [
    "XLSX_MAX_ROWS",
    "InputRow",
    "Table",
    "TableError",
    "TableFormat",
    "Writer",
    "lost_digits",
    "open_output",
    "open_table",
    "result_columns",
]

Kind: TypeAlias = Literal["csv", "tsv", "xlsx"]


def result_columns() -> tuple[str, ...]:
    """The columns akarom adds after the original ones, in this order (INTERFACES.md §3):
    a column per carrier, from the carrier list.

    >>> result_columns()
    ('imei_normalized', 'verdict', 'origin_carrier', 'docomo', 'au', 'softbank', 'rakuten', \
'checked_at', 'error')
    """
    carriers = tuple(carrier.value for carrier in Carrier)
    return ("imei_normalized", "verdict", "origin_carrier", *carriers, "checked_at", "error")


#: Rows one Excel worksheet holds; an XLSX report cannot have more.
XLSX_MAX_ROWS: Final = 1_048_576

_KINDS: Final[dict[str, Kind]] = {".csv": "csv", ".tsv": "tsv", ".xlsx": "xlsx"}
_ACCEPTED: Final = ".csv, .tsv or .xlsx"
_HINTS: Final = {
    ".xls": "the old Excel 97-2003 format is not supported; save it as .xlsx or CSV",
    ".xlsm": "save the workbook as .xlsx (without macros) or CSV",
    ".txt": "if it is Excel's tab-separated text, rename it to .tsv",
    ".ods": "save it as .xlsx or CSV",
}

_CHUNK: Final = 64 * 1024
_SNIFF_PAST_NON_ASCII: Final = 1024 * 1024
_HEADER_SEARCH_ROWS: Final = 10
_CELL_TEXT_LIMIT: Final = 32_767  # Excel's limit for one cell

# Dropped before comparing header names: spaces, punctuation and brackets people put
# around or inside the same name (製造番号（IMEI）, IMEI_No., IMEI/MEID, 【IMEI】).
_FOLD_DROP: Final = re.compile(r"[\s_\-‐・.:#/\\()\[\]{}「」『』【】〔〕\ufeff]+")

# Folded header name → rank; lower is a better IMEI column. See the module docstring.
_IMEI_NAMES: Final[dict[str, int]] = {
    **dict.fromkeys(
        [
            "imei",
            "imei1",
            "imeino",
            "imeino1",
            "imei1no",
            "imeinumber",
            "imei番号",
            "imei1番号",
            "imei製造番号",
            "製造番号imei",
            "imeimeid",
            "meidimei",
            "製造番号imeimeid",
            "端末識別番号",
        ],
        0,
    ),
    **dict.fromkeys(["製造番号", "製造番号1", "製造no", "端末製造番号"], 1),
    **dict.fromkeys(["meid", "meidno", "meid番号"], 2),
    **dict.fromkeys(["imei2", "imeino2", "imei2no", "imei2番号", "製造番号2"], 3),
}
_LOOSE_RANK: Final = 4
_LOOSE_PARTS: Final = ("imei", "製造番号")

# Hint columns, best first: which carrier or brand sold the phone.
_HINT_NAMES: Final = (
    "carrier",
    "キャリア",
    "販売キャリア",
    "購入キャリア",
    "キャリア名",
    "通信キャリア",
    "通信会社",
    "brand",
    "ブランド",
    "回線",
    "回線種別",
)

# Excel's ="..." notation, with "" for a quote inside.
_EXCEL_TEXT: Final = re.compile(r'="((?:[^"]|"")*)"', re.DOTALL)
_EXPONENT: Final = re.compile(r"[+-]?\d+(?:\.\d+)?[eE][+-]?\d{1,3}")
_LETTERS: Final = re.compile(r"[a-z]{1,3}")
_ZEROS_FORMAT: Final = re.compile(r"0+")
# Control characters an XLSX file cannot hold (openpyxl refuses them).
_XLSX_ILLEGAL: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


class TableError(AkaromError, ValueError):
    """An input or output file akarom cannot use; the message says where and why.

    ``code`` is short and stable for the CLI to translate: ``not_found``,
    ``unsupported_format``, ``encoding``, ``malformed``, ``empty``,
    ``no_imei_column``, ``ambiguous_column``, ``column_not_found``,
    ``too_many_rows``, ``too_large`` (an .xlsx that would unpack to far more than a
    sheet: a zip bomb), ``write_failed``.
    """

    def __init__(
        self,
        reason: str,
        *,
        path: Path,
        code: str,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        where = str(path)
        if row is not None:
            where += f", row {row}"
        if column is not None:
            where += f", column {column}"
        super().__init__(f"{where}: {reason}")
        self.reason = reason
        self.path = path
        self.code = code
        self.row = row
        self.column = column


@dataclass(frozen=True, slots=True)
class TableFormat:
    """How a file is (or will be) stored: kind, text encoding, delimiter, sheet."""

    kind: Kind
    #: Text encoding of CSV/TSV (``utf-8``, ``utf-8-sig``, ``cp932``, ``utf-16``).
    encoding: str | None = None
    delimiter: str | None = None
    #: The worksheet read from an XLSX file.
    sheet: str | None = None


@dataclass(frozen=True, slots=True)
class InputRow:
    """One data row: its 1-based ``number`` among data rows and its cells as read."""

    number: int
    cells: list[str]
    #: The raw IMEI cell, ``""`` when empty or missing from a short row.
    imei: str = ""
    #: The raw hint cell (carrier or brand), or ``None`` without a hint column.
    hint: str | None = None
    #: The row's number in the file as a spreadsheet shows it (header and title
    #: rows included; a CSV record spanning several lines counts once).
    source_row: int = 0


# --- input ----------------------------------------------------------------------------


class Table:
    """An input file opened by :func:`open_table`; iterate :meth:`rows`, then close."""

    def __init__(
        self,
        path: Path,
        fmt: TableFormat,
        source: _Source,
        *,
        header: list[str],
        header_row: int,
        preamble: list[list[str]],
        imei_index: int,
        hint_index: int | None,
    ) -> None:
        self.path = path
        self.format = fmt
        #: The header's cells; blank names when the file has no header.
        self.header = header
        #: 1-based row of the header in the file; 0 when the file has none.
        self.header_row = header_row
        #: Rows above the header (titles, dates), to be written back unchanged.
        self.preamble = preamble
        self.imei_index = imei_index
        self.hint_index = hint_index
        self._source = source

    @property
    def has_header(self) -> bool:
        return self.header_row > 0

    @property
    def encoding(self) -> str | None:
        return self.format.encoding

    @property
    def delimiter(self) -> str | None:
        return self.format.delimiter

    @property
    def imei_column(self) -> str:
        """The IMEI column's header name, or ``column N`` without one."""
        name = self.header[self.imei_index] if self.imei_index < len(self.header) else ""
        return name or f"column {self.imei_index + 1}"

    def rows(self) -> Iterator[InputRow]:
        """Yield every data row in order; each call reads the file again from the top.

        Raises :class:`TableError` if the file turns out unreadable part-way
        (a bad byte, an unclosed quote).
        """
        number = 0
        blank_run = 0  # blank rows held back until a non-blank row shows they are not trailing
        first_blank = 0
        records = self._source.records()
        try:
            for source_row, cells in enumerate(records, start=1):
                if source_row <= self.header_row:
                    continue
                if not any(cells):
                    if not blank_run:
                        first_blank = source_row
                    blank_run += 1
                    continue
                for offset in range(blank_run):
                    number += 1
                    yield InputRow(number, [], "", self._hint([]), first_blank + offset)
                blank_run = 0
                number += 1
                yield InputRow(number, cells, self._imei(cells), self._hint(cells), source_row)
        finally:
            records.close()

    def _imei(self, cells: list[str]) -> str:
        return cells[self.imei_index] if self.imei_index < len(cells) else ""

    def _hint(self, cells: list[str]) -> str | None:
        if self.hint_index is None:
            return None
        return cells[self.hint_index] if self.hint_index < len(cells) else ""

    def close(self) -> None:
        self._source.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Table {str(self.path)!r} {self.format.kind} imei={self.imei_column!r}>"


def open_table(path: Path, *, column: str | None = None) -> Table:
    """Open a CSV, TSV or XLSX file and find its header, IMEI and hint columns.

    ``column`` names the IMEI column (a header name, else a 1-based number or an
    Excel letter) instead of finding it. Raises :class:`TableError` when the file
    cannot be read or has no single IMEI column. Close the table (or use ``with``).
    """
    path = Path(path)
    kind = _kind_of(path, "input")
    if not path.is_file():
        reason = "is a folder, not a file" if path.is_dir() else "no such file"
        raise TableError(reason, path=path, code="not_found")
    source: _Source
    if kind == "xlsx":
        source = _XlsxSource(path)
        fmt = TableFormat(kind, sheet=source.sheet)
    else:
        encoding = _detect_encoding(path)
        delimiter = "\t" if kind == "tsv" else _sniff_delimiter(path, encoding)
        source = _CsvSource(path, encoding, delimiter)
        fmt = TableFormat(kind, encoding=encoding, delimiter=delimiter)
    try:
        return _make_table(path, fmt, source, column)
    except BaseException:
        source.close()
        raise


def _make_table(path: Path, fmt: TableFormat, source: _Source, column: str | None) -> Table:
    records = source.records()
    try:
        top = list(islice(records, _HEADER_SEARCH_ROWS))
    finally:
        records.close()
    if not any(any(cells) for cells in top):
        raise TableError(
            f"no header row: the file is empty (or its first {_HEADER_SEARCH_ROWS} rows are)",
            path=path,
            code="empty",
        )
    if column is None:
        header_at, imei_index = _find_imei_column(path, top)
    else:
        header_at, imei_index = _find_named_column(path, top, column)
    if header_at is None:
        header = [""] * len(top[0])
        preamble: list[list[str]] = []
        hint_index = None
    else:
        header = top[header_at]
        preamble = top[:header_at]
        hint_index = _find_hint_column(header)
    return Table(
        path,
        fmt,
        source,
        header=header,
        header_row=0 if header_at is None else header_at + 1,
        preamble=preamble,
        imei_index=imei_index,
        hint_index=hint_index,
    )


def _fold(name: str) -> str:
    """Fold a header name for comparison: NFKC, case, spaces and punctuation."""
    return _FOLD_DROP.sub("", unicodedata.normalize("NFKC", name).casefold())


def _imei_rank(name: str) -> int | None:
    folded = _fold(name)
    if folded in _IMEI_NAMES:
        return _IMEI_NAMES[folded]
    if any(part in folded for part in _LOOSE_PARTS):
        return _LOOSE_RANK
    return None


def _describe(header: Sequence[str], indexes: Sequence[int]) -> str:
    return ", ".join(f"{i + 1} ({header[i]!r})" for i in indexes)


def _imei_header_row(top: list[list[str]]) -> tuple[int, int] | None:
    """(row index, rank) of the row that looks most like the header; earliest on ties."""
    best: tuple[int, int] | None = None
    for row_index, cells in enumerate(top):
        ranks = [rank for cell in cells if (rank := _imei_rank(cell)) is not None]
        if ranks and (best is None or min(ranks) < best[1]):
            best = (row_index, min(ranks))
    return best


def _imei_cells(cells: list[str]) -> list[int]:
    return [i for i, cell in enumerate(cells) if cell and identity.is_valid(cell)]


def _find_imei_column(path: Path, top: list[list[str]]) -> tuple[int | None, int]:
    """Return (header row index or None, IMEI column index), or raise."""
    found = _imei_header_row(top)
    if found is not None:
        row_index, rank = found
        header = top[row_index]
        matches = [i for i, cell in enumerate(header) if _imei_rank(cell) == rank]
        if len(matches) > 1:
            raise TableError(
                f"columns {_describe(header, matches)} all look like the IMEI column; "
                "choose one with --column",
                path=path,
                code="ambiguous_column",
                row=row_index + 1,
            )
        return row_index, matches[0]
    first = top[0]
    valid = _imei_cells(first)
    if len(valid) == 1:
        return None, valid[0]  # no header: the first row is already data
    if len(valid) > 1:
        raise TableError(
            f"no header row, and columns {', '.join(str(i + 1) for i in valid)} all hold "
            "IMEIs; choose one with --column (a column number)",
            path=path,
            code="ambiguous_column",
            row=1,
        )
    raise TableError(
        f"no IMEI column found in the header {first!r}; name the column 'IMEI' or "
        "'製造番号', or choose it with --column NAME",
        path=path,
        code="no_imei_column",
        row=1,
    )


def _find_named_column(path: Path, top: list[list[str]], column: str) -> tuple[int | None, int]:
    """Resolve ``--column``: a header name first, then a number or an Excel letter.

    Names are looked for in the IMEI-like header row when there is one (so a data
    cell that happens to equal the name is never taken for the header), in no row
    when the first row already holds an IMEI (no header), else in each of the
    first rows in turn (a header below a title row).
    """
    found = _imei_header_row(top)
    headerless = found is None and bool(_imei_cells(top[0]))
    search = list(range(len(top))) if found is None else [found[0]]
    if headerless:
        search = []
    wanted = _fold(column)
    for row_index in search:
        cells = top[row_index]
        matches = [i for i, cell in enumerate(cells) if wanted and _fold(cell) == wanted]
        if len(matches) > 1:
            raise TableError(
                f"several columns are named {column!r}: {_describe(cells, matches)}; "
                "choose one with --column and its number",
                path=path,
                code="ambiguous_column",
                row=row_index + 1,
            )
        if matches:
            return row_index, matches[0]
    header_at = found[0] if found is not None else 0
    header = top[header_at]
    index = _column_index(column)
    if index is None:
        raise TableError(
            f"no column named {column!r}; the header is {header!r}",
            path=path,
            code="column_not_found",
        )
    if index >= len(header):
        raise TableError(
            f"no column named {column!r}, and as a column number it asks for column "
            f"{index + 1}, but the {'first row' if headerless else 'header'} has "
            f"{len(header)} column(s): {header!r}",
            path=path,
            code="column_not_found",
        )
    return (None if headerless else header_at), index


def _column_index(column: str) -> int | None:
    """0-based index for ``3`` or ``C``, or None when ``column`` is neither."""
    text = unicodedata.normalize("NFKC", column).strip().casefold()
    if text.isascii() and text.isdigit():
        number = int(text)
        return number - 1 if number >= 1 else None
    if _LETTERS.fullmatch(text):
        number = 0
        for letter in text:
            number = number * 26 + ord(letter) - ord("a") + 1
        return number - 1
    return None


def _find_hint_column(header: Sequence[str]) -> int | None:
    folded = [_fold(cell) for cell in header]
    for name in _HINT_NAMES:
        if name in folded:
            return folded.index(name)
    return None


def _kind_of(path: Path, role: str) -> Kind:
    suffix = path.suffix.lower()
    if suffix in _KINDS:
        return _KINDS[suffix]
    reason = f"cannot use {suffix or 'a file without extension'} as {role}; use {_ACCEPTED}"
    if suffix in _HINTS:
        reason += f" ({_HINTS[suffix]})"
    raise TableError(reason, path=path, code="unsupported_format")


def lost_digits(cell: str) -> bool:
    """Tell whether ``cell`` is a number in exponent form, as Excel shows long numbers.

    An IMEI saved that way has lost its last digits before akarom saw the file:
    the column must be formatted as text (文字列) and the IMEIs entered again.

    >>> lost_digits('3.52099E+14'), lost_digits('３．５２０９９Ｅ＋１４')
    (True, True)
    >>> lost_digits('352099001761481'), lost_digits('')
    (False, False)
    """
    return bool(_EXPONENT.fullmatch(unicodedata.normalize("NFKC", cell).strip()))


# --- sources ---------------------------------------------------------------------------


class _Source:
    """Rows of cells from one file; ``records()`` starts from the top each time."""

    def records(self) -> Generator[list[str], None, None]:
        raise NotImplementedError

    def close(self) -> None:
        """Release the file, if one is held open."""


class _CsvSource(_Source):
    def __init__(self, path: Path, encoding: str, delimiter: str) -> None:
        self.path = path
        self.encoding = encoding
        self.delimiter = delimiter

    def records(self) -> Generator[list[str], None, None]:
        row = 0
        try:
            with self.path.open(encoding=self.encoding, newline="") as stream:
                reader = csv.reader(stream, delimiter=self.delimiter, strict=True)
                for row, record in enumerate(reader, start=1):  # noqa: B007 (used below)
                    yield [_unwrap_excel_text(cell) for cell in record]
        except csv.Error as error:
            raise TableError(
                f'cannot read the row near line {reader.line_num} ({error}); a quote (") '
                "is probably not closed. Save the file from Excel again, or fix the quotes",
                path=self.path,
                code="malformed",
                row=row + 1,
            ) from None
        except UnicodeDecodeError as error:
            raise TableError(
                f"bytes that are not valid {self.encoding} ({error.reason}) at or soon after "
                "this row; the file mixes encodings. Save it from Excel as 「CSV UTF-8」",
                path=self.path,
                code="encoding",
                row=row + 1,
            ) from None
        except OSError as error:
            raise TableError(
                f"cannot read the file: {error.strerror or error}",
                path=self.path,
                code="not_found",
            ) from None


def _unwrap_excel_text(cell: str) -> str:
    if cell.startswith('="') and (match := _EXCEL_TEXT.fullmatch(cell)):
        return match.group(1).replace('""', '"')
    return cell


def _detect_encoding(path: Path) -> str:
    """Return ``utf-8-sig``, ``utf-16``, ``utf-8`` or ``cp932`` for a text file, or raise."""
    try:
        with path.open("rb") as stream:
            start = stream.read(4)
            if start.startswith(codecs.BOM_UTF8):
                return "utf-8-sig"
            if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                return "utf-16"
            for encoding in ("utf-8", "cp932"):
                stream.seek(0)
                if _decodes(stream, encoding):
                    return encoding
    except OSError as error:
        raise TableError(
            f"cannot read the file: {error.strerror or error}", path=path, code="not_found"
        ) from None
    raise TableError(
        "the text is neither UTF-8 nor Shift_JIS (cp932); save it from Excel as 「CSV UTF-8」",
        path=path,
        code="encoding",
    )


def _decodes(stream: Any, encoding: str) -> bool:
    """Decode from the stream's position until 1 MiB past the first non-ASCII byte."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    past_non_ascii: int | None = None
    try:
        while chunk := stream.read(_CHUNK):
            decoder.decode(chunk)
            if past_non_ascii is None and not chunk.isascii():
                past_non_ascii = 0
            if past_non_ascii is not None:
                past_non_ascii += len(chunk)
                if past_non_ascii >= _SNIFF_PAST_NON_ASCII:
                    return True  # a partial character at the cut is still pending: fine
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _sniff_delimiter(path: Path, encoding: str) -> str:
    """Comma, unless the first line has none but has tabs or semicolons."""
    with path.open(encoding=encoding, newline="", errors="replace") as stream:
        line = stream.readline(_CHUNK)
    if "," not in line:
        if "\t" in line:
            return "\t"
        if ";" in line:
            return ";"
    return ","


def _import(module: str) -> Any:
    """Import (a part of) openpyxl on first use.

    Late, so CSV runs never pay openpyxl's import time; and through importlib, so
    the untyped library (no stubs, no py.typed) is plainly ``Any`` here instead of
    needing ``type: ignore`` comments or a mypy override.
    """
    return importlib.import_module(module)


#: What an .xlsx (a zip archive) may unpack to, checked from its directory before
#: anything is unpacked: a few kilobytes of zip can declare gigabytes of XML.
XLSX_MAX_UNPACKED = 512 * 1024 * 1024
#: The most a member may be compressed (XML of a real sheet packs ~10-30:1).
XLSX_MAX_RATIO = 200
#: The most members (a workbook has a handful per sheet).
XLSX_MAX_MEMBERS = 10_000


def check_xlsx_archive(path: Path) -> None:
    """Refuse a workbook whose zip would unpack to more than is plausible (a zip bomb).

    Read from the archive's directory only. Sizes in the directory can lie; zipfile
    stops reading a member at its declared size, so a member that lies cannot unpack
    to more than what was checked here.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise TableError(
            f"not a readable .xlsx workbook ({error})", path=path, code="malformed"
        ) from None
    if len(members) > XLSX_MAX_MEMBERS:
        raise TableError(
            f"the workbook has {len(members)} parts (at most {XLSX_MAX_MEMBERS})",
            path=path,
            code="too_large",
        )
    unpacked = sum(member.file_size for member in members)
    if unpacked > XLSX_MAX_UNPACKED:
        raise TableError(
            f"the workbook would unpack to {unpacked} bytes (at most {XLSX_MAX_UNPACKED})",
            path=path,
            code="too_large",
        )
    for member in members:
        ratio = member.file_size // max(member.compress_size, 1)
        if member.file_size > 1024 * 1024 and ratio > XLSX_MAX_RATIO:
            raise TableError(
                f"{member.filename} is compressed {ratio}:1 (at most {XLSX_MAX_RATIO}:1):"
                " not a spreadsheet a person saved",
                path=path,
                code="too_large",
            )


class _XlsxSource(_Source):
    def __init__(self, path: Path) -> None:
        self.path = path
        check_xlsx_archive(path)
        openpyxl = _import("openpyxl")
        invalid_file = _import("openpyxl.utils.exceptions").InvalidFileException
        try:
            with warnings.catch_warnings():
                # openpyxl warns about parts it drops on reading (data-validation
                # extensions, unknown styles); they hold no values and would only
                # clutter the CLI's output.
                warnings.simplefilter("ignore", UserWarning)
                self._workbook: Any = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except (invalid_file, zipfile.BadZipFile, KeyError, ValueError) as error:
            raise TableError(
                f"not a readable .xlsx workbook ({error})", path=path, code="malformed"
            ) from None
        except OSError as error:
            raise TableError(
                f"cannot read the file: {error.strerror or error}", path=path, code="not_found"
            ) from None
        sheet = self._workbook.active
        if sheet is None or not hasattr(sheet, "iter_rows"):
            sheets = self._workbook.worksheets
            if not sheets:
                self.close()
                raise TableError("the workbook has no worksheet", path=path, code="empty")
            sheet = sheets[0]
        # The stored size (<dimension>) is sometimes wrong; openpyxl would cut to it.
        sheet.reset_dimensions()
        self._sheet: Any = sheet
        self.sheet: str = str(sheet.title)

    def records(self) -> Generator[list[str], None, None]:
        for row in self._sheet.iter_rows():
            yield [_cell_text(cell.value, cell.number_format) for cell in row]

    def close(self) -> None:
        self._workbook.close()


def _cell_text(value: object, number_format: object) -> str:
    """Render an XLSX cell value as a person sees it (see the module docstring)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return _number_text(value, number_format)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time():
            return value.strftime("%Y/%m/%d")
        return value.strftime("%Y/%m/%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.strftime("%Y/%m/%d")
    if isinstance(value, dt.time):
        return value.strftime("%H:%M:%S")
    if isinstance(value, dt.timedelta):
        minutes, seconds = divmod(round(value.total_seconds()), 60)
        hours, minutes = divmod(minutes, 60)
        return f"{hours}:{minutes:02}:{seconds:02}"
    return str(value)


def _number_text(value: float, number_format: object) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if abs(value) >= 10**15:
        # More digits than Excel keeps: show only what is certain, in a form that
        # identity.parse rejects, rather than a device number that may be another's.
        return format(float(value), ".15G")
    if isinstance(value, int) or value.is_integer():
        text = str(int(value))
        if isinstance(number_format, str) and _ZEROS_FORMAT.fullmatch(number_format):
            text = text.zfill(len(number_format))
        return text
    return format(Decimal(f"{value:.15g}"), "f")


# --- output ----------------------------------------------------------------------------


class Writer:
    """The report being written by :func:`open_output`; :meth:`close` publishes it."""

    def __init__(
        self,
        path: Path,
        fmt: TableFormat,
        header: Sequence[str],
        preamble: Sequence[Sequence[str]],
        extra_columns: Sequence[str] = (),
    ) -> None:
        self.path = path
        self.format = fmt
        self.width = len(header)
        #: Every column akarom adds: result_columns(), then the caller's extra ones.
        self.added_columns: tuple[str, ...] = (*result_columns(), *extra_columns)
        #: Data rows written so far.
        self.rows_written = 0
        self._temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
        self._backend: _Backend
        try:
            fd = os.open(self._temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except OSError as error:
            raise TableError(
                f"cannot write in {path.parent}: {error.strerror or error}",
                path=path,
                code="write_failed",
            ) from None
        try:
            if fmt.kind == "xlsx":
                os.close(fd)
                self._backend = _XlsxBackend(self._temporary, frozen_rows=len(preamble) + 1)
            else:
                self._backend = _CsvBackend(fd, fmt)
            for cells in preamble:
                self._backend.write(list(cells))
            self._backend.write([*header, *self.added_columns])
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                self._temporary.unlink()
            raise
        self._rows_limit = XLSX_MAX_ROWS - len(preamble) - 1 if fmt.kind == "xlsx" else None
        self._open = True

    def write_row(
        self, cells: Sequence[str], result: Mapping[str, str | None] | None = None
    ) -> None:
        """Write one row: its original cells, then ``result`` keyed by the added columns.

        Missing result keys are left empty; unknown keys raise ``ValueError``.
        """
        result = result or {}
        if not self._open:
            raise ValueError(f"{self.path}: the writer is closed")
        unknown = set(result) - set(self.added_columns)
        if unknown:
            raise ValueError(f"unknown result columns: {sorted(unknown)}")
        if self._rows_limit is not None and self.rows_written >= self._rows_limit:
            raise TableError(
                f"an .xlsx sheet holds at most {XLSX_MAX_ROWS:,} rows; write the report "
                "as .csv instead",
                path=self.path,
                code="too_many_rows",
                row=self.rows_written + 1,
            )
        original = list(cells[: self.width])
        original += [""] * (self.width - len(original))
        surplus = list(cells[self.width :])
        while surplus and not surplus[-1]:
            surplus.pop()
        added = [result.get(name) or "" for name in self.added_columns]
        self._backend.write([*original, *added, *surplus])
        self.rows_written += 1

    def close(self) -> None:
        """Finish the file and rename it to OUTPUT; a second call does nothing."""
        if not self._open:
            return
        self._open = False
        try:
            self._backend.finish()
        except BaseException as error:
            self._discard()
            if isinstance(error, OSError):
                raise TableError(
                    f"cannot write the report: {error.strerror or error}",
                    path=self.path,
                    code="write_failed",
                ) from None
            raise
        try:
            os.replace(self._temporary, self.path)
        except OSError as error:
            # Keep the finished report: hours of carrier checks may be in it.
            raise TableError(
                f"cannot replace it ({error.strerror or error}); the finished report is in "
                f"{self._temporary}. Is {self.path.name} open in another program?",
                path=self.path,
                code="write_failed",
            ) from None
        _sync_folder(self.path.parent)

    def abort(self) -> None:
        """Throw away what was written; OUTPUT is left as it was."""
        if not self._open:
            return
        self._open = False
        self._discard()

    def _discard(self) -> None:
        self._backend.discard()
        with contextlib.suppress(FileNotFoundError):
            self._temporary.unlink()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __repr__(self) -> str:
        state = "open" if self._open else "closed"
        return f"<Writer {str(self.path)!r} {self.format.kind} {state} rows={self.rows_written}>"


def open_output(
    path: Path,
    header: Sequence[str],
    *,
    input_format: TableFormat | None = None,
    preamble: Sequence[Sequence[str]] = (),
    encoding: str | None = None,
    extra_columns: Sequence[str] = (),
) -> Writer:
    """Start writing the report to ``path`` (.csv, .tsv or .xlsx, by its extension).

    ``header`` is the input's header; ``result_columns()`` follow it, then
    ``extra_columns`` (the advice columns of ``bulk --for``). Give the
    input's ``input_format`` so cp932 input gets cp932 CSV output (otherwise UTF-8
    with BOM; ``encoding`` overrides), and its ``preamble`` to keep title rows.
    Nothing appears at ``path`` until :meth:`Writer.close`. Raises
    :class:`TableError` for an unsupported extension or an unwritable folder.
    """
    path = Path(path)
    kind = _kind_of(path, "output")
    if path.is_dir():
        raise TableError("is a folder, not a file", path=path, code="write_failed")
    if not path.parent.is_dir():
        raise TableError(f"the folder {path.parent} does not exist", path=path, code="write_failed")
    if kind == "xlsx":
        fmt = TableFormat(kind, sheet="akarom")
    else:
        if encoding is None:
            mirror = input_format is not None and input_format.encoding == "cp932"
            encoding = "cp932" if mirror else "utf-8-sig"
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ValueError(f"unknown encoding {encoding!r}") from None
        fmt = TableFormat(kind, encoding=encoding, delimiter="\t" if kind == "tsv" else ",")
    return Writer(path, fmt, header, preamble, extra_columns)


def _sync_folder(folder: Path) -> None:
    """Make the rename durable; folders cannot be opened on Windows, so best effort."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class _Backend:
    def write(self, values: list[str]) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        """Write everything out and make it durable."""
        raise NotImplementedError

    def discard(self) -> None:
        """Release resources; the temporary file is removed by the writer."""


class _CsvBackend(_Backend):
    def __init__(self, fd: int, fmt: TableFormat) -> None:
        assert fmt.encoding is not None
        assert fmt.delimiter is not None
        # "replace": only characters the chosen encoding lacks (in akarom's own
        # messages, for cp932) can fail, and a "?" there beats losing the report.
        self._stream = os.fdopen(fd, "w", encoding=fmt.encoding, errors="replace", newline="")
        self._writer = csv.writer(self._stream, delimiter=fmt.delimiter, lineterminator="\r\n")

    def write(self, values: list[str]) -> None:
        self._writer.writerow(values)

    def finish(self) -> None:
        self._stream.flush()
        os.fsync(self._stream.fileno())
        self._stream.close()

    def discard(self) -> None:
        self._stream.close()


class _XlsxBackend(_Backend):
    def __init__(self, temporary: Path, *, frozen_rows: int) -> None:
        self._temporary = temporary
        self._cell_type = _import("openpyxl.cell").WriteOnlyCell
        # write_only streams rows to a temporary file with inline strings, so
        # memory stays flat; the workbook is assembled by save().
        self._workbook: Any = _import("openpyxl").Workbook(write_only=True)
        self._sheet: Any = self._workbook.create_sheet("akarom")
        self._sheet.freeze_panes = f"A{frozen_rows + 1}"

    def write(self, values: list[str]) -> None:
        self._sheet.append([self._cell(value) for value in values])

    def _cell(self, value: str) -> object:
        if not value:
            return None
        value = _XLSX_ILLEGAL.sub("\ufffd", value)[:_CELL_TEXT_LIMIT]
        if value.startswith("="):
            # openpyxl would store it as a formula; it is text the file held.
            cell = self._cell_type(self._sheet, value)
            cell.data_type = "s"
            return cell
        return value

    def finish(self) -> None:
        self._workbook.save(self._temporary)
        with self._temporary.open("rb+") as stream:
            os.fsync(stream.fileno())

    def discard(self) -> None:
        # openpyxl streams the rows into a temporary file of its own (in the system
        # temp folder), removed on save. Without a save: end its row generator and
        # close that file (else both are left to the garbage collector), then remove
        # it. `_writer` is openpyxl's (3.1); should it change, openpyxl still removes
        # the file at exit.
        with contextlib.suppress(AttributeError, OSError, ValueError):
            self._sheet.close()
            self._sheet._writer.cleanup()
