"""Schemas of the reference data staff edit: issue categories, departments (承办单位), and the
working-day calendar's overrides."""
from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BeforeValidator, Field, model_validator

from backend.services.reference.reference_data import (
    CATEGORY_NAME_MAX,
    DEPARTMENT_NAME_MAX,
    DEPARTMENT_NAME_MIN,
    SORT_ORDER_MAX,
    clean_name,
)
from backend.services.reference.workdays import NOTE_MAX
from backend.validation import ApiModel, BeijingDateTime


def _name_check(min_length: int, max_length: int):
    def check(value):
        # Anything but text is left to pydantic, which answers 应为文本.
        if not isinstance(value, str):
            return value
        # The document's maxLength is of the text sent: trimming must not let a longer one in.
        if len(value) > max_length:
            raise ValueError(f"最多{max_length}个字符")
        return clean_name(value, min_length=min_length, max_length=max_length)
    return BeforeValidator(check)


def _trimmed(value):
    return value.strip() if isinstance(value, str) else value


def _source_given(value):
    # An override without its source cannot be checked against the notice later.
    if isinstance(value, str) and not value.strip():
        raise ValueError("请注明依据，如国务院办公厅通知的文号")
    return _trimmed(value)


CategoryName = Annotated[str, Field(min_length=1, max_length=CATEGORY_NAME_MAX, description="分类名称"),
                         _name_check(1, CATEGORY_NAME_MAX)]
DepartmentName = Annotated[str, Field(min_length=DEPARTMENT_NAME_MIN, max_length=DEPARTMENT_NAME_MAX,
                                      description="承办单位名称，如「县住建局」"),
                           _name_check(DEPARTMENT_NAME_MIN, DEPARTMENT_NAME_MAX)]
SortOrder = Annotated[int, Field(ge=0, le=SORT_ORDER_MAX, description="小的在前")]


class _Changes(ApiModel):
    """A partial update: a field left out (or null) stays as it is."""

    @model_validator(mode="after")
    def _something(self):
        if all(getattr(self, name) is None for name in type(self).model_fields):
            raise ValueError("请至少提供一项要修改的内容")
        return self


# --- categories --------------------------------------------------------------------------------

class CategoryCreate(ApiModel):
    name: CategoryName
    sort_order: SortOrder | None = Field(default=None, description="不填则排在最后")


class CategoryUpdate(_Changes):
    name: CategoryName | None = None
    sort_order: SortOrder | None = None
    is_active: bool | None = Field(default=None, description="停用后居民不能再选，已有意见建议保留该分类")


class ManagedCategory(ApiModel):
    id: int
    name: str
    sort_order: int
    is_active: bool


class ManagedCategoryOut(ApiModel):
    category: ManagedCategory


class ManagedCategoryList(ApiModel):
    items: list[ManagedCategory]


# --- departments -------------------------------------------------------------------------------

class DepartmentCreate(ApiModel):
    name: DepartmentName


class DepartmentUpdate(_Changes):
    name: DepartmentName | None = None
    is_active: bool | None = Field(default=None, description="停用后不再作为交办的承办单位")


class DepartmentRegion(ApiModel):
    code: str
    name: str


class DepartmentDetail(ApiModel):
    id: int
    name: str
    is_active: bool
    region: DepartmentRegion


class DepartmentOut(ApiModel):
    department: DepartmentDetail


class DepartmentList(ApiModel):
    items: list[DepartmentDetail]


# --- the working-day calendar ------------------------------------------------------------------

class CalendarOverrideIn(ApiModel):
    is_workday: bool = Field(description="true：调休上班；false：放假")
    note: Annotated[str, Field(min_length=1, max_length=NOTE_MAX), BeforeValidator(_source_given)] = Field(
        description="依据，如「国办发明电〔2026〕X号 春节调休」")


class CalendarYearCompleteIn(ApiModel):
    complete: bool = Field(description="true：该年节假日已按国务院通知全部录入")
    note: Annotated[str, Field(max_length=NOTE_MAX), BeforeValidator(_trimmed)] = ""


class CalendarOverrideDetail(ApiModel):
    date: date
    is_workday: bool
    note: str
    created_at: BeijingDateTime
    created_by: str | None = Field(description="录入的工作人员")


class CalendarYearDetail(ApiModel):
    year: int
    package_covers: bool = Field(description="程序内置的节假日数据已包含该年")
    complete: bool = Field(description="工作人员已标记该年全部录入")
    estimated: bool = Field(description="该年期限按周一至周五估算（既未内置，也未标记录入完毕）")
    note: str
    overrides: list[CalendarOverrideDetail]


class CalendarYearOut(ApiModel):
    calendar: CalendarYearDetail


class CalendarDayDetail(ApiModel):
    date: date
    is_workday: bool = Field(description="调整后是否为工作日")
    estimated: bool = Field(description="按周一至周五估算")
    override: CalendarOverrideDetail | None


class CalendarDayOut(ApiModel):
    day: CalendarDayDetail
