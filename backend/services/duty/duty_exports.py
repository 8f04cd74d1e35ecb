"""Excel exports of 接待登记 (reception records), 出勤 (attendance) and a deputy's 履职档案 (duty
record), each over the function its console page and API answer read — `records_select`,
`attendance_report`, `duty_record` — with the page's filters, so a file never disagrees with
the screen it was downloaded from."""
from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from backend.auth import Caller
from backend.errors import InvalidInput
from backend.services.duty import attendance, duty_records, reception_records
from backend.spreadsheets import Column, Sheet, workbook
from models import Deputy, Station, db

# A county's receptions over a year are a few thousand; more is a filter left too wide.
RECORDS_MAX_ROWS = 20_000

ATTENDANCE_COLUMNS = [Column("排班（天）", 10, "number"), Column("到岗", 8, "number"), Column("请假", 8, "number"),
                      Column("缺勤", 8, "number"), Column("待到岗", 8, "number"), Column("履职率", 9, "percent"),
                      Column("签到次数", 9, "number"), Column("非接待日进站", 12, "number"),
                      Column("距离较远的签到", 14, "number")]


def _figures(a: attendance.Attendance) -> list:
    return [a.assigned, a.attended, a.on_leave, a.missed, a.pending, a.rate, a.check_ins, a.extra_visits,
            a.far_check_ins]


def _period(start: date, end: date) -> str:
    return f"期间：{start.isoformat()} 至 {end.isoformat()}（北京时间）"


def attendance_workbook(caller: Caller, start: date, end: date, *, station_id: int | None = None,
                        region_code: str | None = None, scope_label: str = "") -> bytes:
    """出勤 per station and per deputy, as `attendance_report` counts it.

    :raise 403 forbidden · 404: as `attendance_report`.
    """
    report = attendance.attendance_report(caller, start, end, station_id=station_id, region_code=region_code)
    caption = [f"代表进站出勤{('：' + scope_label) if scope_label else ''}", _period(start, end)]
    stations = Sheet("按联络站", [Column("联络站", 30), *ATTENDANCE_COLUMNS], caption=caption,
                     rows=[[s.name, *_figures(a)] for s, a in report.stations])
    stations.rows.append(["合计", *_figures(report.totals)])
    deputies = Sheet("按代表", [Column("代表", 12), *ATTENDANCE_COLUMNS], caption=caption,
                     rows=[[d.name, *_figures(a)] for d, a in report.deputies])
    return workbook([stations, deputies])


RECORD_COLUMNS = [Column("接待日期", 12, "date"), Column("联络站", 28), Column("接待代表", 12),
                  Column("接待群众（人次）", 16, "number"), Column("反映的主要问题", 60, "long_text"),
                  Column("关联意见建议", 18), Column("登记时间", 17, "datetime")]


def reception_records_workbook(caller: Caller, *, station_id: int | None = None, start: date | None = None,
                               end: date | None = None, caption: list[str] | None = None) -> bytes:
    """接待登记 of the caller's stations (narrowed as `records_select`), newest first.

    :raise 403 forbidden: no staff account. :raise 400 invalid_input: more than RECORDS_MAX_ROWS.
    """
    query = reception_records.records_select(caller, station_id=station_id, start=start, end=end)
    matched = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    if matched > RECORDS_MAX_ROWS:
        message = f"符合条件的接待登记有{matched}条，超过单次导出上限{RECORDS_MAX_ROWS}条，请缩小时间范围"
        raise InvalidInput({"_query": message}, message=message)
    records = db.session.scalars(query.limit(RECORDS_MAX_ROWS)).all()
    refs = reception_records.refs_of(records)
    rows = [[r.on_date, refs.stations[r.station_id].name,
             refs.deputies[r.deputy_id].name if r.deputy_id in refs.deputies else "",
             r.residents, r.topics, refs.issue_nos.get(r.issue_id, "") if r.issue_id else "", r.created_at]
            for r in records]
    return workbook([Sheet("接待登记", RECORD_COLUMNS, rows=rows, caption=caption or [])])


def duty_record_workbook(deputy: Deputy, year: int) -> bytes:
    """A deputy's 履职档案 of `year`: the figures and the points ledger, as `duty_record` gives
    them (it syncs the ledger first and flushes; the caller commits, as the API does)."""
    record = duty_records.duty_record(deputy.id, year)
    a = record.attendance
    summary = Sheet("履职概况", [Column("项目", 24), Column("数值", 12, "number")],
                    caption=[f"{deputy.name}代表 {year} 年履职档案"], rows=[
        ["排班（天）", a.assigned], ["到岗", a.attended], ["请假", a.on_leave], ["缺勤", a.missed],
        ["非接待日进站", a.extra_visits], ["签到次数", a.check_ins], ["接待群众（人次）", record.residents_received],
        ["接待登记（次）", record.receptions], ["答复意见建议（条）", record.issues_answered],
        ["按期答复（条）", record.answered_on_time], ["群众评价（条）", record.ratings],
        ["满意及基本满意（条）", record.satisfied_ratings], ["履职积分", record.points]])
    rates = Sheet("比率", [Column("项目", 24), Column("比率", 12, "percent")],
                  rows=[["按期答复率", record.on_time_share], ["满意度", record.satisfaction]])
    ledger = Sheet("积分明细", [Column("日期", 12, "date"), Column("事项", 24), Column("积分", 8, "number"),
                              Column("说明", 40, "long_text"), Column("冲销", 8)],
                   rows=[[e.occurred_on, record.labels.get(e.rule_code, e.rule_code), e.points, e.note or "",
                          "是" if e.reverses_id else ""] for e in record.entries])
    return workbook([summary, rates, ledger])


def station_label(station_id: int | None) -> str:
    station = db.session.get(Station, station_id) if station_id else None
    return station.name if station is not None else ""
