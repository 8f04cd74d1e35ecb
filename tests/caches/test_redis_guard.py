"""The app's Redis client (backend/caches/redis_guard.py): an unreachable Redis costs one timeout, then
commands fail at once; when it answers again every cached value is retired before it is used.
The whole story against a served app is tests/faults/test_redis_down.py."""
from __future__ import annotations

import time

import pytest
import redis

from backend.caches import redis_guard, tagged_cache
from backend.caches.identity_cache import EVERYONE
from backend.services.stations import scan_cache
from tests.conftest import TEST_REDIS_URL


def test_an_unreachable_redis_is_asked_once_then_skipped():
    client = redis_guard.connect("redis://127.0.0.1:1/0")
    with pytest.raises(redis.ConnectionError):
        client.get("x")
    assert client.guard.down
    started = time.monotonic()
    for _ in range(100):
        with pytest.raises(redis_guard.RedisUnavailable):
            client.mget(["a", "b"])
        with pytest.raises(redis_guard.RedisUnavailable), client.pipeline(transaction=False) as pipe:
            pipe.incr("a")
            pipe.execute()
    assert time.monotonic() - started < 0.5  # no timeouts waited


@pytest.mark.redis
def test_when_redis_answers_again_every_global_generation_is_bumped_first():
    client = redis_guard.connect(TEST_REDIS_URL)
    client.flushdb()
    client.set(EVERYONE, 100)
    client.set(scan_cache.GENERATION_KEY, 200)
    client.guard.failed(redis.ConnectionError("as if Redis had gone away"))
    with pytest.raises(redis_guard.RedisUnavailable):
        client.get(EVERYONE)
    deadline = time.monotonic() + 5
    while client.guard.down:
        assert time.monotonic() < deadline, "the probe did not find Redis back"
        time.sleep(0.05)
    # Bumped before the client was usable again: nothing stamped before the outage matches.
    assert int(client.get(EVERYONE)) == 101 and int(client.get(scan_cache.GENERATION_KEY)) == 201
    assert tagged_cache.GEN_TTL_SECONDS - 5 < client.ttl(EVERYONE) <= tagged_cache.GEN_TTL_SECONDS
    client.flushdb()
