"""A metric result as a file: CSV (UTF-8 with a byte-order mark, so Excel reads Chinese) or XLSX."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from services.insights.domain.catalogue import MONEY, Column

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_TYPE = "text/csv; charset=utf-8"


def _title(column: Column, locale: str) -> str:
    return column.title_zh if locale == "zh-CN" else column.title


def to_csv(columns: Sequence[Column], rows: Sequence[Sequence[Any]], locale: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([_title(c, locale) for c in columns])
    writer.writerows(rows)
    return "\ufeff".encode() + out.getvalue().encode("utf-8")


def to_xlsx(columns: Sequence[Column], rows: Sequence[Sequence[Any]], locale: str, sheet: str) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    ws = book.create_sheet(sheet[:31])
    ws.append([_title(c, locale) for c in columns])
    for row in rows:
        ws.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def money_columns(columns: Sequence[Column]) -> list[int]:
    return [i for i, c in enumerate(columns) if c.type == MONEY]
