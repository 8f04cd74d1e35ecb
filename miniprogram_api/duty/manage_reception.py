"""Staff run reception days (接待日): the rules of stations and regions, single days moved or
cancelled, duty rosters (排班) and deputies' leave (请假)."""
from __future__ import annotations

import re
from collections import Counter
from datetime import date, timedelta

from backend import clock
from backend.auth import Caller
from backend.errors import DeputyNotFound, InvalidInput
from backend.permissions import access_managed_deputy
from backend.services.duty import reception_days, rosters
from backend.services.duty.reception import RuleSource
from backend.services.duty.rosters import DayRow, Swap
from backend.services.issues.queue_schemas import EARLIEST, LATEST
from backend.validation import MAX_ROW_ID
from backend.web.endpoint import ApiBlueprint
from miniprogram_api.duty.reception_schemas import (
    CheckInRef,
    DeputyRef,
    DutyCount,
    DutyOut,
    LeaveCreatedDetail,
    LeaveCreatedOut,
    LeaveDetail,
    LeaveIn,
    LeaveList,
    LeaveOut,
    ReceptionDayDetail,
    ReceptionDayIn,
    ReceptionDayList,
    ReceptionDayOut,
    ReceptionDaysQuery,
    ReceptionRuleIn,
    RosterDetail,
    RosterGenerateIn,
    RosterOut,
    RosterRef,
    RuleOut,
    RuleSettingDetail,
    RuleSettingOut,
    SourceRegion,
    StationBrief,
    SwapOut,
)
from models import (
    DeputyLeave,
    DutyRoster,
    ReceptionRule,
    ReceptionRuleKind,
    Role,
    Station,
)

bp = ApiBlueprint("manage_reception", __name__, tag="接待日与排班")

STAFF = {Role.station_manager, Role.region_admin}
ADMIN = {Role.region_admin}

# ASCII digits only: `\d` would let full-width ２０２７ through to the date parser.
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
DEFAULT_SPAN_DAYS = 30
MAX_SPAN_DAYS = 366


def _path_date(raw: str) -> date:
    """:raise 400 invalid_input: not YYYY-MM-DD, no such day, or outside 2000–2100."""
    if not _DATE.fullmatch(raw):
        raise InvalidInput({"date": "日期格式应为 YYYY-MM-DD"})
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput({"date": "不是有效的日期"}) from None
    if not EARLIEST <= day <= LATEST:
        raise InvalidInput({"date": "日期应在2000年至2100年之间"})
    return day


def _path_month(raw: str) -> date:
    """:raise 400 invalid_input: not YYYY-MM, or outside 2000–2100."""
    match = _MONTH.fullmatch(raw)
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise InvalidInput({"month": "月份格式应为 YYYY-MM，如 2027-01"})
    month = date(int(match.group(1)), int(match.group(2)), 1)
    if not EARLIEST <= month <= LATEST:
        raise InvalidInput({"month": "月份应在2000年至2100年之间"})
    return month


# --- rules --------------------------------------------------------------------------------------

def _rule(rule: ReceptionRule | None) -> RuleOut | None:
    return RuleOut(kind=rule.kind.value, days=list(rule.days), label=rule.label) if rule is not None else None


def _setting(own: ReceptionRule | None, found: RuleSource) -> RuleSettingOut:
    region = found.region
    return RuleSettingOut(reception_rule=RuleSettingDetail(
        own=_rule(own), effective=_rule(found.rule), source=found.source,
        source_region=SourceRegion(code=region.code, name=region.name) if region is not None else None))


def _built(body: ReceptionRuleIn) -> ReceptionRule:
    return reception_days.build_rule(ReceptionRuleKind(body.kind), body.days, body.label)


@bp.get("/manage/stations/<int:station_id>/reception-rule", response=RuleSettingOut, roles=STAFF,
        errors=["station_not_found"])
def station_rule(caller: Caller, station_id: int):
    """联络站的接待日规则：自己设置的、实际执行的及其来源"""
    station = reception_days.access_managed_station(caller, station_id)
    return _setting(station.reception_rule, reception_days.station_rule(station))


@bp.put("/manage/stations/<int:station_id>/reception-rule", body=ReceptionRuleIn, response=RuleSettingOut,
        roles=STAFF, errors=["station_not_found"])
def set_station_rule(caller: Caller, station_id: int, body: ReceptionRuleIn):
    """设置联络站自己的接待日规则（如逢六、每周三、每月10日和25日）

    每月日期为1至31且不能重复，星期为1至7。不填名称时自动生成。今后不再是接待日的已排班值班随之取消。
    """
    station = reception_days.access_managed_station(caller, station_id)
    found = reception_days.set_station_rule(caller, station, _built(body))
    return _setting(station.reception_rule, found)


@bp.delete("/manage/stations/<int:station_id>/reception-rule", response=RuleSettingOut, roles=STAFF,
           errors=["station_not_found"])
def clear_station_rule(caller: Caller, station_id: int):
    """取消联络站自己的规则，恢复沿用所在行政区划（或系统默认）的规则"""
    station = reception_days.access_managed_station(caller, station_id)
    return _setting(None, reception_days.set_station_rule(caller, station, None))


@bp.get("/manage/regions/<code>/reception-rule", response=RuleSettingOut, roles=ADMIN, errors=["not_found"])
def region_rule(caller: Caller, code: str):
    """行政区划的接待日规则（区域管理员，本辖区及下级）"""
    region = reception_days.access_managed_region(caller, code)
    return _setting(region.reception_rule, reception_days.region_rule(region))


@bp.put("/manage/regions/<code>/reception-rule", body=ReceptionRuleIn, response=RuleSettingOut, roles=ADMIN,
        errors=["not_found"])
def set_region_rule(caller: Caller, code: str, body: ReceptionRuleIn):
    """设置行政区划的接待日规则，下级未自行设置的行政区划和联络站随之执行"""
    region = reception_days.access_managed_region(caller, code)
    found = reception_days.set_region_rule(caller, region, _built(body))
    return _setting(region.reception_rule, found)


@bp.delete("/manage/regions/<code>/reception-rule", response=RuleSettingOut, roles=ADMIN, errors=["not_found"])
def clear_region_rule(caller: Caller, code: str):
    """取消行政区划自己的规则，恢复沿用上级（或系统默认）的规则"""
    region = reception_days.access_managed_region(caller, code)
    return _setting(None, reception_days.set_region_rule(caller, region, None))


# --- days ---------------------------------------------------------------------------------------

def _month_label(month: date) -> str:
    return month.isoformat()[:7]


def _day(row: DayRow) -> ReceptionDayDetail:
    on_duty = {a.deputy_id for a in row.duty}
    roster = row.roster
    return ReceptionDayDetail(
        station=StationBrief(id=row.station.id, name=row.station.name),
        date=row.date, rule_date=row.rule_date, moved=row.moved, cancelled=row.cancelled, reason=row.reason,
        roster=RosterRef(id=roster.id, month=_month_label(roster.month), status=roster.status.value)
        if roster is not None else None,
        deputies=[DutyOut(id=a.deputy_id, name=a.deputy.name, replaces_deputy_id=a.replaces_deputy_id)
                  for a in row.duty],
        check_ins=[CheckInRef(deputy_id=c.deputy_id, name=c.deputy.name, checked_in_at=c.checked_in_at,
                              on_duty=c.deputy_id in on_duty, is_far=c.is_far) for c in row.check_ins],
    )


@bp.get("/manage/reception-days", query=ReceptionDaysQuery, response=ReceptionDayList, roles=STAFF,
        errors=["station_not_found"])
def reception_days_list(caller: Caller, query: ReceptionDaysQuery):
    """接待日：实际接待日期（含调整、取消的）、排班状态、值班代表和签到情况

    不指定联络站时列出本人管理的全部联络站。默认从今天起30天，跨度最长366天。
    """
    start = query.date_from or clock.beijing_today()
    end = query.date_to or start + timedelta(DEFAULT_SPAN_DAYS)
    if end < start:
        raise InvalidInput({"to": "结束日期不能早于开始日期"})
    if (end - start).days >= MAX_SPAN_DAYS:
        raise InvalidInput({"to": f"查询跨度不能超过{MAX_SPAN_DAYS}天"})
    if query.station is not None:
        stations = [reception_days.access_managed_station(caller, query.station)]
    else:
        stations = reception_days.managed_stations(caller)
    return ReceptionDayList(items=[_day(row) for row in rosters.day_rows(stations, start, end)])


def _one_day(station: Station, day: date, rule_date: date) -> ReceptionDayDetail:
    # A cancelled day and another day moved onto its date share the date: the rule date tells.
    return _day(next(r for r in rosters.day_rows([station], day, day) if r.date == day and r.rule_date == rule_date))


@bp.put("/manage/reception-days/<int:station_id>/<day>", body=ReceptionDayIn, response=ReceptionDayOut,
        roles=STAFF, errors=["station_not_found", "not_found", "conflict"])
def change_day(caller: Caller, station_id: int, day: str, body: ReceptionDayIn):
    """调整某个接待日：设置值班代表、改期、取消或恢复

    路径中的日期为实际接待日期；已取消或已改期的，也可用原定日期。请求体四选一：
    `{"deputy_ids": [...]}`（须为本站当日的代表，不能是当日请假的）；`{"move_to", "reason"}`
    改期（原定日期前后31天内，不能与本站其他接待日重合，值班代表随之改期）；`{"cancel": true, "reason"}`
    取消（当天值班随之取消）；`{"restore": true}` 恢复到原定日期。已过去的接待日不能调整。
    """
    station = reception_days.access_managed_station(caller, station_id)
    ref = reception_days.locate_day(station, _path_date(day))
    now_on = reception_days.change_day(caller.user_id, station, ref, deputy_ids=body.deputy_ids,
                                       move_to=body.move_to, cancel=bool(body.cancel),
                                       restore=bool(body.restore), reason=body.reason)
    return ReceptionDayOut(reception_day=_one_day(station, now_on, ref.rule_date))


# --- rosters ------------------------------------------------------------------------------------

def _roster(station: Station, roster: DutyRoster) -> RosterOut:
    rows = rosters.roster_rows(station, roster)
    counts = Counter(a.deputy_id for row in rows for a in row.duty)
    names = {a.deputy_id: a.deputy.name for row in rows for a in row.duty}
    return RosterOut(roster=RosterDetail(
        id=roster.id, station=StationBrief(id=station.id, name=station.name), month=_month_label(roster.month),
        status=roster.status.value, deputies_per_day=roster.deputies_per_day, generated_at=roster.generated_at,
        published_at=roster.published_at, days=[_day(r) for r in rows],
        counts=[DutyCount(deputy_id=i, name=names[i], duties=n) for i, n in sorted(counts.items())]))


@bp.get("/manage/stations/<int:station_id>/rosters/<month>", response=RosterOut, roles=STAFF,
        errors=["invalid_input", "station_not_found", "not_found"])
def roster(caller: Caller, station_id: int, month: str):
    """某月排班（草稿或已发布）：每个接待日的值班代表和每位代表的值班次数"""
    station = reception_days.access_managed_station(caller, station_id)
    return _roster(station, rosters.require_roster(station.id, _path_month(month)))


@bp.post("/manage/stations/<int:station_id>/rosters/<month>/generate", body=RosterGenerateIn, response=RosterOut,
         roles=STAFF, errors=["station_not_found", "conflict"])
def generate_roster(caller: Caller, station_id: int, month: str, body: RosterGenerateIn):
    """按轮换自动生成某月排班（草稿；草稿可重新生成）

    按本站当日在编、未离任的代表公平轮换，承接此前12个月的值班次数；当日请假的由下一位顶替。
    已发布的排班不能重新生成（409），请逐日调整。不能为已过去的月份排班。
    """
    station = reception_days.access_managed_station(caller, station_id)
    generated = rosters.generate_roster(caller.user_id, station, _path_month(month), body.deputies_per_day)
    return _roster(station, generated)


@bp.post("/manage/stations/<int:station_id>/rosters/<month>/publish", response=RosterOut, roles=STAFF,
         errors=["invalid_input", "station_not_found", "not_found"])
def publish_roster(caller: Caller, station_id: int, month: str):
    """发布某月排班：代表可在「我的排班」中看到，扫码页显示当天值班代表"""
    station = reception_days.access_managed_station(caller, station_id)
    return _roster(station, rosters.publish_roster(caller.user_id, station, _path_month(month)))


# --- leave --------------------------------------------------------------------------------------

def _leave(leave: DeputyLeave, cls=LeaveDetail, **extra):
    return cls(id=leave.id, deputy_id=leave.deputy_id, starts_on=leave.starts_on, ends_on=leave.ends_on,
               reason=leave.reason, created_at=leave.created_at, **extra)


def _swap(swap: Swap, names: dict[int, str]) -> SwapOut:
    substitute = swap.substitute_id
    return SwapOut(station=StationBrief(id=swap.station.id, name=swap.station.name), date=swap.date,
                   substitute=DeputyRef(id=substitute, name=names[substitute]) if substitute is not None else None)


def _managed_deputy(caller: Caller, deputy_id: int):
    """:raise 404 not_found: as `access_managed_deputy`, also for ids no row can have."""
    if deputy_id > MAX_ROW_ID:
        raise DeputyNotFound()
    return access_managed_deputy(caller, deputy_id)


@bp.get("/manage/deputies/<int:deputy_id>/leaves", response=LeaveList, roles=STAFF, errors=["not_found"])
def leaves(caller: Caller, deputy_id: int):
    """代表的请假记录，最近的在前"""
    deputy = _managed_deputy(caller, deputy_id)
    return LeaveList(items=[_leave(leave) for leave in rosters.list_leaves(deputy)])


@bp.post("/manage/deputies/<int:deputy_id>/leaves", body=LeaveIn, response=LeaveCreatedOut, status=201,
         roles=STAFF, idempotent=True, errors=["not_found", "conflict"])
def record_leave(caller: Caller, deputy_id: int, body: LeaveIn):
    """登记代表请假：今天及以后已排班（含已发布）的值班由轮换中的下一位代表顶替

    日期含首尾，一次最长366天，不能与已登记的请假重叠。支持 `Idempotency-Key`。
    """
    deputy = _managed_deputy(caller, deputy_id)
    leave, swaps = rosters.record_leave(caller.user_id, deputy, body.starts_on, body.ends_on, body.reason)
    names = rosters.deputy_names({s.substitute_id for s in swaps if s.substitute_id is not None})
    return LeaveCreatedOut(leave=_leave(leave, LeaveCreatedDetail, swapped=[_swap(s, names) for s in swaps]))


@bp.delete("/manage/deputies/<int:deputy_id>/leaves/<int:leave_id>", response=LeaveOut, roles=STAFF,
           errors=["not_found"])
def delete_leave(caller: Caller, deputy_id: int, leave_id: int):
    """删除请假记录（已调换的值班不会自动换回）"""
    deputy = _managed_deputy(caller, deputy_id)
    return LeaveOut(leave=_leave(rosters.delete_leave(caller.user_id, deputy, leave_id)))
