from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import db, utcnow


class IssueStatus(str, enum.Enum):
    """The states of API.md's state machine (意见建议的办理状态)."""

    pending_review = "pending_review"  # the content check said "review" or was unavailable
    submitted = "submitted"
    accepted = "accepted"  # 受理, assigned to a deputy
    replied = "replied"  # 答复
    transferred = "transferred"  # 交办 to a department
    resolved = "resolved"  # 办结
    closed = "closed"
    rejected = "rejected"  # 不予受理
    reopened = "reopened"  # rated unsatisfied


# The statuses whose 三色 clock runs (services/issues/issue_queue.current_due_column), as SQL for the
# partial index: PostgreSQL matches a partial index only to a condition with the values written in.
CLOCKED_SQL = "status IN ('submitted', 'accepted', 'transferred')"

OPEN_STATUSES = frozenset({IssueStatus.submitted, IssueStatus.accepted, IssueStatus.replied,
                           IssueStatus.transferred, IssueStatus.reopened})


class RatingScore(str, enum.Enum):
    satisfied = "satisfied"
    basically_satisfied = "basically_satisfied"
    unsatisfied = "unsatisfied"


class Category(db.Model):
    """An editable list of what residents' issues are about (城乡建设, 交通出行 …)."""

    __tablename__ = "category"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)
    sort_order: Mapped[int] = mapped_column(default=0)
    is_active: Mapped[bool] = mapped_column(default=True)


class Department(db.Model):
    """承办单位: a government department an issue is handed to (交办)."""

    __tablename__ = "department"
    __table_args__ = (UniqueConstraint("region_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    region_id: Mapped[int | None] = mapped_column(ForeignKey("region.id"))
    is_active: Mapped[bool] = mapped_column(default=True)


class Issue(db.Model):
    """意见建议: what a resident tells a station's deputies, followed until it is closed."""

    __tablename__ = "issue"
    __table_args__ = (
        Index("ix_issue_station_status", "station_id", "status"),
        Index("ix_issue_submitter_created", "submitter_id", "created_at"),
        Index("ix_issue_assigned_status", "assigned_deputy_id", "status"),
        Index("ix_issue_addressed_status", "addressed_deputy_id", "status"),
        # The inbox walks these backwards, newest first, one branch per station or deputy
        # column (services/issues/inbox.py).
        Index("ix_issue_station_created", "station_id", "created_at", "id"),
        Index("ix_issue_addressed_created", "addressed_deputy_id", "created_at", "id"),
        Index("ix_issue_assigned_created", "assigned_deputy_id", "created_at", "id"),
        # A region's queue, newest first; the issues of a few days (the dashboard's edges).
        Index("ix_issue_created", "created_at", "id"),
        # The issues whose clock runs, by station: the dashboard counts a scope's clocks from
        # this alone (PostgreSQL: index-only, with the columns the colour is read from).
        Index("ix_issue_clocked", "station_id",
              postgresql_include=["status", "accept_due_on", "reply_due_on", "first_response_at"],
              postgresql_where=text(CLOCKED_SQL), sqlite_where=text(CLOCKED_SQL)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The public tracking number (20261206-000123): the Beijing date and that day's sequence.
    no: Mapped[str] = mapped_column(String(20), unique=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    category_id: Mapped[int] = mapped_column(ForeignKey("category.id"))
    content: Mapped[str] = mapped_column(Text)
    submitter_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    is_anonymous: Mapped[bool] = mapped_column(default=False)
    # The resident's phone, encrypted at rest; the mask (138****1234) is what most people see.
    contact_phone_encrypted: Mapped[str | None] = mapped_column(String(255))
    contact_phone_masked: Mapped[str | None] = mapped_column(String(20))
    # The resident's consent to show the whole number to the deputy handling the issue.
    contact_phone_shared: Mapped[bool] = mapped_column(default=False)
    addressed_deputy_id: Mapped[int | None] = mapped_column(ForeignKey("deputy.id"))
    assigned_deputy_id: Mapped[int | None] = mapped_column(ForeignKey("deputy.id"))
    # After a second unsatisfied rating the station manager handles it in person.
    escalated_to_manager: Mapped[bool] = mapped_column(default=False)
    status: Mapped[IssueStatus] = mapped_column(Enum(IssueStatus, native_enum=False, length=20))
    # What the content check said at submission: pass / review / risky / unavailable.
    content_check: Mapped[str] = mapped_column(String(16))
    content_check_trace_id: Mapped[str | None] = mapped_column(String(64))
    unsatisfied_count: Mapped[int] = mapped_column(default=0)
    # Which resolution a rating answers: a rating is allowed once per resolution.
    resolution_round: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    accepted_at: Mapped[datetime | None]
    first_response_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    # Deadlines in working days on Beijing dates; `deadline_estimated` when the calendar of a
    # year was not yet known and plain weekdays were counted.
    accept_due_on: Mapped[date | None]
    reply_due_on: Mapped[date | None]
    deadline_estimated: Mapped[bool] = mapped_column(default=False)
    resolution_summary: Mapped[str | None] = mapped_column(Text)
    reject_reason: Mapped[str | None] = mapped_column(Text)

    station = relationship("Station")
    category = relationship("Category", lazy="joined")
    submitter = relationship("User", foreign_keys=[submitter_id])
    addressed_deputy = relationship("Deputy", foreign_keys=[addressed_deputy_id])
    assigned_deputy = relationship("Deputy", foreign_keys=[assigned_deputy_id])
    images: Mapped[list[IssueImage]] = relationship(order_by="IssueImage.position")
    events: Mapped[list[IssueEvent]] = relationship(order_by="IssueEvent.id", back_populates="issue")
    replies: Mapped[list[Reply]] = relationship(order_by="Reply.id", back_populates="issue")
    transfers: Mapped[list[Transfer]] = relationship(order_by="Transfer.id", back_populates="issue")
    ratings: Mapped[list[Rating]] = relationship(order_by="Rating.id", back_populates="issue")


class IssueImage(db.Model):
    """An uploaded picture attached to an issue, in the order the resident gave."""

    __tablename__ = "issue_image"

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issue.id"), index=True)
    # One upload belongs to one issue: an image is never shared between two residents' issues.
    upload_id: Mapped[int] = mapped_column(ForeignKey("upload.id"), unique=True)
    position: Mapped[int]

    upload = relationship("Upload", lazy="joined")


class IssueEvent(db.Model):
    """The append-only timeline of an issue: who did what, when, with what note."""

    __tablename__ = "issue_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issue.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # submitted, accepted, replied, transferred, …
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    # The role the actor acted in (resident, deputy, station_manager, region_admin, scheduler).
    actor_role: Mapped[str] = mapped_column(String(24))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    issue: Mapped[Issue] = relationship(back_populates="events")


class Reply(db.Model):
    """答复: a deputy's (or staff member's) answer, or a department's recorded result."""

    __tablename__ = "reply"

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issue.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    deputy_id: Mapped[int | None] = mapped_column(ForeignKey("deputy.id"))
    kind: Mapped[str] = mapped_column(String(24), default="reply")  # reply | department_result
    content: Mapped[str] = mapped_column(Text)
    # Public replies may be shown on the station's page later; private ones only to the resident.
    is_public: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    issue: Mapped[Issue] = relationship(back_populates="replies")
    deputy = relationship("Deputy")


class Transfer(db.Model):
    """交办: the issue handed to a department with a deadline; closed by its recorded result."""

    __tablename__ = "transfer"

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issue.id"), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    department_name: Mapped[str] = mapped_column(String(100))
    due_on: Mapped[date]
    created_by_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    result_at: Mapped[datetime | None]

    issue: Mapped[Issue] = relationship(back_populates="transfers")


class Rating(db.Model):
    """满意度测评: the resident's evaluation of one resolution."""

    __tablename__ = "rating"
    __table_args__ = (
        UniqueConstraint("issue_id", "resolution_round"),
        # The ratings of the issues received since a date were all made since then: today's
        # statistics read a day's ratings, not the year's.
        Index("ix_rating_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issue.id"))
    resolution_round: Mapped[int]
    score: Mapped[RatingScore] = mapped_column(Enum(RatingScore, native_enum=False, length=24))
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    issue: Mapped[Issue] = relationship(back_populates="ratings")


class IssueNumberCounter(db.Model):
    """The last tracking number handed out on each Beijing day, incremented atomically."""

    __tablename__ = "issue_number_counter"

    day: Mapped[date] = mapped_column(primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class IdempotencyRecord(db.Model):
    """An `Idempotency-Key` seen from one user, and the first answer given to it (kept 24 h)."""

    __tablename__ = "idempotency_record"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    key: Mapped[str] = mapped_column(String(128))
    # Method, path and a hash of the body: the same key with another request is refused.
    request_hash: Mapped[str] = mapped_column(String(64))
    # None while the first request is still running.
    response_status: Mapped[int | None]
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
