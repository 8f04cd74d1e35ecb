"""The app's Redis client: a shared cache and lock service that may go away, and must never make
a request fail or hang.

- Timeouts of a second, and no retry of a timed-out command (redis-py 8 retries ten times with
  backoff by default: a paused Redis would hold every request for many seconds). A command that
  met a dropped connection is retried once, at once, on a fresh one: what a restarted Redis
  leaves in the pool.
- The first command that cannot reach Redis marks it down for this process. From then on every
  command fails at once with `RedisUnavailable` (a `redis.ConnectionError`, which every caller
  already treats as "no cache": answer from the database), so an outage costs each process one
  timeout, not one per command. A thread pings Redis every PROBE_SECONDS meanwhile.
- When Redis answers again, the recovery hooks run before the process uses it again.
  `tagged_cache` retires every cached value there: changes committed during the outage could not
  bump their generations — in this process or another — and a Redis that kept its data (a pause,
  a network split, persistence) would otherwise serve values computed before them.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

import redis
from redis.backoff import NoBackoff
from redis.client import Pipeline
from redis.retry import Retry

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 1.0
PROBE_SECONDS = 0.25

# Run, in order, with a working client, when Redis answers again after being marked down.
_recovery_hooks: list[Callable[[redis.Redis], None]] = []


class RedisUnavailable(redis.ConnectionError):
    """Redis is marked down in this process: the command was not sent."""


def on_recovery(hook: Callable[[redis.Redis], None]) -> None:
    if hook not in _recovery_hooks:
        _recovery_hooks.append(hook)


def _options() -> dict:
    return {"socket_timeout": TIMEOUT_SECONDS, "socket_connect_timeout": TIMEOUT_SECONDS,
            "retry": Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,))}


def connect(url: str) -> GuardedRedis:
    client = GuardedRedis.from_url(url, **_options())
    client.guard = Guard(url)
    return client


class Guard:
    """Whether Redis is up, as this process last found it; the probe that finds it back."""

    def __init__(self, url: str):
        self.url = url
        self._lock = threading.Lock()
        self._down = False
        self._probe_pid: int | None = None

    @property
    def down(self) -> bool:
        return self._down

    def check(self) -> None:
        if not self._down:
            return
        if self._probe_pid != os.getpid():
            # Marked down in a process this one was forked from: its probe did not come along.
            self._start_probe()
        raise RedisUnavailable("Redis is down; asking it again once it answers")

    def failed(self, error: Exception) -> None:
        with self._lock:
            if self._down:
                return
            self._down = True
        log.warning("Redis unavailable (%s): answering from the database until it is back", error)
        self._start_probe()

    def _start_probe(self) -> None:
        with self._lock:
            if self._probe_pid == os.getpid():
                return
            self._probe_pid = os.getpid()
        threading.Thread(target=self._probe, name="redis-probe", daemon=True).start()

    def _probe(self) -> None:
        started = time.monotonic()
        client = redis.Redis.from_url(self.url, **_options())
        try:
            while True:
                time.sleep(PROBE_SECONDS)
                try:
                    client.ping()
                    for hook in _recovery_hooks:
                        hook(client)
                except redis.RedisError:
                    continue
                except Exception:  # a bug in a hook: stay without cache rather than serve stale
                    log.exception("Redis recovery hook failed; staying without Redis")
                    continue
                with self._lock:
                    self._down, self._probe_pid = False, None
                log.warning("Redis is back after %.1f s; caches start again", time.monotonic() - started)
                return
        finally:
            client.close()


class GuardedRedis(redis.Redis):
    """redis.Redis whose commands go through the process's `Guard`."""

    guard: Guard

    def execute_command(self, *args, **options):
        self.guard.check()
        try:
            return super().execute_command(*args, **options)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            self.guard.failed(exc)
            raise

    def pipeline(self, transaction=True, shard_hint=None) -> GuardedPipeline:
        pipe = GuardedPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)
        pipe.guard = self.guard
        return pipe


class GuardedPipeline(Pipeline):
    guard: Guard

    def execute(self, raise_on_error: bool = True):
        self.guard.check()
        try:
            return super().execute(raise_on_error)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            self.guard.failed(exc)
            raise
