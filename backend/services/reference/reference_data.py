"""Reference data staff keep up to date: the categories of residents' issues, the departments
(承办单位) issues are handed to, and the working-day calendar's overrides.

Nothing here is ever deleted: old issues and transfers point at categories and departments, so
retiring one means deactivating it (residents no longer see it; history keeps it). Names are
unique — categories county-wide, departments per region — which is checked first so the answer
is a 409 with a Chinese message, and checked again by the database's unique constraint for two
staff members saving the same name at once.

The calendar's rules and writes live in `workdays`; here are only what staff may enter (years
2000–2100, no year marked complete with nothing entered) and a year's summary for them.
"""
from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sqlalchemy.exc import IntegrityError

from backend.auth import Caller
from backend.errors import Conflict, Forbidden, InvalidInput, NotFound
from backend.services.reference import workdays
from models import (
    CalendarOverride,
    CalendarYear,
    Category,
    Department,
    Region,
    Role,
    StaffAccount,
    db,
)

# Staff edits have no audit columns on these tables yet; the log keeps who changed what.
log = logging.getLogger(__name__)

CATEGORY_NAME_MAX = 32  # category.name is String(32), and IssueCreate.category allows 32
DEPARTMENT_NAME_MIN = 2  # what a deputy's transfer accepts as a department name
DEPARTMENT_NAME_MAX = 100  # department.name is String(100)
SORT_ORDER_MAX = 9999

_SPACES = re.compile(r"\s+")


class DepartmentNotFound(NotFound):
    message = "未找到该承办单位"


class CategoryNotFound(NotFound):
    message = "未找到该分类"


def clean_name(value: str, *, min_length: int = 1, max_length: int) -> str:
    """A name as stored: trimmed, inner whitespace runs made one space.

    Collapsing spaces keeps "城乡  建设" from sitting beside "城乡 建设" as a different name;
    invisible characters (a zero-width space pasted from a web page) would do the same.

    :raise ValueError: with a Chinese sentence, when empty, too short or long, or holding
        line breaks, control or invisible characters.
    """
    if "\n" in value or "\r" in value:
        raise ValueError("不能换行")
    # Before trimming: str.strip() counts the ASCII separators \x1c–\x1f as white space and would
    # drop them unseen from either end.
    if any(unicodedata.category(ch).startswith("C") and ch != "\t" for ch in value):
        raise ValueError("不能包含控制字符或不可见字符")
    value = _SPACES.sub(" ", value.strip())
    if not value:
        raise ValueError("不能为空")
    if len(value) < min_length:
        raise ValueError(f"至少{min_length}个字符")
    if len(value) > max_length:
        raise ValueError(f"最多{max_length}个字符")
    return value


def _name_or_400(value: str, **limits) -> str:
    try:
        return clean_name(value, **limits)
    except ValueError as exc:
        raise InvalidInput({"name": str(exc)}) from None


def _save_unique(apply: Callable[[], None], duplicate: Conflict) -> None:
    """Run `apply` (add a row, set its fields) and flush it inside a savepoint; a unique-constraint
    violation — a concurrent save of the same name that the check before could not see —
    becomes `duplicate`.

    The change is made inside the savepoint because opening one flushes whatever is pending,
    and the savepoint keeps the request's transaction usable on PostgreSQL after the violation.
    """
    try:
        with db.session.begin_nested():
            apply()
            db.session.flush()
    except IntegrityError:
        raise duplicate from None


def _assign(row, changes: dict) -> None:
    for field, value in changes.items():
        setattr(row, field, value)


def _require_sort_order(sort_order: int) -> int:
    if not 0 <= sort_order <= SORT_ORDER_MAX:
        raise InvalidInput({"sort_order": f"应在0至{SORT_ORDER_MAX}之间"})
    return sort_order


# --- categories (county-wide) ------------------------------------------------------------------

def list_categories() -> list[Category]:
    """Every category, inactive ones too, in the order residents see the active ones."""
    return list(db.session.scalars(db.select(Category).order_by(Category.sort_order, Category.id)))


def get_category(category_id: int) -> Category:
    """:raise 404 not_found: no such category."""
    category = db.session.get(Category, category_id)
    if category is None:
        raise CategoryNotFound()
    return category


def _category_named(name: str, *, other_than: int | None = None) -> Category | None:
    query = db.select(Category).where(Category.name == name)
    if other_than is not None:
        query = query.where(Category.id != other_than)
    return db.session.scalar(query.limit(1))


def _category_taken(name: str) -> Conflict:
    return Conflict(f"已有名为「{name}」的分类")


def create_category(actor: Caller, name: str, sort_order: int | None = None) -> Category:
    """A new active category; without `sort_order` it goes last.

    :raise 400 invalid_input: a bad name or sort order.
    :raise 409 conflict: a category (active or not) already has this name.
    """
    name = _name_or_400(name, max_length=CATEGORY_NAME_MAX)
    if sort_order is None:
        last = db.session.scalar(db.select(db.func.max(Category.sort_order)))
        sort_order = min(SORT_ORDER_MAX, (last if last is not None else -1) + 1)
    sort_order = _require_sort_order(sort_order)
    if _category_named(name) is not None:
        raise _category_taken(name)
    category = Category(name=name, sort_order=sort_order, is_active=True)
    _save_unique(lambda: db.session.add(category), _category_taken(name))
    log.info("category %s 「%s」 created by user %s", category.id, name, actor.user_id)
    return category


def update_category(actor: Caller, category: Category, *, name: str | None = None,
                    sort_order: int | None = None, is_active: bool | None = None) -> Category:
    """Rename, reorder, deactivate or reactivate; None leaves a field as it is.

    A rename shows on old issues too (they refer to the category, not to its old name);
    a deactivated category disappears from residents' list while old issues keep it.

    :raise 400 invalid_input: a bad name or sort order.
    :raise 409 conflict: another category already has the new name.
    """
    changes = {}
    if name is not None:
        name = _name_or_400(name, max_length=CATEGORY_NAME_MAX)
        if name != category.name:
            if _category_named(name, other_than=category.id) is not None:
                raise _category_taken(name)
            changes["name"] = name
    if sort_order is not None and sort_order != category.sort_order:
        changes["sort_order"] = _require_sort_order(sort_order)
    if is_active is not None and bool(is_active) != category.is_active:
        changes["is_active"] = bool(is_active)
    if changes:
        _save_unique(lambda: _assign(category, changes), _category_taken(changes.get("name", category.name)))
        log.info("category %s changed by user %s: %s", category.id, actor.user_id, changes)
    return category


# --- departments (per region) ------------------------------------------------------------------

def managed_region(actor: Caller) -> Region:
    """The region whose departments this region admin manages (it and the regions below it).

    :raise 403 forbidden: not a region admin, or an account with no region set.
    """
    staff = actor.staff
    if staff is None or not actor.has(Role.region_admin):
        raise Forbidden()
    if staff.region is None:
        raise Forbidden("该账号未设置所属行政区划，无法管理承办单位")
    return staff.region


def _within(region: Region):
    return Department.region_id.in_(
        db.select(Region.id).where(Region.code.startswith(region.scope_prefix)))


def _visible_clause(actor: Caller):
    """Departments this staff member may see.

    A region admin: those they manage. A station manager: those their stations' issues can
    be handed to — departments of the regions their stations (and account) sit in and of the
    regions above (县住建局 for a community station in that county).
    """
    if actor.has(Role.region_admin):
        return _within(managed_region(actor))
    staff = actor.staff
    if staff is None:
        raise Forbidden()
    own_regions = [station.region for station in staff.stations]
    if staff.region is not None:
        own_regions.append(staff.region)
    codes = {code for region in own_regions if region is not None for code in region.lineage_codes()}
    return Department.region_id.in_(db.select(Region.id).where(Region.code.in_(codes or {""})))


def list_departments(actor: Caller) -> list[tuple[Department, Region]]:
    """The departments the staff member may see, active or not, each with its region; by region
    then age.

    :raise 403 forbidden: not staff, or a region admin with no region.
    """
    return [(department, region) for department, region in db.session.execute(
        db.select(Department, Region).join(Region, Department.region_id == Region.id)
        .where(_visible_clause(actor)).order_by(Region.code, Department.id))]


def region_of(department: Department) -> Region:
    return db.session.get(Region, department.region_id)


def access_managed_department(actor: Caller, department_id: int) -> Department:
    """A department within the region admin's region.

    :raise 403 forbidden: not a region admin, or one with no region.
    :raise 404 not_found: no such department, or one of another region.
    """
    region = managed_region(actor)
    department = db.session.scalar(
        db.select(Department).where(Department.id == department_id, _within(region)))
    if department is None:
        raise DepartmentNotFound()
    return department


def _department_named(region_id: int, name: str, *, other_than: int | None = None) -> Department | None:
    query = db.select(Department).where(Department.region_id == region_id, Department.name == name)
    if other_than is not None:
        query = query.where(Department.id != other_than)
    return db.session.scalar(query.limit(1))


def _department_taken(name: str) -> Conflict:
    return Conflict(f"本地区已有名为「{name}」的承办单位")


def create_department(actor: Caller, name: str) -> Department:
    """A new active department of the region admin's own region.

    :raise 400 invalid_input: a bad name.
    :raise 403 forbidden: not a region admin, or one with no region.
    :raise 409 conflict: the region already has a department of this name.
    """
    region = managed_region(actor)
    name = _name_or_400(name, min_length=DEPARTMENT_NAME_MIN, max_length=DEPARTMENT_NAME_MAX)
    if _department_named(region.id, name) is not None:
        raise _department_taken(name)
    department = Department(name=name, region_id=region.id, is_active=True)
    _save_unique(lambda: db.session.add(department), _department_taken(name))
    log.info("department %s 「%s」 of region %s created by user %s", department.id, name, region.code,
             actor.user_id)
    return department


def update_department(actor: Caller, department: Department, *, name: str | None = None,
                      is_active: bool | None = None) -> Department:
    """Rename, deactivate or reactivate a department from `access_managed_department`.

    Past transfers keep the name they were made with (Transfer.department_name).

    :raise 400 invalid_input: a bad name.
    :raise 409 conflict: another department of its region already has the new name.
    """
    changes = {}
    if name is not None:
        name = _name_or_400(name, min_length=DEPARTMENT_NAME_MIN, max_length=DEPARTMENT_NAME_MAX)
        if name != department.name:
            if _department_named(department.region_id, name, other_than=department.id) is not None:
                raise _department_taken(name)
            changes["name"] = name
    if is_active is not None and bool(is_active) != department.is_active:
        changes["is_active"] = bool(is_active)
    if changes:
        _save_unique(lambda: _assign(department, changes), _department_taken(changes.get("name", department.name)))
        log.info("department %s changed by user %s: %s", department.id, actor.user_id, changes)
    return department


# --- the working-day calendar, one year at a time ----------------------------------------------

@dataclass
class CalendarYearSummary:
    year: int
    package_covers: bool  # chinese_calendar ships this year's official holidays
    complete: bool  # staff marked the year as entered in full
    note: str
    overrides: list[CalendarOverride]
    # Display names of the staff who entered the overrides, by user id.
    authors: dict[int, str]

    @property
    def estimated(self) -> bool:
        """Deadlines on this year's unlisted days are plain-weekday guesses."""
        return not (self.package_covers or self.complete)


def require_staff_year(year: int, field: str = "year") -> int:
    """:raise 400 invalid_input: a year outside what staff may edit (a typo guard: 27 for 2027)."""
    if year not in workdays.STAFF_YEARS:
        first, last = workdays.STAFF_YEARS.start, workdays.STAFF_YEARS.stop - 1
        raise InvalidInput({field: f"年份应在{first}至{last}之间"})
    return year


def calendar_year(year: int) -> CalendarYearSummary:
    """What is known of `year`: the package's coverage, the staff mark and overrides.

    :raise 400 invalid_input: a year outside 2000–2100.
    """
    require_staff_year(year)
    mark = db.session.get(CalendarYear, year)
    overrides = workdays.list_overrides(year)
    return CalendarYearSummary(
        year=year, package_covers=year in workdays.PACKAGE_YEARS,
        complete=bool(mark and mark.is_complete), note=mark.note if mark else "",
        overrides=overrides, authors=authors_of(overrides))


def authors_of(overrides: list[CalendarOverride]) -> dict[int, str]:
    """Staff display names of whoever entered `overrides`, in one query."""
    ids = {o.created_by_id for o in overrides if o.created_by_id is not None}
    if not ids:
        return {}
    rows = db.session.execute(db.select(StaffAccount.user_id, StaffAccount.display_name)
                              .where(StaffAccount.user_id.in_(ids)))
    return {user_id: name for user_id, name in rows}


def calendar_override(day: date) -> CalendarOverride | None:
    return db.session.scalar(db.select(CalendarOverride).where(CalendarOverride.date == day))


def set_calendar_override(actor: Caller, day: date, is_workday: bool, note: str) -> CalendarOverride:
    """Declare `day` a working day (调休上班) or a day off, replacing what it had.

    Deadlines already set are not recomputed; issues submitted from now on count with it.

    :raise 400 invalid_input: a date outside 2000–2100, or a note over 200 characters.
    """
    require_staff_year(day.year, "date")
    try:
        override = workdays.set_override(day, is_workday, note, actor_user=actor.user)
    except ValueError:
        raise InvalidInput({"note": f"最多{workdays.NOTE_MAX}个字符"}) from None
    log.info("calendar override %s → %s by user %s (%s)", day, "workday" if is_workday else "day off",
             actor.user_id, note)
    return override


def remove_calendar_override(actor: Caller, day: date) -> bool:
    """Drop the override of `day`, if any, so the package (or plain weekdays) decides again.

    :raise 400 invalid_input: a date outside 2000–2100.
    """
    require_staff_year(day.year, "date")
    removed = workdays.remove_override(day)
    if removed:
        log.info("calendar override %s removed by user %s", day, actor.user_id)
    return removed


def mark_calendar_year(actor: Caller, year: int, complete: bool, note: str = "") -> CalendarYearSummary:
    """Mark (or unmark) `year` as entered in full, so its deadlines stop being estimates.

    Every year has days off beyond weekends (元旦, 春节 …), so a year the package does not cover
    and with no override entered cannot be complete: marking it would turn guesses into
    deadlines presented as certain.

    :raise 400 invalid_input: a year outside 2000–2100, a note over 200 characters, or marking
        complete an uncovered year with no overrides.
    """
    require_staff_year(year)
    if complete and year not in workdays.PACKAGE_YEARS and not workdays.list_overrides(year):
        raise InvalidInput({"complete": f"{year}年尚未录入任何节假日或调休，不能标记为录入完毕"},
                           message="请先录入该年的节假日和调休安排")
    try:
        workdays.mark_year_complete(year, complete, note)
    except ValueError:
        raise InvalidInput({"note": f"最多{workdays.NOTE_MAX}个字符"}) from None
    log.info("calendar year %s marked %s by user %s", year, "complete" if complete else "incomplete",
             actor.user_id)
    return calendar_year(year)
