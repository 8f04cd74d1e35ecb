"""Reading a table staff upload as Excel (the 代表名册 and 联络站 imports): the file's guards, the
header row found by name, the non-empty rows below it — one reader, so that every import refuses
the same bad files with the same words.

A header cell names its column however staff wrote it ("＊姓名", "姓名（必填）", "手 机 号"); the
header may sit below a title row or two; only the table's own columns decide whether a row is
empty (a pre-filled 序号 alone is not a row).
"""
from __future__ import annotations

import io
import logging
import re
import unicodedata
import warnings
import zipfile
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from openpyxl import load_workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException

from backend.errors import InvalidInput

log = logging.getLogger(__name__)

# What openpyxl raises on a damaged or foreign file (found by feeding it corrupted workbooks):
# the zip layer, the XML parser (ParseError is a SyntaxError), and its readers' own checks.
UNREADABLE = (zipfile.BadZipFile, zlib.error, InvalidFileException, SyntaxError, KeyError, IndexError,
              ValueError, TypeError, NotImplementedError, EOFError, OSError)
# The old binary format, and also what Excel writes for a password-protected workbook.
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


@dataclass(frozen=True)
class TableSpec:
    """What one import expects of its upload."""

    sheet: str  # the template's sheet; another workbook's first sheet is read instead
    key_header: str  # a row holding this column's name is the header row
    headers: Mapping[str, str]  # every accepted header text → its column's name
    required: Sequence[str]  # the columns' names that must be there
    noun: str  # what a row is (代表, 联络站), for the messages
    max_rows: int
    # What the upload and its unpacked parts may weigh: an .xlsx is a zip, so a small upload
    # could otherwise unpack into gigabytes.
    max_file_bytes: int
    max_unpacked_bytes: int
    header_search_rows: int = 10


def refuse_file(message: str) -> InvalidInput:
    return InvalidInput({"file": message}, message=message)


def read_table(data: bytes, spec: TableSpec) -> tuple[dict[str, int], list[tuple[int, tuple]]]:
    """The header (column name → index) and the non-empty rows below it, each with its row number.

    :raise 400 invalid_input: not a readable .xlsx, too large, header columns missing or
        repeated, no data, or more than `spec.max_rows` rows.
    """
    if len(data) > spec.max_file_bytes:
        raise refuse_file(f"文件超过{spec.max_file_bytes // 1024 // 1024}MB，请检查是否选错了文件")
    if data[:8] == _OLE_MAGIC:
        raise refuse_file("不支持 .xls 格式或加密的 Excel 文件，请在 Excel 中另存为 .xlsx 格式（不设密码）后再上传")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if sum(info.file_size for info in archive.infolist()) > spec.max_unpacked_bytes:
                raise refuse_file("文件内容过大，请删除多余的工作表、图片或空白格式后再上传")
        with warnings.catch_warnings():
            # openpyxl warns about features it skips (data validation extensions, slicers …).
            warnings.simplefilter("ignore")
            workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
            try:
                # Worksheets only: a chart sheet has no cells.
                sheets = workbook.worksheets
                sheet = next((s for s in sheets if s.title == spec.sheet), None) or sheets[0]
                header, rows = _scan(sheet.iter_rows(values_only=True), spec)
            finally:
                workbook.close()
    except UNREADABLE as exc:
        log.info("%s upload unreadable: %s: %s", spec.sheet, type(exc).__name__, exc)
        raise refuse_file("无法读取该文件，请上传 Excel 2007 及以上版本的 .xlsx 文件（可先下载导入模板填写）") from None
    if not rows:
        raise refuse_file(f"表格中没有{spec.noun}数据，请在「{spec.sheet}」工作表的表头下方逐行填写")
    return header, rows


def _scan(rows: Iterable[tuple], spec: TableSpec) -> tuple[dict[str, int], list[tuple[int, tuple]]]:
    header: dict[str, int] | None = None
    found: list[tuple[int, tuple]] = []
    for number, values in enumerate(rows, start=1):
        if header is None:
            if number > spec.header_search_rows:
                break
            names = [header_name(v, spec.headers) for v in values]
            if spec.key_header in names:
                header = _header(names, spec)
            continue
        # Only the table's own columns count: a row holding just a pre-filled 序号 is empty.
        if all(cell_text(values[i]) == "" for i in header.values() if i < len(values)):
            continue
        if len(found) == spec.max_rows:
            raise refuse_file(f"数据超过{spec.max_rows}行，超过单次导入上限，请分批导入")
        found.append((number, values))
    if header is None:
        raise refuse_file(f"未找到表头（应在前{spec.header_search_rows}行内），缺少必填列：{'、'.join(spec.required)}")
    return header, found


def header_name(value, headers: Mapping[str, str]) -> str | None:
    """The column a header cell names, or its text as written when it names none."""
    if not isinstance(value, str):
        return None
    text = re.sub(r"\s+|\*|\((必填|选填)\)", "", unicodedata.normalize("NFKC", value))
    return headers.get(text, text)


def _header(names: Sequence[str | None], spec: TableSpec) -> dict[str, int]:
    """:raise 400 invalid_input: a required column missing, or a column given twice."""
    header: dict[str, int] = {}
    known = set(spec.headers.values())
    for index, name in enumerate(names):
        if name in known:
            if name in header:
                raise refuse_file(f"表头中「{name}」列出现了不止一次，请删除多余的列")
            header[name] = index
    missing = [h for h in spec.required if h not in header]
    if missing:
        raise refuse_file(f"缺少必填列：{'、'.join(missing)}（请使用导入模板的表头）")
    return header


def cell_text(value) -> str:
    """A cell as text: numbers as Excel shows them (13800001234, not 13800001234.0)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime | date):
        value = value.strftime("%Y-%m-%d")
    return str(value).strip()


def write_header(sheet, columns) -> None:
    """A template's header row: each column's name, required ones shaded, widths set.
    `columns` have `header`, `required` and `width`."""
    sheet.append([c.header for c in columns])
    required_fill = PatternFill("solid", fgColor="FFEB9C")
    for index, column in enumerate(columns, start=1):
        cell = sheet.cell(row=1, column=index)
        cell.font = Font(bold=True)
        if column.required:
            cell.fill = required_fill
        sheet.column_dimensions[get_column_letter(index)].width = column.width
