"""工作台: the headline figures, trends, rankings and 三色督办 clocks (services/reporting/dashboard.py),
and the same period and scope as Excel files: the statistics and the attendance (出勤)."""
from __future__ import annotations

from datetime import date

from flask import Response, g, render_template, request, url_for

from backend import clock
from backend.console import forms
from backend.console.blueprint import bp
from backend.services.duty import duty_exports
from backend.services.reporting import dashboard as dashboard_service
from backend.services.reporting import stats_export
from backend.web.downloads import attachment
from models import Region, Station, db

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@bp.get("/")
def dashboard():
    start, end, station_id, region_code = _filters()
    board = dashboard_service.dashboard(g.staff, start, end, station_id=station_id, region_code=region_code)
    charts = {
        "months": [{"month": m.month, "received": m.received, "resolved": m.resolved,
                    "rate": m.resolution_rate} for m in board.months],
        "categories": [{"name": name, "value": count} for name, count in board.categories],
        "stations": [{"name": s.name, "received": s.received, "resolved": s.resolved} for s in board.stations],
        "clocks": board.clocks,
    }
    args = {key: value for key, value in request.args.items() if value}
    # The queue as the dashboard is narrowed: its links (超期 N, the received, the resolved) show
    # the issues behind the figure.
    queue_args = {key: value for key, value in (("station", station_id), ("region", region_code)) if value}
    period_args = queue_args | {"from": start.isoformat(), "to": end.isoformat()}
    return render_template("console/dashboard.html", board=board, charts=charts, station_id=station_id,
                           queue_args=queue_args, period_args=period_args,
                           region_code=region_code, stations=forms.station_choices(g.staff),
                           regions=forms.region_choices(g.staff), stats_url=url_for("console.stats_xlsx", **args),
                           attendance_url=url_for("console.attendance_xlsx", **args))


def _filters():
    """The page's filters: its period (this year so far by default), station and region."""
    today = clock.beijing_today()
    start, end = forms.period(date(today.year, 1, 1), today)
    return start, end, forms.int_arg("station", "联络站"), forms.text_arg("region", 12)


def _scope_label(station_id: int | None, region_code: str | None) -> str:
    station = db.session.get(Station, station_id) if station_id else None
    region = db.session.scalar(db.select(Region).where(Region.code == region_code)) if region_code else None
    return "，".join(x.name for x in (region, station) if x is not None)


def xlsx_response(data: bytes, filename: str, fallback: str) -> Response:
    response = Response(data, mimetype=XLSX)
    response.headers["Content-Disposition"] = attachment(filename, fallback)
    return response


@bp.get("/stats.xlsx")
def stats_xlsx():
    start, end, station_id, region_code = _filters()
    data = stats_export.stats_workbook(g.staff, start, end, station_id=station_id, region_code=region_code,
                                      scope_label=_scope_label(station_id, region_code))
    return xlsx_response(data, f"数据统计-{start}至{end}.xlsx", f"stats-{start}-{end}.xlsx")


@bp.get("/attendance.xlsx")
def attendance_xlsx():
    start, end, station_id, region_code = _filters()
    data = duty_exports.attendance_workbook(g.staff, start, end, station_id=station_id, region_code=region_code,
                                            scope_label=_scope_label(station_id, region_code))
    return xlsx_response(data, f"代表出勤-{start}至{end}.xlsx", f"attendance-{start}-{end}.xlsx")
