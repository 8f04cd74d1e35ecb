"""Deputies' inbox pages cached in Redis (see `backend/tagged_cache.py` for the mechanism).

A deputy opens the inbox far more often than anything in it changes. A cached page is stamped
with the generations of everything it was drawn from:

- each of the deputy's stations (`issues:gen:station:<id>`) and the deputy
  (`issues:gen:deputy:<id>`): bumped by any change to an issue of that station, or addressed or
  assigned to that deputy (before or after the change);
- everything (`issues:gen`): names of stations, deputies and categories shown in the items, the
  working-day calendar behind the clocks, and any bulk UPDATE of issues that did not say which
  issues it moved.

The deputy's stations come from the caller's identity (so a new membership means a new key), and
the key carries the Beijing date, since clocks turn yellow and red at midnight.
Changes to issues made by the state machine are bulk UPDATEs (`issue_flow._move`): it names the
issue with `issue_changed()` and marks its statement `cache_noted`.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from models import CalendarOverride, CalendarYear, Category, Deputy, Issue, Station

from .. import clock, tagged_cache
from ..auth import Caller

EVERYTHING = "issues:gen"
MAX_AGE = timedelta(minutes=10)
_SHOWN_REFERENCE = (Station, Deputy, Category, CalendarOverride, CalendarYear)


def _station_gen(station_id: int) -> str:
    return f"issues:gen:station:{station_id}"


def _deputy_gen(deputy_id: int) -> str:
    return f"issues:gen:deputy:{deputy_id}"


def _gen_keys(caller: Caller) -> list[str]:
    return [EVERYTHING, _deputy_gen(caller.deputy_id), *map(_station_gen, caller.deputy_station_ids)]


def _key(caller: Caller, status: str | None, page: int, per_page: int) -> str:
    stations = ",".join(map(str, caller.deputy_station_ids))
    return (f"inbox:{caller.user_id}:{caller.deputy_id}:{stations}:{status or ''}:{page}:{per_page}:"
            f"{clock.beijing_today().isoformat()}")


def lookup(caller: Caller, status: str | None, page: int, per_page: int) -> tagged_cache.Lookup:
    return tagged_cache.lookup(_gen_keys(caller), _key(caller, status, page, per_page))


def store(found: tagged_cache.Lookup, caller: Caller, status: str | None, page: int, per_page: int,
          body: bytes) -> None:
    local = clock.beijing_now()
    midnight = datetime.combine(local.date() + timedelta(days=1), time(0), clock.BEIJING)
    ttl = min(MAX_AGE, midnight - local).total_seconds()
    tagged_cache.store(found, _key(caller, status, page, per_page), body, ttl)


def _issue_gens(station_ids, deputy_ids) -> list[str]:
    return ([_station_gen(s) for s in station_ids if s is not None]
            + [_deputy_gen(d) for d in deputy_ids if d is not None])


def issue_changed(session: Session, issue: Issue, *, deputies_before=()) -> None:
    """Retire, at commit, the cached inbox pages that show `issue` or should now show it."""
    tagged_cache.note(session, _issue_gens(
        [issue.station_id], {issue.addressed_deputy_id, issue.assigned_deputy_id, *deputies_before}))


def _spoiled_by(obj) -> list[str]:
    if isinstance(obj, Issue):
        attrs = inspect(obj).attrs
        return _issue_gens(
            {obj.station_id, *attrs.station_id.history.deleted},
            {obj.addressed_deputy_id, obj.assigned_deputy_id,
             *attrs.addressed_deputy_id.history.deleted, *attrs.assigned_deputy_id.history.deleted})
    if isinstance(obj, _SHOWN_REFERENCE):
        return [EVERYTHING]
    return []


def _spoiled_by_bulk(cls: type) -> list[str]:
    return [EVERYTHING] if cls is Issue or cls in _SHOWN_REFERENCE else []


def hook_invalidation() -> None:
    tagged_cache.watch(_spoiled_by, _spoiled_by_bulk)
