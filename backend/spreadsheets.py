"""Excel files the console hands out (exports of reception records, attendance, duty records,
statistics): sheets of typed columns written in openpyxl's streaming mode.

Every text cell is written so that no spreadsheet program evaluates it, whatever a resident or
a member of staff typed (a topic starting with "=" stays text), and without the control
characters XML cannot hold. Times are Beijing wall-clock times (Excel has no zones); rates are
numbers shown as percentages, so they can be summed and charted.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from backend import clock

Kind = Literal["text", "number", "percent", "date", "datetime", "long_text"]
_FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
_FORMATS = {"percent": "0.0%", "date": "yyyy-mm-dd", "datetime": "yyyy-mm-dd hh:mm"}


@dataclass(frozen=True)
class Column:
    title: str
    width: int = 12
    kind: Kind = "text"


@dataclass
class Sheet:
    title: str  # at most 31 characters, Excel's limit
    columns: list[Column]
    rows: list[list] = field(default_factory=list)
    # Lines above the header: what the sheet covers (period, scope), as on the page.
    caption: list[str] = field(default_factory=list)


def workbook(sheets: list[Sheet]) -> bytes:
    book = Workbook(write_only=True)
    bold = Font(bold=True)
    for spec in sheets:
        sheet = book.create_sheet(spec.title[:31])
        for index, column in enumerate(spec.columns, start=1):
            sheet.column_dimensions[get_column_letter(index)].width = column.width
        for line in spec.caption:
            sheet.append([_cell(sheet, line, "text")])
        header = []
        for column in spec.columns:
            cell = WriteOnlyCell(sheet, value=column.title)
            cell.font = bold
            header.append(cell)
        sheet.append(header)
        for row in spec.rows:
            sheet.append([_cell(sheet, value, column.kind) for value, column in zip(row, spec.columns, strict=True)])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _cell(sheet, value, kind: Kind):
    if value is None:
        return None
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
        cell = WriteOnlyCell(sheet, value=value)
        if value.startswith(_FORMULA_LEADS):
            # Stored as a string and quote-prefixed: Excel keeps it text even when edited.
            cell.data_type = "s"
            cell.quotePrefix = True
        if kind == "long_text":
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        return cell
    if isinstance(value, datetime):
        value = value.astimezone(clock.BEIJING).replace(tzinfo=None)
    cell = WriteOnlyCell(sheet, value=value)
    if kind in _FORMATS:
        cell.number_format = _FORMATS[kind]
    elif isinstance(value, date):
        cell.number_format = _FORMATS["date"]
    return cell
