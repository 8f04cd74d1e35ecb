"""The console's dashboard (工作台): what a station manager or a county's staff report upward —
收集意见建议 N 条, 办结 M 条, 办结率, 满意度, 代表进站履职率 — for a period and a scope, with the
trend by month, issues by category, stations and deputies ranked, and today's 三色督办 clocks.

Everything about a period is read from the roll-ups (services/rollups.py), never by counting a
province's issues on a page view, so the headline figures are those of /api/v1/manage/stats as
of the roll-ups' last computation (`computed_at`, shown on the page). Only the clocks are live:
they are about today's open issues, which the roll-ups do not describe.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select

from models import (
    OPEN_STATUSES,
    Category,
    Deputy,
    Issue,
    Station,
    StationDayFigures,
    db,
)

from .. import clock
from ..auth import Caller
from . import issue_queue, rollups
from .attendance import attendance_by_pair, rate, scoped_station_ids

RANKED = 10
COLOURS = ("green", "yellow", "red")


@dataclass
class MonthFigures:
    month: str  # YYYY-MM
    received: int
    resolved: int
    resolution_rate: float | None


@dataclass
class StationRank:
    station_id: int
    name: str
    received: int
    resolved: int
    resolution_rate: float | None
    attendance_rate: float | None


@dataclass
class DeputyRank:
    deputy_id: int
    name: str
    assigned: int
    attended: int
    attendance_rate: float | None


@dataclass
class Dashboard:
    start: date
    end: date
    figures: dict
    computed_at: datetime | None
    months: list[MonthFigures] = field(default_factory=list)
    categories: list[tuple[str, int]] = field(default_factory=list)
    stations: list[StationRank] = field(default_factory=list)
    deputies: list[DeputyRank] = field(default_factory=list)
    clocks: dict[str, int] = field(default_factory=dict)


def _month(column):
    if db.session.get_bind().dialect.name == "postgresql":
        return func.to_char(column, "YYYY-MM")
    return func.strftime("%Y-%m", column)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=clock.BEIJING)


def _done():
    return StationDayFigures.resolved + StationDayFigures.closed


def _denominator():
    return StationDayFigures.received - StationDayFigures.rejected - StationDayFigures.pending_review


def dashboard(caller: Caller, start: date, end: date, *, station_id: int | None = None,
              region_code: str | None = None) -> Dashboard:
    """The dashboard of the module docstring for the caller's stations, narrowed to a station or
    a region, over the Beijing dates [start, end].

    :raise 403 forbidden: the caller has no staff account.
    :raise 404 station_not_found · not_found: a station or region outside the caller's reach.
    """
    ids = scoped_station_ids(caller, station_id=station_id, region_code=region_code)
    in_period = (StationDayFigures.station_id.in_(ids), StationDayFigures.day.between(start, end))
    board = Dashboard(start=start, end=end, figures=rollups.figures(ids, start, end),
                      computed_at=db.session.scalar(select(func.max(StationDayFigures.computed_at)).where(*in_period)))

    month = _month(StationDayFigures.day)
    for label, received, done, base in db.session.execute(
            select(month, func.sum(StationDayFigures.received), func.sum(_done()), func.sum(_denominator()))
            .where(*in_period).group_by(month).order_by(month)):
        board.months.append(MonthFigures(label, int(received), int(done), rate(int(done), int(base))))

    board.categories = _categories(ids, start, end)
    board.stations = _stations(in_period)
    board.deputies = _deputies(ids, start, end)
    board.clocks = _clocks(ids)
    return board


def _stations(in_period) -> list[StationRank]:
    """The stations that received most, with their resolution and attendance rates."""
    received = func.sum(StationDayFigures.received)
    rows = db.session.execute(
        select(StationDayFigures.station_id, Station.name, received, func.sum(_done()), func.sum(_denominator()),
               func.sum(StationDayFigures.duty_attended), func.sum(StationDayFigures.duty_assigned))
        .join(Station, Station.id == StationDayFigures.station_id)
        .where(*in_period).group_by(StationDayFigures.station_id, Station.name)
        .order_by(received.desc(), StationDayFigures.station_id).limit(RANKED))
    return [StationRank(station_id, name, int(got), int(done), rate(int(done), int(base)),
                        rate(int(attended), int(assigned)))
            for station_id, name, got, done, base, attended, assigned in rows]


def _categories(ids, start: date, end: date) -> list[tuple[str, int]]:
    """Issues received in the period by category, most first."""
    count = func.count(Issue.id)
    rows = db.session.execute(
        select(Category.name, count).join(Category, Category.id == Issue.category_id)
        .where(Issue.station_id.in_(ids), Issue.created_at >= _midnight(start),
               Issue.created_at < _midnight(end + timedelta(days=1)))
        .group_by(Category.name, Category.sort_order).order_by(count.desc(), Category.sort_order))
    return [(name, n) for name, n in rows]


def _deputies(ids, start: date, end: date) -> list[DeputyRank]:
    """Deputies with the most duty days attended in the period (进站履职), with their rates."""
    per_deputy: dict[int, list[int]] = {}
    for (_station, deputy_id), figures in attendance_by_pair(start, end, station_ids=ids).items():
        got = per_deputy.setdefault(deputy_id, [0, 0])
        got[0] += figures.assigned
        got[1] += figures.attended
    ranked = sorted(per_deputy.items(), key=lambda item: (-item[1][1], -item[1][0], item[0]))[:RANKED]
    names = dict(db.session.execute(select(Deputy.id, Deputy.name).where(Deputy.id.in_([d for d, _ in ranked]))).all())
    return [DeputyRank(deputy_id, names.get(deputy_id, ""), assigned, attended, rate(attended, assigned))
            for deputy_id, (assigned, attended) in ranked]


def _clocks(ids) -> dict[str, int]:
    """Open issues of the scope by the colour their clock shows today."""
    today = clock.beijing_today()
    return {colour: db.session.scalar(
        select(func.count(Issue.id)).where(Issue.station_id.in_(ids), Issue.status.in_(OPEN_STATUSES),
                                           issue_queue.clock_clause(colour, today)))
        for colour in COLOURS}
