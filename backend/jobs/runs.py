"""Running one job once, and keeping a JobRun row of it: for the scheduler, `jobs run`, metrics.

The row is committed as `running` before the job starts and finished after it, in transactions of
its own, so a run that never ends (its process killed) stays visible. A job that raises is
recorded `failed` with its traceback and the exception goes no further: one broken job never
stops the scheduler or the jobs after it.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import time
import traceback
from datetime import date, datetime

from sqlalchemy import func, select, update

from backend import clock
from backend.jobs.schedule import JOBS, Job, find, load
from backend.observability import logs
from models import JobRun, db

log = logging.getLogger(__name__)

# A traceback's tail says what went wrong; the column needs no more.
_ERROR_CHARS = 4000


class NothingToReplay(ValueError):
    """The job has no times of day to replay (it only ever acts on the present)."""


def process_id() -> str:
    """This process as runners and lease holders are named: `hostname:pid`."""
    return f"{socket.gethostname()}:{os.getpid()}"


def run_job(name: str, now: datetime, runner: str | None = None, *, table: tuple[Job, ...] = JOBS) -> JobRun:
    """Run the job called `name` for the instant `now` and return its finished JobRun.

    :raise UnknownJob: if the table has no such job (nothing is recorded then).
    """
    job = find(name, table)
    record = JobRun(job=job.name, run_for=now.astimezone(clock.BEIJING).strftime("%Y-%m-%d %H:%M"),
                    runner=runner or process_id(), started_at=clock.now(), status="running")
    db.session.add(record)
    db.session.commit()
    run_id = record.id
    with logs.bound_run(f"job:{job.name}:{run_id}"):  # the job's own lines and ours name the JobRun
        return _run(job, run_id, now)


def _run(job: Job, run_id: int, now: datetime) -> JobRun:
    began = time.monotonic()
    try:
        summary = _jsonable(load(job)(now))
        # Anything the job left uncommitted is kept with its outcome, never silently dropped.
        record = db.session.get(JobRun, run_id)
        record.status, record.detail = "ok", summary
        record.finished_at = clock.now()
        db.session.commit()
        log.info("job %s ok in %.2f s (run %s for %s): %s", job.name, time.monotonic() - began, run_id,
                 record.run_for, json.dumps(summary, ensure_ascii=False))
    except Exception as exc:  # noqa: BLE001 — any failure of the job is its run's outcome
        db.session.rollback()
        record = db.session.get(JobRun, run_id)
        record.status, record.error = "failed", traceback.format_exc()[-_ERROR_CHARS:]
        record.finished_at = clock.now()
        db.session.commit()
        log.error("job %s failed in %.2f s (run %s for %s): %s: %s", job.name, time.monotonic() - began, run_id,
                  record.run_for, type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
    return record


def replay_day(name: str, day: date, runner: str | None = None, *,
               table: tuple[Job, ...] = JOBS) -> list[JobRun]:
    """Run the job at each of its replay times of the Beijing date `day`, in order, with the clock
    frozen at that instant (so everything it asks the time sees it), then released.

    :raise UnknownJob: if there is no such job. :raise NothingToReplay: if it has no replay times.
    """
    job = find(name, table)
    if not job.replay:
        raise NothingToReplay(f"任务 {job.name} 只处理当前时刻的事，不能按日期补跑")
    runs = []
    for at in sorted(job.replay):
        instant = datetime.combine(day, at, tzinfo=clock.BEIJING)
        clock.freeze(instant)
        try:
            runs.append(run_job(job.name, instant, runner, table=table))
        finally:
            clock.freeze(None)
    return runs


def abandon_runs(runner: str, now: datetime) -> int:
    """Runs `runner` left `running` when it stopped leading (it was killed, or lost its lock):
    recorded failed, so they read as what they are. Called by its successor."""
    count = db.session.execute(
        update(JobRun).where(JobRun.runner == runner, JobRun.status == "running")
        .values(status="failed", finished_at=now, error=f"调度进程 {runner} 中断，任务未运行完")
        .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    if count:
        log.warning("%s runs of %s never finished; recorded failed", count, runner)
    return count


def last_finished(table: tuple[Job, ...] = JOBS) -> dict[str, datetime]:
    """When each job last started a run that finished (ok or failed), by name."""
    rows = db.session.execute(
        select(JobRun.job, func.max(JobRun.started_at))
        .where(JobRun.job.in_([job.name for job in table]), JobRun.status.in_(["ok", "failed"]))
        .group_by(JobRun.job)).tuples()
    return dict(rows.all())


def _jsonable(summary) -> dict:
    """The job's summary as the JSON column will hold it (dates and the like as text)."""
    if summary is None:
        summary = {}
    elif not isinstance(summary, dict):
        summary = {"result": summary}
    return json.loads(json.dumps(summary, ensure_ascii=False, default=str))
