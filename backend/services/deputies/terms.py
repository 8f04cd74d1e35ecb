"""Terms (届次) and groupings (编组): a deputy's seats and station memberships as spans of Beijing
dates, both ends inclusive (`ended_on` None: still running).

Staff read a deputy with every seat and membership, group a deputy into a station and end a
grouping. A deputy is never grouped twice into one station over overlapping dates: the check
runs with the deputy's row locked (`lock_deputy`), so two staff members adding the same
grouping at once, or a grouping and a retirement, take turns.

Leaving a station (or retiring, `services/deputies/retirement.py`) drops the deputy's duty there after
the last day; duty days already held stay, they are the deputy's record.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import exists
from sqlalchemy.orm import joinedload

from backend import clock
from backend.auth import Caller
from backend.errors import Conflict, DeputyNotFound, InvalidInput, NotFound, StationNotFound
from backend.permissions import access_managed_deputy, station_scope_clause
from backend.validation import MAX_ROW_ID
from models import (
    Deputy,
    DeputySeat,
    DutyAssignment,
    DutyRoster,
    RosterStatus,
    Station,
    StationMembership,
    db,
)

# Memberships have no audit columns; the log keeps who grouped and ungrouped whom.
log = logging.getLogger(__name__)


class MembershipNotFound(NotFound):
    message = "未找到该编组记录"


# --- reading ----------------------------------------------------------------------------------

@dataclass
class DeputyRecord:
    """A deputy as staff see them: every seat and membership, current or past."""

    deputy: Deputy
    seats: list[DeputySeat]
    memberships: list[StationMembership]
    # The stations among the memberships' that the caller manages (may group and ungroup there).
    managed_station_ids: set[int]
    today: date


def deputy_record(caller: Caller, deputy: Deputy) -> DeputyRecord:
    """Seats newest term first; memberships by start date, newest first.

    Read with queries rather than the deputy's collections, so rows a retirement just removed
    or ended are shown as they now are.
    """
    seats = list(db.session.scalars(db.select(DeputySeat).where(DeputySeat.deputy_id == deputy.id)
                                    .order_by(DeputySeat.started_on.desc(), DeputySeat.id.desc())))
    memberships = list(db.session.scalars(
        db.select(StationMembership).where(StationMembership.deputy_id == deputy.id)
        .options(joinedload(StationMembership.station))
        .order_by(StationMembership.started_on.desc(), StationMembership.id.desc())))
    station_ids = {m.station_id for m in memberships}
    managed = set(db.session.scalars(db.select(Station.id).where(
        Station.id.in_(station_ids or {-1}), station_scope_clause(caller))))
    return DeputyRecord(deputy=deputy, seats=seats, memberships=memberships, managed_station_ids=managed,
                        today=clock.beijing_today())


def managed_station(caller: Caller, station_id: int) -> Station:
    """A station the staff member manages (a closed one too: its history is still theirs).

    :raise 404 station_not_found: no such station, or one outside the caller's stations or region.
    """
    if not 0 < station_id <= MAX_ROW_ID:
        raise StationNotFound("未找到该联络站")
    station = db.session.scalar(db.select(Station).where(Station.id == station_id, station_scope_clause(caller)))
    if station is None:
        raise StationNotFound("未找到该联络站")
    return station


def lock_deputy(deputy_id: int) -> Deputy:
    """The deputy's row, locked until the transaction ends (PostgreSQL; SQLite writes one at a
    time anyway), and re-read so a change committed meanwhile is seen.

    :raise 404 not_found:
    """
    deputy = db.session.scalar(db.select(Deputy).where(Deputy.id == deputy_id).with_for_update(of=Deputy)
                               .execution_options(populate_existing=True))
    if deputy is None:
        raise DeputyNotFound()
    return deputy


# --- grouping and ungrouping ------------------------------------------------------------------

def _groupable_deputy(caller: Caller, deputy_id: int) -> Deputy:
    """A deputy the caller may group into one of their stations: one already in their scope
    (grouped now or before into a station they manage), or one not grouped anywhere yet (newly
    elected). Others stay invisible, so staff cannot reach deputies of other counties — and
    their phone numbers — by grouping them.

    :raise 400 invalid_input: no such deputy, or one out of reach (one answer for both).
    """
    unknown = InvalidInput({"deputy_id": "代表不存在或不在您的管辖范围内"})
    deputy = db.session.get(Deputy, deputy_id)
    if deputy is None:
        raise unknown
    grouped_anywhere = db.session.scalar(db.select(exists().where(StationMembership.deputy_id == deputy.id)))
    if grouped_anywhere:
        try:
            access_managed_deputy(caller, deputy.id)
        except DeputyNotFound:
            raise unknown from None
    return deputy


def _overlapping(deputy_id: int, station_id: int, started_on: date, ended_on: date | None,
                 other_than: int | None = None) -> StationMembership | None:
    """A membership of the deputy in the station sharing at least one day with the span."""
    query = db.select(StationMembership).where(
        StationMembership.deputy_id == deputy_id, StationMembership.station_id == station_id,
        StationMembership.ended_on.is_(None) | (StationMembership.ended_on >= started_on))
    if ended_on is not None:
        query = query.where(StationMembership.started_on <= ended_on)
    if other_than is not None:
        query = query.where(StationMembership.id != other_than)
    return db.session.scalar(query.order_by(StationMembership.started_on).limit(1))


def add_membership(caller: Caller, station: Station, deputy_id: int, started_on: date | None = None,
                   is_leader: bool = False) -> StationMembership:
    """Group the deputy into `station` from `started_on` (default today) with no end.

    :raise 400 invalid_input: unknown deputy or one out of the caller's reach.
    :raise 409 conflict: the deputy has retired, or is already grouped into this station on
        some day from `started_on` on; the station is closed.
    """
    if not station.is_active:
        raise Conflict(f"「{station.name}」已停用，不能编入代表")
    deputy = _groupable_deputy(caller, deputy_id)
    deputy = lock_deputy(deputy.id)
    if deputy.retired_at is not None:
        raise Conflict(f"{deputy.name}代表已离任，不能再编入联络站")
    started_on = started_on or clock.beijing_today()
    clash = _overlapping(deputy.id, station.id, started_on, None)
    if clash is not None:
        span = f"{clash.started_on.isoformat()}起" + (f"至{clash.ended_on.isoformat()}" if clash.ended_on else "，尚未结束")
        raise Conflict(f"{deputy.name}代表已编入本联络站（{span}），编组日期不能重叠",
                       details={"membership_id": clash.id})
    membership = StationMembership(station_id=station.id, deputy_id=deputy.id, started_on=started_on,
                                   is_leader=is_leader)
    db.session.add(membership)
    db.session.flush()
    log.info("deputy %s grouped into station %s from %s (membership %s) by user %s", deputy.id, station.id,
             started_on, membership.id, caller.user_id)
    return membership


def end_membership(caller: Caller, station: Station, membership_id: int,
                   ended_on: date | None = None) -> tuple[StationMembership, list[DutyAssignment]]:
    """End a membership of `station` on `ended_on` (default today; the deputy still belongs to
    the station that day) and drop the deputy's duty there after it.

    :raise 404 not_found: no such membership of this station.
    :raise 400 invalid_input: `ended_on` before the membership began.
    :raise 409 conflict: the membership has already ended (or is set to end).
    """
    membership = db.session.scalar(db.select(StationMembership).where(
        StationMembership.id == membership_id, StationMembership.station_id == station.id)) \
        if 0 < membership_id <= MAX_ROW_ID else None
    if membership is None:
        raise MembershipNotFound()
    lock_deputy(membership.deputy_id)
    db.session.refresh(membership)
    if membership.ended_on is not None:
        raise Conflict(f"该编组已于{membership.ended_on.isoformat()}结束")
    ended_on = ended_on or clock.beijing_today()
    if ended_on < membership.started_on:
        raise InvalidInput({"ended_on": f"不能早于编组开始日期（{membership.started_on.isoformat()}）"})
    membership.ended_on = ended_on
    dropped = drop_duty_after(membership.deputy_id, ended_on, station_ids=[station.id])
    db.session.flush()
    log.info("membership %s (deputy %s, station %s) ended on %s by user %s; %d duty days dropped", membership.id,
             membership.deputy_id, station.id, ended_on, caller.user_id, len(dropped))
    return membership, dropped


# --- duty -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DroppedDuty:
    station_id: int
    duty_date: date
    roster_published: bool


def drop_duty_after(deputy_id: int, last_day: date, *, station_ids: Iterable[int] | None = None) -> list[DroppedDuty]:
    """Remove the deputy's duty days after `last_day` (at `station_ids`, default everywhere).

    Draft and published rosters alike: a published day just has one deputy fewer (staff add
    another from the roster page if they want). Days up to today are kept even when
    `last_day` is earlier — they were held, and are the deputy's record.
    Deleted as ORM objects, so the caches that show rosters see each one go.
    """
    after = max(last_day, clock.beijing_today())
    query = (db.select(DutyAssignment, DutyRoster.status).join(DutyRoster, DutyRoster.id == DutyAssignment.roster_id)
             .where(DutyAssignment.deputy_id == deputy_id, DutyAssignment.duty_date > after)
             .order_by(DutyAssignment.duty_date, DutyAssignment.station_id))
    if station_ids is not None:
        query = query.where(DutyAssignment.station_id.in_(list(station_ids)))
    dropped = []
    for assignment, status in db.session.execute(query).all():
        dropped.append(DroppedDuty(station_id=assignment.station_id, duty_date=assignment.duty_date,
                                   roster_published=status == RosterStatus.published))
        db.session.delete(assignment)
    return dropped
