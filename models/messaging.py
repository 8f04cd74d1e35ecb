"""Subscribe messages (订阅消息): residents' and deputies' grants, the outbox, and the scheduler's
own bookkeeping (who holds the lease, when each job last ran)."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    Enum,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from models.base import db, utcnow


class OutboxState(str, enum.Enum):
    """Where one outbox message stands. Final states: sent, no_grant, failed, unknown, skipped."""

    pending = "pending"  # to send once `not_before` has passed
    sending = "sending"  # claimed by a sender; its outcome is not committed yet
    sent = "sent"  # WeChat answered errcode 0
    no_grant = "no_grant"  # the user has no grant left for the template (43101): never retried
    deferred = "deferred"  # the template's daily quota is spent (45009): waits for the next Beijing day
    failed = "failed"  # WeChat refused the message itself (bad data), or retries ran out
    unknown = "unknown"  # the request went out and no answer came back: never resent
    skipped = "skipped"  # no longer due when its turn came (the day was cancelled, no openid)


# A sender claims these when `not_before` has passed.
SENDABLE_STATES = (OutboxState.pending, OutboxState.deferred)
# The same as SQL with the values written in: the due index is partial on it, and PostgreSQL uses
# a partial index only for a query whose condition it can match without knowing parameters.
SENDABLE_SQL = "state IN (" + ", ".join(f"'{state.value}'" for state in SENDABLE_STATES) + ")"


class SubscriptionGrant(db.Model):
    """One user's one-time grants for one subscribe-message template (订阅消息授权).

    WeChat lets a one-time grant carry one message: `available` counts accepted grants not yet
    used, `accepted_total` and `used_total` what happened over time. `last_status` is the user's
    last answer (accept / reject / ban / filter); a refusal empties `available`.
    """

    __tablename__ = "subscription_grant"
    __table_args__ = (UniqueConstraint("user_id", "template_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    template_id: Mapped[str] = mapped_column(String(128))
    available: Mapped[int] = mapped_column(default=0)
    accepted_total: Mapped[int] = mapped_column(default=0)
    used_total: Mapped[int] = mapped_column(default=0)
    last_status: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SubscriptionEvent(db.Model):
    """One answer a user gave about a template, as it reached us: from the mini-program
    (`POST /api/v1/subscriptions`) or from WeChat's push (the popup and settings events)."""

    __tablename__ = "subscription_event"
    __table_args__ = (Index("ix_subscription_event_user_id_created_at", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    openid: Mapped[str | None] = mapped_column(String(64))
    template_id: Mapped[str] = mapped_column(String(128))
    # accept, reject, ban, filter
    status: Mapped[str] = mapped_column(String(16))
    # miniprogram, popup_event, change_event
    source: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxMessage(db.Model):
    """A subscribe message to send, planned once per (recipient, template, cause).

    The unique key is what makes planning idempotent: a job that runs twice, or two schedulers
    that both think they lead, insert the same row once. `cause` names why (the reception day and
    slot, the issue and its change); `template` is our name for the kind of message and
    `template_id` WeChat's id of it when planned.
    """

    __tablename__ = "outbox_message"
    __table_args__ = (
        UniqueConstraint("recipient_id", "template", "cause"),
        # A sender's claim takes the first due rows in (not_before, id) order: an index of the
        # sendable rows alone hands them over in that order. One on (state, not_before) cannot
        # (two states), and every claim sorted all that was waiting: 29 messages/s at 100,000.
        Index("ix_outbox_message_due", "not_before", "id",
              postgresql_where=text(SENDABLE_SQL), sqlite_where=text(SENDABLE_SQL)),
        # The reaper looks at claims in flight (and counting by state reads only this index);
        # WeChat's delivery reports name the msgid.
        Index("ix_outbox_message_state_claimed_at", "state", "claimed_at"),
        Index("ix_outbox_message_wechat_msgid", "wechat_msgid"),
        # The console lists a station's messages, newest first.
        Index("ix_outbox_message_station_id_id", "station_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    template: Mapped[str] = mapped_column(String(32))
    cause: Mapped[str] = mapped_column(String(96))
    template_id: Mapped[str] = mapped_column(String(128))
    # The station the message is about (its reception day, its issue), so staff see the messages
    # of their stations; None for a manager's digest, which spans stations. No foreign key:
    # planning inserts a reception day's 100,000 reminders at once, and this only scopes lists.
    station_id: Mapped[int | None]
    openid: Mapped[str | None] = mapped_column(String(64))
    page: Mapped[str | None] = mapped_column(String(128))
    data: Mapped[dict] = mapped_column(JSON)
    state: Mapped[OutboxState] = mapped_column(Enum(OutboxState, native_enum=False, length=16),
                                               default=OutboxState.pending)
    not_before: Mapped[datetime] = mapped_column(default=utcnow)
    # Past this a message is no longer worth sending (a reminder of a day already over): skipped.
    expires_at: Mapped[datetime | None]
    # Calls made for this row (a retry after -1 or a timeout before sending counts again).
    attempts: Mapped[int] = mapped_column(default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    last_errcode: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    # WeChat's msgid from the answer, matched by the delivery event of the push callback.
    wechat_msgid: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    # An `unknown` message stays unknown — nothing resends it by itself — until a region admin
    # decides (services/messaging/unknowns.py): `resent` (a new message, `resend_of_id` pointing
    # back here) or `not_resent`; by whom and when.
    decision: Mapped[str | None] = mapped_column(String(16))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    decided_at: Mapped[datetime | None]
    resend_of_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_message.id"), unique=True)


class SchedulerLease(db.Model):
    """Who acts as the scheduler now, for people and metrics. The lock itself is a PostgreSQL
    advisory lock (or, on SQLite, a file lock); this row only reports it."""

    __tablename__ = "scheduler_lease"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    acquired_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)


class JobRun(db.Model):
    """One run of a scheduled job (by the scheduler or `jobs run`): when, for which Beijing date,
    by whom, and how it ended."""

    __tablename__ = "job_run"
    __table_args__ = (Index("ix_job_run_job_started_at", "job", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(48))
    run_for: Mapped[str | None] = mapped_column(String(32))
    runner: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    # running, ok, failed
    status: Mapped[str] = mapped_column(String(16), default="running")
    detail: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
