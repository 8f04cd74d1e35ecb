"""Staff keep the reference data: issue categories and the working-day calendar (region admins),
departments (承办单位) of their region (region admins edit, station managers read)."""
from __future__ import annotations

import re
from datetime import date

from backend.auth import Caller
from backend.errors import InvalidInput
from backend.services.reference import reference_data, workdays
from backend.services.reference.reference_data import CalendarYearSummary
from backend.web.endpoint import ApiBlueprint
from miniprogram_api.reference.reference_schemas import (
    CalendarDayDetail,
    CalendarDayOut,
    CalendarOverrideDetail,
    CalendarOverrideIn,
    CalendarYearCompleteIn,
    CalendarYearDetail,
    CalendarYearOut,
    CategoryCreate,
    CategoryUpdate,
    DepartmentCreate,
    DepartmentDetail,
    DepartmentList,
    DepartmentOut,
    DepartmentRegion,
    DepartmentUpdate,
    ManagedCategory,
    ManagedCategoryList,
    ManagedCategoryOut,
)
from models import CalendarOverride, Category, Department, Region, Role

bp = ApiBlueprint("manage_reference", __name__, tag="基础数据")

ADMIN = {Role.region_admin}
STAFF = {Role.station_manager, Role.region_admin}

# ASCII digits only: `\d` would let full-width ２０２７ through to the date parser.
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_YEAR = re.compile(r"[0-9]{4}")


def _path_date(raw: str) -> date:
    """A Beijing date from the path. :raise 400 invalid_input: not YYYY-MM-DD, or no such day."""
    if not _DATE.fullmatch(raw):
        raise InvalidInput({"date": "日期格式应为 YYYY-MM-DD"})
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput({"date": "不是有效的日期"}) from None


def _path_year(raw: str) -> int:
    """:raise 400 invalid_input: not four digits, or outside what staff may edit."""
    if not _YEAR.fullmatch(raw):
        raise InvalidInput({"year": "年份应为四位数字，如 2027"})
    return reference_data.require_staff_year(int(raw))


# --- categories --------------------------------------------------------------------------------

def _category(category: Category) -> ManagedCategory:
    return ManagedCategory(id=category.id, name=category.name, sort_order=category.sort_order,
                           is_active=category.is_active)


@bp.get("/manage/categories", response=ManagedCategoryList, roles=ADMIN)
def categories(caller: Caller):
    """意见建议分类（含已停用的），按排序"""
    return ManagedCategoryList(items=[_category(c) for c in reference_data.list_categories()])


@bp.post("/manage/categories", body=CategoryCreate, response=ManagedCategoryOut, status=201, roles=ADMIN,
         idempotent=True, errors=["conflict"])
def create_category(caller: Caller, body: CategoryCreate):
    """新增意见建议分类

    名称去掉首尾空格后为1至32个字符，不能与已有分类（含已停用的）重名。支持 `Idempotency-Key`。
    """
    return ManagedCategoryOut(category=_category(reference_data.create_category(caller, body.name, body.sort_order)))


@bp.put("/manage/categories/<int:category_id>", body=CategoryUpdate, response=ManagedCategoryOut, roles=ADMIN,
        errors=["not_found", "conflict"])
def update_category(caller: Caller, category_id: int, body: CategoryUpdate):
    """修改分类：改名、调整排序、停用或启用

    分类不能删除：停用后居民不能再选，已提交的意见建议保留原分类。
    """
    category = reference_data.get_category(category_id)
    reference_data.update_category(caller, category, name=body.name, sort_order=body.sort_order,
                                   is_active=body.is_active)
    return ManagedCategoryOut(category=_category(category))


# --- departments -------------------------------------------------------------------------------

def _department(department: Department, region: Region | None = None) -> DepartmentDetail:
    region = region or reference_data.region_of(department)
    return DepartmentDetail(id=department.id, name=department.name, is_active=department.is_active,
                            region=DepartmentRegion(code=region.code, name=region.name))


@bp.get("/manage/departments", response=DepartmentList, roles=STAFF)
def departments(caller: Caller):
    """承办单位（含已停用的）

    区域管理员：本行政区划及下级的承办单位；站长：本站所在及上级行政区划的承办单位。
    """
    return DepartmentList(items=[_department(d, r) for d, r in reference_data.list_departments(caller)])


@bp.post("/manage/departments", body=DepartmentCreate, response=DepartmentOut, status=201, roles=ADMIN,
         idempotent=True, errors=["conflict"])
def create_department(caller: Caller, body: DepartmentCreate):
    """新增本行政区划的承办单位（同一行政区划内不能重名）。支持 `Idempotency-Key`。"""
    return DepartmentOut(department=_department(reference_data.create_department(caller, body.name)))


@bp.put("/manage/departments/<int:department_id>", body=DepartmentUpdate, response=DepartmentOut, roles=ADMIN,
        errors=["not_found", "conflict"])
def update_department(caller: Caller, department_id: int, body: DepartmentUpdate):
    """修改承办单位：改名、停用或启用（已交办的记录保留原名称）"""
    department = reference_data.access_managed_department(caller, department_id)
    reference_data.update_department(caller, department, name=body.name, is_active=body.is_active)
    return DepartmentOut(department=_department(department))


# --- the working-day calendar ------------------------------------------------------------------

def _override(override: CalendarOverride, authors: dict[int, str]) -> CalendarOverrideDetail:
    return CalendarOverrideDetail(date=override.date, is_workday=override.is_workday, note=override.note,
                                  created_at=override.created_at, created_by=authors.get(override.created_by_id))


def _year(summary: CalendarYearSummary) -> CalendarYearOut:
    return CalendarYearOut(calendar=CalendarYearDetail(
        year=summary.year, package_covers=summary.package_covers, complete=summary.complete,
        estimated=summary.estimated, note=summary.note,
        overrides=[_override(o, summary.authors) for o in summary.overrides]))


def _day(day: date) -> CalendarDayOut:
    workday, estimated = workdays.is_workday(day)
    override = reference_data.calendar_override(day)
    detail = _override(override, reference_data.authors_of([override])) if override is not None else None
    return CalendarDayOut(day=CalendarDayDetail(date=day, is_workday=workday, estimated=estimated,
                                                override=detail))


@bp.get("/manage/calendar/<year>", response=CalendarYearOut, roles=ADMIN, errors=["invalid_input"])
def calendar_year(caller: Caller, year: str):
    """某年的工作日调整（节假日、调休）

    国务院办公厅每年年底公布次年安排；程序内置数据未包含的年份，由工作人员录入后标记「录入完毕」，
    此前该年的办理期限按周一至周五估算。
    """
    return _year(reference_data.calendar_year(_path_year(year)))


@bp.put("/manage/calendar/<year>/complete", body=CalendarYearCompleteIn, response=CalendarYearOut, roles=ADMIN)
def mark_year(caller: Caller, year: str, body: CalendarYearCompleteIn):
    """标记某年节假日已全部录入（或取消标记）

    未内置且未录入任何调整的年份不能标记为录入完毕。
    """
    return _year(reference_data.mark_calendar_year(caller, _path_year(year), body.complete, body.note))


@bp.put("/manage/calendar/overrides/<day>", body=CalendarOverrideIn, response=CalendarDayOut, roles=ADMIN)
def set_override(caller: Caller, day: str, body: CalendarOverrideIn):
    """将某日设为工作日（调休上班）或休息日（放假），覆盖原有安排

    只影响此后计算的办理期限，已有的期限不变。
    """
    parsed = _path_date(day)
    reference_data.set_calendar_override(caller, parsed, body.is_workday, body.note)
    return _day(parsed)


@bp.delete("/manage/calendar/overrides/<day>", response=CalendarDayOut, roles=ADMIN, errors=["invalid_input"])
def remove_override(caller: Caller, day: str):
    """删除某日的调整，恢复按内置数据（或周一至周五）计算；没有调整时不做改动"""
    parsed = _path_date(day)
    reference_data.remove_calendar_override(caller, parsed)
    return _day(parsed)
