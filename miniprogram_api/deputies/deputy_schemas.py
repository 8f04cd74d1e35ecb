"""Schemas of deputies as staff manage them: terms (届次), groupings into stations (编组) and
retirement (离任)."""
from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BeforeValidator, Field

from backend.services.deputies.retirement import REASON_MAX
from backend.validation import ApiModel, BeijingDateTime
from miniprogram_api.schemas import Level, StationRefOut

# Earlier or later dates are typos, not terms.
EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 12, 31)

TermDate = Annotated[date, Field(ge=EARLIEST, le=LATEST)]


def _blank_is_none(value):
    if isinstance(value, str):
        return value.strip() or None
    return value


class ManagedSeat(ApiModel):
    id: int
    level: Level
    level_label: str
    congress: str
    term: int
    term_label: str = Field(description="如「第十八届」")
    started_on: date
    ended_on: date | None = Field(description="任期最后一天（含）；空：尚未结束")
    current: bool = Field(description="今天（北京时间）在任")


class ManagedMembership(ApiModel):
    id: int
    station: StationRefOut
    started_on: date
    ended_on: date | None = Field(description="编组最后一天（含）；空：尚未结束")
    is_leader: bool = Field(description="站长代表")
    current: bool = Field(description="今天（北京时间）在该站")
    managed: bool = Field(description="调用者管理该联络站，可结束此编组")


class ManagedDeputy(ApiModel):
    id: int
    name: str
    gender: str | None
    occupation: str | None
    photo_url: str | None
    phone: str | None = Field(description="联系电话，仅工作人员可见")
    wechat_bound: bool = Field(description="已用邀请码绑定微信")
    retired: bool
    retired_at: BeijingDateTime | None = Field(description="办理离任的时间")
    seats: list[ManagedSeat] = Field(description="全部任期，最近的在前")
    memberships: list[ManagedMembership] = Field(description="全部编组（含已结束的），最近的在前")


class ManagedDeputyOut(ApiModel):
    deputy: ManagedDeputy


class MembershipCreate(ApiModel):
    deputy_id: int = Field(ge=1, le=2**31 - 1)
    started_on: TermDate | None = Field(default=None, description="编组开始日期（北京时间，含当日），默认今天")
    is_leader: bool = Field(default=False, description="站长代表")


class MembershipEnd(ApiModel):
    ended_on: TermDate | None = Field(default=None, description="编组最后一天（北京时间，含当日），默认今天")


class MembershipOut(ApiModel):
    membership: ManagedMembership
    dropped_duty_days: int = Field(default=0, description="随编组结束而取消的排班天数（此后的排班）")


class RetireIn(ApiModel):
    retired_on: TermDate | None = Field(default=None, description="离任日期（北京时间，含当日仍在任），默认今天，不能晚于今天")
    reason: Annotated[Annotated[str, Field(max_length=REASON_MAX)] | None, BeforeValidator(_blank_is_none)] = Field(
        default=None, description="离任原因，如「调离本县」，记入转交的意见建议")


class DroppedDutyOut(ApiModel):
    station_id: int
    date: date
    roster_published: bool = Field(description="该排班已发布（居民可见的值班代表少了一位）")


class RetirementOut(ApiModel):
    deputy: ManagedDeputy
    retired_on: date
    handed_over_issues: int = Field(description="转交站长办理的意见建议条数")
    handed_over_issue_nos: list[str]
    dropped_duty_days: int = Field(description="取消的排班天数（离任日期之后的）")
    dropped_duty: list[DroppedDutyOut]
    expired_invites: int = Field(description="作废的未使用邀请码数")
