"""The scheduler process (`flask --app wsgi scheduler run`): APScheduler 3 running the schedule
table, but only while this process holds the lead (leader.py).

It runs in a process of its own, never in web workers: APScheduler 3 does not coordinate
processes, so each gunicorn worker would run every job. Jobs live in APScheduler's MemoryJobStore
(no APScheduler table); what a scheduler missed while none was leading — a failover or a restart
across 01:00 — is found in the JobRun rows instead: on taking the lead, each job whose latest
time in the past day has no finished run since then runs at once. The jobs plan what is due by
the clock, so a run late, twice or in two places at once is harmless.

The main thread polls: a standby asks for the lock every SCHEDULER_STANDBY_POLL_SECONDS, the
leader checks it holds it (and writes its heartbeat) just as often, and stops its jobs the moment
the check fails. With SCHEDULER_TICK_SECONDS every job runs every tick instead of on its timetable
(tests on an accelerated clock); each run is given `clock.now()`.
"""
from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask

from backend import clock
from backend.jobs import leader, runs
from backend.jobs.schedule import JOBS, Job
from backend.observability import logs

log = logging.getLogger(__name__)

# A run that could not start on time (all threads busy) still starts this late; later ones are
# dropped (coalesced) — the next run catches up anyway.
MISFIRE_GRACE_SECONDS = 600
# How far back a new leader looks for runs nobody made.
CATCH_UP_WINDOW = timedelta(days=1)


class Scheduler:
    """Stand by, lead, run the table's jobs while leading; `stop()` ends `run()` cleanly."""

    def __init__(self, app: Flask, table: tuple[Job, ...] = JOBS, *, runner_id: str | None = None,
                 leadership: leader.Leadership | None = None, poll: float | None = None, tick: float | None = None):
        cfg = app.config
        self.app = app
        self.table = table
        self.runner_id = runner_id or runs.process_id()
        self.leadership = leadership or leader.leadership_for(app)
        self.poll = float(poll or cfg["SCHEDULER_STANDBY_POLL_SECONDS"])
        self.tick = tick or cfg.get("SCHEDULER_TICK_SECONDS")
        # SQLite takes one writer at a time: more threads would only wait for its lock.
        self.threads = 1 if cfg["SQLALCHEMY_DATABASE_URI"].startswith("sqlite") else 4
        self.stopping = threading.Event()
        self.leading = threading.Event()
        self._apscheduler: BackgroundScheduler | None = None

    def run(self) -> None:
        """Poll until `stop()`; then let running jobs finish and release the lock."""
        with logs.bound_run(self.log_id):
            log.info("scheduler %s: started, standing by until it holds the lock", self.runner_id)
            try:
                while not self.stopping.is_set():
                    self._poll()
                    self.stopping.wait(self.poll)
            finally:
                self._stop_jobs(wait=True)
                self.leadership.release()
                log.info("scheduler %s: stopped", self.runner_id)

    def stop(self) -> None:
        self.stopping.set()

    def _poll(self) -> None:
        if self.leading.is_set():
            if self.leadership.still_held():
                self._heartbeat()
            else:
                log.error("scheduler %s: lost the lock; jobs stopped, standing by", self.runner_id)
                self._stop_jobs(wait=False)
        elif self.leadership.try_acquire():
            self._lead()

    def _lead(self) -> None:
        now = clock.now()
        try:
            with self.app.app_context():
                previous = leader.take_lease(self.runner_id, now)
                if previous and previous != self.runner_id:
                    runs.abandon_runs(previous, now)
                overdue = set() if self.tick else self.overdue(now)
        except Exception:
            # Leading without a word in the database would hide us from people: try again later.
            log.exception("scheduler %s: holds the lock but cannot record it; letting go", self.runner_id)
            self.leadership.release()
            return
        log.info("scheduler %s: leading (before: %s)%s", self.runner_id, previous or "nobody",
                 f"; catching up {', '.join(sorted(overdue))}" if overdue else "")
        self.leading.set()
        self._start_jobs(overdue)

    def _heartbeat(self) -> None:
        try:
            with self.app.app_context():
                leader.heartbeat(self.runner_id, clock.now())
        except Exception:  # a database blip: the lock, not this row, says who leads
            log.warning("scheduler %s: heartbeat not recorded", self.runner_id, exc_info=True)

    def overdue(self, now: datetime) -> set[str]:
        """Jobs whose latest time within CATCH_UP_WINDOW has no finished run since."""
        finished = runs.last_finished(self.table)
        overdue = set()
        for job in self.table:
            due = last_fire_time(_cron(job), now - CATCH_UP_WINDOW, now)
            if due is not None and (job.name not in finished or finished[job.name] < due):
                overdue.add(job.name)
        return overdue

    def _start_jobs(self, run_now: set[str]) -> None:
        scheduler = BackgroundScheduler(
            timezone=clock.BEIJING, jobstores={"default": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(self.threads)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE_SECONDS})
        for job in self.table:
            trigger = IntervalTrigger(seconds=self.tick, timezone=clock.BEIJING) if self.tick else _cron(job)
            extra = {}
            if self.tick or job.name in run_now:
                # APScheduler keeps wall-clock time, whatever our clock says.
                extra["next_run_time"] = datetime.now(UTC)
            scheduler.add_job(self._fire, trigger, args=[job.name], id=job.name, name=job.name, **extra)
        scheduler.start()
        self._apscheduler = scheduler

    def _stop_jobs(self, *, wait: bool) -> None:
        # Cleared first: a run already handed to a thread checks it and does nothing.
        self.leading.clear()
        if self._apscheduler is not None:
            self._apscheduler.shutdown(wait=wait)
            self._apscheduler = None

    @property
    def log_id(self) -> str:
        """The run id of this scheduler's own log lines (a job's run has its own)."""
        return f"scheduler:{self.runner_id}"

    def _fire(self, name: str) -> None:
        if not self.leading.is_set():
            return
        # APScheduler's threads start with no context of ours.
        with logs.bound_run(self.log_id), self.app.app_context():
            try:
                runs.run_job(name, clock.now(), self.runner_id, table=self.table)
            except Exception:  # the run could not even be recorded (database away): next time
                log.exception("scheduler %s: job %s not run", self.runner_id, name)


def _cron(job: Job) -> CronTrigger:
    return CronTrigger(timezone=clock.BEIJING, **job.cron)


def last_fire_time(trigger: CronTrigger, since: datetime, until: datetime) -> datetime | None:
    """The trigger's latest time in [since, until], or None."""
    last, moment = None, trigger.get_next_fire_time(None, since)
    while moment is not None and moment <= until:
        last, moment = moment, trigger.get_next_fire_time(moment, moment)
    return last
