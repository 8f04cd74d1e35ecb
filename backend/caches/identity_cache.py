"""Who a token's user is — roles, deputy, staff account, stations — cached in Redis.

Resolving the caller takes three or four queries on every authenticated request; the answer
changes only when the user, their deputy record, their staff account or a station membership
changes. Those changes bump the user's generation (or, for memberships and bulk updates, the
generation of everyone) after commit, so a revoked token, a disabled account or a retired
deputy loses access as soon as the change commits — as without the cache. MAX_AGE bounds
staleness only for changes made outside the ORM (hand-written SQL).

The deputy's stations are those of one Beijing date, so an identity is only used on that date.
"""
from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import inspect

from backend import clock
from backend.caches import tagged_cache
from models import Deputy, StaffAccount, StationMembership, User

MAX_AGE = timedelta(minutes=10)
EVERYONE = "caller:gen"
tagged_cache.register_global(EVERYONE)


def user_gen(user_id: int) -> str:
    return f"caller:gen:user:{user_id}"


def _key(user_id: int) -> str:
    return f"caller:id:{user_id}"


def lookup(user_id: int, also: str | None = None) -> tuple[dict | None, tagged_cache.Lookup, bytes | None]:
    """The cached identity of `user_id` if still true today, the lookup to store a new one with,
    and — read in the same round trip — the self-describing cached value under `also`, if current
    (`tagged_cache.store_described`)."""
    gen_keys = [EVERYONE, user_gen(user_id)]
    if also is None:
        found, extra = tagged_cache.lookup(gen_keys, _key(user_id)), None
    else:
        found, extra = tagged_cache.lookup_with(gen_keys, _key(user_id), also)
    if found.value is None:
        return None, found, extra
    identity = json.loads(found.value)
    if identity.pop("on") != clock.beijing_today().isoformat():
        return None, found, extra
    return identity, found, extra


def store(found: tagged_cache.Lookup, user_id: int, identity: dict) -> None:
    """Store an identity computed (after `found`) for today: ver, roles, deputy, staff, stations,
    deputy_stations."""
    value = json.dumps({**identity, "on": clock.beijing_today().isoformat()}, separators=(",", ":")).encode()
    tagged_cache.store(found, _key(user_id), value, MAX_AGE.total_seconds())


def _spoiled_by(obj) -> list[str]:
    if isinstance(obj, User):
        return [user_gen(obj.id)] if obj.id is not None else []
    if isinstance(obj, (Deputy, StaffAccount)):
        # Both the user it belongs to now and the one it belonged to (a deputy re-bound to a
        # new phone, an account moved) lose or gain a role.
        history = inspect(obj).attrs.user_id.history
        users = {obj.user_id, *history.deleted}
        return [user_gen(uid) for uid in users if uid is not None]
    if isinstance(obj, StationMembership):
        return [EVERYONE]
    return []


def _spoiled_by_bulk(cls: type) -> list[str]:
    return [EVERYONE] if cls in (User, Deputy, StaffAccount, StationMembership) else []


def hook_invalidation() -> None:
    tagged_cache.watch(_spoiled_by, _spoiled_by_bulk)
