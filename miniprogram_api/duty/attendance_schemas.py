"""Schemas of check-ins (签到), reception records (接待登记), attendance, statistics, the duty
record (履职档案) and the points rules (履职积分)."""
from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from backend.services.duty.points import LABEL_MAX, POINTS_LIMIT
from backend.services.duty.reception_records import RESIDENTS_MAX, TOPICS_MAX
from backend.services.issues.issue_schemas import NamedRef, PageQuery
from backend.services.issues.queue_schemas import EARLIEST, LATEST
from backend.validation import MAX_ROW_ID, ApiModel, BeijingDateTime, FilterQuery


def _trimmed(value):
    return value.strip() if isinstance(value, str) else value


class PeriodQuery(FilterQuery):
    station: int | None = Field(default=None, ge=1, le=MAX_ROW_ID, description="联络站 id")
    date_from: date | None = Field(default=None, alias="from", ge=EARLIEST, le=LATEST,
                                   description="起始日期（北京时间），含当日；默认当年1月1日")
    date_to: date | None = Field(default=None, alias="to", ge=EARLIEST, le=LATEST,
                                 description="截止日期（北京时间），含当日；默认今天")

    @field_validator("date_to")
    @classmethod
    def _not_before_from(cls, value: date | None, info: ValidationInfo) -> date | None:
        start = info.data.get("date_from")
        if value is not None and start is not None and value < start:
            raise ValueError("结束日期不能早于开始日期")
        return value


class StatsQuery(PeriodQuery):
    region: str | None = Field(default=None, pattern=r"^[0-9]{12}$", description="行政区划代码（12位）")


class YearQuery(ApiModel):
    year: int | None = Field(default=None, ge=2000, le=2100, description="年份，默认今年")


# --- check-ins ---------------------------------------------------------------------------------

class CheckInIn(ApiModel):
    scene: str = Field(min_length=1, max_length=32, description="扫描联络站二维码得到的 scene")
    lat: float | None = Field(default=None, ge=-90, le=90, description="纬度（GCJ-02），与 lng 同时提供")
    lng: float | None = Field(default=None, ge=-180, le=180, description="经度（GCJ-02），与 lat 同时提供")

    @model_validator(mode="after")
    def _both_or_neither(self):
        if (self.lat is None) != (self.lng is None):
            raise ValueError("经纬度须同时提供，或都不提供")
        return self


class CheckInDetail(ApiModel):
    id: int
    station: NamedRef
    deputy_id: int
    date: date
    checked_in_at: BeijingDateTime
    lat: float | None
    lng: float | None
    distance_m: float | None = Field(description="与联络站的距离（米）；未提供位置时为 null")
    is_far: bool = Field(description="距联络站超过500米：照常记录，提示工作人员核实")
    on_reception_day: bool = Field(description="当日是该站接待日")
    on_duty: bool = Field(description="当日在已发布的排班中：计为按排班进站；否则为排班外进站")


class CheckInOut(ApiModel):
    check_in: CheckInDetail


# --- reception records -------------------------------------------------------------------------

Topics = Annotated[str, BeforeValidator(_trimmed), Field(min_length=1, max_length=TOPICS_MAX)]


class ReceptionRecordIn(ApiModel):
    station_id: int = Field(ge=1, le=MAX_ROW_ID)
    on_date: date = Field(alias="date", ge=EARLIEST, le=LATEST, description="接待日期（北京时间），不能晚于今天")
    residents: int = Field(ge=1, le=RESIDENTS_MAX, description="接待群众人数")
    topics: Topics = Field(description="反映的主要问题")
    issue_no: str | None = Field(default=None, min_length=1, max_length=20,
                                 description="关联本站一条意见建议的编号（可选）")
    deputy_id: int | None = Field(default=None, ge=1, le=MAX_ROW_ID,
                                  description="仅工作人员登记时填写：接待的代表；代表登记时即为本人")


class ReceptionRecordDetail(ApiModel):
    id: int
    station: NamedRef
    date: date
    deputy: NamedRef | None
    residents: int
    topics: str
    issue_no: str | None
    created_at: BeijingDateTime


class ReceptionRecordOut(ApiModel):
    reception_record: ReceptionRecordDetail


class ReceptionRecordQuery(PeriodQuery, PageQuery):
    pass


class ReceptionRecordPage(ApiModel):
    items: list[ReceptionRecordDetail]
    page: int
    per_page: int
    total: int


# --- attendance and statistics -----------------------------------------------------------------

class _Period(ApiModel):
    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True)

    date_from: date = Field(alias="from")
    date_to: date = Field(alias="to")


class AttendanceFigures(ApiModel):
    assigned: int = Field(description="排班天数：已发布排班中、截至今天的")
    attended: int = Field(description="按排班到站签到的")
    on_leave: int = Field(description="请假的（不计缺勤）")
    missed: int = Field(description="缺勤：已过去、未签到、未请假的")
    pending: int = Field(description="今天排班、尚未签到的")
    check_ins: int = Field(description="签到次数")
    extra_visits: int = Field(description="排班外进站")
    far_check_ins: int = Field(description="距联络站超过500米的签到")
    rate: float | None = Field(description="出勤率 = 到站 ÷ 排班，4位小数；无排班时为 null")


class StationAttendance(AttendanceFigures):
    station: NamedRef


class DeputyAttendance(AttendanceFigures):
    deputy: NamedRef


class AttendanceDetail(_Period):
    totals: AttendanceFigures
    stations: list[StationAttendance]
    deputies: list[DeputyAttendance]


class AttendanceOut(ApiModel):
    attendance: AttendanceDetail


class StatsDetail(_Period):
    received: int = Field(description="期间收到的意见建议")
    accepted: int = Field(description="其中已受理的")
    resolved: int = Field(description="其中已办结（含已关闭）的")
    rejected: int = Field(description="其中不予受理的")
    pending_review: int = Field(description="其中待审核的")
    resolution_rate: float | None = Field(description="办结率 = 办结 ÷ (收到 − 不予受理 − 待审核)，4位小数")
    ratings: int = Field(description="其中的满意度测评次数")
    satisfaction_rate: float | None = Field(description="满意率 = (满意 + 基本满意) ÷ 测评次数")
    avg_first_response_hours: float | None = Field(description="提交到首次答复的平均小时数")
    overdue: int = Field(description="其中当前已超期（督办红色）的")
    check_ins: int = Field(description="期间的签到次数")
    duty_days_assigned: int
    duty_days_attended: int
    attendance_rate: float | None = Field(description="出勤率 = 到站 ÷ 排班")
    as_of: BeijingDateTime | None = Field(description="此前各日汇总数据的计算时间；今天及未汇总的日期为实时统计；全部实时时为空")


class StatsOut(ApiModel):
    stats: StatsDetail


# --- the duty record and points ----------------------------------------------------------------

class PointsCause(ApiModel):
    type: str = Field(description="duty_assignment 排班 · check_in 签到 · issue 意见建议 · rating 评价")
    id: int


class PointsEntryOut(ApiModel):
    id: int
    date: date
    rule_code: str
    label: str
    points: int
    cause: PointsCause
    note: str | None
    reverses_id: int | None = Field(description="撤销的那一条积分记录")


class DutyRecordDetail(ApiModel):
    deputy: NamedRef
    year: int
    duty_days: int = Field(description="排班天数（已发布、截至今天）")
    attended: int
    on_leave: int
    missed: int
    extra_visits: int
    check_ins: int
    residents_received: int = Field(description="接待登记的群众人次")
    receptions: int = Field(description="接待登记条数")
    issues_answered: int = Field(description="答复的意见建议（按首次答复的年份）")
    answered_on_time: int
    on_time_share: float | None = Field(description="按期答复占比")
    satisfaction: float | None = Field(description="所答复意见建议的满意率（满意 + 基本满意）")
    points: int = Field(description="履职积分，等于 entries 之和")
    entries: list[PointsEntryOut]


class DutyRecordOut(ApiModel):
    record: DutyRecordDetail


class PointsRuleOut(ApiModel):
    code: str
    label: str
    points: int
    is_active: bool


class PointsRuleList(ApiModel):
    items: list[PointsRuleOut]


Label = Annotated[str, BeforeValidator(_trimmed), Field(min_length=1, max_length=LABEL_MAX)]


class PointsRuleChange(ApiModel):
    code: str = Field(min_length=1, max_length=32)
    points: int | None = Field(default=None, ge=-POINTS_LIMIT, le=POINTS_LIMIT)
    label: Label | None = None
    is_active: bool | None = None

    @model_validator(mode="after")
    def _something(self):
        if self.points is None and self.label is None and self.is_active is None:
            raise ValueError("请至少提供一项要修改的内容")
        return self


class PointsRulesIn(ApiModel):
    items: list[PointsRuleChange] = Field(min_length=1, max_length=20)

