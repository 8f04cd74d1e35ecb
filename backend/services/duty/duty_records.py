"""履职档案: a deputy's duty record for one year — duties and check-ins, residents received,
issues answered and how promptly, residents' satisfaction, and the points ledger behind it.

Reading a record first brings the ledger in line with the facts (`points.sync_points`), so the
points shown always equal the sum of the entries listed, and both follow the facts as they are.
Figures follow services/duty/attendance.py (duties) and services/duty/points.py (answers, ratings).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import case, func, select

from backend import clock
from backend.services.duty import points
from backend.services.duty.attendance import Attendance, attendance_by_pair, rate, total
from models import PointsEntry, PointsRule, Rating, RatingScore, ReceptionRecord, db

SATISFIED = (RatingScore.satisfied, RatingScore.basically_satisfied)


@dataclass
class DutyRecord:
    deputy_id: int
    year: int
    attendance: Attendance
    residents_received: int
    receptions: int
    issues_answered: int
    answered_on_time: int
    ratings: int
    satisfied_ratings: int
    entries: list[PointsEntry]
    labels: dict[str, str]

    @property
    def on_time_share(self) -> float | None:
        return rate(self.answered_on_time, self.issues_answered)

    @property
    def satisfaction(self) -> float | None:
        return rate(self.satisfied_ratings, self.ratings)

    @property
    def points(self) -> int:
        return sum(entry.points for entry in self.entries)


def duty_record(deputy_id: int, year: int) -> DutyRecord:
    """The record of `year` (Beijing dates, up to today), the ledger synced first. Flushes the
    ledger's new entries; the caller commits."""
    points.sync_points(deputy_id, year)
    today = clock.beijing_today()
    attendance = total(attendance_by_pair(date(year, 1, 1), date(year, 12, 31), deputy_id=deputy_id,
                                          today=today).values())
    residents, receptions = db.session.execute(
        select(func.coalesce(func.sum(ReceptionRecord.residents), 0), func.count(ReceptionRecord.id))
        .where(ReceptionRecord.deputy_id == deputy_id, ReceptionRecord.on_date >= date(year, 1, 1),
               ReceptionRecord.on_date <= date(year, 12, 31))).one()
    answered = points.answers(deputy_id, year)
    start, end = points.year_bounds(year)
    rated, satisfied = db.session.execute(
        select(func.count(Rating.id), func.coalesce(func.sum(case((Rating.score.in_(SATISFIED), 1), else_=0)), 0))
        .where(Rating.created_at >= start, Rating.created_at < end, points.replied_by(deputy_id))).one()
    return DutyRecord(
        deputy_id=deputy_id, year=year, attendance=attendance, residents_received=int(residents),
        receptions=receptions, issues_answered=len(answered), answered_on_time=sum(a.on_time for a in answered),
        ratings=rated, satisfied_ratings=int(satisfied), entries=points.ledger(deputy_id, year),
        labels=dict(db.session.execute(select(PointsRule.code, PointsRule.label)).all()),
    )
