"""Streaming readers for legacy exports: CSV (UTF-8 with or without a BOM, GB18030) and XLSX.

Each reader yields ``(row_number, {header: cell text})`` where ``row_number`` is the row as a
spreadsheet shows it (the header is row 1), so an error report points at the row a person sees.
Memory stays constant: CSV is read line by line, XLSX through openpyxl's read-only mode (it
parses the sheet XML as it goes).
"""

from __future__ import annotations

import codecs
import csv
import os
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

# Files are read in this encoding when none is given and the first bytes are not valid UTF-8.
FALLBACK_ENCODING = "gb18030"
_SNIFF_BYTES = 64 * 1024


class ReadError(Exception):
    """The file cannot be read at all (not a row problem): unknown format, bad encoding, no header."""


def detect_encoding(path: Path) -> str:
    """'utf-8-sig' when the file starts with a BOM or its first 64 KiB decode as UTF-8, else
    GB18030 (what Chinese Windows software exports). Pass ``--encoding`` to override."""
    with path.open("rb") as f:
        head = f.read(_SNIFF_BYTES)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut by the 64 KiB boundary
            return FALLBACK_ENCODING
    return "utf-8-sig"


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _rows_from(
    header: list[str], rows: Iterator[tuple[int, list[str]]]
) -> Iterator[tuple[int, dict[str, str]]]:
    for number, cells in rows:
        if not any(c.strip() for c in cells):
            continue  # blank line
        yield number, {h: (cells[i].strip() if i < len(cells) else "") for i, h in enumerate(header) if h}


def read_csv(
    path: Path, encoding: str | None = None
) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    encoding = encoding or detect_encoding(path)
    try:
        codecs.lookup(encoding)
    except LookupError as exc:
        raise ReadError(f"unknown encoding {encoding!r}") from exc
    f = path.open(newline="", encoding=encoding, errors="strict")
    reader = csv.reader(f)
    try:
        header = [h.strip().lstrip("\ufeff") for h in next(reader)]
    except StopIteration as exc:
        f.close()
        raise ReadError("the file is empty (no header row)") from exc
    except UnicodeDecodeError as exc:
        f.close()
        raise ReadError(f"the file is not {encoding}; pass --encoding") from exc

    def body() -> Iterator[tuple[int, list[str]]]:
        # Numbered by record, not by physical line (a quoted cell may hold a newline): header = 1.
        number = 1
        try:
            for cells in reader:
                number += 1
                yield number, cells
        except UnicodeDecodeError as exc:
            raise ReadError(f"the file is not {encoding} after row {number}; pass --encoding") from exc
        finally:
            f.close()

    return header, _rows_from(header, body())


def read_xlsx(path: Path, sheet: str | None = None) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    from openpyxl import load_workbook  # read-only mode streams the sheet

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zipfile.BadZipFile, KeyError, InvalidFileException ...
        raise ReadError(f"not a readable .xlsx file: {exc.__class__.__name__}") from exc
    ws = wb[sheet] if sheet else wb.worksheets[0]
    rows = ws.iter_rows(values_only=True)
    try:
        header = [_cell_text(h) for h in next(rows)]
    except StopIteration as exc:
        wb.close()
        raise ReadError("the sheet is empty (no header row)") from exc

    def body() -> Iterator[tuple[int, list[str]]]:
        try:
            for number, cells in enumerate(rows, start=2):
                yield number, [_cell_text(c) for c in cells]
        finally:
            wb.close()

    return header, _rows_from(header, body())


def open_rows(
    path: Path, *, encoding: str | None = None
) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """The header and a row iterator for a .csv / .txt or .xlsx file."""
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return read_xlsx(path)
    if suffix in (".csv", ".txt", ".tsv") or suffix == "":
        return read_csv(path, encoding)
    raise ReadError(f"unsupported file type {suffix!r} (CSV or XLSX)")


def count_rows(path: Path, *, encoding: str | None = None) -> int:
    """Data rows in the file (for the progress bar's total), read once more as a stream. For CSV
    it counts records, so quoted newlines are not miscounted."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        wb = load_workbook(path, read_only=True)
        try:
            return max(0, (wb.worksheets[0].max_row or 1) - 1)
        finally:
            wb.close()
    _, rows = read_csv(path, encoding)
    return sum(1 for _ in rows)


def file_size(path: Path) -> int:
    return os.stat(path).st_size
