"""Staff statistics (数据统计) over the stations a staff member manages, narrowed to a region or a
station, for a period of Beijing dates.

The issue figures describe the issues *received in the period* (created between the Beijing
midnights bounding it), each in the state it was in when its day was last rolled up — so a
period's resolution rate keeps rising as its issues are finished, and the figures of one period
never count an issue twice:
- received: issues created in scope and period;
- accepted: of those, issues ever accepted (受理: `accepted_at` set);
- resolved: of those, issues `resolved` or `closed` (办结; an issue reaches closed only through
  resolved);
- resolution_rate = resolved ÷ (received − rejected − pending_review), the rejected and those
  still held for review counted among the received; 4 decimals (224 received, 219 resolved or
  closed → 0.9777), None when the divisor is 0;
- satisfaction_rate = (satisfied + basically satisfied) ÷ ratings, over every rating (each
  resolution round) of those issues;
- avg_first_response_hours: mean hours from submission to the first reply, over those answered;
- overdue: of those, the ones whose 三色督办 clock was red (the date their clock runs against —
  services/issues/issue_queue.current_due_column — before the day of the count).
Check-ins and attendance are those dated in the period (services/duty/attendance.py's definitions).

Where the figures come from (统计口径): the days before today that the roll-ups have computed
(services/reporting/rollups.py; the nightly job recomputes the last week whole and refreshes older days
whose issues moved) are summed from their rows — a few rows a station, whatever the number of
issues, which is what lets a province ask for a year. Today, and any day the roll-ups have not
computed yet, is counted live from the issues. So today's submissions show at once, while a
move on an older issue (a reply, a rating) shows after the next night; `as_of` says when the
rows read were computed (None when everything was counted live).
"""
from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timedelta

from backend import clock
from backend.auth import Caller
from backend.caches import tagged_cache
from backend.services.duty.attendance import scoped_station_ids
from backend.services.reporting import rollups
from backend.services.stations import scan_cache
from models import Role

# The rolled part of a scope and period is cached until the roll-ups change or a station does
# (a station moved between regions changes a scope), and at most this long.
CACHE_SECONDS = 600
CACHE_GENERATIONS = (rollups.GENERATION_KEY, scan_cache.GENERATION_KEY)


def stats(caller: Caller, start: date, end: date, *, region_code: str | None = None,
          station_id: int | None = None) -> dict:
    """The figures of the module docstring: rollups.figures_of's keys and `as_of`.

    :raise 403 forbidden: the caller has no staff account.
    :raise 404 station_not_found · not_found: a station or region outside the caller's reach.
    """
    ids = scoped_station_ids(caller, station_id=station_id, region_code=region_code)
    # The rolled part ends yesterday: a period running on past today is another key each day.
    rolled_end = min(end, clock.beijing_today() - timedelta(days=1))
    key = f"stats:{scope_key(caller, station_id, region_code)}:{start.isoformat()}:{rolled_end.isoformat()}"
    found = tagged_cache.lookup(CACHE_GENERATIONS, key)
    if found.value is not None:
        sums, as_of = json.loads(found.value)
        rolled = (sums, datetime.fromisoformat(as_of) if as_of else None)
    else:
        rolled = rolled_part(ids, start, end)
        tagged_cache.store(found, key, json.dumps([rolled[0], rolled[1].isoformat() if rolled[1] else None]).encode(),
                           CACHE_SECONDS)
    return figures(ids, start, end, rolled=rolled)


def scope_key(caller: Caller, station_id: int | None, region_code: str | None) -> str:
    """The caller's scope (a region admin's region, a station manager's stations), narrowed: the
    part of a cache key that says whose figures they are."""
    staff = caller.staff
    if caller.has(Role.region_admin) and staff.region is not None:
        scope = "r" + staff.region.code
    else:
        scope = "s" + hashlib.sha1(",".join(map(str, sorted(caller.station_ids))).encode()).hexdigest()[:16]
    return f"{scope}:{station_id or ''}:{region_code or ''}"


def figures(station_ids, start: date, end: date, *, rolled: tuple[dict, object] | None = None,
            live: list | None = None) -> dict:
    """The statistics of the stations `station_ids` (a select of ids or a collection) over
    [start, end]. `rolled` and `live` are rolled_part's and live_part's answers when the caller
    already has them (the console caches the first and also draws the second)."""
    sums, as_of = rolled if rolled is not None else rolled_part(station_ids, start, end)
    total = dict(sums)
    for _, counted in (live if live is not None else live_part(station_ids, start, end)):
        for name, value in counted.items():
            total[name] += value
    return rollups.figures_of(total) | {"as_of": as_of}


def live_part(station_ids, start: date, end: date, *, by_month: bool = False) -> list[tuple[tuple[date, date], dict]]:
    """The roll-up columns counted live over each run of live_ranges (first and last day), each
    run cut at the end of its month when asked (the console's trend is by month)."""
    today = clock.beijing_today()
    return [((first, last), rollups.live_sums(station_ids, first, last, today))
            for first, last in live_ranges(start, end, today, by_month=by_month)]


def rolled_part(station_ids, start: date, end: date) -> tuple[dict, object]:
    """The roll-up columns summed over the period's days before today, and when they were
    computed. A day not rolled up has no rows, so it adds nothing here: live_ranges counts it."""
    return rollups.column_sums(station_ids, start, min(end, clock.beijing_today() - timedelta(days=1)))


def live_ranges(start: date, end: date, today: date, *, by_month: bool = False) -> list[tuple[date, date]]:
    """The runs of days of [start, end] counted live — today, and days before it not rolled up —
    cut at each month's end `by_month`. Days after today hold nothing yet."""
    last = min(end, today)
    if last < start:
        return []
    rolled = rollups.rolled_days(start, min(last, today - timedelta(days=1)))
    ranges: list[tuple[date, date]] = []
    for day in (start + timedelta(days=n) for n in range((last - start).days + 1)):
        if day in rolled:
            continue
        if ranges and ranges[-1][1] == day - timedelta(days=1) and not (by_month and day.day == 1):
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges
