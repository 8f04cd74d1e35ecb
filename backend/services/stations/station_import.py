"""联络站导入: a region admin uploads an Excel list of stations and they are created in one go.

All or nothing, as the 代表名册 import (`deputies/deputy_import`): every row is checked, and a
single refused row means no station is written; the report names every refused row, with its
spreadsheet row number and each reason in Chinese.

Each row is checked by `station_admin.create_station` itself — the rules of the station form
(who may, regions within the admin's reach, names unique within a region, coordinates, hours,
a center station as parent) hold for imported stations word for word. Rows are created in a
savepoint each, inside one savepoint for the whole file that is rolled back when any row is
refused, so a later row can name an earlier row's center station as its parent, and two rows
with one name in one region are caught.
"""
from __future__ import annotations

import io
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, time

from openpyxl import Workbook
from openpyxl.cell.cell import ERROR_CODES
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from backend import excel_import
from backend.auth import Caller
from backend.errors import ApiError, Forbidden
from backend.excel_import import cell_text
from backend.permissions import station_scope_clause
from backend.services.stations import station_admin
from models import Role, Station, StationKind, db

log = logging.getLogger(__name__)

# A province has a few thousand stations; one upload is a county's or a city's.
MAX_ROWS = 2_000
MAX_FILE_BYTES = 5 * 1024 * 1024
# An .xlsx is a zip: a small upload must not unpack into gigabytes.
MAX_UNPACKED_BYTES = 100 * 1024 * 1024
HEADER_SEARCH_ROWS = 10

SHEET = "联络站"
NOTES_SHEET = "填写说明"
TEMPLATE_FILENAME = "联络站导入模板.xlsx"


@dataclass(frozen=True)
class Column:
    header: str
    field: str  # create_station's argument
    required: bool
    width: int
    note: str
    example: object
    aliases: tuple[str, ...] = ()


COLUMNS: tuple[Column, ...] = (
    Column("联络站名称", "name", True, 28, "2至100个字；同一行政区划内不能重名。", "某某社区人大代表联络站",
           ("名称", "联络站")),
    Column("行政区划代码", "region_code", True, 16,
           "所在乡镇（街道）或社区的12位统计用区划代码，须在您的管辖范围内。", "330523001001",
           ("区划代码", "行政区划")),
    Column("类型", "kind", True, 12, "中心联络站、社区联络站 或 其他（园区、企业等）。", "社区联络站",
           ("联络站类型",)),
    Column("地址", "address", True, 36, "详细地址，2至200个字。", "某某街道某某路1号社区党群服务中心二楼",
           ("详细地址",)),
    Column("纬度", "lat", True, 12, "GCJ-02 坐标（腾讯地图、高德地图上取点所得），如 30.636976。", 30.636976),
    Column("经度", "lng", True, 12, "GCJ-02 坐标，如 119.680210。", 119.68021),
    Column("开放时间", "opens_at", True, 10, "每天开始接待的时间，如 08:30。", "08:30", ("开始时间",)),
    Column("结束时间", "closes_at", True, 10, "每天结束接待的时间，如 17:30，须晚于开放时间。", "17:30",
           ("关闭时间",)),
    Column("联系电话", "phone", False, 16, "可不填，如 0572-5123456。", "0572-5123456", ("电话",)),
    Column("上级联络站", "parent_station_id", False, 28,
           "可不填；社区联络站所属的中心联络站名称或编码，可以是本表中排在前面的中心联络站。",
           "某某街道人大代表联络站", ("所属中心联络站",)),
    Column("简介", "intro", False, 40, "可不填，最多2000字。", "社区代表之家，逢接待日有代表值班。", ("联络站简介",)),
)
_BY_FIELD = {c.field: c for c in COLUMNS}
_HEADER_OF = {name: c.header for c in COLUMNS for name in (c.header, *c.aliases)}
REQUIRED_HEADERS = tuple(c.header for c in COLUMNS if c.required)
_KIND_WORDS = {
    "中心": StationKind.center, "中心联络站": StationKind.center, "center": StationKind.center,
    "社区": StationKind.community, "社区联络站": StationKind.community, "community": StationKind.community,
    "其他": StationKind.other, "其他（园区、企业等）": StationKind.other, "其他(园区、企业等)": StationKind.other,
    "other": StationKind.other,
}
_TIME = re.compile(r"([01]?\d|2[0-3])[:：]([0-5]\d)")

GENERAL_NOTES = (
    "1. 请在「联络站」工作表中填写，每个联络站占一行；表头请勿修改，列的顺序可以调整。",
    "2. 导入后每个联络站自动生成二维码编号，按所在行政区划的接待日规则接待，可在工作台中逐站修改。",
    "3. 社区联络站的上级联络站须为中心联络站：可以填已有的，也可以填本表中排在它前面的一行。",
    f"4. 所有行都通过检查才会导入；任何一行有误，整个文件都不会导入，请按提示修改后重新上传。每次最多{MAX_ROWS}行。",
)


@dataclass(frozen=True)
class RefusedRow:
    row: int  # the spreadsheet's own row number
    name: str
    reasons: list[str]


@dataclass
class ImportReport:
    """What an import did; when `ok` is false nothing was written."""

    ok: bool
    rows: int
    refused: list[RefusedRow] = field(default_factory=list)
    created: list[Station] = field(default_factory=list)


# --- the template -------------------------------------------------------------------------------

def template_workbook() -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = SHEET
    excel_import.write_header(sheet, COLUMNS)
    sheet.freeze_panes = "A2"
    for index, column in enumerate(COLUMNS, start=1):
        letter = get_column_letter(index)
        if column.field in ("region_code", "phone", "opens_at", "closes_at"):
            # As text: Excel would write a 12-digit code as 3.30523E+11 and a time as a fraction.
            sheet.column_dimensions[letter].number_format = "@"
    kinds = ",".join(station_admin.KIND_LABELS[k] for k in StationKind)
    letter = get_column_letter(_position("kind"))
    validation = DataValidation(type="list", formula1=f'"{kinds}"', allow_blank=True, showErrorMessage=True,
                                errorTitle="取值有误", error="请从下拉列表中选择联络站类型")
    validation.add(f"{letter}2:{letter}{MAX_ROWS + 1}")
    sheet.add_data_validation(validation)

    notes = workbook.create_sheet(NOTES_SHEET)
    notes.append(["列名", "是否必填", "填写要求", "示例"])
    for cell in notes[1]:
        cell.font = Font(bold=True)
    for column in COLUMNS:
        notes.append([column.header, "必填" if column.required else "选填", column.note, column.example])
    notes.append([])
    for line in GENERAL_NOTES:
        notes.append([line])
    for letter, width in zip("ABCD", (14, 10, 70, 30), strict=True):
        notes.column_dimensions[letter].width = width
    for row in notes.iter_rows(min_row=2, max_col=3):
        row[-1].alignment = Alignment(wrap_text=True, vertical="top")
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _position(field_name: str) -> int:
    return next(i for i, c in enumerate(COLUMNS, start=1) if c.field == field_name)


# --- one row --------------------------------------------------------------------------------------

def _kind(value) -> StationKind | str:
    text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", cell_text(value)))
    return _KIND_WORDS.get(text, _KIND_WORDS.get(unicodedata.normalize("NFKC", text), text))


def _time_of_day(value) -> time | str:
    """A cell formatted as time comes as a time (or a datetime); text as "8:30" or "08：30"."""
    if isinstance(value, datetime):
        return value.time()
    if isinstance(value, time):
        return value
    text = cell_text(value)
    match = _TIME.fullmatch(text)
    return f"{int(match[1]):02d}:{match[2]}" if match else text


def _arguments(values: tuple, header: dict[str, int], reasons: list[str]) -> dict:
    """create_station's arguments from a row's cells, as near to the form's as a cell allows."""
    def cell(column: Column):
        index = header.get(column.header)
        return values[index] if index is not None and index < len(values) else None

    arguments: dict = {}
    for column in COLUMNS:
        value = cell(column)
        if isinstance(value, str) and value.strip() in ERROR_CODES:
            reasons.append(f"{column.header}：单元格是公式错误值（{value.strip()}），请改为实际内容")
            continue
        if column.field == "kind":
            arguments["kind"] = _kind(value) if cell_text(value) else None
        elif column.field in ("opens_at", "closes_at"):
            arguments[column.field] = _time_of_day(value) if cell_text(value) else None
        elif column.field in ("lat", "lng"):
            arguments[column.field] = value if not isinstance(value, str) or value.strip() else None
        elif column.field != "parent_station_id":
            arguments[column.field] = cell_text(value) or None
    return arguments


def _parent_key(values: tuple, header: dict[str, int]) -> str | None:
    index = header.get(_BY_FIELD["parent_station_id"].header)
    return (cell_text(values[index]) or None) if index is not None and index < len(values) else None


def _reasons_of(error: ApiError) -> list[str]:
    fields = (getattr(error, "details", None) or {}).get("fields") or {}
    if not fields:
        return [error.message]
    return [f"{_BY_FIELD[name].header if name in _BY_FIELD else name}：{text}" for name, text in fields.items()]


# --- the import ---------------------------------------------------------------------------------

def import_stations(caller: Caller, data: bytes) -> ImportReport:
    """Check every row of an uploaded station list (.xlsx) and, if none is refused, create the
    stations it names, in the session (flushed, never committed).

    :raise 403 forbidden: not a region admin (with a region).
    :raise 400 invalid_input: not a readable .xlsx, too large or too long, required columns
        missing, or no data; refused rows are not an error, they are in the report.
    """
    if not caller.has(Role.region_admin) or caller.staff is None or caller.staff.region is None:
        raise Forbidden("只有区域管理员可以导入联络站")
    header, raw_rows = excel_import.read_table(data, excel_import.TableSpec(
        sheet=SHEET, key_header=COLUMNS[0].header, headers=_HEADER_OF, required=REQUIRED_HEADERS, noun="联络站",
        max_rows=MAX_ROWS, max_file_bytes=MAX_FILE_BYTES, max_unpacked_bytes=MAX_UNPACKED_BYTES,
        header_search_rows=HEADER_SEARCH_ROWS))
    report = ImportReport(ok=True, rows=len(raw_rows))
    scope = station_scope_clause(caller)
    seen: dict[tuple[str | None, str | None], int] = {}
    created_here: dict[str, Station] = {}
    whole = db.session.begin_nested()
    try:
        for number, values in raw_rows:
            reasons: list[str] = []
            arguments = _arguments(values, header, reasons)
            key = (arguments.get("region_code"), arguments.get("name"))
            if key[0] and key[1] and key in seen:
                reasons.append(f"联络站名称：与第{seen[key]}行重复（同一行政区划内的同名联络站）")
            elif key[0] and key[1]:
                seen[key] = number
            parent_key = _parent_key(values, header)
            if parent_key is not None:
                parent = created_here.get(parent_key) or _existing_station(scope, parent_key, reasons)
                arguments["parent_station_id"] = parent.id if parent is not None else None
            if not reasons:
                try:
                    with db.session.begin_nested():
                        station = station_admin.create_station(caller, **arguments)
                except ApiError as error:
                    reasons += _reasons_of(error)
                else:
                    report.created.append(station)
                    created_here.setdefault(station.name, station)
            if reasons:
                report.refused.append(RefusedRow(row=number, name=cell_text(arguments.get("name"))[:100],
                                                 reasons=reasons))
        if report.refused:
            whole.rollback()
            return ImportReport(ok=False, rows=report.rows, refused=report.refused)
        whole.commit()
    except BaseException:
        if whole.is_active:
            whole.rollback()
        raise
    log.info("stations imported by user %s: %d rows, stations %s", caller.user_id, report.rows,
             [s.id for s in report.created])
    return report


def _existing_station(scope, key: str, reasons: list[str]) -> Station | None:
    """A station of the caller's reach named `key`, or whose code (scene) it is."""
    found = list(db.session.scalars(db.select(Station).where(scope, (Station.name == key) | (Station.scene == key))
                                    .order_by(Station.id).limit(3)))
    by_scene = next((s for s in found if s.scene == key), None)
    if by_scene is not None:
        return by_scene
    if len(found) > 1:
        reasons.append(f"上级联络站：您管辖范围内有多个名为「{key}」的联络站，请改填联络站编码")
        return None
    if not found:
        reasons.append(f"上级联络站：未找到「{key}」，或该联络站不在您的管辖范围内")
        return None
    return found[0]
