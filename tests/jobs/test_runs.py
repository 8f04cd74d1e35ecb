"""One job run at a time over the real database: the JobRun row, replaying a date, catching up."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from backend import clock
from backend.jobs import runs
from backend.jobs.runner import Scheduler, last_fire_time
from backend.jobs.schedule import JOBS, UnknownJob, find, load
from models import JobRun, SchedulerLease, db
from tests.jobs import sample_jobs
from tests.jobs.sample_jobs import TABLE

BJ = clock.BEIJING
NOW = datetime(2027, 1, 5, 12, 0, tzinfo=BJ)


@pytest.fixture(autouse=True)
def _fresh_calls():
    sample_jobs.CALLS.clear()
    yield
    sample_jobs.CALLS.clear()


def _runs() -> list[JobRun]:
    db.session.expire_all()
    return list(db.session.scalars(db.select(JobRun).order_by(JobRun.id)))


def test_a_run_that_succeeds_is_recorded_ok_with_its_summary(ctx):
    clock.freeze(NOW)
    run = runs.run_job("probe-record", NOW, "tester:1", table=TABLE)
    [row] = _runs()
    assert row.id == run.id and row.status == "ok" and row.runner == "tester:1"
    assert row.detail == {"at": NOW.isoformat(sep=" "), "calls": 1}  # JSON-able: the datetime as text
    assert row.run_for == "2027-01-05 12:00"
    assert row.started_at == NOW and row.finished_at == NOW and row.error is None


def test_a_run_that_raises_is_recorded_failed_and_its_unfinished_work_dropped(ctx):
    run = runs.run_job("probe-explode", NOW, "tester:1", table=TABLE)
    assert run.status == "failed" and run.finished_at is not None
    assert "RuntimeError: 演练：任务出错" in run.error
    assert db.session.get(SchedulerLease, "half-done") is None


def test_a_missing_target_fails_only_that_run(ctx):
    failed = runs.run_job("probe-missing", NOW, table=TABLE)
    fine = runs.run_job("probe-record", NOW, table=TABLE)
    assert failed.status == "failed" and "ModuleNotFoundError" in failed.error
    assert fine.status == "ok"
    assert failed.runner == runs.process_id()


def test_an_unknown_job_is_refused_before_anything_is_recorded(ctx):
    with pytest.raises(UnknownJob) as refused:
        runs.run_job("no-such-job", NOW, table=TABLE)
    assert "probe-record" in str(refused.value)
    assert _runs() == []


def test_a_replay_runs_the_days_times_in_order_on_a_frozen_clock_then_releases_it(ctx):
    done = runs.replay_day("probe-record", date(2027, 1, 6), "tester:1", table=TABLE)
    morning, evening = datetime(2027, 1, 6, 8, 0, tzinfo=BJ), datetime(2027, 1, 6, 18, 0, tzinfo=BJ)
    assert sample_jobs.CALLS == [(morning, morning), (evening, evening)]
    assert [r.run_for for r in done] == ["2027-01-06 08:00", "2027-01-06 18:00"]
    assert [r.status for r in _runs()] == ["ok", "ok"]
    assert abs(clock.now() - datetime.now(BJ)) < timedelta(seconds=5)


def test_a_job_of_the_present_cannot_be_replayed(ctx):
    with pytest.raises(runs.NothingToReplay):
        runs.replay_day("probe-present", date(2027, 1, 6), table=TABLE)
    assert _runs() == []


def test_runs_left_running_by_a_dead_leader_are_marked_failed(ctx):
    db.session.add_all([JobRun(job="probe-record", runner="dead:1", started_at=NOW, status="running"),
                        JobRun(job="probe-record", runner="alive:2", started_at=NOW, status="running"),
                        JobRun(job="probe-record", runner="dead:1", started_at=NOW, status="ok")])
    db.session.commit()
    assert runs.abandon_runs("dead:1", NOW) == 1
    assert sorted((r.runner, r.status) for r in _runs()) == [("alive:2", "running"), ("dead:1", "failed"),
                                                             ("dead:1", "ok")]


def test_a_new_leader_catches_up_a_nightly_run_nobody_made(app, ctx):
    scheduler = Scheduler(app, TABLE[3:4], leadership=object())
    ten_past_one = datetime(2027, 1, 5, 1, 10, tzinfo=BJ)
    assert scheduler.overdue(ten_past_one) == {"probe-nightly"}
    # A run finished before that night's time does not count; one at or after it does.
    db.session.add(JobRun(job="probe-nightly", runner="x:1", started_at=ten_past_one - timedelta(minutes=11),
                          status="ok"))
    db.session.commit()
    assert scheduler.overdue(ten_past_one) == {"probe-nightly"}
    db.session.add(JobRun(job="probe-nightly", runner="x:1", started_at=ten_past_one - timedelta(minutes=9),
                          status="failed"))
    db.session.commit()
    assert scheduler.overdue(ten_past_one) == set()


def test_last_fire_time_of_a_timetable():
    from backend.jobs.runner import _cron

    escalation = _cron(find("escalation"))
    at = datetime(2027, 1, 5, 14, 30, tzinfo=BJ)
    assert last_fire_time(escalation, at - timedelta(days=1), at) == datetime(2027, 1, 5, 14, 0, tzinfo=BJ)
    early = datetime(2027, 1, 5, 8, 0, tzinfo=BJ)
    assert last_fire_time(escalation, early - timedelta(days=1), early) == datetime(2027, 1, 4, 20, 0, tzinfo=BJ)
    assert last_fire_time(escalation, early - timedelta(hours=1), early) is None


def test_the_real_table_names_importable_targets_where_they_exist():
    assert len({job.name for job in JOBS}) == len(JOBS)
    outbox_reap = load(find("outbox-reap"))
    assert outbox_reap.__name__ == "reap_stale_claims_job"
    for job in JOBS:
        assert ":" in job.target and job.description
        assert list(job.replay) == sorted(job.replay)
