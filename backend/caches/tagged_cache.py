"""Redis values stamped with the generations of what they were computed from.

A cached answer depends on some things that change (a user, a station's issues …). Each such
thing has a generation counter in Redis, bumped after every commit that changes it. A value is
stored together with the generations read *before* it was computed, and a lookup reads the
current generations and the value in one MGET: any difference is a miss. So

- a change never needs to know which cached values it spoils;
- a value computed from data read just before a concurrent change is stored with the old
  generation and never served (a plain "delete the key on change" would let it in);
- a counter outlives every value stamped with it (GEN_TTL > any value's TTL), and starts at a
  random value, so a counter that expired or was flushed cannot restart into an old stamp.

Redis unset or failing means no cache, never an error: callers compute from the database.
A change committed while Redis is unreachable cannot bump its generations, and a Redis that
kept its data through the outage would serve what the change spoiled. So every cached value
depends on at least one *global* generation (`register_global`; those of ProcessMemos count),
and when Redis answers again after a process found it down, that process bumps them all before
using it (`backend/caches/redis_guard.py`): every value from before the outage is retired.
"""
from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import redis
from flask import current_app, g, has_app_context, has_request_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from backend.caches import redis_guard
from backend.extensions import db, get_redis

log = logging.getLogger(__name__)

GEN_TTL_SECONDS = 7 * 24 * 3600
# The generations ProcessMemos stand on (insertion-ordered set), and where a request keeps
# those it has read.
_memo_gen_keys: dict[str, None] = {}
# Generations that, bumped all at once, retire every cached value (see the module docstring).
_global_gen_keys: dict[str, None] = {}
_SEEN_GENERATIONS = "tagged_cache_generations"
_SEPARATOR = b"|"


@dataclass(frozen=True, slots=True)
class Lookup:
    """A lookup's outcome: the value if it was current, and the generations to stamp a new one with."""

    value: bytes | None
    stamp: bytes | None


MISS = Lookup(None, None)


def lookup(gen_keys: Sequence[str], key: str) -> Lookup:
    """The value under `key` if stamped with the current generations of `gen_keys`.

    The generations of every ProcessMemo come along in the same round trip and serve the rest
    of the request (`generation`): the caller's identity is looked up first on every
    authenticated call, and the memos are what such calls read next.
    """
    client = get_redis()
    if client is None:
        return MISS
    memo_keys = list(_memo_gen_keys)
    try:
        values = client.mget([*gen_keys, key, *memo_keys])
    except redis.RedisError as exc:
        log.warning("cache unavailable, answering from the database: %s", exc)
        return MISS
    gens, stored = values[:len(gen_keys)], values[len(gen_keys)]
    g.setdefault(_SEEN_GENERATIONS, {}).update(zip(memo_keys, values[len(gen_keys) + 1:]))
    stamp = b",".join(gen or b"0" for gen in gens)
    if stored is not None:
        stored_stamp, _, value = stored.partition(_SEPARATOR)
        if stored_stamp == stamp:
            return Lookup(value, stamp)
    return Lookup(None, stamp)


# --- values that name their own generations ---------------------------------------------------
#
# Stored as "<gen key> <gen key> …\n<stamp>|<value>", so one script can check a value whose
# generations the caller cannot name before reading something else (an inbox page depends on the
# deputy's stations, known from the identity read in the same round trip).

# KEYS: gen keys of a first value, its key, then a self-describing second value's key.
# Returns the first value's generations and value, then the second's current stamp and stored
# "<stamp>|<value>" (false when absent).
_LOOKUP_WITH = r"""
local n = #KEYS - 2
local out = {}
for i = 1, n + 1 do out[i] = redis.call('GET', KEYS[i]) or false end
local second = redis.call('GET', KEYS[n + 2])
if not second then
  out[n + 2] = false
  out[n + 3] = false
  return out
end
local cut = string.find(second, '\n', 1, true)
local gens = {}
for name in string.gmatch(string.sub(second, 1, cut - 1), '[^ ]+') do
  gens[#gens + 1] = redis.call('GET', name) or '0'
end
out[n + 2] = table.concat(gens, ',')
out[n + 3] = string.sub(second, cut + 1)
return out
"""


def lookup_with(gen_keys: Sequence[str], key: str, described_key: str) -> tuple[Lookup, bytes | None]:
    """`lookup(gen_keys, key)`, and the self-describing value under `described_key` if current,
    in one round trip. (The script reads keys it was not given: fine on one Redis server, not on
    a cluster.)"""
    client = get_redis()
    if client is None:
        return MISS, None
    try:
        *gens, value, described_stamp, described = client.eval(
            _LOOKUP_WITH, len(gen_keys) + 2, *gen_keys, key, described_key)
    except redis.RedisError as exc:
        log.warning("cache unavailable, answering from the database: %s", exc)
        return MISS, None
    stamp = b",".join(gen or b"0" for gen in gens)
    found = Lookup(None, stamp)
    if value:
        stored_stamp, _, body = value.partition(_SEPARATOR)
        if stored_stamp == stamp:
            found = Lookup(body, stamp)
    extra = None
    if described:
        stored_stamp, _, body = described.partition(_SEPARATOR)
        if stored_stamp == described_stamp:
            extra = body
    return found, extra


def store_described(found: Lookup, key: str, gen_keys: Sequence[str], value: bytes, ttl_seconds: int) -> None:
    """Store `value` as a self-describing value, under the generations of `gen_keys` that
    `found` (`current(gen_keys)`, read before computing it) holds."""
    if found.stamp is None:
        return
    names = " ".join(gen_keys).encode()
    store(Lookup(None, names + b"\n" + found.stamp), key, value, ttl_seconds)


def _fresh_start() -> int:
    # Counters start at a random value, not 0: a process keeps a ProcessMemo across a Redis
    # restart or flush, and a counter restarted from 0 would meet the generations it saw before.
    return secrets.randbelow(2**52) + 2**20


def generation(gen_key: str) -> bytes | None:
    """The current generation of `gen_key`, started if it was not; None without Redis.

    Read at most once a request: a generation that came with the identity lookup, or was read
    earlier in the request, is used as it is (a value loaded after it may be newer than it says,
    never older), until this request commits a change of its own.
    """
    client = get_redis()
    if client is None:
        return None
    seen = g.setdefault(_SEEN_GENERATIONS, {})
    if seen.get(gen_key) is not None:
        return seen[gen_key]
    try:
        current = client.get(gen_key)
        if current is None:
            client.set(gen_key, _fresh_start(), nx=True, ex=GEN_TTL_SECONDS)
            current = client.get(gen_key)
    except redis.RedisError as exc:
        log.warning("cache unavailable: %s", exc)
        return None
    if has_request_context():  # a job's app context may last for hours: it reads again each time
        seen[gen_key] = current
    return current


def current(gen_keys: Sequence[str]) -> Lookup:
    """Just the generations of `gen_keys`, to stamp a value about to be computed."""
    client = get_redis()
    if client is None or not gen_keys:
        return MISS
    try:
        gens = client.mget(list(gen_keys))
    except redis.RedisError as exc:
        log.warning("cache unavailable: %s", exc)
        return MISS
    return Lookup(None, b",".join(gen or b"0" for gen in gens))


def store(found: Lookup, key: str, value: bytes, ttl_seconds: int) -> None:
    """Store `value` under the generations `found` read before it was computed."""
    client = get_redis()
    if client is None or found.stamp is None:
        return
    try:
        client.set(key, found.stamp + _SEPARATOR + value, ex=max(1, int(ttl_seconds)))
    except redis.RedisError as exc:
        log.warning("cache unavailable, value not stored: %s", exc)


def bump(gen_keys: Iterable[str]) -> None:
    """Retire every value stamped with the current generation of these keys."""
    keys = list(dict.fromkeys(gen_keys))
    client = get_redis()
    if client is None or not keys:
        return
    try:
        _bump_with(client, keys)
    except redis.RedisError as exc:
        # Redis's recovery retires everything (redis_guard), and values stay at most their own
        # TTL (MAX_AGE) should that fail too.
        log.warning("cache generations not bumped (%s): %s", ", ".join(keys), exc)


def _bump_with(client: redis.Redis, keys: Sequence[str]) -> None:
    with client.pipeline(transaction=False) as pipe:
        for gen_key in keys:
            pipe.set(gen_key, _fresh_start(), nx=True)
            pipe.incr(gen_key)
            pipe.expire(gen_key, GEN_TTL_SECONDS)
        pipe.execute()


def register_global(*gen_keys: str) -> None:
    """Name generations that cached values depend on as a whole ("every caller", "everything
    shown"): every value must depend on at least one of them, or on a ProcessMemo's."""
    _global_gen_keys.update(dict.fromkeys(gen_keys))


def _retire_everything(client: redis.Redis) -> None:
    """Redis answers again after this process found it down: changes made meanwhile may not have
    bumped their generations, so bump every global one (raises if Redis fails again)."""
    keys = list(dict.fromkeys([*_global_gen_keys, *_memo_gen_keys]))
    _bump_with(client, keys)
    log.info("cache generations bumped after Redis came back: %s", ", ".join(keys))


redis_guard.on_recovery(_retire_everything)


class ProcessMemo:
    """Values loaded from the database and kept by this process while a generation stands.

    For small reference data read on hot paths (the working-day calendar, categories,
    stations by scene): one Redis read per use instead of a query. Without Redis nothing is
    kept — every use loads. `max_age_seconds` bounds the one case the generation cannot catch:
    Redis losing its keys resets a generation to a value this process may have seen before.
    Values must not be changed by their users: several requests share them.
    """

    def __init__(self, gen_key: str, max_age_seconds: float = 600):
        self.gen_key = gen_key
        _memo_gen_keys[gen_key] = None
        self.max_age_seconds = max_age_seconds
        self._generation: bytes | None = None
        self._since = 0.0
        self._values: dict = {}

    def _current_values(self) -> dict | None:
        """This process's values if they still stand (None without Redis)."""
        current = generation(self.gen_key)
        if current is None:
            return None
        if current != self._generation or time.monotonic() - self._since >= self.max_age_seconds:
            # Read before loading, so an edit committed meanwhile is never hidden under it.
            self._generation, self._since, self._values = current, time.monotonic(), {}
        return self._values

    def get(self, key, load: Callable[[], object]):
        values = self._current_values()
        if values is None:
            return load()
        key = (current_app.config["SQLALCHEMY_DATABASE_URI"], key)  # tests run several apps
        if key not in values:
            values[key] = load()
        return values[key]

    def get_many(self, keys: Sequence, load_many: Callable[[list], dict]) -> dict:
        """The values of several keys; those this process lacks loaded at once by
        `load_many(missing keys)`, which answers a dict holding each of them."""
        values = self._current_values()
        if values is None:
            return load_many(list(keys))
        database = current_app.config["SQLALCHEMY_DATABASE_URI"]
        missing = [k for k in keys if (database, k) not in values]
        if missing:
            values.update(((database, k), v) for k, v in load_many(missing).items())
        return {k: values[(database, k)] for k in keys}

    def get_row(self, key, query):
        """The ORM object `query` selects (or None), placed in the request's session without a
        query when this process holds a copy. The copy is loaded by a session of its own, so
        it is never one of the request's objects."""
        def load():
            with Session(db.engine, expire_on_commit=False) as session:
                return session.scalar(query)

        row = self.get(key, load)
        return db.session.merge(row, load=False) if row is not None else None


# --- bumping after commit --------------------------------------------------------------------

_PENDING = "tagged_cache.pending"
_watchers: list[tuple] = []


def note(session: Session, gen_keys: Iterable[str]) -> None:
    """Bump these generations when `session` commits (forget them if it rolls back). For
    changes the flush hooks cannot see, such as a conditional bulk UPDATE."""
    session.info.setdefault(_PENDING, set()).update(gen_keys)


def note_object(session: Session, obj) -> None:
    """Bump, at commit, what `obj` spoils: for an object written without the unit of work
    (backend/rows.py), which the flush hooks never see."""
    for on_object, _ in _watchers:
        keys = on_object(obj)
        if keys:
            note(session, keys)


def watch(on_object: Callable[[object], Iterable[str]],
          on_bulk: Callable[[type], Iterable[str]] | None = None) -> None:
    """Bump generations after every commit that changed data they depend on.

    `on_object(obj)` names the generations a new, changed or deleted object spoils (nothing for
    objects it does not care about); `on_bulk(cls)` those an ORM bulk UPDATE or DELETE on class
    `cls` spoils, since which rows it touched is unknown — unless the statement carries the
    execution option `cache_noted=True`, promising that its caller named the generations it
    spoils with `note()`.
    """
    _install()
    if (on_object, on_bulk) not in _watchers:  # every app created in a process registers
        _watchers.append((on_object, on_bulk))


_installed = False


def _install() -> None:
    global _installed
    if _installed:
        return
    _installed = True

    @event.listens_for(Session, "before_flush")
    def _collect(session, _flush_context, _instances):
        for obj in (*session.new, *session.dirty, *session.deleted):
            note_object(session, obj)

    @event.listens_for(Session, "do_orm_execute")
    def _collect_bulk(state):
        if (state.is_update or state.is_delete) and state.bind_mapper is not None \
                and not state.execution_options.get("cache_noted"):
            for _, on_bulk in _watchers:
                keys = on_bulk(state.bind_mapper.class_) if on_bulk else None
                if keys:
                    note(state.session, keys)

    # Both events fire for savepoints too (begin_nested); only the outermost transaction's end
    # decides. Keys noted inside a savepoint rolled back stay pending: bumping a generation for
    # nothing costs a cache miss, missing one would serve a stale answer.
    @event.listens_for(Session, "after_commit")
    def _bump(session):
        if session.in_nested_transaction():
            return
        keys = session.info.pop(_PENDING, None)
        if keys and has_app_context():
            bump(keys)
            g.pop(_SEEN_GENERATIONS, None)

    @event.listens_for(Session, "after_rollback")
    def _forget(session):
        if not session.in_nested_transaction():
            session.info.pop(_PENDING, None)
