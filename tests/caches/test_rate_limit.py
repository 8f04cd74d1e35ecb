"""The per-user rate limiter: a sliding window in Redis when there is one, else (or when Redis is
down) the caller's count of its own rows."""
from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import redis

from backend import clock
from backend.caches import rate_limit
from backend.errors import RateLimited

HOUR = timedelta(hours=1)
T0 = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)


def never_asked() -> int:
    raise AssertionError("the database must not be asked while Redis answers")


def refused(bucket="b", key=1, limit=3, window=HOUR, count_in_db=never_asked) -> RateLimited:
    with pytest.raises(RateLimited) as caught:
        rate_limit.check(bucket, key, limit, window, count_in_db)
    return caught.value


def at(minutes: float = 0, seconds: float = 0) -> None:
    clock.freeze(T0 + timedelta(minutes=minutes, seconds=seconds))


@pytest.fixture
def without_redis(app, ctx, monkeypatch):
    monkeypatch.setitem(app.extensions, "redis", None)


@pytest.fixture
def redis_down(app, ctx, monkeypatch):
    # Nothing listens on port 1: every call fails at once, as when Redis has gone away.
    monkeypatch.setitem(app.extensions, "redis", redis.Redis.from_url(
        "redis://127.0.0.1:1/0", socket_timeout=0.5, socket_connect_timeout=0.5))


# --- Redis --------------------------------------------------------------------------------------

@pytest.mark.redis
def test_redis_window_slides_and_retry_after_counts_from_the_oldest(app, ctx):
    for minute in (0, 10, 20):
        at(minute)
        slot = rate_limit.check("b", 7, 3, HOUR, never_asked)
        assert slot.member is not None
    at(30)
    error = refused(key=7)
    assert error.status == 429 and error.code == "rate_limited"
    assert error.message == "操作过于频繁，请稍后再试"
    # The slot taken at 0:00 leaves the window at 1:00.
    assert error.headers == {"Retry-After": "1800"}
    assert error.details == {"limit": 3, "retry_after": 1800}
    at(59, 59)
    assert refused(key=7).headers["Retry-After"] == "1"
    at(60)  # exactly a window later the first slot is out
    rate_limit.check("b", 7, 3, HOUR, never_asked)
    # Full again; now the slot taken at 0:10 is the oldest.
    assert refused(key=7).headers["Retry-After"] == "600"


@pytest.mark.redis
def test_retry_after_is_rounded_up_to_whole_seconds(app, ctx):
    at(0)
    rate_limit.check("b", 1, 1, timedelta(seconds=90), never_asked)
    at(seconds=0.4)
    assert refused(limit=1, window=timedelta(seconds=90)).headers["Retry-After"] == "90"


@pytest.mark.redis
def test_refused_attempts_take_no_slot(app, ctx):
    at(0)
    rate_limit.check("b", 1, 1, HOUR, never_asked)
    for minute in range(1, 5):
        at(minute)
        refused(limit=1)
    at(60)
    # Had the refusals been counted, the window would still be full.
    rate_limit.check("b", 1, 1, HOUR, never_asked)


@pytest.mark.redis
def test_keys_and_buckets_are_counted_apart(app, ctx):
    at(0)
    rate_limit.check("upload", 1, 1, HOUR, never_asked)
    rate_limit.check("upload", 2, 1, HOUR, never_asked)
    rate_limit.check("issue-submit", 1, 1, HOUR, never_asked)
    refused("upload", 1, limit=1)
    refused("issue-submit", 1, limit=1)


@pytest.mark.redis
def test_a_released_slot_is_free_again(app, ctx):
    at(0)
    slot = rate_limit.check("b", 1, 1, HOUR, never_asked)
    refused(limit=1)
    rate_limit.release(slot)
    rate_limit.release(slot)  # twice is harmless
    again = rate_limit.check("b", 1, 1, HOUR, never_asked)
    assert again.member != slot.member
    refused(limit=1)


@pytest.mark.redis
def test_reserve_gives_the_slot_back_only_when_the_block_fails(app, ctx):
    at(0)
    with pytest.raises(ValueError), rate_limit.reserve("b", 1, 1, HOUR, never_asked):
        raise ValueError("validation failed")
    with rate_limit.reserve("b", 1, 1, HOUR, never_asked, message="提交过于频繁"):
        pass
    error = refused(limit=1)
    assert error.message == "操作过于频繁，请稍后再试"
    with pytest.raises(RateLimited) as caught, \
            rate_limit.reserve("b", 1, 1, HOUR, never_asked, message="提交过于频繁，每小时最多提交1条"):
        raise AssertionError("a refused block must not run")
    assert caught.value.message == "提交过于频繁，每小时最多提交1条"


@pytest.mark.redis
def test_the_set_expires_with_the_window(app, ctx):
    at(0)
    rate_limit.check("b", 42, 5, timedelta(minutes=10), never_asked)
    ttl = app.extensions["redis"].pttl("ratelimit:b:42")
    assert 0 < ttl <= 10 * 60 * 1000


@pytest.mark.redis
def test_concurrent_requests_never_take_more_than_the_limit(app):
    at(0)
    takers, limit = 24, 5
    barrier = threading.Barrier(takers)
    outcomes: list[str] = []

    def take():
        with app.app_context():
            barrier.wait()
            try:
                rate_limit.check("b", 1, limit, HOUR, never_asked)
                outcomes.append("taken")
            except RateLimited:
                outcomes.append("refused")

    threads = [threading.Thread(target=take) for _ in range(takers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert outcomes.count("taken") == limit and outcomes.count("refused") == takers - limit


# --- the database -------------------------------------------------------------------------------

def test_without_redis_the_callers_count_decides(without_redis):
    at(0)
    slot = rate_limit.check("b", 1, 3, HOUR, lambda: 2)
    assert slot.member is None
    rate_limit.release(slot)  # the row is the slot: nothing to give back
    error = refused(limit=3, count_in_db=lambda: 3)
    # The count says how many, not since when: the whole window, to be safe.
    assert error.headers == {"Retry-After": "3600"}
    assert error.details == {"limit": 3, "retry_after": 3600}
    assert refused(limit=3, window=timedelta(minutes=15), count_in_db=lambda: 9).headers["Retry-After"] == "900"


def test_without_redis_reserve_still_refuses(without_redis):
    with pytest.raises(RateLimited), rate_limit.reserve("b", 1, 1, HOUR, lambda: 1):
        raise AssertionError("a refused block must not run")


def test_redis_down_falls_back_to_the_database_count(redis_down, caplog):
    at(0)
    asked = []

    def count() -> int:
        asked.append(1)
        return 3

    error = refused(limit=3, count_in_db=count)
    assert asked and error.headers == {"Retry-After": "3600"}
    assert "counting in the database" in caplog.text
    slot = rate_limit.check("b", 1, 3, HOUR, lambda: 2)
    assert slot.member is None


def test_a_slot_cannot_be_given_back_while_redis_is_down_and_that_is_no_error(redis_down):
    rate_limit.release(rate_limit.Slot("b", "1", "123-abc"))
