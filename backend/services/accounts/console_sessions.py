"""Console sessions kept on the server, so that they can be ended there.

The console's cookie is signed, but a signed cookie alone cannot be taken back: a copy made
before signing out (a shared computer, a proxy's log) kept working for as long as the cookie
said. Each session is therefore a `ConsoleSession` row; the cookie carries its random id, and
a request is signed in only while that row is open. Signing out closes the row: every copy of
the cookie stops working at once. A password reset or a disabled account closes all the user's
rows (and bumps their token version, which ends their API tokens too).

The failed-sign-in lockout closes nothing: it stops guessing, it does not sign anyone out —
otherwise anyone could end a manager's session by typing wrong passwords for their username.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import update

from backend import clock
from models import ConsoleSession, db


def _hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def start(user_id: int) -> str:
    """Open a session for `user_id` (in the caller's transaction) and return the id for its cookie."""
    sid = secrets.token_urlsafe(32)
    db.session.add(ConsoleSession(sid_hash=_hash(sid), user_id=user_id, created_at=clock.now()))
    db.session.flush()
    return sid


def is_open(sid: object, user_id: int) -> bool:
    """Whether the cookie's session is still open: not ended, and younger than the console's
    longest session (CONSOLE_SESSION_HOURS)."""
    if not isinstance(sid, str) or not sid:
        return False
    oldest = clock.now() - timedelta(seconds=current_app.config["PERMANENT_SESSION_LIFETIME"])
    found = db.session.scalar(
        db.select(ConsoleSession.id).where(ConsoleSession.sid_hash == _hash(sid), ConsoleSession.user_id == user_id,
                                           ConsoleSession.ended_at.is_(None), ConsoleSession.created_at > oldest))
    return found is not None


def end(sid: object, reason: str) -> None:
    """Close the cookie's session (in the caller's transaction); one already closed stays as it was."""
    if isinstance(sid, str) and sid:
        db.session.execute(update(ConsoleSession).where(ConsoleSession.sid_hash == _hash(sid),
                                                        ConsoleSession.ended_at.is_(None))
                           .values(ended_at=clock.now(), ended_reason=reason))


def end_all(user_id: int, reason: str) -> int:
    """Close every open session of `user_id` (a password reset, a disabled account); how many."""
    return db.session.execute(update(ConsoleSession).where(ConsoleSession.user_id == user_id,
                                                           ConsoleSession.ended_at.is_(None))
                              .values(ended_at=clock.now(), ended_reason=reason)).rowcount


# Ended or outlived sessions are kept this long (who was signed in when), then deleted.
KEPT = timedelta(days=90)


def purge(now) -> dict:
    """Delete sessions that ended, or began, more than KEPT ago (the housekeeping job)."""
    deleted = db.session.execute(db.delete(ConsoleSession).where(ConsoleSession.created_at < now - KEPT)).rowcount
    return {"deleted": deleted}
