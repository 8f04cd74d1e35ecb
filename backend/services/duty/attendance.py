"""Attendance (出勤): deputies' duty days against their check-ins, per deputy and per station.

Definitions, one place for the attendance page, the statistics and the duty record:
- assigned: a `DutyAssignment` of a *published* roster (`DutyRoster.status`) dated in the
  period and not after today (Beijing). A draft roster promises nothing yet.
- attended: an assigned day with a check-in of that deputy at that station on that date.
- on_leave: an assigned day not attended that a `DeputyLeave` of the deputy covers — excused,
  never missed.
- missed: an assigned day before today, neither attended nor excused.
- pending: today's duty not (yet) attended nor excused; it becomes attended or missed tonight.
  So assigned = attended + on_leave + missed + pending.
- extra_visits: check-ins in the period on a date the deputy had no published duty at that
  station (排班外进站), whether or not the station held a reception day then.
- far_check_ins: check-ins in the period flagged as scanned far from the station.
- rate = attended ÷ assigned, 4 decimals, None when nothing was assigned (API.md's
  "duty days attended ÷ duty days assigned": a day on leave stays in the denominator).

Figures are counted by the database (grouped aggregates), one query for duties and one for
check-ins whatever the size of the period or the number of stations.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import date

from sqlalchemy import case, exists, func, select

from backend import clock
from backend.auth import Caller
from backend.errors import NotFound, StationNotFound
from backend.permissions import station_scope_clause
from backend.services.duty.check_ins import on_duty_clause
from models import (
    REGION_CODE_PREFIX,
    CheckIn,
    Deputy,
    DeputyLeave,
    DutyAssignment,
    DutyRoster,
    Region,
    Role,
    RosterStatus,
    Station,
    db,
)


class RegionNotFound(NotFound):
    message = "未找到该行政区划"


def rate(part: int, whole: int) -> float | None:
    """A share with 4 decimals, None when there is nothing to divide by."""
    return round(part / whole, 4) if whole else None


@dataclass
class Attendance:
    assigned: int = 0
    attended: int = 0
    on_leave: int = 0
    missed: int = 0
    pending: int = 0
    check_ins: int = 0
    extra_visits: int = 0
    far_check_ins: int = 0

    @property
    def rate(self) -> float | None:
        return rate(self.attended, self.assigned)

    def add(self, other: Attendance) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


def scoped_station_ids(caller: Caller, *, station_id: int | None = None, region_code: str | None = None):
    """A select of the ids of the stations a staff member asks about: those they manage,
    narrowed to one station and/or one region.

    :raise 403 forbidden: the caller has no staff account.
    :raise 404 station_not_found: the station does not exist or is not the caller's.
    :raise 404 not_found: the region does not exist or lies outside the caller's reach (for a
        station manager: holds none of their stations).
    """
    where = [station_scope_clause(caller)]
    if station_id is not None:
        if not db.session.scalar(select(exists().where(Station.id == station_id, *where))):
            raise StationNotFound()
        where.append(Station.id == station_id)
    if region_code is not None:
        region = db.session.scalar(select(Region).where(Region.code == region_code))
        if region is None:
            raise RegionNotFound()
        in_region = Station.region_id.in_(select(Region.id).where(Region.code.startswith(region.scope_prefix)))
        staff = caller.staff
        if caller.has(Role.region_admin) and staff.region is not None:
            own = staff.region.code[: REGION_CODE_PREFIX[staff.region.level]]
            if not region.code.startswith(own):
                raise RegionNotFound()
        elif not db.session.scalar(select(exists().where(in_region, *where))):
            raise RegionNotFound()
        where.append(in_region)
    return select(Station.id).where(*where)


def _published():
    return DutyAssignment.roster_id.in_(select(DutyRoster.id).where(DutyRoster.status == RosterStatus.published))


# A duty day is attended when the deputy checked in at that station that day, excused when
# leave covers it: clauses on DutyAssignment, which the points ledger uses too.
ATTENDED = exists().where(CheckIn.deputy_id == DutyAssignment.deputy_id,
                          CheckIn.station_id == DutyAssignment.station_id,
                          CheckIn.on_date == DutyAssignment.duty_date)
EXCUSED = exists().where(DeputyLeave.deputy_id == DutyAssignment.deputy_id,
                         DeputyLeave.starts_on <= DutyAssignment.duty_date,
                         DeputyLeave.ends_on >= DutyAssignment.duty_date)


def _count_if(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def attendance_by_pair(start: date, end: date, *, station_ids=None, deputy_id: int | None = None,
                       today: date | None = None) -> dict[tuple[int, int], Attendance]:
    """Figures per (station id, deputy id) over [start, end], for stations in `station_ids` (a
    select or a collection; None: any) and/or one deputy. Pairs with nothing are absent."""
    today = today or clock.beijing_today()
    pairs: dict[tuple[int, int], Attendance] = {}

    attended, excused = ATTENDED, EXCUSED
    duties = select(
        DutyAssignment.station_id, DutyAssignment.deputy_id, func.count(DutyAssignment.id),
        _count_if(attended),
        _count_if(~attended & excused),
        _count_if(~attended & ~excused & (DutyAssignment.duty_date < today)),
        _count_if(~attended & ~excused & (DutyAssignment.duty_date == today)),
    ).where(_published(), DutyAssignment.duty_date >= start, DutyAssignment.duty_date <= min(end, today))
    visits = select(
        CheckIn.station_id, CheckIn.deputy_id, func.count(CheckIn.id),
        _count_if(~on_duty_clause(CheckIn.deputy_id, CheckIn.station_id, CheckIn.on_date)),
        _count_if(CheckIn.is_far.is_(True)),
    ).where(CheckIn.on_date >= start, CheckIn.on_date <= min(end, today))
    if station_ids is not None:
        duties = duties.where(DutyAssignment.station_id.in_(station_ids))
        visits = visits.where(CheckIn.station_id.in_(station_ids))
    if deputy_id is not None:
        duties = duties.where(DutyAssignment.deputy_id == deputy_id)
        visits = visits.where(CheckIn.deputy_id == deputy_id)
    duties = duties.group_by(DutyAssignment.station_id, DutyAssignment.deputy_id)
    visits = visits.group_by(CheckIn.station_id, CheckIn.deputy_id)

    for station, deputy, assigned, present, leave, missed, pending in db.session.execute(duties):
        figures = pairs.setdefault((station, deputy), Attendance())
        figures.assigned, figures.attended, figures.on_leave = assigned, int(present), int(leave)
        figures.missed, figures.pending = int(missed), int(pending)
    for station, deputy, count, extra, far in db.session.execute(visits):
        figures = pairs.setdefault((station, deputy), Attendance())
        figures.check_ins, figures.extra_visits, figures.far_check_ins = count, int(extra), int(far)
    return pairs


def total(pairs: Iterable[Attendance]) -> Attendance:
    result = Attendance()
    for figures in pairs:
        result.add(figures)
    return result


@dataclass
class AttendanceReport:
    start: date
    end: date
    totals: Attendance
    stations: list[tuple[Station, Attendance]] = field(default_factory=list)
    deputies: list[tuple[Deputy, Attendance]] = field(default_factory=list)


def attendance_report(caller: Caller, start: date, end: date, *, station_id: int | None = None,
                      region_code: str | None = None) -> AttendanceReport:
    """Attendance at the stations the staff member manages (narrowed to one station or region),
    per station and per deputy (a deputy's figures over all those stations).

    Lists every station in scope, even one with nothing to show, and every deputy with a duty
    or a check-in there in the period.

    :raise 403 forbidden: the caller has no staff account.
    :raise 404 station_not_found · not_found: see `scoped_station_ids`.
    """
    ids = scoped_station_ids(caller, station_id=station_id, region_code=region_code)
    pairs = attendance_by_pair(start, end, station_ids=ids)
    per_station: dict[int, Attendance] = {}
    per_deputy: dict[int, Attendance] = {}
    for (station, deputy), figures in pairs.items():
        per_station.setdefault(station, Attendance()).add(figures)
        per_deputy.setdefault(deputy, Attendance()).add(figures)
    stations = db.session.scalars(select(Station).where(Station.id.in_(ids)).order_by(Station.id)).all()
    deputies = db.session.scalars(select(Deputy).where(Deputy.id.in_(list(per_deputy)))
                                  .order_by(Deputy.name, Deputy.id)).all() if per_deputy else []
    return AttendanceReport(
        start=start, end=end, totals=total(pairs.values()),
        stations=[(s, per_station.get(s.id, Attendance())) for s in stations],
        deputies=[(d, per_deputy[d.id]) for d in deputies],
    )
