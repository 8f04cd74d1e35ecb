"""Next month's rosters drafted ahead (排班草稿): from the 20th (Beijing), every open station with
current members and no roster for next month gets a draft by fair rotation
(`rosters.generate_roster`), which its staff review, edit and publish. Deputies see nothing
until then: a draft promises nothing.

What is due is read from the database (stations without next month's roster), so the job can
run daily until the month ends, catches up after downtime and drafts each station once. One
station per transaction: a station drafted by its staff at the same moment is skipped.
"""
from __future__ import annotations

import logging
from datetime import date, datetime

from sqlalchemy import exists, select

from backend import clock
from backend.errors import ApiError
from backend.services.duty import rosters
from models import Deputy, DutyRoster, Station, StationMembership, db

log = logging.getLogger(__name__)

DRAFT_FROM_DAY = 20


def stations_to_draft(month: date, today: date) -> list[int]:
    """Open stations with a member serving today and no roster of `month`."""
    has_members = exists().where(
        StationMembership.station_id == Station.id, StationMembership.current_on(today),
        StationMembership.deputy_id.in_(select(Deputy.id).where(Deputy.retired_at.is_(None))))
    has_roster = exists().where(DutyRoster.station_id == Station.id, DutyRoster.month == month)
    return list(db.session.scalars(
        select(Station.id).where(Station.is_active.is_(True), has_members, ~has_roster).order_by(Station.id)))


def draft_next_month(now: datetime) -> dict:
    """The `roster-drafting` job. Before the 20th it does nothing."""
    today = now.astimezone(clock.BEIJING).date()
    if today.day < DRAFT_FROM_DAY:
        return {"drafted": 0}
    month = rosters.add_months(today.replace(day=1), 1)
    ids = stations_to_draft(month, today)
    db.session.rollback()
    drafted = skipped = failed = 0
    for station_id in ids:
        try:
            station = db.session.get(Station, station_id)
            if rosters.get_roster(station_id, month) is not None:
                skipped += 1  # drafted by its staff since the list was read
                db.session.rollback()
                continue
            # No user: the scheduler drafts; `generated_at` and the log say when.
            rosters.generate_roster(None, station, month)
            db.session.commit()
            drafted += 1
        except ApiError as exc:  # a concurrent generation (409), the month refused (400)
            db.session.rollback()
            log.info("roster draft of station %s for %s skipped: %s", station_id, month, exc.message)
            skipped += 1
        except Exception:
            db.session.rollback()
            log.exception("roster draft of station %s for %s failed", station_id, month)
            failed += 1
    summary = {"drafted": drafted, "month": month.isoformat()[:7]}
    if skipped:
        summary["skipped"] = skipped
    if failed:
        summary["failed"] = failed
    return summary
