"""`GET /s/<scene>`: the page a non-WeChat scanner opens from a station's printed code."""
from __future__ import annotations

from flask import Blueprint, render_template, url_for

from . import clock
from .errors import StationNotFound
from .services import reception, stations

bp = Blueprint("landing", __name__, template_folder="templates")


@bp.get("/s/<scene>")
def station_page(scene: str):
    try:
        station = stations.find_station_by_scene(scene)
    except StationNotFound:
        return render_template("landing_not_found.html"), 404
    today = clock.beijing_today()
    rule = reception.rule_for(station)
    next_day = reception.next_reception_day(station)
    deputies = [
        {"name": d.name, "level_label": stations.level_label(d, today)}
        for d in stations.station_deputies(station, today)
    ]
    context = {
        "station": {
            "name": station.name,
            "address": station.address,
            "region": {"path": [r.name for r in station.region.lineage()]},
            "reception_rule": {"label": rule.label if rule else "以联络站公告为准"},
            "open_hours": station.open_hours,
        },
        "deputies": deputies,
        "next_reception_day": {"date": next_day.date.isoformat()} if next_day else None,
        "qr_url": url_for("stations.qrcode_png", station_id=station.id),
    }
    return render_template("landing.html", **context)
