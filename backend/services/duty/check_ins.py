"""进站履职 / 签到: a deputy scans their station's code on arrival.

One check-in per deputy, station and Beijing date: the first scan of the day is the record, a
later scan that day answers it again. The unique constraint on (deputy, station, date) is what
holds this under concurrent scans; the lookup before the insert only saves a failed insert.

Who may check in: a deputy grouped into the station today (`StationMembership.current_on`). A
visit to a station the deputy does not belong to is refused rather than recorded, so attendance
and points count only presence where the deputy serves.
"""
from __future__ import annotations

from datetime import date

from sqlalchemy import exists
from sqlalchemy.exc import IntegrityError

from backend import clock
from backend.errors import Forbidden
from backend.geo import distance_m
from backend.services.duty import reception
from models import (
    CheckIn,
    DutyAssignment,
    DutyRoster,
    RosterStatus,
    Station,
    StationMembership,
    db,
)

# Further than this from the station's own coordinates, a check-in is kept but flagged: phones
# in town report within tens of metres, a scan of a photographed code would not.
FAR_THRESHOLD_M = 500.0


def held_on(station: Station, day: date) -> bool:
    """Whether the station holds a reception day on `day`: its rule's dates with moved and
    cancelled days applied (`reception.held_day`), the one answer every module asks."""
    return reception.held_day(station, day) is not None


def on_duty_clause(deputy_id, station_id, day):
    """EXISTS: the deputy is on a published roster at the station on `day` (SQL expressions
    or values)."""
    return exists().where(
        DutyAssignment.deputy_id == deputy_id, DutyAssignment.station_id == station_id,
        DutyAssignment.duty_date == day, DutyAssignment.roster_id == DutyRoster.id,
        DutyRoster.status == RosterStatus.published)


def is_on_duty(check_in: CheckIn) -> bool:
    return bool(db.session.scalar(db.select(on_duty_clause(check_in.deputy_id, check_in.station_id,
                                                           check_in.on_date))))


def _existing(deputy_id: int, station_id: int, day: date) -> CheckIn | None:
    return db.session.scalar(db.select(CheckIn).where(
        CheckIn.deputy_id == deputy_id, CheckIn.station_id == station_id, CheckIn.on_date == day))


def check_in(deputy_id: int, station: Station, lat: float | None = None,
             lng: float | None = None) -> tuple[CheckIn, bool]:
    """Record the deputy's arrival at `station` today (Beijing date); (the check-in, created?).

    :raise 403 forbidden: the deputy is not grouped into the station today.
    """
    today = clock.beijing_today()
    member = db.session.scalar(db.select(exists().where(
        StationMembership.deputy_id == deputy_id, StationMembership.station_id == station.id,
        StationMembership.current_on(today))))
    if not member:
        raise Forbidden("您不是该联络站的编组代表，不能在此签到；请扫描您所在联络站的二维码")
    found = _existing(deputy_id, station.id, today)
    if found is not None:
        return found, False
    distance = distance_m(lat, lng, station.lat, station.lng) if lat is not None and lng is not None else None
    row = CheckIn(deputy_id=deputy_id, station_id=station.id, on_date=today, checked_in_at=clock.now(),
                  lat=lat, lng=lng, distance_m=round(distance, 1) if distance is not None else None,
                  is_far=distance is not None and distance > FAR_THRESHOLD_M,
                  on_reception_day=held_on(station, today))
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        # A concurrent scan inserted first (it waited on the unique index, then we failed):
        # that one is the day's check-in.
        found = _existing(deputy_id, station.id, today)
        if found is None:
            raise
        return found, False
    return row, True
