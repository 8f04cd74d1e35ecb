"""接待日: a station's month as a calendar — its reception days (moved, cancelled), the roster
(排班) and who is on duty, who checked in and who was absent — and the changes staff make: draft
and publish a month's roster, set a day's deputies, move, cancel or restore a day. Every change
goes through `reception_days` and `rosters`, the services behind /api/v1/manage/reception-days.
The month's 接待登记 and 出勤 download as Excel files (`duty_exports`)."""
from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, timedelta

from flask import g, redirect, render_template, request, url_for

from backend import clock
from backend.console import forms
from backend.console.blueprint import bp
from backend.console.dashboard import xlsx_response
from backend.errors import InvalidInput
from backend.services.duty import duty_exports, reception_days, rosters
from backend.services.duty.reception import month_of
from models import RosterStatus, Station

WEEKDAYS = ("一", "二", "三", "四", "五", "六", "日")


@dataclass
class DutyMark:
    deputy_id: int
    name: str
    state: str  # attended / absent / on_leave / pending (today or later)


@dataclass
class CalendarDay:
    date: date
    in_month: bool
    rows: list[rosters.DayRow] = field(default_factory=list)
    duty: list[DutyMark] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)  # checked in without duty that day


def _month_arg() -> date:
    value = (request.args.get("month") or "").strip()
    return forms.parse_month(value) if value else month_of(clock.beijing_today())


def _station() -> Station | None:
    station_id = forms.int_arg("station", "联络站")
    if station_id is not None:
        return reception_days.access_managed_station(g.staff, station_id)
    return next(iter(forms.station_choices(g.staff)), None)


@bp.get("/reception")
def reception_month():
    month = _month_arg()
    station = _station()
    if station is None:
        return render_template("console/reception.html", station=None, stations=[], month=month)
    weeks = calendar.Calendar(firstweekday=0).monthdatescalendar(month.year, month.month)
    start, end = weeks[0][0], weeks[-1][-1]
    today = clock.beijing_today()
    days = {d: CalendarDay(d, d.month == month.month) for week in weeks for d in week}
    rows = rosters.day_rows([station], start, end)
    leaves = rosters.leaves_between({a.deputy_id for r in rows for a in r.duty}, start, end)
    for row in rows:
        cell = days[row.date]
        cell.rows.append(row)
        came = {c.deputy_id for c in row.check_ins}
        for duty in row.duty:
            on_leave = any(a <= row.date <= b for a, b in leaves.get(duty.deputy_id, ()))
            state = ("attended" if duty.deputy_id in came else "on_leave" if on_leave
                     else "pending" if row.date >= today else "absent")
            cell.duty.append(DutyMark(duty.deputy_id, duty.deputy.name, state))
        on_duty = {a.deputy_id for a in row.duty}
        cell.extra = [c.deputy.name for c in row.check_ins if c.deputy_id not in on_duty]
    return render_template(
        "console/reception.html", station=station, stations=forms.station_choices(g.staff), month=month,
        weeks=[[days[d] for d in week] for week in weeks], weekdays=WEEKDAYS, today=today,
        roster=rosters.get_roster(station.id, month), published=RosterStatus.published,
        previous=rosters.add_months(month, -1), following=rosters.add_months(month, 1),
        per_day=rosters.default_per_day(station.id))


def _back(station: Station, month: date):
    return redirect(url_for("console.reception_month", station=station.id, month=month.isoformat()[:7]))


@bp.post("/reception/<int:station_id>/<month>/generate")
def generate_roster(station_id: int, month: str):
    station = reception_days.access_managed_station(g.staff, station_id)
    first = forms.parse_month(month)
    per_day = forms.int_arg("deputies_per_day", "每天值班人数")
    forms.attempt(lambda: rosters.generate_roster(g.staff.user_id, station, first, per_day),
                  f"已生成 {month} 排班草稿，请检查后发布")
    return _back(station, first)


@bp.post("/reception/<int:station_id>/<month>/publish")
def publish_roster(station_id: int, month: str):
    station = reception_days.access_managed_station(g.staff, station_id)
    first = forms.parse_month(month)
    forms.attempt(lambda: rosters.publish_roster(g.staff.user_id, station, first),
                  f"已发布 {month} 排班，代表和居民现在可以看到")
    return _back(station, first)


@bp.get("/reception/<int:station_id>/<day>")
def reception_day(station_id: int, day: str):
    station = reception_days.access_managed_station(g.staff, station_id)
    ref = reception_days.locate_day(station, forms.parse_date(day))
    row = next((r for r in rosters.day_rows([station], ref.current, ref.current)
                if r.rule_date == ref.rule_date), None)
    serving = [m.deputy for m in rosters.members_of(station.id) if m.serves_on(ref.current)]
    return render_template("console/reception_day.html", station=station, ref=ref, row=row, serving=serving,
                           on_duty={a.deputy_id for a in row.duty} if row else set(),
                           is_over=ref.current < clock.beijing_today(),
                           earliest=max(clock.beijing_today(), ref.rule_date - timedelta(31)),
                           latest=ref.rule_date + timedelta(31))


@bp.post("/reception/<int:station_id>/<day>")
def change_reception_day(station_id: int, day: str):
    station = reception_days.access_managed_station(g.staff, station_id)
    ref = reception_days.locate_day(station, forms.parse_date(day))
    action = request.form.get("action")
    reason = forms.text_arg("reason", 100)
    changes = {
        "deputies": (lambda: {"deputy_ids": _deputy_ids()}, "已更新值班代表"),
        "move": (lambda: {"move_to": forms.date_arg("move_to", "改期日期"), "reason": reason}, "已改期"),
        "cancel": (lambda: {"cancel": True, "reason": reason}, "已取消该接待日"),
        "restore": (lambda: {"restore": True}, "已恢复到原定日期"),
    }
    if action not in changes:
        raise InvalidInput({"action": "未知的操作"})
    arguments, success = changes[action]
    now_on = forms.attempt(lambda: reception_days.change_day(g.staff.user_id, station, ref, **arguments()), success)
    return redirect(url_for("console.reception_day", station_id=station.id, day=(now_on or ref.current).isoformat()))


def _deputy_ids() -> list[int]:
    ids = []
    for value in request.form.getlist("deputy_id"):
        if not value.isdigit() or int(value) > 2**31 - 1:
            raise InvalidInput({"deputy_ids": "代表有误"})
        ids.append(int(value))
    return ids


def _month_span(month: str) -> tuple[date, date]:
    first = forms.parse_month(month)
    return first, rosters.add_months(first, 1) - timedelta(days=1)


@bp.get("/reception/<int:station_id>/<month>/records.xlsx")
def reception_records_xlsx(station_id: int, month: str):
    station = reception_days.access_managed_station(g.staff, station_id)
    start, end = _month_span(month)
    data = duty_exports.reception_records_workbook(
        g.staff, station_id=station.id, start=start, end=end,
        caption=[f"{station.name} 接待登记", f"期间：{start.isoformat()} 至 {end.isoformat()}"])
    return xlsx_response(data, f"接待登记-{station.name}-{month}.xlsx", f"reception-records-{station.id}-{month}.xlsx")


@bp.get("/reception/<int:station_id>/<month>/attendance.xlsx")
def reception_attendance_xlsx(station_id: int, month: str):
    station = reception_days.access_managed_station(g.staff, station_id)
    start, end = _month_span(month)
    data = duty_exports.attendance_workbook(g.staff, start, end, station_id=station.id, scope_label=station.name)
    return xlsx_response(data, f"代表出勤-{station.name}-{month}.xlsx", f"attendance-{station.id}-{month}.xlsx")
