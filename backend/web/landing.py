"""`GET /s/<scene>`: the page a non-WeChat scanner opens from a station's printed code."""
from __future__ import annotations

from flask import Blueprint, render_template, url_for

from backend.errors import StationNotFound
from backend.services.stations import stations

bp = Blueprint("landing", __name__, template_folder="templates")


@bp.get("/s/<scene>")
def station_page(scene: str):
    try:
        card = stations.station_card(stations.find_station_by_scene(scene))
    except StationNotFound:
        return render_template("landing_not_found.html"), 404
    station = card.station
    context = {
        "station": {
            "name": station.name,
            "address": station.address,
            "region": {"path": card.region_path},
            "reception_rule": {"label": card.rule.label if card.rule else stations.NO_RULE_LABEL},
            "open_hours": station.open_hours,
        },
        "deputies": [{"name": d.name, "level_label": stations.level_label(d, card.today)} for d in card.deputies],
        "next_reception_day": {"date": card.next_day.date.isoformat()} if card.next_day else None,
        "qr_url": url_for("stations.qrcode_png", station_id=station.id),
    }
    return render_template("landing.html", **context)
