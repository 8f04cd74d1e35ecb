"""待办: what a station manager must see to first each morning, over their stations —

- issues whose 三色 clock is red (overdue) or yellow (≤ 1 working day left), oldest due first,
  by the queue's own clock (`issue_queue.clock_clause`), so the list, the queue's filter, the
  reminders and the dashboard's chart agree;
- issues held for review (pending_review);
- check-ins made far from the station (`CheckIn.is_far`) in the last FAR_CHECK_IN_DAYS days;
- reception days of the coming week (`reception.held_days_for`) with no deputy on duty in a
  published roster.

Each list shows at most SHOWN rows and its full count: the queue, linked from the page, has the
rest.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from backend.auth import Caller
from backend.permissions import station_scope_clause
from backend.services.duty import reception
from backend.services.issues import issue_queue
from backend.services.issues.issue_queue import QueueFilter
from models import CheckIn, DutyAssignment, DutyRoster, Issue, IssueStatus, RosterStatus, Station, db

SHOWN = 50
FAR_CHECK_IN_DAYS = 7
COMING_DAYS = 7
# The reception-day look-ahead reads each station's rules; a county admin's scope is bounded.
MAX_STATIONS = 500


@dataclass
class Section:
    items: list = field(default_factory=list)
    total: int = 0


@dataclass
class ToDo:
    red: Section
    yellow: Section
    reviews: Section
    far_check_ins: Section
    bare_days: Section  # (station, HeldDay) pairs
    stations_capped: bool


def _issues(caller: Caller, filters: QueueFilter, today: date) -> Section:
    query = issue_queue.queue_select(caller, filters, today=today)
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = db.session.scalars(query.options(selectinload(Issue.station), selectinload(Issue.assigned_deputy),
                                            selectinload(Issue.addressed_deputy), selectinload(Issue.transfers))
                              .limit(SHOWN)).unique().all()
    return Section(list(rows), total)


def todo_for(caller: Caller, today: date) -> ToDo:
    """The caller's 待办 on the Beijing date `today`."""
    scope = station_scope_clause(caller)
    since = today - timedelta(days=FAR_CHECK_IN_DAYS - 1)
    far = (select(CheckIn).join(Station, Station.id == CheckIn.station_id)
           .where(scope, CheckIn.is_far, CheckIn.on_date >= since, CheckIn.on_date <= today))
    far_total = db.session.scalar(select(func.count()).select_from(far.subquery()))
    far_rows = db.session.scalars(far.options(selectinload(CheckIn.deputy), selectinload(CheckIn.station))
                                  .order_by(CheckIn.checked_in_at.desc()).limit(SHOWN)).all()

    stations = list(db.session.scalars(select(Station).where(scope, Station.is_active)
                                       .order_by(Station.name, Station.id).limit(MAX_STATIONS + 1)))
    capped = len(stations) > MAX_STATIONS
    stations = stations[:MAX_STATIONS]
    end = today + timedelta(days=COMING_DAYS - 1)
    held = reception.held_days_for(stations, today, end)
    staffed = set(db.session.execute(
        select(DutyAssignment.station_id, DutyAssignment.duty_date).distinct()
        .join(DutyRoster, DutyRoster.id == DutyAssignment.roster_id)
        .where(DutyRoster.status == RosterStatus.published, DutyAssignment.duty_date.between(today, end),
               DutyAssignment.station_id.in_([s.id for s in stations]))).all())
    bare = sorted(((station, day) for station in stations for day in held.get(station.id, [])
                   if (station.id, day.date) not in staffed), key=lambda pair: (pair[1].date, pair[0].name))
    return ToDo(
        red=_issues(caller, QueueFilter(clock="red"), today),
        yellow=_issues(caller, QueueFilter(clock="yellow"), today),
        reviews=_issues(caller, QueueFilter(statuses=(IssueStatus.pending_review,)), today),
        far_check_ins=Section(list(far_rows), far_total),
        bare_days=Section(bare[:SHOWN], len(bare)),
        stations_capped=capped,
    )
