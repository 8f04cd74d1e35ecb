"""The lockout after wrong staff passwords, by username *and* client address.

Counting by username alone let anyone lock a manager out: usernames are guessable (township
pinyin), and five wrong passwords from anywhere kept the real owner out for the window. Now
LOGIN_MAX_FAILURES failures for a username from one address lock that username *for that
address*: the owner signing in from elsewhere is not stopped, and whoever guesses is.

Guessing across many usernames from one address (password spraying) stays under each
username's count, so the address has a limit of its own: LOGIN_ADDRESS_MAX_FAILURES failures
within the window, whatever the usernames, stop it (429). Only failures count, so an office
signing all its staff in from one address is never stopped.

Failures count from the latest of: the window's start, the username's last success from that
address, and the last boundary an admin set for the username — a password reset
(`password-reset:<admin>`) or an unlock (`unlock:<admin>`), rows written with `succeeded=True`
and that marker as their address, so every address's failures before it stop counting. Old
failures stay on record.

The address is the client's as `backend/web/client_address.py` finds it (behind a trusted
proxy, the one the proxy reports).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, or_

from backend import clock
from models import LoginAttempt, db

RESET_MARKER = "password-reset:{user_id}"
UNLOCK_MARKER = "unlock:{user_id}"
_BOUNDARY_PREFIXES = ("password-reset:", "unlock:")


def _window() -> timedelta:
    return timedelta(seconds=current_app.config["LOGIN_LOCK_WINDOW_SECONDS"])


def _same_address(address: str | None):
    return LoginAttempt.remote_addr.is_(None) if address is None else LoginAttempt.remote_addr == address


def _is_boundary():
    return or_(*(LoginAttempt.remote_addr.startswith(prefix) for prefix in _BOUNDARY_PREFIXES))


def failures(username: str, address: str | None) -> int:
    """Failures counting towards locking `username` for `address` now."""
    now = clock.now()
    since = db.session.scalar(
        db.select(func.max(LoginAttempt.attempted_at)).where(
            LoginAttempt.username == username, LoginAttempt.succeeded.is_(True),
            or_(_same_address(address), _is_boundary())))
    start = now - _window()
    since = max(start, since) if since else start
    return db.session.scalar(db.select(func.count()).where(
        LoginAttempt.username == username, _same_address(address), LoginAttempt.succeeded.is_(False),
        LoginAttempt.attempted_at > since))


def address_failures(address: str | None) -> int:
    """Failures from `address` within the window, whatever the username (spraying)."""
    if address is None:
        return 0  # no address known (a test client, a unix socket): nothing to key it by
    return db.session.scalar(db.select(func.count()).where(
        LoginAttempt.remote_addr == address, LoginAttempt.succeeded.is_(False),
        LoginAttempt.attempted_at > clock.now() - _window()))


@dataclass(frozen=True)
class LockState:
    """Where a username is locked now: the addresses, and when the last of those locks lifts."""

    addresses: tuple[str, ...]
    until: datetime | None

    @property
    def locked(self) -> bool:
        return bool(self.addresses)


UNLOCKED = LockState((), None)


def lock_states(usernames: list[str]) -> dict[str, LockState]:
    """The lock state of each username (one query for all: the staff list shows them)."""
    if not usernames:
        return {}
    now, window = clock.now(), _window()
    limit = current_app.config["LOGIN_MAX_FAILURES"]
    rows = db.session.execute(
        db.select(LoginAttempt.username, LoginAttempt.remote_addr, LoginAttempt.succeeded, LoginAttempt.attempted_at)
        .where(LoginAttempt.username.in_(usernames), LoginAttempt.attempted_at > now - window)
        .order_by(LoginAttempt.attempted_at)).all()
    # Boundaries may be older than the window and still matter only if newer than the failures,
    # which are all within it: reading the window's rows is enough.
    boundary: dict[str, datetime] = {}
    last_success: dict[tuple[str, str | None], datetime] = {}
    for row in rows:
        if row.succeeded:
            if row.remote_addr and row.remote_addr.startswith(_BOUNDARY_PREFIXES):
                boundary[row.username] = row.attempted_at
            else:
                last_success[(row.username, row.remote_addr)] = row.attempted_at
    counted: dict[tuple[str, str | None], list[datetime]] = defaultdict(list)
    for row in rows:
        if row.succeeded:
            continue
        since = max(boundary.get(row.username, now - window),
                    last_success.get((row.username, row.remote_addr), now - window))
        if row.attempted_at > since:
            counted[(row.username, row.remote_addr)].append(row.attempted_at)
    states: dict[str, LockState] = {}
    for (username, address), times in counted.items():
        if len(times) < limit:
            continue
        # Locked until the failure that made the count reach the limit leaves the window.
        until = times[-limit] + window
        found = states.get(username, UNLOCKED)
        states[username] = LockState(found.addresses + (address or "未知地址",),
                                     max(found.until, until) if found.until else until)
    return {username: states.get(username, UNLOCKED) for username in usernames}


def boundary(username: str, marker: str) -> LoginAttempt:
    """A row after which the username's earlier failures no longer count, from every address."""
    row = LoginAttempt(username=username, attempted_at=clock.now(), succeeded=True, remote_addr=marker)
    db.session.add(row)
    return row


