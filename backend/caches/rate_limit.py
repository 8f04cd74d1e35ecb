"""Per-user rate limits shared by every worker: at most `limit` actions per sliding `window`.

Keyed by user, never by IP address: many residents reach us through one carrier's address.

With Redis (`get_redis()` is not None) each (bucket, key) is a sorted set of the slots taken in
the window, scored by the time they were taken. One Lua script drops the slots older than the
window, counts the rest and takes a slot if there is room, so two workers cannot both take the
last one; the set expires a window after its last slot. Without Redis, or when Redis fails, the
caller's `count_in_db()` says how many actions its own rows show in the window. That count is
made before the action is written, so requests of one user running at the same moment can
overshoot by as many as run at once; Redis reserves the slot first and is exact.

What a slot stands for: an action that took place. The database count only ever sees actions
that happened (an issue row, an upload row), so a slot taken in Redis is given back
(`release`) when the action did not happen — refused by validation or the content check,
or failed before its commit. A resident who picks the wrong file or mistypes a category keeps
their quota, and the limit means the same with Redis as without it. The limit therefore
caps what is created (rows, stored files, WeChat checks), not how often someone may try; a
flood of failing requests is a matter for a separate attempts limit or the reverse proxy.
`reserve()` does the giving back for code that raises when the action fails.

Use, e.g. for issue submission (10 an hour, bucket "issue-submit")::

    with rate_limit.reserve("issue-submit", user.id, 10, timedelta(hours=1),
                            count_in_db=lambda: count_of_issues_since(user.id, since),
                            message="提交过于频繁，每小时最多提交10条，请稍后再试"):
        ...  # validate, check, write; an exception gives the slot back

A slot is given back only for an exception inside the block. A service that returns before
the request commits keeps its slot if the commit itself fails later; that slot expires with
the window, and such a failure is a server error, not something a resident does often.

Slots taken while Redis was down are not in Redis once it is back: for at most one window
after an outage a user may get up to twice the limit.

Attempts that leave no row of their own (a wx-login, a follow, a wrong invite code) are limited
with `attempt` (every attempt counts) or `refuse_if_full` + `note` (only what the caller notes —
failures — counts). They may be keyed by a client address too. Without Redis they are counted in
`throttle_hit` rows, written on a connection of their own (`own_transaction`) so that they
count even when the request's own transaction is rolled back; the housekeeping job deletes
rows older than a day.
"""
from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import redis

from backend import clock
from backend.errors import RateLimited
from backend.extensions import get_redis, own_transaction
from models import ThrottleHit, db

log = logging.getLogger(__name__)

KEY_PREFIX = "ratelimit"

# KEYS[1]: the set; ARGV: now (ms), window (ms), limit, the new slot's member.
# Answers {1} when the slot was taken, else {0, score of the oldest slot in the window}.
_TAKE = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, oldest[2] or false}
"""


# KEYS[1]: the set; ARGV: now (ms), window (ms). Answers {count in the window, oldest score}.
_COUNT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {redis.call('ZCARD', KEYS[1]), oldest[2] or false}
"""
# KEYS[1]: the set; ARGV: now (ms), window (ms), the new member.
_NOTE = """
redis.call('ZADD', KEYS[1], tonumber(ARGV[1]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
"""
# throttle_hit rows older than this are deleted by housekeeping: no window is longer.
THROTTLE_KEEP = timedelta(days=1)


@dataclass(frozen=True)
class Slot:
    """A taken slot, for `release`. `member` is None when the database counted: the action's
    own row is the slot, so there is nothing to give back."""

    bucket: str
    key: str
    member: str | None = None


def check(bucket: str, key: int | str, limit: int, window: timedelta, count_in_db: Callable[[], int],
          *, message: str | None = None) -> Slot:
    """Take a slot in `bucket` for `key` (a user id), or refuse.

    `count_in_db` returns how many actions the database shows for `key` in the last `window`;
    it is called only when Redis is not configured or fails.

    :raise 429 rate_limited: `limit` actions already in the window; `Retry-After` says in how many
        seconds the oldest leaves it (with Redis), or the window's length (counted in the database).
    """
    key = str(key)
    window_ms = max(1, int(window.total_seconds() * 1000))
    client = get_redis()
    if client is not None:
        now_ms = int(clock.now().timestamp() * 1000)
        member = f"{now_ms}-{secrets.token_hex(8)}"
        try:
            answer = client.eval(_TAKE, 1, _redis_key(bucket, key), now_ms, window_ms, limit, member)
        except redis.RedisError as exc:
            # Neither an error for the resident nor an open door: the database still knows.
            log.warning("rate limit %s: Redis unavailable, counting in the database: %s", bucket, exc)
        else:
            if answer[0] == 1:
                return Slot(bucket, key, member)
            oldest_ms = float(answer[1]) if len(answer) > 1 and answer[1] else None
            wait_ms = oldest_ms + window_ms - now_ms if oldest_ms is not None else window_ms
            raise _refusal(limit, wait_ms / 1000, message)
    if count_in_db() >= limit:
        raise _refusal(limit, window.total_seconds(), message)
    return Slot(bucket, key)


def release(slot: Slot | None) -> None:
    """Give back a slot whose action did not happen. Never raises: a slot that cannot be
    given back (Redis gone) leaves the window with time."""
    if slot is None or slot.member is None:
        return
    client = get_redis()
    if client is None:
        return
    try:
        client.zrem(_redis_key(slot.bucket, slot.key), slot.member)
    except redis.RedisError as exc:
        log.warning("rate limit %s: slot not given back: %s", slot.bucket, exc)


@contextmanager
def reserve(bucket: str, key: int | str, limit: int, window: timedelta, count_in_db: Callable[[], int],
            *, message: str | None = None) -> Iterator[Slot]:
    """`check`, then give the slot back if the block raises (the action did not happen).

    :raise 429 rate_limited: as `check`.
    """
    slot = check(bucket, key, limit, window, count_in_db, message=message)
    try:
        yield slot
    except BaseException:
        release(slot)
        raise


def attempt(bucket: str, key: int | str, limit: int, window: timedelta, *, message: str | None = None) -> None:
    """Count one attempt of `key` in `bucket` (every attempt, whatever its outcome), or refuse.

    :raise 429 rate_limited: `limit` attempts already in the window.
    """
    key = _short(key)
    client = get_redis()
    if client is not None:
        now_ms, window_ms = _now_ms(), _ms(window)
        try:
            answer = client.eval(_TAKE, 1, _redis_key(bucket, key), now_ms, window_ms, limit,
                                 f"{now_ms}-{secrets.token_hex(8)}")
        except redis.RedisError as exc:
            log.warning("rate limit %s: Redis unavailable, counting in the database: %s", bucket, exc)
        else:
            if answer[0] == 1:
                return
            oldest_ms = float(answer[1]) if len(answer) > 1 and answer[1] else None
            raise _refusal(limit, _wait_ms(oldest_ms, now_ms, window_ms) / 1000, message)
    oldest = _db_oldest_if_full(bucket, key, limit, window)
    if oldest is not None:
        raise _refusal(limit, _db_wait(oldest, window), message)
    _db_note(bucket, key)


def refuse_if_full(bucket: str, key: int | str, limit: int, window: timedelta, *,
                   message: str | None = None) -> None:
    """Refuse when `limit` noted events of `key` (`note`) are in the window; count nothing.

    :raise 429 rate_limited: as `attempt`.
    """
    key = _short(key)
    client = get_redis()
    if client is not None:
        now_ms, window_ms = _now_ms(), _ms(window)
        try:
            count, oldest = client.eval(_COUNT, 1, _redis_key(bucket, key), now_ms, window_ms)
        except redis.RedisError as exc:
            log.warning("rate limit %s: Redis unavailable, counting in the database: %s", bucket, exc)
        else:
            if int(count) >= limit:
                raise _refusal(limit, _wait_ms(float(oldest) if oldest else None, now_ms, window_ms) / 1000, message)
            return
    oldest_at = _db_oldest_if_full(bucket, key, limit, window)
    if oldest_at is not None:
        raise _refusal(limit, _db_wait(oldest_at, window), message)


def note(bucket: str, key: int | str, window: timedelta) -> None:
    """Count one event of `key` (a failure) for `refuse_if_full`. Never raises for Redis: the
    database keeps it then. Call it outside the request's write transaction (after a rollback)."""
    key = _short(key)
    client = get_redis()
    if client is not None:
        now_ms = _now_ms()
        try:
            client.eval(_NOTE, 1, _redis_key(bucket, key), now_ms, _ms(window), f"{now_ms}-{secrets.token_hex(8)}")
            return
        except redis.RedisError as exc:
            log.warning("rate limit %s: Redis unavailable, noting in the database: %s", bucket, exc)
    _db_note(bucket, key)


def purge_throttle_hits(now) -> dict:
    """Delete `throttle_hit` rows older than THROTTLE_KEEP (the housekeeping job)."""
    deleted = db.session.execute(db.delete(ThrottleHit).where(ThrottleHit.at < now - THROTTLE_KEEP)).rowcount
    return {"deleted": deleted}


def _short(key: int | str) -> str:
    return str(key)[:64]


def _now_ms() -> int:
    return int(clock.now().timestamp() * 1000)


def _ms(window: timedelta) -> int:
    return max(1, int(window.total_seconds() * 1000))


def _wait_ms(oldest_ms: float | None, now_ms: int, window_ms: int) -> float:
    return oldest_ms + window_ms - now_ms if oldest_ms is not None else window_ms


def _db_oldest_if_full(bucket: str, key: str, limit: int, window: timedelta):
    """The time of the oldest counted row when `limit` rows are in the window, else None."""
    since = clock.now() - window
    recent = db.select(ThrottleHit.at).where(ThrottleHit.bucket == bucket, ThrottleHit.key == key,
                                             ThrottleHit.at > since).order_by(ThrottleHit.at.desc()).limit(limit)
    times = db.session.scalars(recent).all()
    return min(times) if len(times) >= limit else None


def _db_wait(oldest, window: timedelta) -> float:
    return (oldest + window - clock.now()).total_seconds()


def _db_note(bucket: str, key: str) -> None:
    with own_transaction() as connection:
        connection.execute(db.insert(ThrottleHit).values(bucket=bucket, key=key, at=clock.now()))


def _redis_key(bucket: str, key: str) -> str:
    return f"{KEY_PREFIX}:{bucket}:{key}"


def _refusal(limit: int, wait_seconds: float, message: str | None) -> RateLimited:
    # Whole seconds, rounded up: a client that waits exactly this long finds room.
    retry_after = max(1, math.ceil(wait_seconds))
    return RateLimited(message, details={"limit": limit, "retry_after": retry_after},
                       headers={"Retry-After": str(retry_after)})
