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
from backend.services.messaging import outbox, unknowns
from models import (
    SENDABLE_SQL,
    Deputy,
    Issue,
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
    unknown_undecided: int  # unknown messages no region admin has decided on yet
    oldest_due_seconds: float  # how long the oldest due, unsent message has waited; 0 if none
    leader: str | None
    heartbeat_age_seconds: float | None
    jobs: list[JobHealth]


def snapshot(now: datetime | None = None, table: tuple[Job, ...] = JOBS) -> Snapshot:
    now = now or clock.now()
    lease = db.session.get(SchedulerLease, LEASE_NAME)
    return Snapshot(
        outbox_counts=outbox.counts_by_state(),
        unknown_undecided=unknowns.undecided_count(),
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
    recipient_role: str = "居民"  # 代表, 工作人员 or 居民
    cause: str = ""  # what the message was about, in words
    decided_by: str | None = None  # who decided on it, when it was unknown
    resent_as: OutboxMessage | None = None  # the message that resent it


_SLOT_LABELS = {"eve": "前一天晚上", "morning": "当天早上"}


def cause_label(cause: str, issue_numbers: dict[int, str]) -> str:
    """What a message's `cause` (see the domains that plan them) was about, as staff read it."""
    parts = cause.split(":")
    if parts[0] == "reception" and len(parts) >= 4:
        return f"{parts[2]} 接待日（{_SLOT_LABELS.get(parts[3], parts[3])}）"
    if parts[0] == "issue" and len(parts) >= 2 and parts[1].isdigit():
        return f"意见建议 {issue_numbers.get(int(parts[1]), parts[1])}"
    if parts[0] == "digest" and len(parts) >= 2:
        return f"{parts[1]} 督办汇总"
    if parts[0] == "resend":
        return "重新发送"
    return cause


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
    messages = [row[0] for row in rows]
    # A resend's cause only points back: the original's cause says what it was about.
    originals = {m.id: m for m in db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.id.in_({m.resend_of_id for m in messages if m.resend_of_id})))}
    causes = {m.id: (originals[m.resend_of_id].cause if m.resend_of_id in originals else m.cause) for m in messages}
    issue_ids = {int(c.split(":")[1]) for c in causes.values() if c.startswith("issue:") and c.split(":")[1].isdigit()}
    numbers = dict(db.session.execute(select(Issue.id, Issue.no).where(Issue.id.in_(issue_ids))).tuples().all())
    deciders = dict(db.session.execute(select(StaffAccount.user_id, StaffAccount.display_name).where(
        StaffAccount.user_id.in_({m.decided_by_id for m in messages if m.decided_by_id}))).tuples().all())
    resends = unknowns.resends_of([m.id for m in messages if m.decision == unknowns.RESEND])
    out = []
    for message, station, deputy, staff in rows:
        role = "代表" if deputy else "工作人员" if staff else "居民"
        cause = cause_label(causes[message.id], numbers)
        if message.resend_of_id:
            cause = f"{cause}（重新发送）"
        out.append(MessageRow(message, station, deputy or staff or "居民", role, cause,
                              deciders.get(message.decided_by_id), resends.get(message.id)))
    return out, total
