"""Staff follow deputies' duty: reception records, attendance, deputies' duty records, and the
points rules (履职积分细则)."""
from __future__ import annotations

from dataclasses import asdict

from backend import clock
from backend.auth import Caller
from backend.permissions import access_managed_deputy
from backend.services.duty import attendance, points, reception_records
from backend.services.duty.attendance import Attendance
from backend.services.duty.points import RuleChange
from backend.services.issues.issue_schemas import NamedRef
from backend.web.endpoint import ApiBlueprint
from miniprogram_api.duty.attendance_schemas import (
    AttendanceDetail,
    AttendanceFigures,
    AttendanceOut,
    DeputyAttendance,
    DutyRecordOut,
    PeriodQuery,
    PointsRuleList,
    PointsRuleOut,
    PointsRulesIn,
    ReceptionRecordPage,
    ReceptionRecordQuery,
    StationAttendance,
    YearQuery,
)
from miniprogram_api.duty.deputy_attendance import duty_record_out, reception_record_detail
from models import PointsRule, Role, db

bp = ApiBlueprint("manage_attendance", __name__, tag="履职管理")

STAFF = {Role.station_manager, Role.region_admin}
ADMIN = {Role.region_admin}
SCOPE_ERRORS = ["station_not_found", "not_found"]


def period(query: PeriodQuery):
    """The query's period, by default from 1 January of this year to today (Beijing)."""
    today = clock.beijing_today()
    start = query.date_from or today.replace(month=1, day=1)
    end = query.date_to or max(today, start)
    return start, end


@bp.get("/manage/reception-records", query=ReceptionRecordQuery, response=ReceptionRecordPage, roles=STAFF,
        errors=["station_not_found"])
def reception_record_list(caller: Caller, query: ReceptionRecordQuery):
    """接待登记：本人管理的联络站（区域管理员：本区域）的，按接待日期从近到远，可按联络站、日期筛选"""
    if query.station is not None:
        attendance.scoped_station_ids(caller, station_id=query.station)
    select = reception_records.records_select(caller, station_id=query.station, start=query.date_from,
                                              end=query.date_to)
    count = db.session.scalar(db.select(db.func.count()).select_from(select.order_by(None).subquery()))
    records = db.session.scalars(select.limit(query.per_page).offset((query.page - 1) * query.per_page)).all()
    refs = reception_records.refs_of(list(records))
    return ReceptionRecordPage(items=[reception_record_detail(r, refs) for r in records], page=query.page,
                               per_page=query.per_page, total=count)


def _figures(figures: Attendance) -> dict:
    return {**asdict(figures), "rate": figures.rate}


@bp.get("/manage/attendance", query=PeriodQuery, response=AttendanceOut, roles=STAFF, errors=SCOPE_ERRORS)
def attendance_report(caller: Caller, query: PeriodQuery):
    """出勤统计：按代表、按联络站的排班、到站、请假、缺勤、排班外进站和出勤率

    只计已发布的排班、截至今天的日期；出勤率 = 到站 ÷ 排班。站长看本人管理的联络站，区域管理员看本区域。
    """
    start, end = period(query)
    report = attendance.attendance_report(caller, start, end, station_id=query.station)
    return AttendanceOut(attendance=AttendanceDetail(
        date_from=start, date_to=end, totals=AttendanceFigures(**_figures(report.totals)),
        stations=[StationAttendance(station=NamedRef(id=s.id, name=s.name), **_figures(f))
                  for s, f in report.stations],
        deputies=[DeputyAttendance(deputy=NamedRef(id=d.id, name=d.name), **_figures(f))
                  for d, f in report.deputies]))


@bp.get("/manage/deputies/<int:deputy_id>/record", query=YearQuery, response=DutyRecordOut, roles=STAFF,
        errors=["not_found"])
def deputy_record(caller: Caller, deputy_id: int, query: YearQuery):
    """代表履职档案（本人管理的联络站编组过的代表），内容同代表本人所见"""
    return duty_record_out(access_managed_deputy(caller, deputy_id), query.year)


def _rules() -> PointsRuleList:
    return PointsRuleList(items=[_rule(r) for r in points.list_rules()])


def _rule(rule: PointsRule) -> PointsRuleOut:
    return PointsRuleOut(code=rule.code, label=rule.label, points=rule.points, is_active=rule.is_active)


@bp.get("/manage/points-rules", response=PointsRuleList, roles=ADMIN)
def points_rules(caller: Caller):
    """履职积分规则"""
    return _rules()


@bp.put("/manage/points-rules", body=PointsRulesIn, response=PointsRuleList, roles=ADMIN)
def update_points_rules(caller: Caller, body: PointsRulesIn):
    """修改履职积分规则：分值、名称、停用或启用

    已生成的积分不改写：代表的积分下次生成时，对受影响的记录追加撤销记录，并按新分值重新记入。
    """
    points.update_rules([RuleChange(code=c.code, points=c.points, label=c.label, is_active=c.is_active)
                         for c in body.items])
    return _rules()
