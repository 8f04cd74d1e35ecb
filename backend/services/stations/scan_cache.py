"""The scan answer (码上找) cached in Redis.

Scanning is the hottest call and its answer changes rarely: when a station, its deputies, their
seats and groups, its region, its reception rule, a moved or cancelled day or a roster change,
and when the clock passes the station's closing time or Beijing midnight. So:

- every cached answer carries the span of time it is true for (from the last midnight or
  closing time to the next), checked against our clock on each hit;
- every commit that touched one of `SOURCES` bumps a generation number, and keys carry the
  generation, so one increment retires every cached answer at once (changes are rare; precise
  per-station invalidation is not worth its bookkeeping);
- Redis unset or down means no cache, never an error: the answer is computed from the database.
"""
from __future__ import annotations

import logging
from datetime import datetime, time, timedelta

import redis

from backend import clock
from backend.caches import tagged_cache
from backend.extensions import get_redis
from models import (
    Deputy,
    DeputySeat,
    DutyAssignment,
    DutyRoster,
    ReceptionDayChange,
    ReceptionRule,
    Region,
    Station,
    StationMembership,
    TopicGroup,
)

log = logging.getLogger(__name__)

# What a scan answer is made of: the next reception day honours moved and cancelled days, and
# names who is on duty once the roster is published.
SOURCES = (Station, StationMembership, Deputy, DeputySeat, TopicGroup, Region, ReceptionRule,
           ReceptionDayChange, DutyRoster, DutyAssignment)

GENERATION_KEY = "scan:gen"
tagged_cache.register_global(GENERATION_KEY)
# A bound on staleness for changes made outside the ORM (hand-written SQL, another tool).
MAX_AGE = timedelta(minutes=10)

# One round trip: the current generation and the answer stored under it.
_LOOKUP = """
local gen = redis.call('GET', KEYS[1]) or '0'
return redis.call('GET', 'scan:' .. gen .. ':' .. ARGV[1])
"""
_STORE = """
local gen = redis.call('GET', KEYS[1]) or '0'
redis.call('SET', 'scan:' .. gen .. ':' .. ARGV[1], ARGV[2], 'EX', ARGV[3])
"""


def lookup(scene: str) -> bytes | None:
    """The cached JSON body of the scan answer for `scene`, if still true now."""
    client = get_redis()
    if client is None:
        return None
    try:
        value = client.eval(_LOOKUP, 1, GENERATION_KEY, scene)
    except redis.RedisError as exc:
        log.warning("scan cache unavailable, answering from the database: %s", exc)
        return None
    if not value:
        return None
    start, end, body = value.split(b"|", 2)
    if not float(start) <= clock.now().timestamp() < float(end):
        return None
    return body


def store(scene: str, body: bytes, closes_at: time) -> None:
    """Cache `body`, the answer computed now for a station closing at `closes_at`."""
    client = get_redis()
    if client is None:
        return
    start, end = _span(closes_at)
    ttl = max(1, int(min(MAX_AGE, end - clock.now()).total_seconds()))
    value = f"{start.timestamp():.3f}|{end.timestamp():.3f}|".encode() + body
    try:
        client.eval(_STORE, 1, GENERATION_KEY, scene, value, ttl)
    except redis.RedisError as exc:
        log.warning("scan cache unavailable, answer not stored: %s", exc)


def _span(closes_at: time) -> tuple[datetime, datetime]:
    """The span around now in which the answer cannot change by the clock alone: it changes at
    the station's closing time (the next reception day moves on) and at Beijing midnight."""
    local = clock.beijing_now()
    midnight = datetime.combine(local.date(), time(0), clock.BEIJING)
    closing = datetime.combine(local.date(), closes_at, clock.BEIJING)
    if local < closing:
        return midnight, closing
    return closing, midnight + timedelta(days=1)


def _spoiled_by(obj) -> list[str]:
    return [GENERATION_KEY] if isinstance(obj, SOURCES) else []


def _spoiled_by_bulk(cls: type) -> list[str]:
    return [GENERATION_KEY] if issubclass(cls, SOURCES) else []


def hook_invalidation() -> None:
    """Bump the generation after any commit that changed a source of the scan answer."""
    tagged_cache.watch(_spoiled_by, _spoiled_by_bulk)
