"""Nightly roll-ups: per-station, per-Beijing-day figures the dashboards read instead of
counting a province's issues on every view."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import db, utcnow


class _Figures:
    """The figures a roll-up row holds (services/reporting/rollups.py explains each)."""

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
    # Of the issues counted: those still open at `computed_at`, and those of them whose clock is red.
    open_issues: Mapped[int] = mapped_column(default=0)
    overdue: Mapped[int] = mapped_column(default=0)
    check_ins: Mapped[int] = mapped_column(default=0)
    duty_assigned: Mapped[int] = mapped_column(default=0)
    duty_attended: Mapped[int] = mapped_column(default=0)
    residents_received: Mapped[int] = mapped_column(default=0)
    # Hours from submission to the first reply, summed over the `replied` issues: an average
    # (avg_first_response_hours) is not summable, its numerator and denominator are.
    first_response_hours: Mapped[float] = mapped_column(default=0.0)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class StationDayFigures(_Figures, db.Model):
    """One station's figures for one Beijing date.

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


class StationMonthFigures(_Figures, db.Model):
    """The sum of a station's day rows over one calendar month (`month` is its first day), so a
    year's dashboard of a province reads 13,000 × 12 rows instead of 13,000 × 365. Rewritten from
    the day rows whenever one of its days is."""

    __tablename__ = "station_month_figures"
    __table_args__ = (
        UniqueConstraint("station_id", "month"),
        Index("ix_station_month_figures_month", "month"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    month: Mapped[date]


class RolledUpDay(db.Model):
    """A Beijing date the roll-ups have computed whole. A station with nothing that day has no
    row, so only this table tells "rolled up, nothing happened" from "not rolled up yet" — the
    statistics count the second kind live."""

    __tablename__ = "rolled_up_day"

    day: Mapped[date] = mapped_column(primary_key=True)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class StationMonthCategory(db.Model):
    """Issues a station received in one calendar month, by category: the dashboard's breakdown
    without counting a province's issues. An issue's category never changes, so a month is
    recomputed only when its days are rolled up."""

    __tablename__ = "station_month_category"
    __table_args__ = (
        UniqueConstraint("station_id", "month", "category_id"),
        Index("ix_station_month_category_month", "month"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    month: Mapped[date]
    category_id: Mapped[int] = mapped_column(ForeignKey("category.id"))
    received: Mapped[int] = mapped_column(default=0)
