"""Reception days as they actually happen: single days moved or cancelled, duty rosters (排班),
and deputies' leave. The rule that names the usual days is `ReceptionRule` (models/duty/reception.py).
"""
from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Enum, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import db, utcnow


class DayChangeKind(str, enum.Enum):
    moved = "moved"  # held on `moved_to` instead (a holiday falls on it)
    cancelled = "cancelled"  # not held at all (a typhoon)


class ReceptionDayChange(db.Model):
    """One reception day of a station's rule moved to another date or cancelled, with a reason.

    Keyed by the date the rule names, so changing a day twice replaces the first change, and a
    day moved into the next month still belongs to the month its rule put it in.
    """

    __tablename__ = "reception_day_change"
    __table_args__ = (UniqueConstraint("station_id", "rule_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    rule_date: Mapped[date]
    kind: Mapped[DayChangeKind] = mapped_column(Enum(DayChangeKind, native_enum=False, length=16))
    moved_to: Mapped[date | None]
    reason: Mapped[str] = mapped_column(String(200))
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class RosterStatus(str, enum.Enum):
    draft = "draft"  # generated, visible to staff only
    published = "published"  # deputies and residents see who is on duty


class DutyRoster(db.Model):
    """排班 of one station for one month (the month of the rule's dates), drafted then published."""

    __tablename__ = "duty_roster"
    __table_args__ = (UniqueConstraint("station_id", "month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    # The first day of the month.
    month: Mapped[date]
    status: Mapped[RosterStatus] = mapped_column(Enum(RosterStatus, native_enum=False, length=16),
                                                 default=RosterStatus.draft)
    # Deputies on duty per reception day; the station's next roster starts from it, so it is
    # the station's own setting (the deployment's DUTY_DEPUTIES_PER_DAY before its first roster).
    deputies_per_day: Mapped[int] = mapped_column(default=2)
    generated_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))

    assignments: Mapped[list[DutyAssignment]] = relationship(
        back_populates="roster", order_by="(DutyAssignment.duty_date, DutyAssignment.id)",
        cascade="all, delete-orphan")


class DutyAssignment(db.Model):
    """A deputy on duty at a station on one reception day (the date it is actually held)."""

    __tablename__ = "duty_assignment"
    __table_args__ = (
        UniqueConstraint("station_id", "duty_date", "deputy_id"),
        Index("ix_duty_assignment_deputy_date", "deputy_id", "duty_date"),
        # A day's duty at every station: the roll-ups, and today's counted live.
        Index("ix_duty_assignment_date", "duty_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    roster_id: Mapped[int] = mapped_column(ForeignKey("duty_roster.id"), index=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    duty_date: Mapped[date]
    deputy_id: Mapped[int] = mapped_column(ForeignKey("deputy.id"))
    # The deputy this one stands in for (swapped out for leave), so the record shows why.
    replaces_deputy_id: Mapped[int | None] = mapped_column(ForeignKey("deputy.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    roster: Mapped[DutyRoster] = relationship(back_populates="assignments")
    deputy = relationship("Deputy", foreign_keys=[deputy_id])


class DeputyLeave(db.Model):
    """请假: a deputy excused from duty for a span of Beijing dates (inclusive)."""

    __tablename__ = "deputy_leave"
    __table_args__ = (Index("ix_deputy_leave_deputy_dates", "deputy_id", "starts_on", "ends_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    deputy_id: Mapped[int] = mapped_column(ForeignKey("deputy.id"))
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    reason: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
