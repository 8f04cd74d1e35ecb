"""Deadlines in Chinese working days (工作日) on Beijing dates, and the 三色督办 clock.

Whether a day is a working day, first rule that applies:
1. a staff override (`CalendarOverride`) for that date, even in a year the package covers, so a
   wrong package date can be corrected;
2. chinese_calendar's data, for the years it covers (`PACKAGE_YEARS`; 2004–2026 in 1.11.0);
3. in a year staff marked complete (`CalendarYear.is_complete`), plain Monday–Friday;
4. otherwise plain Monday–Friday, *estimated*: the State Council has not published (or staff
   have not entered) that year's holidays yet.

Counting, all on Beijing dates (a datetime is taken at its Beijing date):
- The receipt day is the submission date if that is a working day, else the next working day:
  something sent on a rest day is taken as received when the office reopens, and, as with any
  period in Chinese administrative practice, the day of receipt itself does not count.
- `add_workdays(start, n)` is the n-th working day strictly after the receipt day, due by the
  end of that day: Friday + 2 is Tuesday, Saturday + 2 is Wednesday (received on Monday).
  n = 0 is the receipt day itself. The deadline is estimated if any day from `start` to it was.
- `workdays_left(due, today)`: when today ≤ due, the working days d with today < d ≤ due
  (0 on the due day, 1 the working day before). When today > due, minus the working days d with
  due < d ≤ today, and at least -1, so the sign alone says overdue (a Saturday after a Friday
  deadline is -1).
- `clock_colour`: red when today > due; yellow when 0 or 1 working day is left (the due day,
  or the working day before it, however many rest days lie between); green otherwise.

Caching: a county computes clocks for thousands of issues per request, so a day's status never
touches the database. The overrides and the completed years (a few dozen rows a year, loaded
whole, which spares guessing which years a deadline walk will cross) are kept:
- per app context (one request, one job run) in `flask.g`, so a request sees one calendar
  throughout; the staff functions below drop the context's copy so it sees its own edit;
- per process, when Redis is configured, under the generation `calendar:gen`, which every commit
  changing an override or a completed year bumps (`backend/caches/tagged_cache.py`): each request then
  costs one Redis read instead of two queries, and sees edits committed before it began on every
  worker. Without Redis every app context loads its own.
A long-running app context (a scheduler loop) should call `invalidate()` when it wants fresh
data. Code outside an app context builds a `Calendar` itself and passes it as `calendar=`.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

import chinese_calendar
from flask import g, has_app_context
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from backend import clock
from backend.caches import tagged_cache
from models import CalendarOverride, CalendarYear, User, db

# The package's data as plain dicts, read directly: its is_workday() rescans every key to
# validate the year on each call, too slow for thousands of clocks.
_PKG_HOLIDAYS = chinese_calendar.holidays
_PKG_WORKDAYS = chinese_calendar.workdays
PACKAGE_YEARS = range(min(_PKG_HOLIDAYS).year, max(_PKG_HOLIDAYS).year + 1)

# A typo guard for staff input (27 for 2027), not a limit of the counting.
STAFF_YEARS = range(2000, 2101)
NOTE_MAX = 200

_G_KEY = "_workday_calendar"
_G_EDITED = "_workday_calendar_edited"

Colour = Literal["green", "yellow", "red"]


@dataclass(frozen=True)
class Deadline:
    date: date
    # Some day counted was a plain weekday guess in a year whose holidays are not known yet.
    estimated: bool


class Calendar:
    """A snapshot of what is known about working days; cheap to query, not to build per date."""

    def __init__(self, overrides: Mapping[date, bool] | None = None, complete_years: Iterable[int] = ()):
        self._overrides = dict(overrides or {})
        self._complete_years = frozenset(complete_years)
        # year -> cumulative working days: [0] = 0, [i] = working days among days 1..i.
        self._tables: dict[int, list[int]] = {}

    def is_year_known(self, year: int) -> bool:
        """Whether the year's holidays are known: the package covers it or staff completed it."""
        return year in PACKAGE_YEARS or year in self._complete_years

    def status(self, day: date) -> tuple[bool, bool]:
        """(working day?, estimated?) for one date; see the module docstring for the rules."""
        override = self._overrides.get(day)
        if override is not None:
            return override, False
        if day.year in PACKAGE_YEARS:
            return day in _PKG_WORKDAYS or (day.weekday() < 5 and day not in _PKG_HOLIDAYS), False
        return day.weekday() < 5, day.year not in self._complete_years

    def count(self, after: date, through: date) -> int:
        """Working days d with after < d ≤ through (0 when through ≤ after)."""
        total = 0
        for year in range(after.year, through.year + 1):
            table = self._table(year)
            low = after.timetuple().tm_yday if year == after.year else 0
            high = through.timetuple().tm_yday if year == through.year else len(table) - 1
            total += max(0, table[high] - table[low])
        return total

    def _table(self, year: int) -> list[int]:
        table = self._tables.get(year)
        if table is None:
            table = [0]
            day = date(year, 1, 1)
            while day.year == year:
                table.append(table[-1] + self.status(day)[0])
                day += timedelta(days=1)
            self._tables[year] = table
        return table


def load_calendar() -> Calendar:
    """Read the overrides and the completed years (two queries)."""
    overrides = db.session.execute(select(CalendarOverride.date, CalendarOverride.is_workday)).all()
    years = db.session.scalars(select(CalendarYear.year).where(CalendarYear.is_complete.is_(True))).all()
    return Calendar({day: workday for day, workday in overrides}, years)


GENERATION = "calendar:gen"
tagged_cache.register_global(GENERATION)
_process_copy = tagged_cache.ProcessMemo(GENERATION)


def current_calendar() -> Calendar:
    """This app context's calendar, loaded on first use.

    :raise RuntimeError: outside an app context.
    """
    calendar = g.get(_G_KEY)
    if calendar is None:
        # After its own edit a context reads the database: the edit is not committed yet, so
        # the generation has not moved and the process copy would not show it.
        calendar = load_calendar() if g.get(_G_EDITED) else _process_copy.get(None, load_calendar)
        setattr(g, _G_KEY, calendar)
    return calendar


def _calendar(given: Calendar | None) -> Calendar:
    return given if given is not None else current_calendar()


def invalidate() -> None:
    """Forget this app context's calendar; the next use reloads it."""
    if has_app_context():
        g.pop(_G_KEY, None)
        setattr(g, _G_EDITED, True)


def _spoiled_by(obj) -> list[str]:
    return [GENERATION] if isinstance(obj, (CalendarOverride, CalendarYear)) else []


def _spoiled_by_bulk(cls: type) -> list[str]:
    return [GENERATION] if cls in (CalendarOverride, CalendarYear) else []


def hook_invalidation() -> None:
    tagged_cache.watch(_spoiled_by, _spoiled_by_bulk)


def _as_date(value: date | datetime) -> date:
    # datetime is a date subclass: without this a UTC instant would silently count as its UTC
    # date (a submission at 17:00 UTC is already the next day in Beijing).
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("a naive datetime has no Beijing date")
        return value.astimezone(clock.BEIJING).date()
    if isinstance(value, date):
        return value
    raise TypeError(f"expected a date, got {type(value).__name__}")


def is_workday(day: date | datetime, *, calendar: Calendar | None = None) -> tuple[bool, bool]:
    """(working day?, estimated?) for the Beijing date `day`.

    :raise ValueError: a naive datetime.
    """
    return _calendar(calendar).status(_as_date(day))


def add_workdays(start: date | datetime, n: int, *, calendar: Calendar | None = None) -> Deadline:
    """The n-th working day after the receipt day of a submission made on `start`.

    :raise ValueError: n < 0, or a naive datetime.
    """
    if n < 0:
        raise ValueError("n must be ≥ 0")
    calendar = _calendar(calendar)
    day = _as_date(start)
    workday, estimated = calendar.status(day)
    while not workday:  # a rest day: received on the next working day
        day += timedelta(days=1)
        workday, guess = calendar.status(day)
        estimated |= guess
    for _ in range(n):
        workday = False
        while not workday:
            day += timedelta(days=1)
            workday, guess = calendar.status(day)
            estimated |= guess
    return Deadline(day, estimated)


def workdays_left(due: date | datetime, today: date | datetime | None = None, *,
                  calendar: Calendar | None = None) -> int:
    """Working days left until the end of `due`, negative when overdue (rules above).

    `today` defaults to Beijing's today. :raise ValueError: a naive datetime.
    """
    calendar = _calendar(calendar)
    due = _as_date(due)
    today = clock.beijing_today() if today is None else _as_date(today)
    if today <= due:
        return calendar.count(today, due)
    return -max(1, calendar.count(due, today))


def clock_colour(due: date | datetime, today: date | datetime | None = None, *,
                 calendar: Calendar | None = None) -> Colour:
    """三色督办: green, yellow with ≤ 1 working day left, red when overdue.

    `today` defaults to Beijing's today. :raise ValueError: a naive datetime.
    """
    left = workdays_left(due, today, calendar=calendar)
    if left < 0:
        return "red"
    return "yellow" if left <= 1 else "green"


# --- staff edits. Like the other services they flush; the request commits. ---

def set_override(day: date, is_workday: bool, note: str = "", actor_user: User | None = None) -> CalendarOverride:
    """Declare `day` a working day or a day off, replacing any override it had.

    :raise ValueError: a datetime instead of a date, or a note over 200 characters.
    """
    day = _staff_date(day)
    note = _staff_note(note)
    values = dict(is_workday=bool(is_workday), note=note,
                  created_by_id=actor_user.id if actor_user is not None else None, created_at=clock.now())
    row = _upsert(CalendarOverride, select(CalendarOverride).where(CalendarOverride.date == day),
                  dict(date=day), values)
    invalidate()
    return row


def remove_override(day: date) -> bool:
    """Drop the override of `day`, if any; says whether there was one.

    :raise ValueError: a datetime instead of a date.
    """
    result = db.session.execute(delete(CalendarOverride).where(CalendarOverride.date == _staff_date(day)))
    invalidate()
    return result.rowcount > 0


def mark_year_complete(year: int, complete: bool = True, note: str = "") -> CalendarYear:
    """Mark (or unmark) `year` as fully entered by staff, so its days are no longer estimates.

    :raise ValueError: a year outside 2000–2100, or a note over 200 characters.
    """
    if not isinstance(year, int) or year not in STAFF_YEARS:
        raise ValueError(f"year must be within {STAFF_YEARS.start}–{STAFF_YEARS.stop - 1}")
    row = _upsert(CalendarYear, select(CalendarYear).where(CalendarYear.year == year),
                  dict(year=year), dict(is_complete=bool(complete), note=_staff_note(note)))
    invalidate()
    return row


def list_overrides(year: int) -> list[CalendarOverride]:
    """The overrides within `year`, by date."""
    return list(db.session.scalars(
        select(CalendarOverride)
        .where(CalendarOverride.date.between(date(year, 1, 1), date(year, 12, 31)))
        .order_by(CalendarOverride.date)
    ))


def _upsert(model, query, key: dict, values: dict):
    row = db.session.scalar(query)
    if row is None:
        try:
            with db.session.begin_nested():
                row = model(**key, **values)
                db.session.add(row)
        except IntegrityError:
            # Another staff member entered the same key meanwhile; the later edit wins.
            row = db.session.scalar(query)
    for name, value in values.items():
        setattr(row, name, value)
    db.session.flush()
    return row


def _staff_date(day: date) -> date:
    # A staff date is a calendar date; an instant here is almost surely a bug upstream.
    if isinstance(day, datetime) or not isinstance(day, date):
        raise ValueError("expected a date, not a datetime")
    return day


def _staff_note(note: str) -> str:
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise ValueError(f"note longer than {NOTE_MAX} characters")
    return note
