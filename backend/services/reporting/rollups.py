"""Roll-ups (统计汇总): per-station, per-Beijing-day figures (StationDayFigures), so dashboards sum
a few rows per station instead of counting a province's issues on every view.

A row of station S and day D holds:
- about the issues received at S on D — the cohort /api/v1/manage/stats counts for a period
  (services/reporting/stats.py) — in their state as of `computed_at`: received (every status, pending
  review and rejected included); accepted (ever accepted); replied (ever answered); rejected,
  pending_review, resolved (awaiting a rating), closed, open_issues (now); overdue (their clock
  is red on the Beijing date of the computation); ratings by score (every resolution round);
- what happened at S on D: check_ins, duty_assigned and duty_attended (published rosters,
  `attendance.ATTENDED`), residents_received (接待登记).

Why by the day of receipt and not by the day each move happened: the statistics of a period are
those issues in their state now, and only rows that describe the same issues sum to the same
figures (`figures` equals stats for a rolled-up period, which the console relies on). Flow
counts by event day ("accepted on D") would not: an issue received in March and finished in
April is March's in the statistics. The price is that a row changes when its issues move, so
the nightly job also refreshes the issue columns of older days whose issues moved.

The nightly job (`roll_up_job`): yesterday and the seven days before are recomputed whole
(catch-up after downtime, a reception record logged a few days late, a roster published late);
then the issue columns of older days are refreshed where an issue had a timeline event, or its
clock turned red, within REFRESH_WINDOW. Each day, and each batch of refreshed rows, is one
transaction; recomputing a day replaces its rows, so every part is idempotent.

Every figure is a grouped SQL aggregate over all stations at once (GROUP BY station, day): a
handful of queries whatever the number of stations. An average is not summable, so a row holds
`first_response_hours`, the hours to first reply summed over its `replied` issues, and readers
divide. RolledUpDay records each day computed whole: the statistics (services/reporting/stats.py) read
the rows of those days and count the others live.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta

from sqlalchemy import (
    Date,
    DateTime,
    Select,
    and_,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    tuple_,
    union_all,
    update,
)

from backend import clock
from backend.caches import tagged_cache
from backend.services.duty.attendance import ATTENDED, rate
from backend.services.issues.issue_queue import current_due_column
from models import (
    OPEN_STATUSES,
    CheckIn,
    DutyAssignment,
    DutyRoster,
    Issue,
    IssueEvent,
    IssueStatus,
    Rating,
    RatingScore,
    ReceptionRecord,
    RolledUpDay,
    RosterStatus,
    StationDayFigures,
    StationMonthCategory,
    StationMonthFigures,
    db,
)

S = IssueStatus
# Bumped after every commit of roll-up rows: what was read from them (the dashboard) is stale.
GENERATION_KEY = "rollup:gen"
tagged_cache.register_global(GENERATION_KEY)
# Yesterday and the seven days before it are recomputed whole every night.
FULL_DAYS = 8
# Older days are refreshed when their issues moved within this window (a week of downtime).
REFRESH_WINDOW = timedelta(days=8)
# Days computed from one set of grouped queries (bounds the memory of a long backfill).
_WINDOW_DAYS = 31
_UPDATE_BATCH = 1000
CLOCKED = (S.submitted, S.accepted, S.transferred)

ISSUE_COLUMNS = ("received", "accepted", "rejected", "pending_review", "replied", "resolved", "closed",
                 "open_issues", "overdue", "ratings", "satisfied", "basically_satisfied", "unsatisfied")
# Hours from submission to first reply, summed over the `replied` issues (not a count).
HOURS = "first_response_hours"
DAY_COLUMNS = ("check_ins", "duty_assigned", "duty_attended", "residents_received")
# Every summable column of a roll-up row: the issue counts, the hours, the day's facts.
COLUMNS = ISSUE_COLUMNS + (HOURS,) + DAY_COLUMNS


def midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=clock.BEIJING)


def beijing_day(column):
    """SQL: the Beijing date of a UTC timestamp column (no bound parameters, so the same
    expression can be selected and grouped by)."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone(literal_column("'Asia/Shanghai'"), column))
    # SQLite keeps UTC as text; Beijing has had no daylight saving since 1991.
    return func.date(column, literal_column("'+8 hours'"))


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def _count_if(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


# --- computing ----------------------------------------------------------------------------------

def hours_between(later, earlier):
    """SQL: the hours between two timestamps, on the engine in use."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", later - earlier) / 3600.0
    return (func.julianday(later) - func.julianday(earlier)) * 24.0


def _issue_figures(where, today: date, *, by_station_day: bool = True, since: date | None = None) -> dict[tuple, dict]:
    """The issue columns (and HOURS) of each (station, day of receipt) among the issues matching
    `where` — or, not grouped, of all of them under the key (). `since`: no issue matching
    `where` was received before that day, so neither was any of their ratings made (ix_rating_created)."""
    day = beijing_day(Issue.created_at)
    keys = (Issue.station_id, day) if by_station_day else ()

    def key_of(values) -> tuple:
        return (values[0], _as_date(values[1])) if by_station_day else ()

    found: dict[tuple, dict] = {}
    rows = db.session.execute(
        select(*keys, func.count(Issue.id),
               _count_if(Issue.accepted_at.is_not(None)),
               _count_if(Issue.status == S.rejected),
               _count_if(Issue.status == S.pending_review),
               _count_if(Issue.first_response_at.is_not(None)),
               _count_if(Issue.status == S.resolved),
               _count_if(Issue.status == S.closed),
               _count_if(Issue.status.in_(OPEN_STATUSES)),
               _count_if(current_due_column() < today),
               func.coalesce(func.sum(hours_between(Issue.first_response_at, Issue.created_at)), 0.0))
        .where(*where).group_by(*keys))
    for row in rows:
        *counts, hours = row[len(keys):]
        if not counts[0]:
            continue  # not grouped: one row of zeros when nothing matched
        found[key_of(row)] = dict(zip(ISSUE_COLUMNS[:9], map(int, counts), strict=True)) | {HOURS: float(hours)}
    ratings = db.session.execute(
        select(*keys, func.count(Rating.id),
               _count_if(Rating.score == RatingScore.satisfied),
               _count_if(Rating.score == RatingScore.basically_satisfied),
               _count_if(Rating.score == RatingScore.unsatisfied))
        .join(Issue, Issue.id == Rating.issue_id)
        .where(*where, *([Rating.created_at >= midnight(since)] if since else [])).group_by(*keys))
    for row in ratings:
        counts = row[len(keys):]
        if counts[0]:
            found[key_of(row)].update(zip(ISSUE_COLUMNS[9:], map(int, counts), strict=True))
    for figures in found.values():
        for name in ISSUE_COLUMNS[9:]:
            figures.setdefault(name, 0)
    return found


def _day_figures(first: date, last: date, today: date, *, station_ids=None) -> dict[tuple[int, date], dict[str, int]]:
    """Check-ins, duty and residents received at each station (of `station_ids`, a select or a
    collection, when given) on each day of [first, last]."""
    found: dict[tuple[int, date], dict[str, int]] = defaultdict(dict)
    last_counted = min(last, today)  # as attendance counts: nothing after today

    def scoped(column):
        return () if station_ids is None else (column.in_(station_ids),)

    for station_id, on, count in db.session.execute(
            select(CheckIn.station_id, CheckIn.on_date, func.count(CheckIn.id))
            .where(CheckIn.on_date.between(first, last_counted), *scoped(CheckIn.station_id))
            .group_by(CheckIn.station_id, CheckIn.on_date)):
        found[(station_id, on)]["check_ins"] = count
    for station_id, on, assigned, attended in db.session.execute(
            select(DutyAssignment.station_id, DutyAssignment.duty_date, func.count(DutyAssignment.id),
                   _count_if(ATTENDED))
            .join(DutyRoster, DutyRoster.id == DutyAssignment.roster_id)
            .where(DutyRoster.status == RosterStatus.published,
                   DutyAssignment.duty_date.between(first, last_counted), *scoped(DutyAssignment.station_id))
            .group_by(DutyAssignment.station_id, DutyAssignment.duty_date)):
        found[(station_id, on)].update(duty_assigned=assigned, duty_attended=int(attended))
    for station_id, on, residents in db.session.execute(
            select(ReceptionRecord.station_id, ReceptionRecord.on_date, func.sum(ReceptionRecord.residents))
            .where(ReceptionRecord.on_date.between(first, last), *scoped(ReceptionRecord.station_id))
            .group_by(ReceptionRecord.station_id, ReceptionRecord.on_date)):
        found[(station_id, on)]["residents_received"] = int(residents or 0)
    return found


# --- writing ------------------------------------------------------------------------------------

def roll_up_day(day: date, *, today: date | None = None) -> int:
    """Recompute one Beijing day for every station, replacing its rows (one transaction).
    Returns how many rows the day has now."""
    return roll_up_days([day], today=today)


def roll_up_days(days, *, today: date | None = None) -> int:
    """Recompute each of `days` before `today` whole, one transaction per day; returns the rows
    written.

    `today` (default Beijing's today) is the date the overdue clocks are read on. It and later
    days are skipped: a day is rolled up once it is over (the statistics count today live), so
    a month row ends at yesterday and serves a period that runs to today.
    """
    today = today or clock.beijing_today()
    days = sorted(d for d in set(days) if d < today)
    written = 0
    while days:
        window = [d for d in days if d < days[0] + timedelta(days=_WINDOW_DAYS)]
        days = days[len(window):]
        first, last = window[0], window[-1]
        issues = _issue_figures((Issue.created_at >= midnight(first),
                                 Issue.created_at < midnight(last + timedelta(days=1))), today, since=first)
        facts = _day_figures(first, last, today)
        # Reads done: end them before writing (SQLite cannot upgrade a read begun before another
        # writer committed).
        db.session.rollback()
        for day in window:
            written += _replace_day(day, issues, facts)
        refresh_months({_month_of(day) for day in window})
    return written


def _replace_day(day: date, issues: dict, facts: dict) -> int:
    now = clock.now()
    stations = {s for s, d in issues if d == day} | {s for s, d in facts if d == day}
    rows = []
    for station_id in sorted(stations):
        row = dict.fromkeys(COLUMNS, 0)
        row.update(issues.get((station_id, day), {}))
        row.update(facts.get((station_id, day), {}))
        row.update(station_id=station_id, day=day, computed_at=now)
        rows.append(row)
    try:
        db.session.execute(delete(StationDayFigures).where(StationDayFigures.day == day))
        if rows:
            db.session.execute(StationDayFigures.__table__.insert(), rows)
        db.session.execute(delete(RolledUpDay).where(RolledUpDay.day == day))
        db.session.execute(insert(RolledUpDay).values(day=day, computed_at=now))
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    tagged_cache.bump([GENERATION_KEY])
    return len(rows)


def refresh_moved(now: datetime, *, before: date, today: date | None = None) -> int:
    """Refresh the issue columns of rolled-up days before `before` whose issues moved — had a
    timeline event, or a clock turning red — within REFRESH_WINDOW before `now`.

    Days never rolled up stay without rows (a partial row would look complete). Returns how
    many (station, day) pairs were recomputed.
    """
    today = today or now.astimezone(clock.BEIJING).date()
    since = now - REFRESH_WINDOW
    since_day = since.astimezone(clock.BEIJING).date()
    due = current_due_column()
    moved = or_(
        Issue.id.in_(select(IssueEvent.issue_id).where(IssueEvent.created_at >= since)),
        and_(Issue.status.in_(CLOCKED), due >= since_day, due < today),
    )
    day = beijing_day(Issue.created_at)
    pairs = select(Issue.station_id, day).where(moved, Issue.created_at < midnight(before)).distinct()
    figures = _issue_figures((tuple_(Issue.station_id, day).in_(pairs),), today)
    db.session.rollback()
    statement = (update(StationDayFigures.__table__)
                 .where(StationDayFigures.station_id == bindparam("b_station"),
                        StationDayFigures.day == bindparam("b_day"))
                 .values({name: bindparam(name) for name in ISSUE_COLUMNS + (HOURS, "computed_at")}))
    items = sorted(figures.items())
    months = {_month_of(on) for _, on in figures}
    for start in range(0, len(items), _UPDATE_BATCH):
        computed_at = clock.now()
        params = [{"b_station": station_id, "b_day": on, "computed_at": computed_at, **counts}
                  for (station_id, on), counts in items[start:start + _UPDATE_BATCH]]
        try:
            db.session.execute(statement, params)
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise
    refresh_months(months, categories=False)  # a category never changes: only the figures moved
    tagged_cache.bump([GENERATION_KEY])
    return len(items)


def _month_of(day: date) -> date:
    return day.replace(day=1)


def _next_month(month: date) -> date:
    return (month + timedelta(days=32)).replace(day=1)


def refresh_months(months, *, categories: bool = True) -> None:
    """Rewrite the month rows (StationMonthFigures, and StationMonthCategory unless told not to)
    of each of `months` (first days) from the day rows and the issues: one transaction a month."""
    names = COLUMNS
    day = StationDayFigures
    for month in sorted(months):
        following = _next_month(month)
        now = clock.now()
        try:
            db.session.execute(delete(StationMonthFigures).where(StationMonthFigures.month == month))
            db.session.execute(insert(StationMonthFigures).from_select(
                ["station_id", "month", "computed_at", *names],
                select(day.station_id, literal(month, Date), literal(now, DateTime(timezone=True)),
                       *(func.sum(getattr(day, name)) for name in names))
                .where(day.day >= month, day.day < following).group_by(day.station_id)))
            if categories:
                # The month's issues as far as its days are rolled up, like its figures.
                last = db.session.scalar(select(func.max(day.day)).where(day.day >= month, day.day < following))
                db.session.execute(delete(StationMonthCategory).where(StationMonthCategory.month == month))
                db.session.execute(insert(StationMonthCategory).from_select(
                    ["station_id", "month", "category_id", "received"],
                    select(Issue.station_id, literal(month, Date), Issue.category_id, func.count(Issue.id))
                    .where(Issue.created_at >= midnight(month),
                           Issue.created_at < midnight(_as_date(last or month) + timedelta(days=1)), last is not None)
                    .group_by(Issue.station_id, Issue.category_id)))
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise
        tagged_cache.bump([GENERATION_KEY])


def roll_up_job(now: datetime) -> dict:
    """The nightly `rollup` job: yesterday and the seven days before, whole; older days' issue
    columns where their issues moved."""
    today = now.astimezone(clock.BEIJING).date()
    days = [today - timedelta(days=n) for n in range(FULL_DAYS, 0, -1)]
    rows = roll_up_days(days, today=today)
    refreshed = refresh_moved(now, before=days[0], today=today)
    return {"from": days[0].isoformat(), "to": days[-1].isoformat(), "rows": rows, "refreshed": refreshed}


# --- reading ------------------------------------------------------------------------------------

def split_period(start: date, end: date) -> tuple[tuple[date, date] | None, list[tuple[date, date]]]:
    """[start, end] as the whole calendar months inside it (first and last month's first days,
    or None) and the days outside them (up to two ranges)."""
    if end < start:
        return None, [(start, end)]  # an empty period: an empty range of days
    first = start if start.day == 1 else _next_month(start)
    last = _month_of(end + timedelta(days=1))  # the first month not wholly inside
    if first >= last:
        return None, [(start, end)]
    edges = [(start, first - timedelta(days=1))] if start < first else []
    if last <= end:
        edges.append((last, end))
    return (first, last - timedelta(days=1)), edges


def split_rolled(start: date, end: date) -> tuple[tuple[date, date] | None, list[tuple[date, date]]]:
    """`split_period`, reading a trailing run of days from a month's first day from that month's
    row too when the run reaches the month's last rolled-up day: the row holds exactly those
    days (a year to date reads this month as one row a station, not one a station and day)."""
    months, edges = split_period(start, end)
    if not edges or edges[-1][0].day != 1 or end < start:
        return months, edges
    first, last = edges[-1]
    rolled = db.session.scalar(select(func.max(StationDayFigures.day)).where(
        StationDayFigures.day >= first, StationDayFigures.day < _next_month(first)))
    if rolled is not None and last < _as_date(rolled):
        return months, edges
    return ((months[0] if months else first), _next_month(first) - timedelta(days=1)), edges[:-1]


def period_rows(station_ids, start: date, end: date, names, *, month_column: bool = False):
    """A subquery of roll-up rows that together cover [start, end] once: month rows for whole
    months, day rows for the rest; columns `station_id`, `names` (and `month`, a month's first
    day, when asked)."""
    if not isinstance(station_ids, Select):
        station_ids = list(station_ids)
    months, edges = split_rolled(start, end)
    parts = []
    if months is not None:
        m = StationMonthFigures
        parts.append(select(m.station_id, *([m.month.label("month")] if month_column else []),
                            *(getattr(m, n).label(n) for n in names))
                     .where(m.station_id.in_(station_ids), m.month.between(*months)))
    d = StationDayFigures
    for first, last in edges:
        parts.append(select(d.station_id, *([month_start(d.day).label("month")] if month_column else []),
                            *(getattr(d, n).label(n) for n in names))
                     .where(d.station_id.in_(station_ids), d.day.between(first, last)))
    return union_all(*parts).subquery() if len(parts) > 1 else parts[0].subquery()


def month_start(column):
    """SQL: the first day of the date column's month, as a date on either engine."""
    if db.session.get_bind().dialect.name == "postgresql":
        return cast(func.date_trunc("month", column), Date)
    return func.date(column, literal_column("'start of month'"))


def column_sums(station_ids, start: date, end: date) -> tuple[dict, datetime | None]:
    """COLUMNS summed over the roll-up rows of the stations `station_ids` (a select of ids or a
    collection) that cover the Beijing dates [start, end], and when the latest of those rows was
    computed (None when there are none). Days never rolled up have no rows: they add nothing."""
    if end < start:
        return dict.fromkeys(COLUMNS, 0), None
    rows = period_rows(station_ids, start, end, COLUMNS + ("computed_at",))
    *sums, latest = db.session.execute(
        select(*(func.coalesce(func.sum(rows.c[name]), 0) for name in COLUMNS), func.max(rows.c.computed_at))).one()
    return typed(dict(zip(COLUMNS, sums, strict=True))), latest


def typed(sums: dict) -> dict:
    return {name: float(value) if name == HOURS else int(value) for name, value in sums.items()}


def rolled_days(first: date, last: date) -> set[date]:
    """The dates of [first, last] that the roll-ups have computed whole."""
    return {_as_date(day) for day in db.session.scalars(
        select(RolledUpDay.day).where(RolledUpDay.day.between(first, last)))}


def live_sums(station_ids, first: date, last: date, today: date) -> dict:
    """COLUMNS as a roll-up of [first, last] computed now would sum them for those stations,
    counted from the issues, check-ins, duty and reception records themselves."""
    total = dict.fromkeys(COLUMNS, 0)
    issues = _issue_figures((Issue.station_id.in_(station_ids), Issue.created_at >= midnight(first),
                             Issue.created_at < midnight(last + timedelta(days=1))), today, by_station_day=False,
                            since=first)
    for counts in [*issues.values(), *_day_figures(first, last, today, station_ids=station_ids).values()]:
        for name, value in counts.items():
            total[name] += value
    return total


def figures_of(total: dict) -> dict:
    """The headline figures of /api/v1/manage/stats (services/reporting/stats.py) from summed COLUMNS."""
    done = total["resolved"] + total["closed"]
    replied = total["replied"]
    return {
        "received": total["received"], "accepted": total["accepted"], "resolved": done,
        "rejected": total["rejected"], "pending_review": total["pending_review"],
        "resolution_rate": rate(done, total["received"] - total["rejected"] - total["pending_review"]),
        "ratings": total["ratings"], "satisfied_ratings": total["satisfied"] + total["basically_satisfied"],
        "satisfaction_rate": rate(total["satisfied"] + total["basically_satisfied"], total["ratings"]),
        "overdue": total["overdue"], "open_issues": total["open_issues"], "check_ins": total["check_ins"],
        "duty_days_assigned": total["duty_assigned"], "duty_days_attended": total["duty_attended"],
        "attendance_rate": rate(total["duty_attended"], total["duty_assigned"]),
        "residents_received": total["residents_received"],
        "avg_first_response_hours": round(total[HOURS] / replied, 2) if replied else None,
    }
