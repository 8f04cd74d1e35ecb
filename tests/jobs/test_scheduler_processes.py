"""Two real `flask --app wsgi scheduler run` processes: one leads, the other stands by and runs
nothing; SIGKILL the leader and the standby leads within a poll or two; SIGTERM stops it cleanly.
On SQLite the lock is a file lock, on PostgreSQL an advisory lock on a connection of its own."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from sqlalchemy import text

from backend.jobs.leader import LOCK_KEY, FileLock
from config import PROJECT_ROOT
from models import JobRun, SchedulerLease, db

POLL = 0.5
TICK = 0.5
# Seconds a poll may take to come round, plus a process's start-up on a busy machine.
TAKEOVER_LIMIT = 10


def _spawn(env: dict, log_path) -> subprocess.Popen:
    log = open(log_path, "w")  # noqa: SIM115 — the process writes it until it ends
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "scheduler", "run"],
                            cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def _env(database_url: str, fake_wechat, **extra) -> dict:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("CLOCK_", "SCHEDULER_", "REDIS_", "METRICS_"))}
    env.update(DATABASE_URL=database_url, WECHAT_API_BASE=fake_wechat.base_url, FAKE_WECHAT_AUTOSTART="0",
               SCHEDULER_STANDBY_POLL_SECONDS=str(POLL), SCHEDULER_TICK_SECONDS=str(TICK), **extra)
    return env


def _holder_pid() -> int | None:
    db.session.expire_all()
    lease = db.session.get(SchedulerLease, "scheduler")
    db.session.rollback()
    return int(lease.holder.rsplit(":", 1)[1]) if lease else None


def _runs_by_pid(status: str | None = None) -> Counter:
    query = db.select(JobRun.runner)
    if status:
        query = query.where(JobRun.status == status)
    runners = db.session.scalars(query).all()
    db.session.rollback()
    return Counter(int(runner.rsplit(":", 1)[1]) for runner in runners)


def _wait_for(predicate, timeout: float, what: str, logs) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}\n" + "\n".join(
        f"--- {path.name}\n{path.read_text()[-3000:]}" for path in logs))


def _stop(processes) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()
    for process in processes:
        process.wait(timeout=10)


def _one_leads_then_the_standby_takes_over(app, env: dict, tmp_path, locks_held=None) -> float:
    """The scenario on either engine; returns the measured takeover time in seconds."""
    logs = [tmp_path / "scheduler-a.log", tmp_path / "scheduler-b.log"]
    processes = [_spawn(env, logs[0]), _spawn(env, logs[1])]
    try:
        with app.app_context():
            leader_pid = _wait_for(_holder_pid, 20, "a leader", logs)
            leader, standby = sorted(processes, key=lambda p: p.pid != leader_pid)
            _wait_for(lambda: _runs_by_pid()[leader.pid] >= 10, 10, "the leader's runs", logs)
            time.sleep(3 * POLL)  # the standby asked for the lock several times meanwhile
            assert leader.poll() is None and standby.poll() is None, "a scheduler died"
            assert _runs_by_pid()[standby.pid] == 0, "the standby ran jobs while the leader lived"
            assert _holder_pid() == leader.pid
            if locks_held is not None:
                assert locks_held() == 1

            killed_at = time.monotonic()
            leader.send_signal(signal.SIGKILL)
            leader.wait(timeout=10)
            _wait_for(lambda: _holder_pid() == standby.pid and _runs_by_pid()[standby.pid] > 0,
                      TAKEOVER_LIMIT, "the standby to take over", logs)
            takeover = time.monotonic() - killed_at
            # What the dead leader was running is recorded as cut short, not left running.
            assert _runs_by_pid("running")[leader.pid] == 0
            if locks_held is not None:
                assert locks_held() == 1

        standby.send_signal(signal.SIGTERM)
        assert standby.wait(timeout=15) == 0, logs[processes.index(standby)].read_text()[-3000:]
        assert "stopped" in logs[processes.index(standby)].read_text()
        return takeover
    finally:
        _stop(processes)


@pytest.mark.skipif(os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql"),
                    reason="the file lock is SQLite's; the PostgreSQL run tests the advisory lock below")
def test_sqlite_one_scheduler_leads_and_a_standby_takes_over(app, fake_wechat, database_url, tmp_path):
    lock_file = tmp_path / "scheduler.lock"
    env = _env(database_url, fake_wechat, SCHEDULER_LOCK_FILE=str(lock_file))
    takeover = _one_leads_then_the_standby_takes_over(app, env, tmp_path)
    print(f"SQLite takeover after SIGKILL: {takeover:.2f} s (poll {POLL} s)")
    assert takeover < TAKEOVER_LIMIT
    # Stopped cleanly, the survivor let the file go.
    lock = FileLock(lock_file)
    assert lock.try_acquire()
    lock.release()


@pytest.mark.postgres
def test_postgres_one_scheduler_leads_and_a_standby_takes_over(app, fake_wechat, database_url, tmp_path):
    env = _env(database_url, fake_wechat)

    def locks_held() -> int:
        # Granted advisory locks on our key, held by the schedulers' own connections.
        count = db.session.scalar(text(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = :hi AND l.objid = :lo "
            "AND l.objsubid = 1 AND a.application_name = 'lianluozhan-scheduler'"),
            {"hi": LOCK_KEY >> 32, "lo": LOCK_KEY & 0xFFFFFFFF})
        db.session.rollback()
        return count

    takeover = _one_leads_then_the_standby_takes_over(app, env, tmp_path, locks_held)
    print(f"PostgreSQL takeover after SIGKILL: {takeover:.2f} s (poll {POLL} s)")
    assert takeover < 60
    with app.app_context():
        assert locks_held() == 0  # released on SIGTERM
