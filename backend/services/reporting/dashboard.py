"""The console's dashboard (工作台): what a station manager or a county's staff report upward —
收集意见建议 N 条, 办结 M 条, 办结率, 满意度, 代表进站履职率 — for a period and a scope, with the
trend by month, issues by category, stations and deputies ranked, and today's 三色督办 clocks.

Everything about the period's days before today is read from the roll-ups (services/reporting/rollups.py:
month rows for whole months, day rows for the rest), never by counting a province's issues on a
page view; today, and any day not rolled up yet, is counted live and added to the headline
figures and the trend by month — so the headline figures are exactly those of
/api/v1/manage/stats (services/reporting/stats.py, the same function), as of the roll-ups' last
computation (`computed_at`, shown on the page). Live too are the clocks (today's open issues;
for a scope of more than CLOCKS_LIVE_MAX_STATIONS, up to a minute old), the categories of the
days outside whole months, and the deputies' ranking —
which is drawn only for a scope of at most DEPUTY_RANKING_MAX_STATIONS stations: a province's
150,000 deputies with a handful of duty days each rank as ties, and counting them costs seconds.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import case, func, select, text

from backend import clock
from backend.auth import Caller
from backend.caches import tagged_cache
from backend.services.duty.attendance import ATTENDED, rate, scoped_station_ids
from backend.services.issues import issue_queue
from backend.services.reporting import rollups, stats
from models import (
    CLOCKED_SQL,
    Category,
    Deputy,
    DutyAssignment,
    DutyRoster,
    Issue,
    RosterStatus,
    Station,
    StationMonthCategory,
    db,
)

RANKED = 10
# What is not live is cached per scope and query as the statistics' rolled part is
# (stats.CACHE_GENERATIONS) — and at most this long, for the deputies' ranking, which counts
# check-ins as they happen.
CACHE_SECONDS = 600
CACHE_GENERATIONS = stats.CACHE_GENERATIONS
COLOURS = ("green", "yellow", "red")
DEPUTY_RANKING_MAX_STATIONS = 500
# Above this many stations the clocks are counted at most once a minute per scope: a province's
# open issues take a second to band, and its staff do not act on single issues from this page.
# A station manager's or a county's are counted on every view.
CLOCKS_LIVE_MAX_STATIONS = 500
CLOCKS_CACHE_SECONDS = 60


@dataclass
class MonthFigures:
    month: str  # YYYY-MM
    received: int
    resolved: int
    # The resolution rate's divisor: received − rejected − pending review.
    counted: int

    @property
    def resolution_rate(self) -> float | None:
        return rate(self.resolved, self.counted)

    def add(self, sums: dict) -> None:
        """Add summed roll-up columns (rollups.COLUMNS) to the month."""
        self.received += sums["received"]
        self.resolved += sums["resolved"] + sums["closed"]
        self.counted += sums["received"] - sums["rejected"] - sums["pending_review"]


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
    # The roll-up columns summed over the period's rolled-up days (cached); `figures` adds the
    # days counted live on every view (services/reporting/stats.py).
    rolled: dict
    computed_at: datetime | None
    figures: dict = field(default_factory=dict)
    months: list[MonthFigures] = field(default_factory=list)
    categories: list[tuple[str, int]] = field(default_factory=list)
    stations: list[StationRank] = field(default_factory=list)
    # None: the scope is too large to rank its deputies (see the module docstring).
    deputies: list[DeputyRank] | None = field(default_factory=list)
    clocks: dict[str, int] = field(default_factory=dict)
    station_count: int = 0


def dashboard(caller: Caller, start: date, end: date, *, station_id: int | None = None,
              region_code: str | None = None) -> Dashboard:
    """The dashboard of the module docstring for the caller's stations, narrowed to a station or
    a region, over the Beijing dates [start, end].

    :raise 403 forbidden: the caller has no staff account.
    :raise 404 station_not_found · not_found: a station or region outside the caller's reach.
    """
    ids = scoped_station_ids(caller, station_id=station_id, region_code=region_code)
    scope = stats.scope_key(caller, station_id, region_code)
    key = f"dashboard:{scope}:{start.isoformat()}:{end.isoformat()}"
    found = tagged_cache.lookup(CACHE_GENERATIONS, key)
    if found.value is not None:
        board = _thaw(found.value)
    else:
        board = _from_rollups(ids, start, end)
        tagged_cache.store(found, key, _freeze(board), CACHE_SECONDS)
    live = stats.live_part(ids, start, end, by_month=True)
    board.figures = stats.figures(ids, start, end, rolled=(board.rolled, board.computed_at), live=live)
    _add_live_months(board, live)
    board.clocks = _clocks(ids, scope if board.station_count > CLOCKS_LIVE_MAX_STATIONS else None)
    return board


def _freeze(board: Dashboard) -> bytes:
    data = asdict(board)
    del data["figures"], data["clocks"]  # live: worked out on every view
    data["computed_at"] = board.computed_at.isoformat() if board.computed_at else None
    for name in ("start", "end"):
        data[name] = data[name].isoformat()
    return json.dumps(data, ensure_ascii=False).encode()


def _thaw(value: bytes) -> Dashboard:
    data = json.loads(value)
    return Dashboard(
        start=date.fromisoformat(data["start"]), end=date.fromisoformat(data["end"]), rolled=data["rolled"],
        computed_at=datetime.fromisoformat(data["computed_at"]) if data["computed_at"] else None,
        months=[MonthFigures(**m) for m in data["months"]],
        categories=[tuple(c) for c in data["categories"]],
        stations=[StationRank(**r) for r in data["stations"]],
        deputies=[DeputyRank(**r) for r in data["deputies"]] if data["deputies"] is not None else None,
        station_count=data["station_count"])


def _from_rollups(ids, start: date, end: date) -> Dashboard:
    """Everything of the dashboard from the roll-ups of the period's days before today (the
    headline figures add the days counted live, the clocks are live)."""
    names = rollups.COLUMNS
    rows = rollups.period_rows(ids, start, min(end, clock.beijing_today() - timedelta(days=1)),
                               names + ("computed_at",), month_column=True)
    # One pass over the rows: each month's sums; the period's are their total.
    total = dict.fromkeys(names, 0)
    months, computed_at = [], None
    for month, latest, *sums in db.session.execute(
            select(rows.c.month, func.max(rows.c.computed_at), *(func.sum(rows.c[n]) for n in names))
            .group_by(rows.c.month).order_by(rows.c.month)):
        figures = rollups.typed(dict(zip(names, sums, strict=True)))
        for name in names:
            total[name] += figures[name]
        label = month.isoformat()[:7] if isinstance(month, date) else str(month)[:7]
        months.append(MonthFigures(label, 0, 0, 0))
        months[-1].add(figures)
        computed_at = max(computed_at, latest) if computed_at and latest else (computed_at or latest)
    board = Dashboard(start=start, end=end, rolled=total, computed_at=computed_at, months=months)
    board.stations = _stations(rows)
    board.categories = _categories(ids, start, end)
    board.station_count = db.session.scalar(select(func.count()).select_from(ids.subquery()))
    board.deputies = _deputies(ids, start, end) if board.station_count <= DEPUTY_RANKING_MAX_STATIONS else None
    return board


def _add_live_months(board: Dashboard, live) -> None:
    """The trend by month with the days counted live (today's issues) added to their months."""
    months = {m.month: m for m in board.months}
    for (first, _), sums in live:
        label = first.isoformat()[:7]
        if label not in months:
            months[label] = MonthFigures(label, 0, 0, 0)
        months[label].add(sums)
    board.months = sorted(months.values(), key=lambda m: m.month)


def _stations(rows) -> list[StationRank]:
    """The stations that received most, with their resolution and attendance rates."""
    received = func.sum(rows.c.received).label("received")
    top = (select(rows.c.station_id, received, func.sum(rows.c.resolved + rows.c.closed).label("done"),
                  func.sum(rows.c.received - rows.c.rejected - rows.c.pending_review).label("base"),
                  func.sum(rows.c.duty_attended).label("attended"), func.sum(rows.c.duty_assigned).label("assigned"))
           .group_by(rows.c.station_id).order_by(received.desc(), rows.c.station_id).limit(RANKED).subquery())
    found = db.session.execute(select(top, Station.name).join(Station, Station.id == top.c.station_id)
                               .order_by(top.c.received.desc(), top.c.station_id))
    return [StationRank(r.station_id, r.name, int(r.received), int(r.done), rate(int(r.done), int(r.base)),
                        rate(int(r.attended), int(r.assigned))) for r in found]


def _categories(ids, start: date, end: date) -> list[tuple[str, int]]:
    """Issues received in the period by category, most first: whole months from their roll-up,
    the days outside them — today among them — counted."""
    rolled_end = min(end, clock.beijing_today() - timedelta(days=1))
    months, edges = rollups.split_rolled(start, rolled_end)
    if rolled_end < end:
        edges = [*edges, (max(start, rolled_end + timedelta(days=1)), end)]
    counts: dict[int, int] = {}
    if months is not None:
        m = StationMonthCategory
        for category_id, n in db.session.execute(
                select(m.category_id, func.sum(m.received)).where(m.station_id.in_(ids), m.month.between(*months))
                .group_by(m.category_id)):
            counts[category_id] = counts.get(category_id, 0) + int(n)
    for first, last in edges:
        for category_id, n in db.session.execute(
                select(Issue.category_id, func.count(Issue.id))
                .where(Issue.station_id.in_(ids), Issue.created_at >= rollups.midnight(first),
                       Issue.created_at < rollups.midnight(last + timedelta(days=1)))
                .group_by(Issue.category_id)):
            counts[category_id] = counts.get(category_id, 0) + n
    categories = db.session.execute(select(Category.id, Category.name).order_by(Category.sort_order, Category.id))
    return sorted(((name, counts[i]) for i, name in categories if counts.get(i)), key=lambda c: -c[1])


def _deputies(ids, start: date, end: date) -> list[DeputyRank]:
    """Deputies with the most duty days attended in the period (进站履职), with their rates —
    attendance's definitions (services/duty/attendance.py) in one grouped query."""
    last = min(end, clock.beijing_today())
    attended = func.coalesce(func.sum(case((ATTENDED, 1), else_=0)), 0).label("attended")
    assigned = func.count(DutyAssignment.id).label("assigned")
    top = (select(DutyAssignment.deputy_id, assigned, attended)
           .join(DutyRoster, DutyRoster.id == DutyAssignment.roster_id)
           .where(DutyRoster.status == RosterStatus.published, DutyAssignment.station_id.in_(ids),
                  DutyAssignment.duty_date.between(start, last))
           .group_by(DutyAssignment.deputy_id)
           .order_by(attended.desc(), assigned.desc(), DutyAssignment.deputy_id).limit(RANKED).subquery())
    rows = db.session.execute(select(top, Deputy.name).join(Deputy, Deputy.id == top.c.deputy_id)
                              .order_by(top.c.attended.desc(), top.c.assigned.desc(), top.c.deputy_id))
    return [DeputyRank(r.deputy_id, r.name, int(r.assigned), int(r.attended), rate(int(r.attended), int(r.assigned)))
            for r in rows]


def _clocks(ids, cache_key: str | None = None) -> dict[str, int]:
    """Open issues of the scope by the colour their clock shows today: each issue's due date
    worked out once (a transferred one's is its latest transfer's), then counted by band.
    With `cache_key` (a large scope), an answer up to CLOCKS_CACHE_SECONDS old will do."""
    if cache_key is None:
        return _count_clocks(ids)
    key = f"clocks:{clock.beijing_today().isoformat()}:{cache_key}"
    found = tagged_cache.lookup(CACHE_GENERATIONS, key)
    if found.value is not None:
        return json.loads(found.value)
    clocks = _count_clocks(ids)
    tagged_cache.store(found, key, json.dumps(clocks).encode(), CLOCKS_CACHE_SECONDS)
    return clocks


def _count_clocks(ids) -> dict[str, int]:
    bounds = issue_queue.clock_bounds(clock.beijing_today())
    due = (select(issue_queue.current_due_column().label("due"))
           .where(Issue.station_id.in_(ids), text(CLOCKED_SQL)).subquery().c.due)
    counts = db.session.execute(select(*(
        func.coalesce(func.sum(case((issue_queue.in_band(colour, due, bounds), 1), else_=0)), 0)
        for colour in COLOURS))).one()
    return dict(zip(COLOURS, map(int, counts), strict=True))
