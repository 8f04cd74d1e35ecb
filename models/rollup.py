"""Nightly roll-ups: per-station, per-Beijing-day figures the dashboards read instead of
counting a province's issues on every view."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import db, utcnow


class StationDayFigures(db.Model):
    """One station's figures for one Beijing date (services/rollups.py explains each).

    The issue columns describe the issues *received* that day, in their state as of
    `computed_at` (the cohort /api/v1/manage/stats counts); the duty columns (check-ins, duty,
    residents received) describe what happened that day. Recomputing a day replaces its row.
    """

    __tablename__ = "station_day_figures"
    __table_args__ = (
        UniqueConstraint("station_id", "day"),
        Index("ix_station_day_figures_day", "day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    day: Mapped[date]
    received: Mapped[int] = mapped_column(default=0)
    accepted: Mapped[int] = mapped_column(default=0)
    rejected: Mapped[int] = mapped_column(default=0)
    pending_review: Mapped[int] = mapped_column(default=0)
    replied: Mapped[int] = mapped_column(default=0)
    resolved: Mapped[int] = mapped_column(default=0)
    closed: Mapped[int] = mapped_column(default=0)
    ratings: Mapped[int] = mapped_column(default=0)
    satisfied: Mapped[int] = mapped_column(default=0)
    basically_satisfied: Mapped[int] = mapped_column(default=0)
    unsatisfied: Mapped[int] = mapped_column(default=0)
    # Of the day's issues: those still open at `computed_at`, and those of them whose clock is red.
    open_issues: Mapped[int] = mapped_column(default=0)
    overdue: Mapped[int] = mapped_column(default=0)
    check_ins: Mapped[int] = mapped_column(default=0)
    duty_assigned: Mapped[int] = mapped_column(default=0)
    duty_attended: Mapped[int] = mapped_column(default=0)
    residents_received: Mapped[int] = mapped_column(default=0)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
