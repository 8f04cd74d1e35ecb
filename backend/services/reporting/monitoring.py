"""What monitoring reads: the outbox's states, the scheduler's lease, each job's last runs.

Read-only, a handful of grouped queries over indexed columns, so a scrape every 15 s costs little.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, text

from backend import clock
from backend.jobs.leader import LEASE_NAME
from backend.jobs.schedule import JOBS, Job
from backend.services.messaging import outbox
from models import (
    SENDABLE_SQL,
    Deputy,
    JobRun,
    OutboxMessage,
    OutboxState,
    SchedulerLease,
    StaffAccount,
    Station,
    db,
)

JOB_STATUSES = ("running", "ok", "failed")


@dataclass(frozen=True)
class JobHealth:
    name: str
    title: str  # the job's Chinese name
    last_started_at: datetime | None
    last_success_at: datetime | None  # when the latest ok run finished
    last_status: str | None


@dataclass(frozen=True)
class Snapshot:
    outbox_counts: dict[str, int]  # every OutboxState, zeros included
    oldest_due_seconds: float  # how long the oldest due, unsent message has waited; 0 if none
    leader: str | None
    heartbeat_age_seconds: float | None
    jobs: list[JobHealth]


def snapshot(now: datetime | None = None, table: tuple[Job, ...] = JOBS) -> Snapshot:
    now = now or clock.now()
    lease = db.session.get(SchedulerLease, LEASE_NAME)
    return Snapshot(
        outbox_counts=outbox.counts_by_state(),
        oldest_due_seconds=oldest_due_seconds(now),
        leader=lease.holder if lease else None,
        heartbeat_age_seconds=max((now - lease.heartbeat_at).total_seconds(), 0.0) if lease else None,
        jobs=job_health(table),
    )


def oldest_due_seconds(now: datetime) -> float:
    """Seconds since the longest-waiting sendable message became due (0 when none is due)."""
    due = db.session.scalar(select(func.min(OutboxMessage.not_before)).where(
        text(SENDABLE_SQL), OutboxMessage.not_before <= now))
    return max((now - due).total_seconds(), 0.0) if due is not None else 0.0


def job_health(table: tuple[Job, ...] = JOBS) -> list[JobHealth]:
    """Each job of the table, with its latest run and latest success (None if never)."""
    names = [job.name for job in table]
    titles = {job.name: job.title or job.name for job in table}
    ranked = (select(JobRun.job, JobRun.started_at, JobRun.status,
                     func.row_number().over(partition_by=JobRun.job,
                                            order_by=(JobRun.started_at.desc(), JobRun.id.desc())).label("n"))
              .where(JobRun.job.in_(names)).subquery())
    latest = {job: (started, status) for job, started, status in db.session.execute(
        select(ranked.c.job, ranked.c.started_at, ranked.c.status).where(ranked.c.n == 1)).tuples()}
    succeeded = dict(db.session.execute(
        select(JobRun.job, func.max(JobRun.finished_at))
        .where(JobRun.job.in_(names), JobRun.status == "ok").group_by(JobRun.job)).tuples().all())
    health = []
    for name in names:
        started, status = latest.get(name, (None, None))
        health.append(JobHealth(name, titles[name], started, succeeded.get(name), status))
    return health


@dataclass(frozen=True)
class MessageRow:
    message: OutboxMessage
    station_name: str | None
    recipient: str  # a deputy's or staff member's name; residents stay "居民"


def station_messages(station_ids, *, state: str | None = None, template: str | None = None,
                     page: int = 1, per_page: int = 50) -> tuple[list[MessageRow], int]:
    """The outbox messages about the stations `station_ids` (a select of ids), newest first,
    with who they went to — for staff checking that reminders reached their deputies."""
    where = [OutboxMessage.station_id.in_(station_ids)]
    if state:
        where.append(OutboxMessage.state == OutboxState(state))
    if template:
        where.append(OutboxMessage.template == template)
    total = db.session.scalar(select(func.count(OutboxMessage.id)).where(*where))
    rows = db.session.execute(
        select(OutboxMessage, Station.name, Deputy.name, StaffAccount.display_name)
        .outerjoin(Station, Station.id == OutboxMessage.station_id)
        .outerjoin(Deputy, Deputy.user_id == OutboxMessage.recipient_id)
        .outerjoin(StaffAccount, StaffAccount.user_id == OutboxMessage.recipient_id)
        .where(*where).order_by(OutboxMessage.id.desc()).limit(per_page).offset((page - 1) * per_page)).all()
    return [MessageRow(message, station, deputy or staff or "居民") for message, station, deputy, staff in rows], total
