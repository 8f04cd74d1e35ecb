"""`flask --app wsgi jobs ...` and `scheduler status`, through Flask's CLI runner."""
from __future__ import annotations

from datetime import datetime, timedelta

from backend import clock
from backend.jobs.schedule import JOBS
from models import JobRun, SchedulerLease, db

BJ = clock.BEIJING


def _invoke(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def test_an_unknown_job_name_is_an_error_that_lists_the_jobs(app):
    result = _invoke(app, "jobs", "run", "no-such-job")
    assert result.exit_code == 2
    for job in JOBS:
        assert job.name in result.output


def test_jobs_run_runs_one_job_once_and_records_it(app, ctx):
    result = _invoke(app, "jobs", "run", "outbox-reap")
    assert result.exit_code == 0, result.output
    [run] = db.session.scalars(db.select(JobRun)).all()
    assert (run.job, run.status, run.detail) == ("outbox-reap", "ok", {"unknown": 0})
    assert run.runner.startswith("cli:")
    assert "outbox-reap" in result.output and "成功" in result.output


def test_a_job_of_the_present_refuses_a_date(app, ctx):
    result = _invoke(app, "jobs", "run", "outbox-reap", "--date", "2027-01-05")
    assert result.exit_code == 2
    assert "不能按日期补跑" in result.output
    assert db.session.scalar(db.select(db.func.count()).select_from(JobRun)) == 0


def test_jobs_list_shows_every_job_and_its_last_run(app, ctx):
    db.session.add(JobRun(job="rollup", runner="h:1", status="failed",
                          started_at=datetime(2027, 1, 5, 1, 0, tzinfo=BJ)))
    db.session.commit()
    result = _invoke(app, "jobs", "list")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for job in JOBS:
        assert any(line.startswith(job.name) for line in lines)
    rollup = next(line for line in lines if line.startswith("rollup"))
    assert "2027-01-05T01:00:00+08:00 failed" in rollup and "hour=1 minute=0" in rollup
    assert "从未运行" in next(line for line in lines if line.startswith("auto-close"))


def test_scheduler_status_tells_the_holder_and_heartbeat_age(app, ctx):
    assert "没有调度进程" in _invoke(app, "scheduler", "status").output
    now = datetime(2027, 1, 5, 12, 0, tzinfo=BJ)
    db.session.add(SchedulerLease(name="scheduler", holder="web-1:4242", acquired_at=now - timedelta(hours=1),
                                  heartbeat_at=now - timedelta(seconds=42)))
    db.session.commit()
    clock.freeze(now)
    output = _invoke(app, "scheduler", "status").output
    assert "web-1:4242" in output and "42 秒前" in output
