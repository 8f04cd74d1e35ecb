"""Time at the edges: storage is UTC; 逢六 days, deadlines and opening hours are Beijing's.

Everything that asks "what time is it" asks `now()`, so tests can set the clock (a server in UTC
at 17:00 is already tomorrow in Beijing) without touching the system clock.
"""
from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

BEIJING = ZoneInfo("Asia/Shanghai")

_frozen: datetime | None = None
# An accelerated clock (start instant, wall-clock origin, speed): see `accelerate`.
_running: tuple[datetime, float, float] | None = None


def now() -> datetime:
    """The current instant, aware, in UTC."""
    if _frozen is not None:
        return _frozen
    if _running is not None:
        start, origin, speed = _running
        return start + timedelta(seconds=(time.time() - origin) * speed)
    return datetime.now(UTC)


def beijing_now() -> datetime:
    return now().astimezone(BEIJING)


def beijing_today() -> date:
    return beijing_now().date()


def to_beijing_iso(value: datetime | None) -> str | None:
    """ISO 8601 with +08:00, the form API.md fixes for every timestamp."""
    return value.astimezone(BEIJING).isoformat(timespec="seconds") if value else None


def freeze(at: datetime | None) -> None:
    """Set (or with None, release) the clock. For tests and the `--date` option of jobs."""
    global _frozen
    if at is not None and at.tzinfo is None:
        raise ValueError("freeze() needs an aware datetime")
    _frozen = at.astimezone(UTC) if at is not None else None


def accelerate(start: datetime | None, speed: float = 1.0, origin: float | None = None) -> None:
    """Let the clock run from `start` at the wall-clock instant `origin` (Unix seconds; default
    now), `speed` times faster than the wall clock. None: the real clock again. For processes
    under test that must live through a month in minutes — the scheduler and the senders of the
    outbox test — sharing one `origin` so they share one timeline."""
    global _running
    if start is not None and start.tzinfo is None:
        raise ValueError("accelerate() needs an aware datetime")
    _running = None if start is None else (
        start.astimezone(UTC), time.time() if origin is None else float(origin), float(speed))
