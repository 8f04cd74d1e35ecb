"""Tiny jobs of the tests' own, and a schedule table of them, so the runner's behaviour is tested
without depending on what the real jobs do."""
from __future__ import annotations

from datetime import datetime, time

from backend import clock
from backend.jobs.schedule import Job
from models import SchedulerLease, db

# (the `now` given, what the clock said meanwhile), one per call of `record`.
CALLS: list[tuple[datetime, datetime]] = []


def record(now: datetime) -> dict:
    CALLS.append((now, clock.now()))
    return {"at": now, "calls": len(CALLS)}


def explode(now: datetime) -> dict:
    # A write left uncommitted: the failed run must not keep it.
    db.session.add(SchedulerLease(name="half-done", holder="explode"))
    db.session.flush()
    raise RuntimeError("演练：任务出错")


def stamp(now: datetime) -> dict:
    """Harmless, and cheap enough to run every fraction of a second in the process tests."""
    return {"now": now.isoformat()}


TABLE = (
    # Replay times listed out of order on purpose: a replay runs them in time order.
    Job("probe-record", "tests.jobs.sample_jobs:record", {"minute": "*"}, (time(18, 0), time(8, 0)), "记录调用"),
    Job("probe-explode", "tests.jobs.sample_jobs:explode", {"minute": "*"}, (time(9, 0),), "必然失败"),
    Job("probe-missing", "tests.jobs.no_such_module:job", {"minute": "*"}, (time(9, 0),), "目标不存在"),
    Job("probe-nightly", "tests.jobs.sample_jobs:stamp", {"hour": "1", "minute": "0"}, (time(1, 0),), "每天1点"),
    Job("probe-present", "tests.jobs.sample_jobs:stamp", {"minute": "*"}, (), "只处理当前时刻"),
)
