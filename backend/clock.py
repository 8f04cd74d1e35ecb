"""Time at the edges: storage is UTC; 逢六 days, deadlines and opening hours are Beijing's.

Everything that asks "what time is it" asks `now()`, so tests can set the clock (a server in UTC
at 17:00 is already tomorrow in Beijing) without touching the system clock.
"""
from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

BEIJING = ZoneInfo("Asia/Shanghai")

_frozen: datetime | None = None


def now() -> datetime:
    """The current instant, aware, in UTC."""
    return _frozen if _frozen is not None else datetime.now(UTC)


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
