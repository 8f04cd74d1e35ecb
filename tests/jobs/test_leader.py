"""The locks behind leadership, and a leader that loses its lock: it stops acting at once."""
from __future__ import annotations

import threading
import time

import psycopg
import pytest

from backend.jobs.leader import AdvisoryLock, FileLock
from backend.jobs.runner import Scheduler
from models import JobRun, SchedulerLease, db
from tests.jobs.sample_jobs import TABLE


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_file_lock_has_one_holder_at_a_time(tmp_path):
    first, second = FileLock(tmp_path / "a" / "scheduler.lock"), FileLock(tmp_path / "a" / "scheduler.lock")
    assert first.try_acquire() and first.still_held()
    assert not second.try_acquire()
    first.release()
    assert second.try_acquire()
    second.release()


@pytest.mark.postgres
def test_an_advisory_lock_has_one_holder_and_is_lost_with_its_connection(database_url):
    key = 4242_0001  # not the scheduler's: tests may run beside a real one
    first, second = AdvisoryLock(database_url, key), AdvisoryLock(database_url, key)
    try:
        assert first.try_acquire() and first.still_held()
        assert not second.try_acquire()
        # Both ends probe the idle connection, so a vanished peer frees the lock within ~25 s.
        connection = first._connection
        assert connection.info.get_parameters()["keepalives_idle"] == "10"
        assert connection.execute("SHOW tcp_keepalives_idle").fetchone()[0] == "10"
        assert connection.execute("SHOW tcp_keepalives_count").fetchone()[0] == "3"
        # The server drops the holder's session, as when its machine vanishes and keepalives fire.
        with psycopg.connect(_libpq(database_url), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (first.backend_pid,))
        assert not first.still_held()
        _wait_for(second.try_acquire, 5, "the lock to be free")
        assert not first.try_acquire()  # reconnects, and finds it taken
    finally:
        first.release()
        second.release()


@pytest.mark.postgres
def test_a_leader_that_loses_its_lock_stops_its_jobs_and_stands_by(app, database_url):
    key = 4242_0002
    lock = AdvisoryLock(database_url, key)
    scheduler = Scheduler(app, TABLE[:1], runner_id="inproc:1", leadership=lock, poll=0.2, tick=0.1)
    thread = threading.Thread(target=scheduler.run, daemon=True)
    thread.start()
    try:
        with app.app_context():
            def runs() -> int:
                count = db.session.scalar(db.select(db.func.count()).select_from(JobRun)
                                          .where(JobRun.runner == "inproc:1"))
                db.session.rollback()
                return count

            _wait_for(lambda: runs() >= 3, 10, "the leader's runs")
            assert db.session.get(SchedulerLease, "scheduler").holder == "inproc:1"
            db.session.rollback()
            with psycopg.connect(_libpq(database_url), autocommit=True) as rival:
                rival.execute("SELECT pg_terminate_backend(%s)", (lock.backend_pid,))
                # Another process takes the freed lock before the old leader asks again.
                _wait_for(lambda: rival.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0],
                          5, "the rival to take the lock")
                _wait_for(lambda: not scheduler.leading.is_set(), 5, "the leader to notice")
                time.sleep(0.3)  # a run already under way may still finish
                before = runs()
                time.sleep(1.0)
                assert runs() == before, "a scheduler without its lock went on running jobs"
            # The rival is gone with its connection: the scheduler leads again on its next poll.
            _wait_for(lambda: runs() > before, 10, "the scheduler to lead again")
    finally:
        scheduler.stop()
        thread.join(timeout=10)
    assert not thread.is_alive()
