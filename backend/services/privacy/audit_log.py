"""Reading the 审计日志 (`audit.py` writes it): the entries within a region admin's reach,
filtered and paged, and the same entries as an Excel file for an auditor (等保 2.0, PIPL).

Only region admins read it. An entry has two possible homes, and it is theirs when either is
within their region:
- its actor: a staff account of the region (or below), a station manager of one of its
  stations, a deputy grouped (now or before) into one of its stations;
- its target: an issue, station, deputy, staff account or region within the region.
So an admin sees what their people did anywhere they could act, and what anyone did to their
region's stations and residents' issues. Entries with neither — a sign-in attempt under a
username no account has — belong to no region and are left to the database's own administrator.

The log holds who acted, from which address and on what: the export is itself a view of
personal data and is recorded as one (`audit.viewed`) whenever it holds any entry.
"""
from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlalchemy import String, cast, func, or_, select

from backend import clock
from backend.auth import Caller
from backend.errors import Forbidden, InvalidInput
from backend.permissions import station_scope_clause
from backend.services.privacy import audit
from models import (
    AuditEntry,
    Deputy,
    Issue,
    Region,
    Role,
    StaffAccount,
    Station,
    StationMembership,
    db,
    staff_station,
)

PER_PAGE = 50
# An auditor narrows by time or actor before exporting more than this.
EXPORT_MAX_ROWS = 20_000

# What staff read for the kinds of entry; writes are named by the page or route they came from.
KIND_LABELS = {"sign_in": "登录", "view": "查看个人信息", "write": "操作"}
TARGET_LABELS = {"issue": "意见建议", "station": "联络站", "deputy": "代表", "staff_account": "工作人员账号",
                 "region": "行政区划", "membership": "编组", "leave": "请假", "category": "分类",
                 "department": "承办单位", "user": "用户", "issues": "意见建议台账", "audit_log": "审计日志"}
ROLE_LABELS = {"region_admin": "区域管理员", "station_manager": "站长", "deputy": "代表", "resident": "居民",
               "anonymous": "未登录"}
FIELD_LABELS = {"phone": "代表手机号", "contact_phone": "居民手机号", "ledger": "意见建议台账",
                "audit_log": "审计日志"}


@dataclass(frozen=True)
class AuditFilter:
    start: date
    end: date  # both Beijing dates, inclusive
    actor: str | None = None  # a username, display name or deputy's name (part of it)
    kind: str | None = None  # a key of KIND_LABELS
    action: str | None = None  # part of the action's name
    target_type: str | None = None
    target_id: str | None = None


@dataclass
class AuditRow:
    entry: AuditEntry
    actor: str  # who, as staff know them


def _region_of(caller: Caller) -> Region:
    """:raise 403 forbidden: not a region admin with a region."""
    staff = caller.staff
    if staff is None or not caller.has(Role.region_admin) or staff.region is None:
        raise Forbidden()
    return staff.region


def scope_clause(caller: Caller):
    """A WHERE clause on AuditEntry: the entries whose actor or target is in the caller's region."""
    region = _region_of(caller)
    regions = select(Region.id).where(Region.code.startswith(region.scope_prefix))
    stations = select(Station.id).where(station_scope_clause(caller))
    staff_ids = select(StaffAccount.id).where(or_(
        StaffAccount.region_id.in_(regions),
        StaffAccount.id.in_(select(staff_station.c.staff_account_id)
                            .where(staff_station.c.station_id.in_(stations)))))
    deputy_ids = select(StationMembership.deputy_id).where(StationMembership.station_id.in_(stations))
    actors = select(StaffAccount.user_id).where(StaffAccount.id.in_(staff_ids)).union(
        select(Deputy.user_id).where(Deputy.id.in_(deputy_ids), Deputy.user_id.is_not(None)))
    # target_id is text: the ids are compared as text, so an index on (target_type, target_id) serves.
    targets = or_(
        (AuditEntry.target_type == "issue") & AuditEntry.target_id.in_(
            select(Issue.no).where(Issue.station_id.in_(stations))),
        (AuditEntry.target_type == "station") & AuditEntry.target_id.in_(
            select(cast(Station.id, String)).where(station_scope_clause(caller))),
        (AuditEntry.target_type == "deputy") & AuditEntry.target_id.in_(
            select(cast(StationMembership.deputy_id, String)).where(StationMembership.station_id.in_(stations))),
        (AuditEntry.target_type == "staff_account") & AuditEntry.target_id.in_(
            select(cast(StaffAccount.id, String)).where(StaffAccount.id.in_(staff_ids))),
        (AuditEntry.target_type == "region") & AuditEntry.target_id.startswith(region.scope_prefix),
    )
    return or_(AuditEntry.actor_user_id.in_(actors), targets)


def _kind_clause(kind: str):
    if kind == "sign_in":
        return AuditEntry.action == "staff.sign_in"
    if kind == "view":
        return AuditEntry.action == "personal_data.view"
    return AuditEntry.action.not_in(("staff.sign_in", "personal_data.view"))


def _actor_users(text: str):
    """Users whose username, display name or deputy's name contains `text`."""
    return select(StaffAccount.user_id).where(or_(
        StaffAccount.username.icontains(text, autoescape=True),
        StaffAccount.display_name.icontains(text, autoescape=True))).union(
        select(Deputy.user_id).where(Deputy.name.icontains(text, autoescape=True), Deputy.user_id.is_not(None)))


def check_filter(filters: AuditFilter) -> None:
    """:raise 400 invalid_input: an unknown kind or target type, or the period backwards."""
    if filters.start > filters.end:
        raise InvalidInput({"from": "开始日期不能晚于结束日期"}, message="开始日期不能晚于结束日期")
    if filters.kind is not None and filters.kind not in KIND_LABELS:
        raise InvalidInput({"kind": "未知的类别"}, message=f"未知的类别：{filters.kind}")
    if filters.target_type is not None and filters.target_type not in TARGET_LABELS:
        raise InvalidInput({"target_type": "未知的对象类型"}, message=f"未知的对象类型：{filters.target_type}")


def entries_select(caller: Caller, filters: AuditFilter):
    """The entries the caller may read that match `filters`, newest first.

    :raise 403 forbidden: not a region admin. :raise 400 invalid_input: see `check_filter`.
    """
    check_filter(filters)
    start = datetime.combine(filters.start, time(), clock.BEIJING)
    end = datetime.combine(filters.end + timedelta(days=1), time(), clock.BEIJING)
    where = [scope_clause(caller), AuditEntry.at >= start, AuditEntry.at < end]
    if filters.actor:
        where.append(AuditEntry.actor_user_id.in_(_actor_users(filters.actor)))
    if filters.kind:
        where.append(_kind_clause(filters.kind))
    if filters.action:
        where.append(AuditEntry.action.icontains(filters.action, autoescape=True))
    if filters.target_type:
        where.append(AuditEntry.target_type == filters.target_type)
    if filters.target_id:
        where.append(AuditEntry.target_id == filters.target_id)
    return select(AuditEntry).where(*where).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())


def count_entries(caller: Caller, filters: AuditFilter, cap: int | None = None) -> int:
    """How many entries match, counted up to `cap` + 1 when given (a province's log is long)."""
    query = entries_select(caller, filters).order_by(None)
    if cap is not None:
        query = query.limit(cap + 1)
    return db.session.scalar(select(func.count()).select_from(query.subquery()))


def page_of_entries(caller: Caller, filters: AuditFilter, page: int, per_page: int = PER_PAGE) -> list[AuditRow]:
    entries = db.session.scalars(entries_select(caller, filters).limit(per_page)
                                 .offset((max(page, 1) - 1) * per_page)).all()
    return _with_actors(entries)


def _with_actors(entries: list[AuditEntry]) -> list[AuditRow]:
    user_ids = {e.actor_user_id for e in entries if e.actor_user_id is not None}
    names: dict[int, str] = {}
    if user_ids:
        for user_id, name in db.session.execute(select(Deputy.user_id, Deputy.name)
                                                .where(Deputy.user_id.in_(user_ids))):
            names[user_id] = name
        for user_id, username, display in db.session.execute(
                select(StaffAccount.user_id, StaffAccount.username, StaffAccount.display_name)
                .where(StaffAccount.user_id.in_(user_ids))):
            names[user_id] = f"{display}（{username}）"
    rows = []
    for entry in entries:
        if entry.actor_user_id is None:
            tried = (entry.detail or {}).get("username")
            actor = f"未知账号（{tried}）" if tried else "系统"
        else:
            actor = names.get(entry.actor_user_id, f"用户 {entry.actor_user_id}")
        rows.append(AuditRow(entry, actor))
    return rows


def describe(entry: AuditEntry, action_label: Callable[[AuditEntry], str] | None = None) -> str:
    """What the entry says happened, in Chinese, without any value of personal data. Writes are
    named by `action_label` (the faces know their routes' names), else by the route itself."""
    detail = entry.detail or {}
    if entry.action == "staff.sign_in":
        return "登录成功" if entry.outcome < 300 else "登录失败"
    if entry.action == "personal_data.view":
        field = detail.get("field")
        text = "查看" + FIELD_LABELS.get(field, str(field))
        return text + (f"（{detail['count']} 条）" if detail.get("count") is not None else "")
    text = action_label(entry) if action_label is not None else entry.action
    if detail.get("verb"):
        text += f" · {detail['verb']}"
    if detail.get("fields"):
        text += "（" + "、".join(map(str, detail["fields"])) + "）"
    return text


def target_text(entry: AuditEntry) -> str:
    if entry.target_type is None:
        return ""
    return f"{TARGET_LABELS.get(entry.target_type, entry.target_type)} {entry.target_id or ''}".strip()


COLUMNS = (("时间", 18), ("操作人", 24), ("身份", 10), ("类别", 12), ("内容", 48), ("对象", 24), ("结果", 8),
           ("来源地址", 16), ("请求编号", 34))


def export_workbook(caller: Caller, filters: AuditFilter, max_rows: int | None = None,
                    action_label: Callable[[AuditEntry], str] | None = None) -> bytes:
    """The filtered entries as an .xlsx workbook, newest first.

    :raise 400 invalid_input: more than `max_rows` (default EXPORT_MAX_ROWS) entries match.
    :raise 403 forbidden: not a region admin.
    """
    max_rows = EXPORT_MAX_ROWS if max_rows is None else max_rows
    matched = count_entries(caller, filters, cap=max_rows)
    if matched > max_rows:
        raise InvalidInput({"count": f"最多导出 {max_rows} 条"},
                           message=f"符合条件的记录超过单次导出上限 {max_rows} 条，请缩小时间范围或增加筛选条件")
    rows = _with_actors(db.session.scalars(entries_select(caller, filters).limit(max_rows)).all())
    if rows:
        # Who did what from which address is personal data of the staff and deputies it names.
        audit.viewed(caller, "audit_log", "audit_log", count=len(rows))
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("审计日志")
    for index, (_title, width) in enumerate(COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for title, _width in COLUMNS:
        cell = WriteOnlyCell(sheet, value=title)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    for row in rows:
        entry = row.entry
        moment = WriteOnlyCell(sheet, value=entry.at.astimezone(clock.BEIJING).replace(tzinfo=None))
        moment.number_format = "yyyy-mm-dd hh:mm:ss"
        sheet.append([moment, _text(sheet, row.actor), ROLE_LABELS.get(entry.actor_role, entry.actor_role),
                      KIND_LABELS[kind_of(entry)], _text(sheet, describe(entry, action_label)), _text(sheet, target_text(entry)),
                      entry.outcome, entry.remote_addr or "", entry.request_id or ""])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def kind_of(entry: AuditEntry) -> str:
    if entry.action == "staff.sign_in":
        return "sign_in"
    if entry.action == "personal_data.view":
        return "view"
    return "write"


def _text(sheet, value: str):
    """Text that no spreadsheet evaluates: a failed sign-in keeps whatever username was typed."""
    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    cell = WriteOnlyCell(sheet, value=value)
    if value.startswith(("=", "+", "-", "@")):
        cell.data_type = "s"
        cell.quotePrefix = True
    return cell


def filename(today: date) -> str:
    return f"审计日志-{today.isoformat()}.xlsx"
