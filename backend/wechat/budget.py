"""One time budget for everything a WeChat call takes: WECHAT_TIMEOUT_SECONDS in all.

A call may first need an access token — wait for another process refreshing it, fetch one —
and, when WeChat refuses the token, refresh it and call again. Each of those bounded by the
timeout alone would let one call hold a web worker three or four times as long. So the
outermost call sets a deadline, and every step under it (the HTTP requests, the token store's
lock waits) takes what is left of it.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_deadline: ContextVar[float | None] = ContextVar("wechat_deadline", default=None)


@contextmanager
def within(seconds: float) -> Iterator[None]:
    """Run the block under a deadline `seconds` from now — unless a call enclosing it already
    set one (a token fetched for a call is part of that call)."""
    if _deadline.get() is not None:
        yield
        return
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def remaining() -> float | None:
    """Seconds left to the deadline (≤ 0 when it has passed); None outside a budgeted call."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def capped(seconds: float) -> float:
    """`seconds`, or what is left of the budget when that is less (never below zero)."""
    left = remaining()
    return seconds if left is None else max(0.0, min(seconds, left))
