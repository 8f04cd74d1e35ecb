"""Scan-to-find (码上找): a station by its printed scene, its current deputies, stations nearby."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date

from flask import current_app
from sqlalchemy.orm import selectinload

from backend import clock
from backend.caches import tagged_cache
from backend.errors import StationNotFound
from backend.geo import distance_m
from backend.services.duty import reception
from backend.services.duty.reception import NextReceptionDay
from backend.services.reference import regions
from backend.services.stations import scan_cache, station_codes, station_places
from models import (
    DEPUTY_LEVEL_LABEL,
    DEPUTY_LEVEL_ORDER,
    Deputy,
    DeputySeat,
    ReceptionRule,
    Station,
    StationMembership,
    db,
)

# WeChat allows ≤ 32 chars of [0-9A-Za-z!#$&'()*+,/:;=?@-._~] in a scene; ours use a URL-safe
# subset so the same scene works in a plain URL path and in a 小程序码.
SCENE_PATTERN = re.compile(r"^[0-9A-Za-z_-]{1,32}$")

# Shown where a station has no reception rule at all (none of its own, its regions' or a default).
NO_RULE_LABEL = "以联络站公告为准"


def find_station_by_scene(scene: str) -> Station:
    """:raise 404 station_not_found: unknown or closed station, or a scene no code could hold."""
    if not SCENE_PATTERN.match(scene):
        raise StationNotFound()
    station = _by_scene.get_row(scene, db.select(Station).where(Station.scene == scene, Station.is_active.is_(True)))
    if station is None:
        raise StationNotFound()
    return station


# Stations change rarely and every change bumps the scan generation (services/stations/scan_cache.py).
_by_scene = tagged_cache.ProcessMemo(scan_cache.GENERATION_KEY)


def current_seats(deputy: Deputy, on: date) -> list[DeputySeat]:
    """The deputy's seats in force on `on`, highest level first."""
    return sorted((s for s in deputy.seats if s.is_current(on)), key=lambda s: DEPUTY_LEVEL_ORDER[s.level])


def level_label(deputy: Deputy, on: date) -> str:
    """The title of the deputy's highest seat in force, e.g. 县（区）人大代表."""
    return DEPUTY_LEVEL_LABEL[current_seats(deputy, on)[0].level]


def station_deputies(station: Station, on: date) -> list[Deputy]:
    """Deputies grouped into the station on `on` who still hold a seat, highest level first.

    Within a level the group leader (站长代表) comes first, then by name.
    """
    memberships = db.session.scalars(
        db.select(StationMembership)
        .where(StationMembership.station_id == station.id, StationMembership.current_on(on))
        .options(selectinload(StationMembership.deputy).selectinload(Deputy.seats),
                 selectinload(StationMembership.deputy).selectinload(Deputy.topic_groups))
    ).all()
    ranked = []
    for membership in memberships:
        deputy = membership.deputy
        seats = current_seats(deputy, on)
        if deputy.retired_at is not None or not seats:
            continue
        ranked.append((DEPUTY_LEVEL_ORDER[seats[0].level], not membership.is_leader, deputy.name, deputy.id, deputy))
    ranked.sort(key=lambda r: r[:4])
    seen, result = set(), []
    for *_key, deputy in ranked:
        if deputy.id not in seen:  # two overlapping memberships still list a deputy once
            seen.add(deputy.id)
            result.append(deputy)
    return result


def nearby_stations(lat: float, lng: float, limit: int) -> list[tuple[int, float]]:
    """The ids of the `limit` nearest active stations with their distances in metres, nearest first.

    Searches a box around the point that doubles until it holds enough stations; the box's
    corners reach further than its sides, so the last box is widened to the circle through the
    kth distance before the answer is cut.
    """
    def ranked_in_box(half_deg: float) -> list[tuple[int, float]]:
        # Longitude degrees shrink towards the poles; widen the box so it still covers half_deg of arc.
        lng_half = min(180.0, half_deg / max(math.cos(math.radians(min(abs(lat), 89.0))), 0.01))
        lng_lo, lng_hi = (lng - lng_half, lng + lng_half) if lng_half < 180 else (-180.0, 180.0)
        places = station_places.places_in_box(lat - half_deg, lat + half_deg, lng_lo, lng_hi)
        return sorted(((i, distance_m(lat, lng, p_lat, p_lng)) for i, p_lat, p_lng in places),
                      key=lambda r: (r[1], r[0]))

    half_deg = 0.05  # about 5 km
    while True:
        ranked = ranked_in_box(half_deg)
        if len(ranked) >= limit or half_deg >= 180:
            break
        half_deg *= 2
    if len(ranked) >= limit and half_deg < 180:
        # A station just outside the box's side may be nearer than one in its corner.
        radius_deg = ranked[limit - 1][1] / 111_000 + 0.001
        if radius_deg > half_deg:
            ranked = ranked_in_box(radius_deg)
    return ranked[:limit]


@dataclass
class StationCard:
    """What a resident who scanned a station's code is shown: the scan answer, the /s page and
    the poster all read it, so they cannot disagree."""

    station: Station
    region_path: list[str]
    rule: ReceptionRule | None
    deputies: list[Deputy]
    next_day: NextReceptionDay | None
    today: date


def station_card(station: Station) -> StationCard:
    today = clock.beijing_today()
    lineage = regions.lineage(station.region)
    rule = reception.rule_for(station, lineage)
    return StationCard(
        station=station,
        region_path=[r.name for r in lineage],
        rule=rule,
        deputies=station_deputies(station, today),
        next_day=reception.next_reception_day(station, rule),
        today=today,
    )


def station_poster(station: Station) -> bytes:
    """The station's A4 poster (PDF) as printed today: its code on PUBLIC_BASE_URL, its reception
    days and deputies, in POSTER_FONT_PATH or the bundled font. Served by the API and the console."""
    card = station_card(station)
    content = station_codes.PosterContent(
        station_name=station.name,
        address=station.address,
        region_path=card.region_path,
        reception_label=card.rule.label if card.rule else NO_RULE_LABEL,
        open_hours=station.open_hours,
        url=station_codes.station_url(current_app.config["PUBLIC_BASE_URL"], station.scene),
        deputies=[(d.name, level_label(d, card.today)) for d in card.deputies],
        next_reception_date=card.next_day.date.isoformat() if card.next_day else None,
        phone=station.phone,
    )
    return station_codes.poster_pdf(content, font_path=current_app.config["POSTER_FONT_PATH"])
