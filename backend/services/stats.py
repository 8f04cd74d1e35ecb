"""Staff statistics (数据统计) over the stations a staff member manages, narrowed to a region or a
station, for a period of Beijing dates.

The issue figures describe the issues *received in the period* (created between the Beijing
midnights bounding it), each in the state it is in now — so a period's resolution rate keeps
rising as its issues are finished, and the figures of one period never count an issue twice:
- received: issues created in scope and period;
- accepted: of those, issues ever accepted (受理: `accepted_at` set);
- resolved: of those, issues now `resolved` or `closed` (办结; an issue reaches closed only
  through resolved);
- resolution_rate = resolved ÷ (received − rejected − pending_review), the rejected and those
  still held for review counted among the received; 4 decimals (224 received, 219 resolved or
  closed → 0.9777), None when the divisor is 0;
- satisfaction_rate = (satisfied + basically satisfied) ÷ ratings, over every rating (each
  resolution round) of those issues;
- avg_first_response_hours: mean hours from submission to the first reply, over those answered;
- overdue: of those, the ones whose 三色督办 clock is red today (the date their clock runs
  against — services/issue_queue.current_due_column — is before today).
Check-ins and attendance are those dated in the period (services/attendance.py's definitions).

Every figure is a SQL aggregate: one query for issues, one for ratings, two for attendance.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import case, func, select

from models import Issue, IssueStatus, Rating, RatingScore, db

from .. import clock
from ..auth import Caller
from .attendance import Attendance, attendance_by_pair, rate, scoped_station_ids, total
from .issue_queue import current_due_column

DONE = (IssueStatus.resolved, IssueStatus.closed)
SATISFIED = (RatingScore.satisfied, RatingScore.basically_satisfied)


@dataclass
class Stats:
    start: date
    end: date
    received: int
    accepted: int
    resolved: int
    rejected: int
    pending_review: int
    overdue: int
    ratings: int
    satisfied_ratings: int
    avg_first_response_hours: float | None
    attendance: Attendance

    @property
    def resolution_rate(self) -> float | None:
        return rate(self.resolved, self.received - self.rejected - self.pending_review)

    @property
    def satisfaction_rate(self) -> float | None:
        return rate(self.satisfied_ratings, self.ratings)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=clock.BEIJING)


def _hours(later, earlier):
    """SQL: the hours between two timestamps, on the engine in use."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", later - earlier) / 3600.0
    return (func.julianday(later) - func.julianday(earlier)) * 24.0


def _count_if(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def stats(caller: Caller, start: date, end: date, *, region_code: str | None = None,
          station_id: int | None = None) -> Stats:
    """The figures of the module docstring.

    :raise 403 forbidden: the caller has no staff account.
    :raise 404 station_not_found · not_found: a station or region outside the caller's reach.
    """
    ids = scoped_station_ids(caller, station_id=station_id, region_code=region_code)
    today = clock.beijing_today()
    cohort = (Issue.station_id.in_(ids), Issue.created_at >= _midnight(start),
              Issue.created_at < _midnight(end + timedelta(days=1)))
    row = db.session.execute(select(
        func.count(Issue.id),
        _count_if(Issue.accepted_at.is_not(None)),
        _count_if(Issue.status.in_(DONE)),
        _count_if(Issue.status == IssueStatus.rejected),
        _count_if(Issue.status == IssueStatus.pending_review),
        _count_if(current_due_column() < today),
        func.avg(case((Issue.first_response_at.is_not(None), _hours(Issue.first_response_at, Issue.created_at)),
                      else_=None)),
    ).where(*cohort)).one()
    received, accepted, resolved, rejected, pending, overdue, hours = row
    ratings, satisfied = db.session.execute(
        select(func.count(Rating.id), _count_if(Rating.score.in_(SATISFIED)))
        .join(Issue, Issue.id == Rating.issue_id).where(*cohort)).one()
    return Stats(
        start=start, end=end, received=received, accepted=int(accepted), resolved=int(resolved),
        rejected=int(rejected), pending_review=int(pending), overdue=int(overdue), ratings=ratings,
        satisfied_ratings=int(satisfied),
        avg_first_response_hours=round(float(hours), 2) if hours is not None else None,
        attendance=total(attendance_by_pair(start, end, station_ids=ids, today=today).values()),
    )
