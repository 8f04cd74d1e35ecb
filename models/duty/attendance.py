"""What deputies did: check-ins (进站履职 / 签到), residents received in person (接待登记) and the
points ledger (履职积分) behind each deputy's duty record (履职档案)."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import db, utcnow


class CheckIn(db.Model):
    """A deputy's presence at a station on one Beijing date; the first scan of the day counts."""

    __tablename__ = "check_in"
    __table_args__ = (
        UniqueConstraint("deputy_id", "station_id", "on_date"),
        Index("ix_check_in_station_date", "station_id", "on_date"),
        # A day's check-ins at every station: the roll-ups, and today's counted live.
        Index("ix_check_in_date", "on_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    deputy_id: Mapped[int] = mapped_column(ForeignKey("deputy.id"))
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    on_date: Mapped[date]
    checked_in_at: Mapped[datetime] = mapped_column(default=utcnow)
    # GCJ-02, like the station's own coordinates; absent when the phone gave no location.
    lat: Mapped[float | None] = mapped_column(Float)
    lng: Mapped[float | None] = mapped_column(Float)
    distance_m: Mapped[float | None] = mapped_column(Float)
    # Kept, but shown to staff: scanned far from the station (a photo of the code, say).
    is_far: Mapped[bool] = mapped_column(default=False)
    # On one of the station's reception days; otherwise an extra visit.
    on_reception_day: Mapped[bool] = mapped_column(default=False)

    deputy = relationship("Deputy")
    station = relationship("Station")


class ReceptionRecord(db.Model):
    """接待登记: residents received in person at a station, logged by a deputy or staff."""

    __tablename__ = "reception_record"
    __table_args__ = (Index("ix_reception_record_station_date", "station_id", "on_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    on_date: Mapped[date]
    # The deputy who received them; None when staff received them alone.
    deputy_id: Mapped[int | None] = mapped_column(ForeignKey("deputy.id"), index=True)
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    residents: Mapped[int]
    topics: Mapped[str] = mapped_column(Text)
    # An issue created on the resident's behalf, followed like any other.
    issue_id: Mapped[int | None] = mapped_column(ForeignKey("issue.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PointsRule(db.Model):
    """One way to earn or lose 履职积分, editable by staff (e.g. +2 attended duty day)."""

    __tablename__ = "points_rule"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    label: Mapped[str] = mapped_column(String(64))
    points: Mapped[int]
    is_active: Mapped[bool] = mapped_column(default=True)


class PointsEntry(db.Model):
    """One line of a deputy's points ledger, with the fact that caused it.

    Entries are generated from facts, never typed, and never edited: when a fact stops holding
    (a check-in struck off, a rule's points changed) a reversing entry is appended, so the sum of
    the ledger is always the record's points and every change has a line.
    """

    __tablename__ = "points_entry"
    __table_args__ = (Index("ix_points_entry_deputy_year", "deputy_id", "year"),
                      Index("ix_points_entry_cause", "cause_type", "cause_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    deputy_id: Mapped[int] = mapped_column(ForeignKey("deputy.id"))
    year: Mapped[int]
    occurred_on: Mapped[date]
    rule_code: Mapped[str] = mapped_column(String(32))
    points: Mapped[int]
    # What earned it: duty_assignment / check_in / issue / rating, and that row's id.
    cause_type: Mapped[str] = mapped_column(String(24))
    cause_id: Mapped[int]
    note: Mapped[str | None] = mapped_column(String(200))
    # Set on an entry that cancels an earlier one.
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("points_entry.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
