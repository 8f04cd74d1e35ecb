"""代表名册导入: staff upload an Excel roster and its deputies, their seats (届次) and their
groupings into stations (编组) are written in one go.

All or nothing: every row is checked first, and a single refused row means nothing is written.
A half-imported roster is worse than none: staff would have to work out which rows went in
before they could fix and upload the file again.

Re-importing a roster must not double it, so a row names an existing deputy when
- a non-retired deputy has the same name and mobile number, or
- neither the row nor a same-named deputy of that station has a number (the roster a county
  keeps is often just names).
A row whose number is missing on one side only is refused rather than guessed at. A seat with
the same level, congress and term, and a grouping still current in that station, are left as
they are; an existing deputy's own details (gender, occupation, number) are never changed here.

The rules of `terms` hold: only deputies the caller may group are matched (grouped into one of
their stations, or nowhere yet — others stay invisible, so an upload cannot reach a deputy of
another county), matched deputies are locked while their groupings are checked, and a deputy is
never grouped twice into one station over overlapping dates.

Who: station managers for their stations, region admins for the stations of their region
(`station_scope_clause`). A station outside that scope is refused in the same words as one that
does not exist.
"""
from __future__ import annotations

import io
import logging
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from openpyxl import Workbook
from openpyxl.cell.cell import ERROR_CODES
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from backend import clock, excel_import
from backend.auth import Caller
from backend.errors import Forbidden
from backend.excel_import import cell_text
from backend.permissions import station_scope_clause
from backend.services.reference.reference_data import clean_name
from models import Deputy, DeputyLevel, DeputySeat, Role, Station, StationMembership, db

# A county's roster of every level is a few thousand rows at most; more is a wrong file.
MAX_ROWS = 5_000
# What the upload and its unpacked parts may weigh: a 5,000-row roster is a few hundred KB,
# and an .xlsx is a zip, so a small upload could otherwise unpack into gigabytes.
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_UNPACKED_BYTES = 100 * 1024 * 1024
# The header row may sit below a title row or two ("XX联络站代表名册").
HEADER_SEARCH_ROWS = 10
# The first National People's Congress; an earlier year is a typo.
FIRST_CONGRESS_YEAR = 1954
TERM_MAX = 99
NAME_MIN, NAME_MAX = 2, 32  # deputy.name is String(32)
OCCUPATION_MAX = 100  # deputy.occupation is String(100)
CONGRESS_MAX = 100  # deputy_seat.congress is String(100)

ROSTER_SHEET = "代表名册"
NOTES_SHEET = "填写说明"
EXAMPLE_SHEET = "示例"
TEMPLATE_FILENAME = "代表名册导入模板.xlsx"

# Memberships have no audit columns; the log keeps who grouped whom, as in `terms`.
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Column:
    header: str
    required: bool
    width: int
    note: str
    example: object
    # Other headers staff commonly write for the same column.
    aliases: tuple[str, ...] = ()


NAME, GENDER, PHONE, OCCUPATION = "姓名", "性别", "手机号", "职业或工作单位"
LEVEL, CONGRESS, TERM, SEAT_START = "代表层级", "所属人大", "届次", "任期开始"
STATION, LEADER, JOINED_ON = "联络站", "站长代表", "进站日期"

COLUMNS: tuple[Column, ...] = (
    Column(NAME, True, 10, "代表姓名，2至32个字。", "张三"),
    Column(GENDER, False, 6, "男 或 女，可不填。", "男", ("性別",)),
    Column(PHONE, False, 14, "11位手机号码，可不填。填写后用于识别已有代表，同名代表请务必填写。", "13800001234",
           ("手机", "手机号码", "联系电话", "电话")),
    Column(OCCUPATION, False, 28, "职业或工作单位及职务，最多100个字，可不填。", "某镇某村党支部书记",
           ("职业", "工作单位", "工作单位及职务", "职务")),
    Column(LEVEL, True, 10, "全国、省、市、县、乡镇 之一（县级区、县级市的代表填“县”）。", "县",
           ("层级", "代表级别", "级别")),
    Column(CONGRESS, True, 22, "代表所属的人民代表大会全称。", "临安县人民代表大会", ("人大", "所属人民代表大会")),
    Column(TERM, True, 10, "届次，可填“第十八届”或数字18。", "第十八届", ("届别",)),
    Column(SEAT_START, False, 12, "本届任期开始日期，如2021-10-01；不填则为导入当天。", date(2021, 10, 1),
           ("任期开始日期", "任期起始日期")),
    Column(STATION, True, 24, "联络站名称或联络站编码（二维码中的编号），须为您管理的联络站。",
           "某某社区人大代表联络站", ("联络站名称", "所在联络站", "进站联络站")),
    Column(LEADER, False, 10, "是 或 否，可不填（不填为否）。", "否", ("是否站长代表", "站长")),
    Column(JOINED_ON, False, 12, "编入该联络站的日期，如2021-11-01；不填则为导入当天。", date(2021, 11, 1),
           ("编组日期", "进站时间")),
)
REQUIRED_HEADERS = tuple(c.header for c in COLUMNS if c.required)
_HEADER_OF = {name: c.header for c in COLUMNS for name in (c.header, *c.aliases)}

GENERAL_NOTES = (
    "1. 请在「代表名册」工作表中填写，每位代表在每个联络站占一行；表头请勿修改，列的顺序可以调整。",
    "2. 同一代表编入多个联络站时，每站填一行，姓名、手机号、性别等个人信息以第一行为准。",
    ("3. 姓名和手机号都相同的在任代表视为同一人，不会重复建档；"
     "未填手机号时，同一联络站内同名且也未登记手机号的代表视为同一人。"),
    "4. 已有代表的性别、职业、手机号不会被修改；已有的同一届任期、在本站尚未结束的编组保持不变。",
    ("5. 所有行都通过检查才会导入；任何一行有误，整个文件都不会导入，请按提示修改后重新上传。"
     f"每次最多{MAX_ROWS}行，空行自动跳过。"),
)

_LEVEL_WORDS = {
    "全国": DeputyLevel.national,
    "省": DeputyLevel.provincial,
    "市": DeputyLevel.municipal,
    "县": DeputyLevel.county, "区": DeputyLevel.county, "县区": DeputyLevel.county, "县(区)": DeputyLevel.county,
    "乡镇": DeputyLevel.township, "乡": DeputyLevel.township, "镇": DeputyLevel.township,
    **{level.value: level for level in DeputyLevel},
}
_LEVEL_SUFFIXES = ("人大代表", "代表", "人大", "级")
_GENDERS = {"男": "男", "女": "女", "男性": "男", "女性": "女"}
_YES_NO = {"是": True, "否": False}
_CHINESE_DIGITS = {ch: n for n, ch in enumerate("一二三四五六七八九", start=1)}
_TERM = re.compile(r"第?(\d{1,2}|[一二三四五六七八九十]{1,3})届?")
_DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?|(\d{4})(\d{2})(\d{2})")
_MOBILE = re.compile(r"1[3-9]\d{9}")
# Spreadsheet programs run a cell that starts with one of these as a formula; a deputy's name
# is later written into exported ledgers.
_FORMULA_LEADS = ("=", "+", "-", "@")


@dataclass(frozen=True)
class RefusedRow:
    row: int  # the spreadsheet's own row number, as staff see it in Excel
    name: str
    reasons: list[str]


@dataclass
class ImportReport:
    """What an import did; when `ok` is false nothing was written and the counts are zero."""

    ok: bool
    rows: int  # rows holding data (empty rows are skipped)
    refused: list[RefusedRow] = field(default_factory=list)
    created_deputies: int = 0
    matched_deputies: int = 0
    new_memberships: int = 0
    new_seats: int = 0
    # Groupings already current in the row's station, left as they were.
    kept_memberships: int = 0


# --- the template -------------------------------------------------------------------------------

def template_workbook() -> bytes:
    """A blank roster to fill in: the 代表名册 sheet with its header (drop-down lists for the
    fixed choices), a 填写说明 sheet explaining each column, and a 示例 sheet with one row."""
    workbook = Workbook()
    roster = workbook.active
    roster.title = ROSTER_SHEET
    excel_import.write_header(roster, COLUMNS)
    roster.freeze_panes = "A2"
    last_row = MAX_ROWS + 1
    for index, column in enumerate(COLUMNS, start=1):
        letter = get_column_letter(index)
        if column.header == PHONE:
            # As text, so Excel neither rounds a mobile number nor shows it as 1.38E+10.
            roster.column_dimensions[letter].number_format = "@"
        elif column.header in (SEAT_START, JOINED_ON):
            roster.column_dimensions[letter].number_format = "yyyy-mm-dd"
    for header, choices in ((GENDER, "男,女"), (LEVEL, "全国,省,市,县,乡镇"), (LEADER, "是,否")):
        letter = get_column_letter(_position(header))
        validation = DataValidation(type="list", formula1=f'"{choices}"', allow_blank=True, showErrorMessage=True,
                                    errorTitle="取值有误", error=f"请从下拉列表中选择：{choices.replace(',', '、')}")
        validation.add(f"{letter}2:{letter}{last_row}")
        roster.add_data_validation(validation)

    notes = workbook.create_sheet(NOTES_SHEET)
    notes.append(["列名", "是否必填", "填写要求", "示例"])
    for cell in notes[1]:
        cell.font = Font(bold=True)
    for column in COLUMNS:
        example = column.example.isoformat() if isinstance(column.example, date) else column.example
        notes.append([column.header, "必填" if column.required else "选填", column.note, example])
    notes.append([])
    for line in GENERAL_NOTES:
        notes.append([line])
    for letter, width in zip("ABCD", (16, 10, 70, 24), strict=True):
        notes.column_dimensions[letter].width = width
    for row in notes.iter_rows(min_row=2, max_col=3):
        row[-1].alignment = Alignment(wrap_text=True, vertical="top")

    example_sheet = workbook.create_sheet(EXAMPLE_SHEET)
    excel_import.write_header(example_sheet, COLUMNS)
    example_sheet.append([c.example for c in COLUMNS])
    for index, column in enumerate(COLUMNS, start=1):
        if isinstance(column.example, date):
            example_sheet.cell(row=2, column=index).number_format = "yyyy-mm-dd"

    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _position(header: str) -> int:
    return next(i for i, c in enumerate(COLUMNS, start=1) if c.header == header)


# --- checking one row's cells -------------------------------------------------------------------

@dataclass
class _Row:
    row: int
    raw_name: str
    reasons: list[str] = field(default_factory=list)
    name: str | None = None
    gender: str | None = None
    phone: str | None = None  # 11 digits, or None when not given
    phone_ok: bool = True
    occupation: str | None = None
    level: DeputyLevel | None = None
    congress: str | None = None
    term: int | None = None
    seat_start: date | None = None
    station_key: str | None = None
    station: Station | None = None
    is_leader: bool = False
    joined_on: date | None = None
    # Filled by matching: an existing deputy, or the key of the new one this row creates.
    deputy: Deputy | None = None
    new_key: tuple | None = None
    keeps_membership: bool = False

    @property
    def person(self):
        return ("deputy", self.deputy.id) if self.deputy is not None else self.new_key


def _parse_phone(value) -> str:
    text = re.sub(r"[\s\-()]", "", unicodedata.normalize("NFKC", cell_text(value)))
    if len(text) == 13 and text.startswith("86") or len(text) == 14 and text.startswith("+86"):
        text = text[-11:]
    if not _MOBILE.fullmatch(text):
        raise ValueError("应为11位手机号码（如13800001234）")
    return text


def _parse_level(value) -> DeputyLevel:
    text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", cell_text(value)))
    for suffix in _LEVEL_SUFFIXES:
        text = text.removesuffix(suffix)
    level = _LEVEL_WORDS.get(text)
    if level is None:
        raise ValueError("应为 全国、省、市、县、乡镇 之一")
    return level


def _parse_term(value) -> int:
    if isinstance(value, int | float) and not isinstance(value, bool) and float(value).is_integer():
        term = int(value)
    else:
        match = _TERM.fullmatch(re.sub(r"\s+", "", unicodedata.normalize("NFKC", cell_text(value))))
        if match is None:
            raise ValueError("应为届次，如“第十八届”或18")
        term = int(match[1]) if match[1].isdigit() else _chinese_number(match[1])
    if not 1 <= term <= TERM_MAX:
        raise ValueError(f"应在1至{TERM_MAX}之间")
    return term


def _chinese_number(text: str) -> int:
    """一 … 九十九."""
    if "十" not in text:
        if len(text) != 1:
            raise ValueError("应为届次，如“第十八届”或18")
        return _CHINESE_DIGITS[text]
    tens, _, ones = text.partition("十")
    if len(tens) > 1 or len(ones) > 1 or "十" in ones:
        raise ValueError("应为届次，如“第十八届”或18")
    return (_CHINESE_DIGITS[tens] if tens else 1) * 10 + (_CHINESE_DIGITS[ones] if ones else 0)


def _parse_date(value, today: date) -> date:
    if isinstance(value, datetime):
        day = value.date()
    elif isinstance(value, date):
        day = value
    else:
        match = _DATE.fullmatch(unicodedata.normalize("NFKC", cell_text(value)))
        if match is None:
            raise ValueError("日期格式应为 2021-10-01")
        year, month, dom = (int(g) for g in (match.groups()[:3] if match[1] else match.groups()[3:]))
        try:
            day = date(year, month, dom)
        except ValueError:
            raise ValueError("不是有效的日期") from None
    if not FIRST_CONGRESS_YEAR <= day.year <= today.year + 1:
        raise ValueError(f"日期应在{FIRST_CONGRESS_YEAR}年至{today.year + 1}年之间，请核对")
    return day


def _parse_choice(value, choices: dict, message: str):
    if isinstance(value, bool) and True in choices.values():
        return value
    text = cell_text(value)
    if text not in choices:
        raise ValueError(message)
    return choices[text]


def _parse_name(value) -> str:
    name = clean_name(cell_text(value), min_length=NAME_MIN, max_length=NAME_MAX)
    if name.startswith(_FORMULA_LEADS):
        raise ValueError("不能以 = + - @ 开头")
    return name


def _check_cells(number: int, values: tuple, header: dict[str, int], today: date) -> _Row:
    """One row's cells checked and converted; every problem becomes a reason."""
    def cell(name: str):
        index = header.get(name)
        return values[index] if index is not None and index < len(values) else None

    row = _Row(row=number, raw_name=cell_text(cell(NAME))[:NAME_MAX])
    parsers = {
        NAME: ("name", _parse_name),
        GENDER: ("gender", lambda v: _parse_choice(v, _GENDERS, "应为“男”或“女”")),
        PHONE: ("phone", _parse_phone),
        OCCUPATION: ("occupation", lambda v: clean_name(cell_text(v), max_length=OCCUPATION_MAX)),
        LEVEL: ("level", _parse_level),
        CONGRESS: ("congress", lambda v: clean_name(cell_text(v), min_length=2, max_length=CONGRESS_MAX)),
        TERM: ("term", _parse_term),
        SEAT_START: ("seat_start", lambda v: _parse_date(v, today)),
        STATION: ("station_key", lambda v: clean_name(cell_text(v), max_length=100)),
        LEADER: ("is_leader", lambda v: _parse_choice(v, _YES_NO, "应为“是”或“否”")),
        JOINED_ON: ("joined_on", lambda v: _parse_date(v, today)),
    }
    for column in COLUMNS:
        attribute, parse = parsers[column.header]
        value = cell(column.header)
        try:
            if isinstance(value, str) and value.strip() in ERROR_CODES:
                raise ValueError(f"单元格是公式错误值（{value.strip()}），请改为实际内容")
            if cell_text(value) == "":
                if column.required:
                    raise ValueError("必填")
                continue
            setattr(row, attribute, parse(value))
        except ValueError as exc:
            row.reasons.append(f"{column.header}：{exc}")
            if column.header == PHONE:
                row.phone_ok = False
    return row


# --- checking rows against the database ---------------------------------------------------------

def _chunks(values: Iterable, size: int = 500) -> Iterable[list]:
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _resolve_stations(caller: Caller, rows: list[_Row]) -> None:
    """Each row's station, found by code (scene) or name among the caller's stations only."""
    keys = {r.station_key for r in rows if r.station_key}
    by_scene: dict[str, Station] = {}
    by_name: dict[str, list[Station]] = defaultdict(list)
    scope = station_scope_clause(caller)
    for chunk in _chunks(keys):
        for station in db.session.scalars(db.select(Station).where(
                scope, Station.name.in_(chunk) | Station.scene.in_(chunk)).order_by(Station.id)):
            by_scene[station.scene] = station
            by_name[station.name].append(station)
    for row in rows:
        if row.station_key is None:
            continue
        named = by_name.get(row.station_key, [])
        station = by_scene.get(row.station_key) or (named[0] if len(named) == 1 else None)
        if len(named) > 1 and row.station_key not in by_scene:
            row.reasons.append(f"联络站：您管理的联络站中有多个名为「{row.station_key}」的，请改填联络站编码")
        elif station is None:
            # The same words whether it exists elsewhere or nowhere: station names are not probed.
            row.reasons.append(f"联络站：未找到「{row.station_key}」，或该联络站不在您的管辖范围内")
        elif not station.is_active:
            row.reasons.append(f"联络站：「{station.name}」已停用，不能编入代表")
        else:
            row.station = station


def _refuse_duplicates(rows: list[_Row]) -> None:
    """A later row with the name, number (as normalised) and station of an earlier one is refused.

    Matching cannot make two rows that differ here name one deputy: a match by number needs
    the deputy to have that number, a match without one needs the deputy to have none.
    """
    first: dict[tuple, int] = {}
    for row in rows:
        if row.name is None or row.station is None or not row.phone_ok:
            continue
        key = (row.name, row.phone, row.station.id)
        if key in first:
            row.reasons.append(f"与第{first[key]}行重复（同一代表、同一联络站）")
        else:
            first[key] = row.row


def _digits(phone: str | None) -> str | None:
    """A stored number in the form rows are compared in, or None when there is none."""
    if not phone:
        return None
    try:
        return _parse_phone(phone)
    except ValueError:
        return phone.strip() or None  # a landline still counts as "has a number"


def _match_deputies(caller: Caller, rows: list[_Row]) -> dict[int, list[StationMembership]]:
    """Decide for each row whether it names an existing deputy or a new one (module docstring).

    Same-named candidates are locked (as `terms.lock_deputy` does) and their memberships read
    after the lock, so a grouping or retirement committed meanwhile is seen. Returns the
    memberships of the candidates, by deputy id.
    """
    matchable = [r for r in rows if r.name and r.station and r.phone_ok]
    candidates: list[Deputy] = []
    for chunk in _chunks({r.name for r in matchable}):
        candidates += db.session.scalars(
            db.select(Deputy).where(Deputy.name.in_(chunk), Deputy.retired_at.is_(None)).order_by(Deputy.id)
            .with_for_update(of=Deputy).execution_options(populate_existing=True))
    memberships: dict[int, list[StationMembership]] = defaultdict(list)
    for chunk in _chunks(d.id for d in candidates):
        for m in db.session.scalars(db.select(StationMembership).where(StationMembership.deputy_id.in_(chunk))
                                    .execution_options(populate_existing=True)):
            memberships[m.deputy_id].append(m)
    station_ids = {m.station_id for ms in memberships.values() for m in ms}
    in_scope: set[int] = set()
    scope = station_scope_clause(caller)
    for chunk in _chunks(station_ids):
        in_scope.update(db.session.scalars(db.select(Station.id).where(Station.id.in_(chunk), scope)))

    by_name_phone: dict[tuple[str, str], Deputy] = {}
    by_station_name: dict[tuple[int, str], list[Deputy]] = defaultdict(list)
    for deputy in candidates:
        grouped = memberships.get(deputy.id, [])
        if grouped and not any(m.station_id in in_scope for m in grouped):
            continue  # out of the caller's reach: invisible, as in terms._groupable_deputy
        phone = _digits(deputy.phone)
        if phone is not None:
            by_name_phone.setdefault((deputy.name, phone), deputy)
        for station_id in {m.station_id for m in grouped}:
            by_station_name[(station_id, deputy.name)].append(deputy)

    for row in matchable:
        same_named = by_station_name.get((row.station.id, row.name), [])
        without_phone = [d for d in same_named if _digits(d.phone) is None]
        if row.phone is not None:
            row.deputy = by_name_phone.get((row.name, row.phone))
            if row.deputy is None and without_phone:
                row.reasons.append("本联络站已有同名代表但未登记手机号，无法确认是否同一人；如为同一人，请将本行手机号留空")
            row.new_key = ("phone", row.name, row.phone)
        elif len(without_phone) == 1:
            row.deputy = without_phone[0]
        elif without_phone:
            row.reasons.append("本联络站有多名同名且未登记手机号的代表，无法确定是哪一位，请联系管理员处理")
        elif same_named:
            row.reasons.append("本联络站已有同名代表（已登记手机号），请填写手机号以确认是否同一人")
        else:
            # Without a number, a same name in another station is not taken for the same person.
            row.new_key = ("no-phone", row.name, row.station.id)
    return memberships


def _check_memberships(rows: list[_Row], memberships: dict[int, list[StationMembership]], today: date) -> None:
    """A grouping current in the row's station is kept; one overlapping otherwise is refused."""
    for row in rows:
        if row.deputy is None or row.station is None:
            continue
        started_on = row.joined_on or today
        clashes = sorted((m for m in memberships.get(row.deputy.id, ())
                          if m.station_id == row.station.id and (m.ended_on is None or m.ended_on >= started_on)),
                         key=lambda m: m.started_on)
        if any(m.is_current(today) for m in clashes):
            row.keeps_membership = True
        elif clashes:
            clash = clashes[0]
            span = f"{clash.started_on.isoformat()}起" + (
                f"至{clash.ended_on.isoformat()}" if clash.ended_on else "，尚未开始")
            row.reasons.append(f"{row.deputy.name}代表已编入本联络站（{span}），编组日期不能重叠，请核对进站日期")


# --- the import ---------------------------------------------------------------------------------

def import_roster(caller: Caller, data: bytes, *, today: date | None = None) -> ImportReport:
    """Check every row of an uploaded roster (.xlsx) and, if none is refused, create the deputies,
    seats and groupings it names, in the session (flushed, never committed).

    `today` (a Beijing date) is the default seat start and grouping date.

    :raise 403 forbidden: the caller is not a station manager or region admin.
    :raise 400 invalid_input: not a readable .xlsx, too large or too long, required columns
        missing, or no data; refused rows are not an error, they are in the report.
    """
    if not caller.has(Role.station_manager, Role.region_admin) or caller.staff is None:
        raise Forbidden("只有站长或区域管理员可以导入代表名册")
    today = today or clock.beijing_today()
    header, raw_rows = excel_import.read_table(data, excel_import.TableSpec(
        sheet=ROSTER_SHEET, key_header=NAME, headers=_HEADER_OF, required=REQUIRED_HEADERS, noun="代表",
        max_rows=MAX_ROWS, max_file_bytes=MAX_FILE_BYTES, max_unpacked_bytes=MAX_UNPACKED_BYTES,
        header_search_rows=HEADER_SEARCH_ROWS))
    rows = [_check_cells(number, values, header, today) for number, values in raw_rows]

    _resolve_stations(caller, rows)
    _refuse_duplicates(rows)
    memberships = _match_deputies(caller, rows)
    _check_memberships(rows, memberships, today)

    refused = [RefusedRow(row=r.row, name=r.raw_name, reasons=r.reasons) for r in rows if r.reasons]
    if refused:
        return ImportReport(ok=False, rows=len(rows), refused=refused)
    return _write(caller, rows, today)


def _write(caller: Caller, rows: list[_Row], today: date) -> ImportReport:
    report = ImportReport(ok=True, rows=len(rows))
    new_deputies: dict[tuple, Deputy] = {}
    seat_ids = [r.deputy.id for r in rows if r.deputy is not None]
    seats: set[tuple] = set()
    for chunk in _chunks(set(seat_ids)):
        seats.update((("deputy", s.deputy_id), s.level, s.congress, s.term) for s in db.session.scalars(
            db.select(DeputySeat).where(DeputySeat.deputy_id.in_(chunk))))
    matched = {r.deputy.id for r in rows if r.deputy is not None}
    added: list[StationMembership] = []

    for row in rows:
        deputy = row.deputy
        if deputy is None:
            deputy = new_deputies.get(row.new_key)
            if deputy is None:
                # The first row of a new deputy gives their own details (the template says so).
                deputy = Deputy(name=row.name, gender=row.gender, phone=row.phone, occupation=row.occupation)
                db.session.add(deputy)
                new_deputies[row.new_key] = deputy
        seat_key = (row.person, row.level, row.congress, row.term)
        if seat_key not in seats:
            seats.add(seat_key)
            db.session.add(DeputySeat(deputy=deputy, level=row.level, congress=row.congress, term=row.term,
                                      started_on=row.seat_start or today))
            report.new_seats += 1
        if row.keeps_membership:
            report.kept_memberships += 1
        else:
            membership = StationMembership(station_id=row.station.id, deputy=deputy,
                                           started_on=row.joined_on or today, is_leader=row.is_leader)
            db.session.add(membership)
            added.append(membership)
    db.session.flush()

    report.created_deputies = len(new_deputies)
    report.matched_deputies = len(matched)
    report.new_memberships = len(added)
    for membership in added:
        log.info("deputy %s grouped into station %s from %s (membership %s) by user %s (roster import)",
                 membership.deputy_id, membership.station_id, membership.started_on, membership.id, caller.user_id)
    log.info("roster imported by user %s: %d rows, %d deputies created, %d matched, %d seats and %d groupings added, "
             "%d groupings kept", caller.user_id, report.rows, report.created_deputies, report.matched_deputies,
             report.new_seats, report.new_memberships, report.kept_memberships)
    return report
