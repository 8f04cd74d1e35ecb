"""Pages of issue lists cached in Redis: a deputy's inbox and a resident's own issues (我的意见建议).

See `backend/caches/tagged_cache.py` for the mechanism. Both are opened far more often than anything
in them changes. A cached page is stamped with the generations of everything it was drawn from:

- for the inbox, each of the deputy's stations (`issues:gen:station:<id>`) and the deputy
  (`issues:gen:deputy:<id>`); for a resident's list, the resident (`issues:gen:submitter:<user
  id>`): bumped by any change to an issue of that station, addressed or assigned to that
  deputy, or sent by that resident (before or after the change);
- everything (`issues:gen`): names of stations, deputies and categories shown in the items, the
  working-day calendar behind the clocks, and any bulk UPDATE of issues that did not say which
  issues it moved.

A page also carries the caller's identity generations (a new membership means new stations), is
read together with the identity in one round trip (`tagged_cache.lookup_with`), and its key
carries the Beijing date, since clocks turn yellow and red at midnight.
Changes to issues made by the state machine are bulk UPDATEs (`issue_flow._move`): it names the
issue with `issue_changed()` and marks its statement `cache_noted`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from flask import g, request
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from backend import clock
from backend.auth import Caller
from backend.caches import identity_cache, tagged_cache
from models import CalendarOverride, CalendarYear, Category, Deputy, Issue, Station

EVERYTHING = "issues:gen"
tagged_cache.register_global(EVERYTHING)
MAX_AGE = timedelta(minutes=10)
_SHOWN_REFERENCE = (Station, Deputy, Category, CalendarOverride, CalendarYear)


def _station_gen(station_id: int) -> str:
    return f"issues:gen:station:{station_id}"


def _deputy_gen(deputy_id: int) -> str:
    return f"issues:gen:deputy:{deputy_id}"


def _submitter_gen(user_id: int) -> str:
    return f"issues:gen:submitter:{user_id}"


@dataclass(frozen=True)
class CachedList:
    """One list whose pages are cached per caller: `own_gens` names the generations of the
    issues it shows (the caller's identity and "everything" come on top)."""

    name: str
    own_gens: Callable[[Caller], list[str]]

    def _gen_keys(self, caller: Caller) -> list[str]:
        # The caller's own generations too: e.g. the deputy's stations come from the identity.
        return [identity_cache.EVERYONE, identity_cache.user_gen(caller.user_id), EVERYTHING,
                *self.own_gens(caller)]

    def _key(self, user_id: int, status: str | None, page, per_page) -> str:
        return f"{self.name}:{user_id}:{status or ''}:{page}:{per_page}:{clock.beijing_today().isoformat()}"

    def prefetch_key(self, user_id: int) -> str:
        """The page this request asks for, from its raw query: read with the caller's identity in
        one round trip. An unusual spelling (page=01) only misses this and is looked up normally."""
        args = request.args
        return self._key(user_id, args.get("status"), args.get("page", "1"), args.get("per_page", "20"))

    def page(self, caller: Caller, status: str | None, page: int, per_page: int,
             compute: Callable[[], bytes]) -> bytes:
        """The JSON body of the page: cached if current, else `compute()`d and stored."""
        key = self._key(caller.user_id, status, page, per_page)
        prefetched = g.get("prefetched")
        if prefetched is not None and prefetched[0] == key and prefetched[1] is not None:
            return prefetched[1]
        gen_keys = self._gen_keys(caller)
        found = tagged_cache.current(gen_keys)  # read before computing: see tagged_cache
        body = compute()
        local = clock.beijing_now()
        midnight = datetime.combine(local.date() + timedelta(days=1), time(0), clock.BEIJING)
        tagged_cache.store_described(found, key, gen_keys, body, min(MAX_AGE, midnight - local).total_seconds())
        return body


INBOX = CachedList("inbox", lambda caller: [_deputy_gen(caller.deputy_id),
                                            *map(_station_gen, caller.deputy_station_ids)])
MINE = CachedList("mine", lambda caller: [_submitter_gen(caller.user_id)])


def _issue_gens(station_ids, deputy_ids, submitter_ids) -> list[str]:
    return ([_station_gen(s) for s in station_ids if s is not None]
            + [_deputy_gen(d) for d in deputy_ids if d is not None]
            + [_submitter_gen(u) for u in submitter_ids if u is not None])


def issue_changed(session: Session, issue: Issue, *, deputies_before=()) -> None:
    """Retire, at commit, the cached pages that show `issue` or should now show it."""
    tagged_cache.note(session, _issue_gens(
        [issue.station_id], {issue.addressed_deputy_id, issue.assigned_deputy_id, *deputies_before},
        [issue.submitter_id]))


def _spoiled_by(obj) -> list[str]:
    if isinstance(obj, Issue):
        attrs = inspect(obj).attrs
        return _issue_gens(
            {obj.station_id, *attrs.station_id.history.deleted},
            {obj.addressed_deputy_id, obj.assigned_deputy_id,
             *attrs.addressed_deputy_id.history.deleted, *attrs.assigned_deputy_id.history.deleted},
            {obj.submitter_id, *attrs.submitter_id.history.deleted})
    if isinstance(obj, _SHOWN_REFERENCE):
        return [EVERYTHING]
    return []


def _spoiled_by_bulk(cls: type) -> list[str]:
    return [EVERYTHING] if cls is Issue or cls in _SHOWN_REFERENCE else []


def hook_invalidation() -> None:
    tagged_cache.watch(_spoiled_by, _spoiled_by_bulk)
