"""Schemas of reception days (接待日): rules, single days moved or cancelled, duty rosters (排班),
deputies' leave (请假) and a deputy's schedule."""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, StrictInt, model_validator

from backend.services.duty.reception import LABEL_MAX
from backend.services.duty.reception_days import REASON_MAX
from backend.services.duty.rosters import PER_DAY_MAX
from backend.services.issues.queue_schemas import EARLIEST, LATEST
from backend.validation import MAX_ROW_ID, ApiModel, BeijingDateTime, FilterQuery

DeputyId = Annotated[StrictInt, Field(ge=1, le=MAX_ROW_ID)]
StaffDate = Annotated[dt.date, Field(ge=EARLIEST, le=LATEST)]


def _blank_is_none(value):
    return None if isinstance(value, str) and not value.strip() else value


Reason = Annotated[Annotated[str, Field(max_length=REASON_MAX)] | None, BeforeValidator(_blank_is_none)]


# --- rules --------------------------------------------------------------------------------------

class ReceptionRuleIn(ApiModel):
    kind: Literal["monthly_days", "weekly"] = Field(description="monthly_days：每月固定日期；weekly：每周固定星期")
    days: list[StrictInt] = Field(min_length=1, max_length=31, examples=[[6, 16, 26]],
                                  description="monthly_days：每月几号（1至31，不能重复；某月没有的日期当月不接待）；"
                                              "weekly：星期几（1=周一 … 7=周日）")
    label: str | None = Field(default=None, max_length=LABEL_MAX,
                              description="显示名称；不填则自动生成，如「逢六（每月6日、16日、26日）」「每周三」「每月10日、25日」")


class RuleOut(ApiModel):
    kind: Literal["monthly_days", "weekly"]
    days: list[int]
    label: str


class SourceRegion(ApiModel):
    code: str
    name: str


class RuleSettingDetail(ApiModel):
    own: RuleOut | None = Field(description="本站（本行政区划）自己设置的规则；null 表示沿用上级")
    effective: RuleOut | None = Field(description="实际执行的规则")
    source: Literal["own", "region", "default", "none"] = Field(
        description="实际规则的来源：own 自己设置，region 上级行政区划，default 系统默认，none 没有规则")
    source_region: SourceRegion | None = Field(description="source 为 region 时，规则所在的行政区划")


class RuleSettingOut(ApiModel):
    reception_rule: RuleSettingDetail


# --- days ---------------------------------------------------------------------------------------

class ReceptionDaysQuery(FilterQuery):
    station: int | None = Field(default=None, ge=1, le=MAX_ROW_ID, description="联络站 id；不填则为本人管理的全部联络站")
    date_from: StaffDate | None = Field(default=None, alias="from", description="起始日期（北京时间），默认今天")
    date_to: StaffDate | None = Field(default=None, alias="to", description="截止日期（含），默认起始日期后30天；跨度不超过366天")



class ReceptionDayIn(ApiModel):
    """Exactly one of: `deputy_ids`; `move_to` with `reason`; `cancel` with `reason`; `restore`."""

    deputy_ids: list[DeputyId] | None = Field(default=None, max_length=PER_DAY_MAX,
                                              description="设置当天值班代表（须为本站当日的代表；空列表表示无人值班）")
    move_to: StaffDate | None = Field(default=None, description="调整到该日期（原定日期前后31天以内，不能与本站其他接待日重合）")
    cancel: Literal[True] | None = Field(default=None, description="取消当天接待")
    restore: Literal[True] | None = Field(default=None, description="撤销调整或取消，恢复到原定日期")
    reason: Reason = Field(default=None, description="调整或取消的原因（调整、取消时必填），如「国庆假期顺延」")

    @model_validator(mode="after")
    def _one_action(self):
        given = [name for name in ("deputy_ids", "move_to", "cancel", "restore") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("请在 deputy_ids、move_to、cancel、restore 中选择且只选择一项")
        return self


class DeputyRef(ApiModel):
    id: int
    name: str


class DutyOut(ApiModel):
    id: int = Field(description="代表 id")
    name: str
    replaces_deputy_id: int | None = Field(description="替谁值班（原排班代表请假）")


class CheckInRef(ApiModel):
    deputy_id: int
    name: str
    checked_in_at: BeijingDateTime
    on_duty: bool = Field(description="当天是否在值班名单中")
    is_far: bool = Field(description="签到位置离联络站较远")


class RosterRef(ApiModel):
    id: int
    month: str = Field(examples=["2027-01"])
    status: Literal["draft", "published"]


class StationBrief(ApiModel):
    id: int
    name: str


class ReceptionDayDetail(ApiModel):
    station: StationBrief
    date: dt.date = Field(description="接待日期（已取消的为原定日期）")
    rule_date: dt.date = Field(description="按规则原定的日期；调整过的接待日与 date 不同")
    moved: bool
    cancelled: bool
    reason: str | None = Field(description="调整或取消的原因")
    roster: RosterRef | None = Field(description="所属月份（按原定日期）的排班；null 表示尚未排班")
    deputies: list[DutyOut] = Field(description="值班代表（含草稿）")
    check_ins: list[CheckInRef] = Field(description="当天在本站签到的代表")


class ReceptionDayOut(ApiModel):
    reception_day: ReceptionDayDetail


class ReceptionDayList(ApiModel):
    items: list[ReceptionDayDetail]


# --- rosters ------------------------------------------------------------------------------------

class RosterGenerateIn(ApiModel):
    deputies_per_day: StrictInt | None = Field(
        default=None, ge=1, le=PER_DAY_MAX,
        description="每个接待日的值班代表人数；不填则沿用本站上次的设置（首次为系统默认，通常为2）")


class DutyCount(ApiModel):
    deputy_id: int
    name: str
    duties: int = Field(description="本月值班次数")


class RosterDetail(ApiModel):
    id: int
    station: StationBrief
    month: str = Field(examples=["2027-01"])
    status: Literal["draft", "published"]
    deputies_per_day: int
    generated_at: BeijingDateTime
    published_at: BeijingDateTime | None
    days: list[ReceptionDayDetail] = Field(description="本月接待日（按原定日期归月，调整到下月的仍属本月）")
    counts: list[DutyCount]


class RosterOut(ApiModel):
    roster: RosterDetail


# --- leave --------------------------------------------------------------------------------------

class LeaveIn(ApiModel):
    starts_on: StaffDate
    ends_on: StaffDate = Field(description="结束日期（含）")
    reason: Reason = Field(default=None, description="请假事由")


class SwapOut(ApiModel):
    station: StationBrief
    date: dt.date
    substitute: DeputyRef | None = Field(description="顶替值班的代表；null 表示无人可替，当天少一人")


class LeaveDetail(ApiModel):
    id: int
    deputy_id: int
    starts_on: dt.date
    ends_on: dt.date
    reason: str | None
    created_at: BeijingDateTime


class LeaveCreatedDetail(LeaveDetail):
    swapped: list[SwapOut] = Field(description="因请假调换的值班（今天及以后已排班的）")


class LeaveCreatedOut(ApiModel):
    leave: LeaveCreatedDetail


class LeaveOut(ApiModel):
    leave: LeaveDetail


class LeaveList(ApiModel):
    items: list[LeaveDetail]


# --- a deputy's schedule --------------------------------------------------------------------------

class ScheduleStation(ApiModel):
    id: int
    name: str
    address: str


class ScheduleItem(ApiModel):
    date: dt.date
    station: ScheduleStation
    rule_date: dt.date | None = Field(description="调整过的接待日的原定日期；未调整为 null")
    fellow_deputies: list[DeputyRef] = Field(description="同一天在该站值班的其他代表")
    replaces: DeputyRef | None = Field(description="替请假的哪位代表值班")


class ScheduleOut(ApiModel):
    items: list[ScheduleItem]
