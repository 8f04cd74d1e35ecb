"""Redis values stamped with the generations of what they were computed from.

A cached answer depends on some things that change (a user, a station's issues …). Each such
thing has a generation counter in Redis, bumped after every commit that changes it. A value is
stored together with the generations read *before* it was computed, and a lookup reads the
current generations and the value in one MGET: any difference is a miss. So

- a change never needs to know which cached values it spoils;
- a value computed from data read just before a concurrent change is stored with the old
  generation and never served (a plain "delete the key on change" would let it in);
- a counter outlives every value stamped with it (GEN_TTL > any value's TTL), so a counter that
  expired and restarted from zero cannot match an old stamp.

Redis unset or failing means no cache, never an error: callers compute from the database.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import redis
from flask import has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from .extensions import get_redis

log = logging.getLogger(__name__)

GEN_TTL_SECONDS = 7 * 24 * 3600
_SEPARATOR = b"|"


@dataclass(frozen=True, slots=True)
class Lookup:
    """A lookup's outcome: the value if it was current, and the generations to stamp a new one with."""

    value: bytes | None
    stamp: bytes | None


MISS = Lookup(None, None)


def lookup(gen_keys: Sequence[str], key: str) -> Lookup:
    client = get_redis()
    if client is None:
        return MISS
    try:
        *gens, stored = client.mget([*gen_keys, key])
    except redis.RedisError as exc:
        log.warning("cache unavailable, answering from the database: %s", exc)
        return MISS
    stamp = b",".join(gen or b"0" for gen in gens)
    if stored is not None:
        stored_stamp, _, value = stored.partition(_SEPARATOR)
        if stored_stamp == stamp:
            return Lookup(value, stamp)
    return Lookup(None, stamp)


def generation(gen_key: str) -> bytes | None:
    """The current generation of `gen_key` (b"0" if never bumped); None without Redis."""
    client = get_redis()
    if client is None:
        return None
    try:
        return client.get(gen_key) or b"0"
    except redis.RedisError as exc:
        log.warning("cache unavailable: %s", exc)
        return None


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
        with client.pipeline(transaction=False) as pipe:
            for gen_key in keys:
                pipe.incr(gen_key)
                pipe.expire(gen_key, GEN_TTL_SECONDS)
            pipe.execute()
    except redis.RedisError as exc:
        # Values already stored stay until their own TTL: every user of this module keeps
        # that short (MAX_AGE) for exactly this case.
        log.warning("cache generations not bumped (%s): %s", ", ".join(keys), exc)


# --- bumping after commit --------------------------------------------------------------------

_PENDING = "tagged_cache.pending"
_watchers: list[tuple] = []


def note(session: Session, gen_keys: Iterable[str]) -> None:
    """Bump these generations when `session` commits (forget them if it rolls back). For
    changes the flush hooks cannot see, such as a conditional bulk UPDATE."""
    session.info.setdefault(_PENDING, set()).update(gen_keys)


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
        objects = (*session.new, *session.dirty, *session.deleted)
        for on_object, _ in _watchers:
            for obj in objects:
                keys = on_object(obj)
                if keys:
                    note(session, keys)

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

    @event.listens_for(Session, "after_rollback")
    def _forget(session):
        if not session.in_nested_transaction():
            session.info.pop(_PENDING, None)
