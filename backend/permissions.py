"""Fetch and authorise together: `access_*` helpers return an object or raise not-found for
anything outside the caller's reach, so ids cannot be probed."""
from __future__ import annotations

from sqlalchemy import exists

from backend.auth import Caller
from backend.errors import DeputyNotFound, Forbidden, StationNotFound
from models import (
    REGION_CODE_PREFIX,
    Deputy,
    Region,
    Role,
    Station,
    StationMembership,
    db,
)


def station_scope_clause(caller: Caller):
    """A WHERE clause on Station for what this staff member may manage."""
    staff = caller.staff
    if staff is None:
        raise Forbidden()
    if caller.has(Role.region_admin) and staff.region is not None:
        prefix = staff.region.code[: REGION_CODE_PREFIX[staff.region.level]]
        return Station.region_id.in_(db.select(Region.id).where(Region.code.startswith(prefix)))
    return Station.id.in_(caller.station_ids or {-1})


def access_managed_deputy(caller: Caller, deputy_id: int) -> Deputy:
    """A deputy grouped (now or before) into a station the staff member manages.

    :raise 404 not_found: no such deputy, or one outside the caller's stations or region.
    """
    # A path id beyond PostgreSQL's integer would be a database error, not a missing row.
    deputy = db.session.get(Deputy, deputy_id) if 0 < deputy_id < 2**31 else None
    if deputy is None:
        raise DeputyNotFound()
    in_scope = db.session.scalar(db.select(exists().where(
        StationMembership.deputy_id == deputy.id,
        StationMembership.station_id.in_(db.select(Station.id).where(station_scope_clause(caller))),
    )))
    if not in_scope:
        raise DeputyNotFound()
    return deputy


def get_station(station_id: int) -> Station:
    """An open station: within everyone's reach, residents' included. :raise 404 station_not_found:"""
    station = db.session.get(Station, station_id)
    if station is None or not station.is_active:
        raise StationNotFound()
    return station
