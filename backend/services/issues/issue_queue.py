"""The staff issue queue: the issues of a station manager's stations (a region admin: of the
region), filtered, and the same list as an Excel ledger (意见建议台账).

The mini-program's staff pages and the web console both read the queue through `queue_select`
and export it through `export_ledger`, so the two cannot disagree about what a filter means.

The 三色督办 clock filter is computed in SQL, so pagination and totals stay right: the boundary
dates come from the working-day calendar in Python, and the database compares the due date the
clock runs against (see `current_due` in backend.services.issues.issue_serialize) with them.
"""
from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import selectinload

from backend import clock
from backend.auth import Caller
from backend.errors import InvalidInput
from backend.permissions import station_scope_clause
from backend.services.issues import issue_access
from backend.services.privacy import audit
from backend.services.reference import workdays
from backend.validation import MAX_ROW_ID
from models import Category, Issue, IssueStatus, RatingScore, Region, Station, Transfer, db

Colour = Literal["green", "yellow", "red"]

# A county produces a few thousand issues a year; a bigger export is almost surely a filter
# forgotten, and building it would hold a worker for a long time.
EXPORT_MAX_ROWS = 10_000



class ExportTooLarge(InvalidInput):
    """400 `invalid_input`: the filter matches more issues than one export may hold."""

    def __init__(self, matched: int, limit: int):
        message = f"符合条件的意见建议有{matched}条，超过单次导出上限{limit}条，请缩小时间范围或增加筛选条件后再导出"
        super().__init__({"_query": message}, message=message)
        self.details.update(matched=matched, limit=limit)


@dataclass(frozen=True)
class QueueFilter:
    """What staff narrow the queue by; every field left empty means "any"."""

    statuses: tuple[IssueStatus, ...] = ()
    # A category's name, or its id written in digits.
    category: str | None = None
    station_id: int | None = None
    # A region's 12-digit code: issues of the stations within it (the dashboard's region).
    region_code: str | None = None
    # Addressed (点名) to this deputy or assigned (承办) to them.
    deputy_id: int | None = None
    clock: Colour | None = None
    # Beijing dates of submission, both inclusive.
    created_from: date | None = None
    created_to: date | None = None
    # A tracking-number prefix or a piece of the content.
    q: str | None = None
    # Handed to the station manager (escalated_to_manager), or not.
    escalated: bool | None = None


@dataclass(frozen=True)
class ClockBounds:
    today: date
    # The last due date with at most one working day left: yellow runs from today to this.
    last_yellow: date


def clock_bounds(today: date) -> ClockBounds:
    """Today's colour boundaries, matching `workdays.clock_colour` day for day.

    Yellow ends the day before the second working day after today. On a working day that is
    `add_workdays(today, 1)`; on a rest day it is not (a Saturday's receipt day is Monday, so
    add_workdays would reach Tuesday, which has two working days left and is green).
    """
    day, seen = today, 0
    while seen < 2:
        day += timedelta(days=1)
        seen += workdays.is_workday(day)[0]
    return ClockBounds(today=today, last_yellow=day - timedelta(days=1))


def latest_transfer_due():
    """The due date of the issue's latest transfer (交办), a correlated scalar subquery."""
    return (select(Transfer.due_on).where(Transfer.issue_id == Issue.id)
            .order_by(Transfer.id.desc()).limit(1).correlate(Issue).scalar_subquery())


def latest_transfer_id():
    """The id of the issue's latest transfer (交办), a correlated scalar subquery: which
    department deadline the clock of a transferred issue runs against."""
    return (select(Transfer.id).where(Transfer.issue_id == Issue.id)
            .order_by(Transfer.id.desc()).limit(1).correlate(Issue).scalar_subquery())


def current_due_column():
    """The date the issue's clock runs against, or NULL when no clock runs (SQL of current_due)."""
    return case(
        (Issue.status == IssueStatus.submitted, Issue.accept_due_on),
        (and_(Issue.status == IssueStatus.accepted, Issue.first_response_at.is_(None)), Issue.reply_due_on),
        (Issue.status == IssueStatus.transferred, latest_transfer_due()),
        else_=None,
    )


def in_band(colour: Colour, due, bounds: ClockBounds):
    """SQL: the due date `due` shows `colour` within today's `bounds`."""
    if colour == "red":
        return due < bounds.today
    if colour == "yellow":
        return due.between(bounds.today, bounds.last_yellow)
    return due > bounds.last_yellow


def _clock_clause(colour: Colour, bounds: ClockBounds):
    # One branch per running clock rather than a comparison on the CASE: each branch can use
    # the status index, and an issue without a clock matches none.
    return or_(
        and_(Issue.status == IssueStatus.submitted, in_band(colour, Issue.accept_due_on, bounds)),
        and_(Issue.status == IssueStatus.accepted, Issue.first_response_at.is_(None),
             in_band(colour, Issue.reply_due_on, bounds)),
        and_(Issue.status == IssueStatus.transferred, in_band(colour, latest_transfer_due(), bounds)),
    )


def clock_clause(colour: Colour, today: date):
    """A WHERE clause on Issue: the clock shows `colour` on the Beijing date `today` (the
    queue's filter, for jobs that act on yellow and red issues)."""
    return _clock_clause(colour, clock_bounds(today))


def _category_id(value: str) -> int:
    """:raise 400 invalid_input: no category has this name or id."""
    match = Category.name == value
    if value.isascii() and value.isdigit() and int(value) <= MAX_ROW_ID:
        match = or_(match, Category.id == int(value))
    found = db.session.scalar(select(Category.id).where(match).order_by(Category.id).limit(1))
    if found is None:
        raise InvalidInput({"category": "没有该分类"})
    return found


def _beijing_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=clock.BEIJING)


def staff_scope(caller: Caller):
    """A WHERE clause on Issue: the issues of the stations this staff member manages.

    For a staff caller this is exactly what `issue_access.visible_clause` lets them see of
    their stations (it ORs these stations with what they see as a submitter or a deputy), so
    the queue never lists what `access_issue` would refuse. Written alone, not ANDed with that
    OR: PostgreSQL then reads the newest issues of the region by index instead of every one.

    :raise 403 forbidden: the caller has no staff account.
    """
    return Issue.station_id.in_(select(Station.id).where(station_scope_clause(caller)))


def access_managed_issue(caller: Caller, no: str) -> Issue:
    """The issue numbered `no` if it belongs to a station the staff member manages — not merely
    one they can see as its submitter or as a deputy: staff act only on their stations' issues.

    :raise 404 issue_not_found: no such issue, or one outside the caller's stations.
    :raise 403 forbidden: the caller has no staff account.
    """
    issue = db.session.scalar(select(Issue).where(Issue.no == no, staff_scope(caller)))
    if issue is None:
        raise issue_access.IssueNotFound()
    return issue


def _in_region(code: str):
    """Issues of the stations within the region `code` names; an unknown region holds none (the
    caller's own scope is applied beside it, so no region reveals another's issues)."""
    region = db.session.scalar(select(Region).where(Region.code == code))
    if region is None:
        raise InvalidInput({"region": "未找到该区域"})
    return Issue.station_id.in_(select(Station.id).where(
        Station.region_id.in_(select(Region.id).where(Region.code.startswith(region.scope_prefix)))))


def queue_select(caller: Caller, filters: QueueFilter, *, today: date | None = None):
    """A select of the issues in the caller's queue matching `filters`: newest first, or the
    oldest due date first when filtering by clock colour.

    :raise 400 invalid_input: an unknown category or region.
    :raise 403 forbidden: the caller has no staff account.
    """
    where = [staff_scope(caller)]
    if filters.statuses:
        where.append(Issue.status.in_(filters.statuses))
    if filters.category is not None:
        where.append(Issue.category_id == _category_id(filters.category))
    if filters.station_id is not None:
        where.append(Issue.station_id == filters.station_id)
    if filters.region_code is not None:
        where.append(_in_region(filters.region_code))
    if filters.deputy_id is not None:
        where.append(or_(Issue.addressed_deputy_id == filters.deputy_id,
                         Issue.assigned_deputy_id == filters.deputy_id))
    if filters.created_from is not None:
        where.append(Issue.created_at >= _beijing_midnight(filters.created_from))
    if filters.created_to is not None:
        where.append(Issue.created_at < _beijing_midnight(filters.created_to + timedelta(days=1)))
    if filters.escalated is not None:
        where.append(Issue.escalated_to_manager.is_(filters.escalated))
    if filters.q:
        where.append(or_(Issue.no.startswith(filters.q, autoescape=True),
                         Issue.content.icontains(filters.q, autoescape=True)))
    query = select(Issue).where(*where)
    if filters.clock is None:
        return query.order_by(Issue.created_at.desc(), Issue.id.desc())
    bounds = clock_bounds(today or clock.beijing_today())
    return (query.where(_clock_clause(filters.clock, bounds))
            .order_by(current_due_column().asc(), Issue.created_at.asc(), Issue.id.asc()))


# --- the Excel ledger (台账) ---

LEDGER_COLUMNS: tuple[tuple[str, int], ...] = (
    ("编号", 18), ("提交时间", 17), ("联络站", 22), ("分类", 10), ("内容", 60), ("状态", 10),
    ("点名代表", 10), ("承办代表", 10), ("受理期限", 12), ("答复期限", 12), ("督办", 6),
    ("交办单位", 24), ("办结时间", 17), ("满意度", 10), ("是否匿名", 9),
)
CLOCK_LABEL = {"green": "绿", "yellow": "黄", "red": "红"}
RATING_LABEL = {RatingScore.satisfied: "满意", RatingScore.basically_satisfied: "基本满意",
                RatingScore.unsatisfied: "不满意"}
_CLOCK_FILL = {"green": "C6EFCE", "yellow": "FFEB9C", "red": "FFC7CE"}  # Excel's own good/neutral/bad
_CLOCK_FILLS = {colour: PatternFill("solid", fgColor=rgb) for colour, rgb in _CLOCK_FILL.items()}
_WRAP = Alignment(wrap_text=True, vertical="top")

# Spreadsheet programs run a cell that starts with one of these as a formula (=HYPERLINK(...),
# +cmd|…, -2+3, @SUM(...)); tab and carriage return are on OWASP's list too.
_FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def ledger_filename(today: date) -> str:
    return f"意见建议台账-{today:%Y%m%d}.xlsx"


def export_ledger(caller: Caller, filters: QueueFilter, *, status_label: Mapping[IssueStatus, str],
                  max_rows: int | None = None) -> bytes:
    """The queue as an .xlsx workbook, one row per issue in queue order.

    Nothing identifies the sender (the ledger has no submitter column, anonymous or not).
    `status_label` is the API's wording of statuses, given by the caller so that this service
    does not depend on the HTTP layer.

    :raise 400 invalid_input: more than `max_rows` (default EXPORT_MAX_ROWS) issues match
        (ExportTooLarge), or an unknown category.
    :raise 403 forbidden: the caller has no staff account.
    """
    max_rows = EXPORT_MAX_ROWS if max_rows is None else max_rows
    today = clock.beijing_today()
    query = queue_select(caller, filters, today=today)
    matched = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    if matched > max_rows:
        raise ExportTooLarge(matched, max_rows)
    audit.viewed(caller, "ledger", "issues", count=matched)
    rows = db.session.execute(
        query.add_columns(current_due_column())
        .options(selectinload(Issue.station), selectinload(Issue.addressed_deputy),
                 selectinload(Issue.assigned_deputy), selectinload(Issue.ratings), selectinload(Issue.transfers))
        .limit(max_rows)  # issues created since the count must not carry it past the cap
    ).all()

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("意见建议台账")
    for index, (_header, width) in enumerate(LEDGER_COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(LEDGER_COLUMNS))}{len(rows) + 1}"
    bold = Font(bold=True)
    header = []
    for title, _width in LEDGER_COLUMNS:
        cell = WriteOnlyCell(sheet, value=title)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    for issue, due in rows:
        sheet.append(_ledger_row(sheet, issue, due, today, status_label))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _ledger_row(sheet, issue: Issue, due: date | None, today: date, status_label) -> list:
    colour = workdays.clock_colour(due, today) if due is not None else None
    rating = issue.ratings[-1] if issue.ratings else None
    clock_cell = WriteOnlyCell(sheet, value=CLOCK_LABEL.get(colour, ""))
    if colour is not None:
        clock_cell.fill = _CLOCK_FILLS[colour]
    content = _text(sheet, issue.content, styled=True)
    content.alignment = _WRAP
    return [
        _text(sheet, issue.no),
        _moment(sheet, issue.created_at),
        _text(sheet, issue.station.name),
        _text(sheet, issue.category.name),
        content,
        _text(sheet, status_label[issue.status]),
        _text(sheet, issue.addressed_deputy.name if issue.addressed_deputy else ""),
        _text(sheet, issue.assigned_deputy.name if issue.assigned_deputy else ""),
        _day(sheet, issue.accept_due_on),
        _day(sheet, issue.reply_due_on),
        clock_cell,
        _text(sheet, "；".join(t.department_name for t in issue.transfers)),
        _moment(sheet, issue.resolved_at),
        _text(sheet, RATING_LABEL[rating.score] if rating else ""),
        _text(sheet, "是" if issue.is_anonymous else "否"),
    ]


def _text(sheet, value: str, *, styled: bool = False) -> WriteOnlyCell | str | None:
    """A text cell that no spreadsheet program will evaluate, whatever a resident typed: the
    plain string where nothing in it could be read as a formula (a styled cell costs openpyxl
    several times a string, and a county's ledger has thousands), else a cell marked text."""
    # openpyxl refuses control characters XML 1.0 cannot hold; a resident's text may carry them.
    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    if not styled and not value.startswith(_FORMULA_LEADS):
        return value or None  # an empty cell is not written at all
    cell = WriteOnlyCell(sheet, value=value)
    if value.startswith(_FORMULA_LEADS):
        # Stored as a string (openpyxl would write "=…" as a formula) and marked quote-prefixed,
        # so Excel keeps it text even when someone edits the cell; the text itself is unchanged.
        cell.data_type = "s"
        cell.quotePrefix = True
    return cell


def _moment(sheet, value: datetime | None) -> WriteOnlyCell:
    # Excel has no time zones: a Beijing wall-clock time, which is what staff read.
    cell = WriteOnlyCell(sheet, value=value.astimezone(clock.BEIJING).replace(tzinfo=None) if value else None)
    cell.number_format = "yyyy-mm-dd hh:mm"
    return cell


def _day(sheet, value: date | None) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value=value)
    cell.number_format = "yyyy-mm-dd"
    return cell
