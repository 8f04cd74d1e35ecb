"""工作台: the headline figures, trends, rankings and 三色督办 clocks (services/reporting/dashboard.py)."""
from __future__ import annotations

from datetime import date

from flask import g, render_template

from backend import clock
from backend.console import forms
from backend.console.blueprint import bp
from backend.services.reporting import dashboard as dashboard_service


@bp.get("/")
def dashboard():
    today = clock.beijing_today()
    start, end = forms.period(date(today.year, 1, 1), today)
    station_id = forms.int_arg("station", "联络站")
    region_code = forms.text_arg("region", 12)
    board = dashboard_service.dashboard(g.staff, start, end, station_id=station_id, region_code=region_code)
    charts = {
        "months": [{"month": m.month, "received": m.received, "resolved": m.resolved,
                    "rate": m.resolution_rate} for m in board.months],
        "categories": [{"name": name, "value": count} for name, count in board.categories],
        "stations": [{"name": s.name, "received": s.received, "resolved": s.resolved} for s in board.stations],
        "clocks": board.clocks,
    }
    # The queue as the dashboard is narrowed: its links (超期 N, the received, the resolved) show
    # the issues behind the figure. The queue knows stations, not regions.
    queue_args = {"station": station_id} if station_id else {}
    period_args = queue_args | {"from": start.isoformat(), "to": end.isoformat()}
    return render_template("console/dashboard.html", board=board, charts=charts, station_id=station_id,
                           queue_args=queue_args, period_args=period_args,
                           region_code=region_code, stations=forms.station_choices(g.staff),
                           regions=forms.region_choices(g.staff))
