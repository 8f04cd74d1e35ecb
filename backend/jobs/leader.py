"""Only one scheduler acts at a time: the one holding the lock. Others stand by and ask again.

PostgreSQL: a session advisory lock held on a connection of its own — opened with psycopg
directly, never from SQLAlchemy's pool (a pooled connection is handed back and reused, and the
lock would go with it). When the process dies its connection closes and the server frees the
lock at once. When its machine vanishes, TCP keepalives on both ends notice within about half a
minute: the server ends the session (freeing the lock for a standby), and the old leader's check
fails (it stops acting). The connection must reach PostgreSQL directly, or through a pooler in
session mode only: transaction pooling would hand the lock to whichever client came next.

SQLite: one machine, so an exclusive `flock` on SCHEDULER_LOCK_FILE; the kernel drops it when
the process dies.

Between a leader losing its connection and noticing (one poll) both may act for a moment; the
jobs are idempotent and the outbox plans each message once, so that costs nothing.

The SchedulerLease row only reports who leads and when it last checked in (for people and
metrics); it decides nothing.
"""
from __future__ import annotations

import contextlib
import fcntl
import logging
from datetime import datetime
from pathlib import Path
from typing import IO, Protocol

from flask import Flask
from sqlalchemy import update
from sqlalchemy.engine import make_url

from models import SchedulerLease, db

log = logging.getLogger(__name__)

# The advisory lock's key: b"llzsched" read as a 64-bit integer. Fixed, so every scheduler of a
# deployment asks for the same lock; other advisory locks of the project use the two-key form,
# a separate key space.
LOCK_KEY = int.from_bytes(b"llzsched", "big")
LEASE_NAME = "scheduler"

# A dead peer is noticed after idle + interval × count = 25 s without an answer, on both ends.
KEEPALIVE = {"keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3}
# A check stuck on unacknowledged data (the server unplugged mid-query) gives up after this.
TCP_USER_TIMEOUT_MS = 30_000


class Leadership(Protocol):
    def try_acquire(self) -> bool:
        """Take the lock if it is free; True if this process now holds it."""

    def still_held(self) -> bool:
        """Whether the lock is still ours (False once the connection holding it is gone)."""

    def release(self) -> None:
        """Let the lock go (and close what holds it)."""


class AdvisoryLock:
    """`pg_try_advisory_lock(LOCK_KEY)` on a dedicated autocommit connection."""

    def __init__(self, database_url: str, key: int = LOCK_KEY):
        # SQLAlchemy's URL names its driver ("postgresql+psycopg"); libpq knows plain postgresql.
        self.conninfo = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.key = key
        self._connection = None
        self._held = False

    def _connect(self):
        import psycopg

        server_side = " ".join(f"-c tcp_{name}={value}" for name, value in KEEPALIVE.items())
        return psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5,
                               application_name="lianluozhan-scheduler", keepalives=1,
                               tcp_user_timeout=TCP_USER_TIMEOUT_MS, options=server_side, **KEEPALIVE)

    @property
    def backend_pid(self) -> int | None:
        """The server process holding (or asking for) the lock; tests end it to cut the connection."""
        return self._connection.info.backend_pid if self._connection is not None else None

    def try_acquire(self) -> bool:
        import psycopg

        if self._held:
            return self.still_held()
        try:
            if self._connection is None or self._connection.closed:
                self._connection = self._connect()
            self._held = bool(self._connection.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()[0])
        except psycopg.Error as exc:
            log.warning("scheduler lock: cannot ask PostgreSQL (%s); trying again later", exc)
            self._close()
        return self._held

    def still_held(self) -> bool:
        import psycopg

        if not self._held:
            return False
        try:
            self._connection.execute("SELECT 1")
        except psycopg.Error as exc:
            # The session, and with it the lock, is gone (or soon will be): stop acting now.
            log.error("scheduler lock: connection lost (%s)", exc)
            self._close()
        return self._held

    def release(self) -> None:
        import psycopg

        if self._held and self._connection is not None:
            try:
                self._connection.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
            except psycopg.Error:
                pass  # closing the connection below frees it anyway
        self._close()

    def _close(self) -> None:
        self._held = False
        if self._connection is not None:
            # A broken connection may fail to close; it is dropped either way.
            with contextlib.suppress(Exception):
                self._connection.close()
            self._connection = None


class FileLock:
    """An exclusive, non-blocking `flock` on a file: one scheduler per machine (SQLite)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._file: IO[str] | None = None
        self._held = False

    def try_acquire(self) -> bool:
        if self._held:
            return True
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a+")  # noqa: SIM115 — held open as long as the lock
        try:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        self._held = True
        return True

    def still_held(self) -> bool:
        # Nothing takes a flock away from a living process.
        return self._held

    def release(self) -> None:
        if self._file is not None:
            if self._held:
                fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
        self._file, self._held = None, False


def leadership_for(app: Flask) -> Leadership:
    """The lock that fits the app's database."""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if url.startswith("postgresql"):
        return AdvisoryLock(url)
    if url.startswith("sqlite"):
        return FileLock(app.config["SCHEDULER_LOCK_FILE"])
    raise RuntimeError(f"no scheduler lock for the database {make_url(url).get_backend_name()}")


def take_lease(holder: str, now: datetime) -> str | None:
    """Report `holder` as the scheduler from `now`; returns who was reported before (or None)."""
    lease = db.session.get(SchedulerLease, LEASE_NAME)
    previous = lease.holder if lease is not None else None
    if lease is None:
        db.session.add(SchedulerLease(name=LEASE_NAME, holder=holder, acquired_at=now, heartbeat_at=now))
    else:
        lease.holder, lease.acquired_at, lease.heartbeat_at = holder, now, now
    db.session.commit()
    return previous


def heartbeat(holder: str, now: datetime) -> None:
    """Record that `holder`, still leading, checked its lock at `now`."""
    changed = db.session.execute(
        update(SchedulerLease).where(SchedulerLease.name == LEASE_NAME, SchedulerLease.holder == holder)
        .values(heartbeat_at=now).execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    if not changed:  # someone emptied the table (tests, an operator): report again
        take_lease(holder, now)


def current_lease() -> SchedulerLease | None:
    return db.session.get(SchedulerLease, LEASE_NAME)
