"""排班: which deputies are on duty at a station on each day it holds, month by month.

A roster covers the days whose *rule date* falls in its month (a day moved from 26 January to
2 February is January's). Staff generate it as a draft, edit single days, and publish it; from
then on deputies see their days (`deputy_schedule`) and the scan answer names who is on duty.
A published roster is never regenerated: its days are edited one by one.

Fair rotation. Each day is given to the members with the largest *deficit*: the duty they
would have done had every day been shared equally among the members serving that day (their
expected share), less the duty they did. Both are counted over the station's rosters of the
twelve months before, then through the month as it is generated. When every member serves
every day, the expected shares are equal and this is "fewest duties first", which keeps any
two members within one duty of each other; a member who joins mid-year is expected to share
only the days after joining, so they neither owe the months before nor get them all at once.
Ties go to the one whose last duty is longest ago, then to the lower deputy id (stable).

Leave (请假) does not lower what a deputy owes: a deputy on leave is swapped out for the next in
rotation (`replaces_deputy_id` records whom the substitute stands in for), and being behind,
takes a turn soon after returning — a swap, as stations practise it. Recording leave swaps the
deputy out of days already rostered (draft or published) from today on.

Invariant kept by every write here and in `reception_days`: an assignment sits on a day its
station holds, today or later (moving a day moves its duty, cancelling it drops it).
"""
from __future__ import annotations

import calendar
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from fractions import Fraction

from flask import current_app
from sqlalchemy import and_, or_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from backend import clock
from backend.errors import Conflict, InvalidInput, NotFound
from backend.services.duty import reception
from backend.services.duty.reception import HeldDay
from backend.validation import MAX_ROW_ID
from models import (
    CheckIn,
    Deputy,
    DeputyLeave,
    DutyAssignment,
    DutyRoster,
    RosterStatus,
    Station,
    StationMembership,
    db,
)

log = logging.getLogger(__name__)

HISTORY_MONTHS = 12
PER_DAY_MAX = 20
LEAVE_MAX_DAYS = 366
REASON_MAX = 200


class RosterNotFound(NotFound):
    message = "该月尚未排班"


class LeaveNotFound(NotFound):
    message = "未找到该请假记录"


def add_months(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def month_end(month: date) -> date:
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


def flush_or_conflict(message: str):
    """Flush inside a savepoint; a unique constraint broken by a concurrent request (two
    generations of one month, one deputy put on one day twice) becomes a 409."""
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        raise Conflict(message) from None


# --- members and their standing ------------------------------------------------------------------

@dataclass
class Member:
    """A deputy grouped into the station at some time, with the spans of that grouping."""

    deputy: Deputy
    spans: list[tuple[date, date | None]] = field(default_factory=list)

    @property
    def id(self) -> int:
        return self.deputy.id

    def serves_on(self, day: date) -> bool:
        """Grouped into the station on `day`, still holding a seat, not retired by then."""
        deputy = self.deputy
        if deputy.retired_at is not None and deputy.retired_at.astimezone(clock.BEIJING).date() <= day:
            return False
        if not any(start <= day and (end is None or end >= day) for start, end in self.spans):
            return False
        return any(seat.is_current(day) for seat in deputy.seats)


def members_of(station_id: int) -> list[Member]:
    """Every deputy ever grouped into the station, in deputy id order (the stable tie-break)."""
    rows = db.session.scalars(
        db.select(StationMembership).where(StationMembership.station_id == station_id)
        .options(selectinload(StationMembership.deputy).selectinload(Deputy.seats)))
    members: dict[int, Member] = {}
    for row in rows:
        members.setdefault(row.deputy_id, Member(row.deputy)).spans.append((row.started_on, row.ended_on))
    return [members[k] for k in sorted(members)]


@dataclass
class Standing:
    expected: Fraction = Fraction(0)
    done: int = 0
    last: date | None = None

    def rank(self, deputy_id: int) -> tuple:
        return (self.done - self.expected, self.last or date.min, deputy_id)


class Rotation:
    """Who is next at one station: members' standings over a span of its rosters."""

    def __init__(self, station_id: int, members: list[Member]):
        self.station_id = station_id
        self.members = members
        self.standing: dict[int, Standing] = defaultdict(Standing)

    def count_rosters(self, first_month: date, last_month: date, *, skip_date: date | None = None) -> None:
        """Add the duty of the station's rosters of [first_month, last_month] to the standings."""
        query = (db.select(DutyAssignment.duty_date, DutyAssignment.deputy_id)
                 .join(DutyRoster, DutyAssignment.roster_id == DutyRoster.id)
                 .where(DutyRoster.station_id == self.station_id, DutyRoster.month.between(first_month, last_month)))
        if skip_date is not None:
            query = query.where(DutyAssignment.duty_date != skip_date)
        by_date: dict[date, list[int]] = defaultdict(list)
        for duty_date, deputy_id in db.session.execute(query):
            by_date[duty_date].append(deputy_id)
        for duty_date in sorted(by_date):
            self._share(duty_date, len(by_date[duty_date]))
            for deputy_id in by_date[duty_date]:
                self._done(deputy_id, duty_date)

    def serving(self, day: date) -> list[Member]:
        return [m for m in self.members if m.serves_on(day)]

    def _share(self, day: date, deputies: int) -> None:
        serving = self.serving(day)
        for member in serving:
            self.standing[member.id].expected += Fraction(deputies, len(serving))

    def _done(self, deputy_id: int, day: date) -> None:
        standing = self.standing[deputy_id]
        standing.done += 1
        standing.last = max(standing.last or day, day)

    def ranked(self, day: date) -> list[Member]:
        return sorted(self.serving(day), key=lambda m: self.standing[m.id].rank(m.id))

    def assign_day(self, day: date, per_day: int, on_leave: set[int]) -> list[tuple[int, int | None]]:
        """The day's deputies as (deputy id, id of the deputy on leave they replace or None),
        counted into the standings."""
        serving = self.serving(day)
        wanted = min(per_day, len(serving))
        self._share(day, wanted)
        ranked = sorted(serving, key=lambda m: self.standing[m.id].rank(m.id))
        substitutes = [m for m in ranked[wanted:] if m.id not in on_leave]
        picks: list[tuple[int, int | None]] = []
        for member in ranked[:wanted]:
            if member.id not in on_leave:
                picks.append((member.id, None))
            elif substitutes:
                picks.append((substitutes.pop(0).id, member.id))
        for deputy_id, _ in picks:
            self._done(deputy_id, day)
        return picks

    def substitute(self, day: date, taken: set[int], on_leave: set[int]) -> int | None:
        """The next in rotation free to stand in on `day`, or None."""
        for member in self.ranked(day):
            if member.id not in taken and member.id not in on_leave:
                return member.id
        return None


def leaves_between(deputy_ids, start: date, end: date) -> dict[int, list[tuple[date, date]]]:
    """Each deputy's leave spans overlapping [start, end]."""
    spans: dict[int, list[tuple[date, date]]] = defaultdict(list)
    if not deputy_ids:
        return spans
    rows = db.session.execute(db.select(DeputyLeave.deputy_id, DeputyLeave.starts_on, DeputyLeave.ends_on).where(
        DeputyLeave.deputy_id.in_(list(deputy_ids)), DeputyLeave.starts_on <= end, DeputyLeave.ends_on >= start))
    for deputy_id, starts_on, ends_on in rows:
        spans[deputy_id].append((starts_on, ends_on))
    return spans


def _on_leave(leaves: dict[int, list[tuple[date, date]]], day: date) -> set[int]:
    return {deputy_id for deputy_id, spans in leaves.items() if any(a <= day <= b for a, b in spans)}


# --- rosters -------------------------------------------------------------------------------------

def get_roster(station_id: int, month: date, *, for_update: bool = False) -> DutyRoster | None:
    query = db.select(DutyRoster).where(DutyRoster.station_id == station_id, DutyRoster.month == month)
    if for_update:
        query = query.with_for_update()
    return db.session.scalar(query)


def require_roster(station_id: int, month: date) -> DutyRoster:
    """:raise 404 not_found: no roster of that month yet."""
    roster = get_roster(station_id, month)
    if roster is None:
        raise RosterNotFound()
    return roster


def default_per_day(station_id: int) -> int:
    """What the station's staff last chose, else the deployment's setting."""
    last = db.session.scalar(db.select(DutyRoster.deputies_per_day).where(DutyRoster.station_id == station_id)
                             .order_by(DutyRoster.month.desc()).limit(1))
    return last or current_app.config.get("DUTY_DEPUTIES_PER_DAY", 2)


def require_open(station: Station) -> None:
    """:raise 409 conflict: the station is closed (停用): nothing is held there any more."""
    if not station.is_active:
        raise Conflict(f"「{station.name}」已停用，不能排班或调整接待日")


def _require_not_past_month(month: date) -> None:
    if month < reception.month_of(clock.beijing_today()):
        raise InvalidInput({"month": "不能为已过去的月份排班"})


def generate_roster(user_id: int, station: Station, month: date, deputies_per_day: int | None = None) -> DutyRoster:
    """Draft (or draft again) the station's roster of `month` by fair rotation.

    Each day the station holds in the month (by rule date) gets `deputies_per_day` deputies
    (default: the station's last choice, else DUTY_DEPUTIES_PER_DAY), or every serving member
    when fewer serve that day; members on leave are swapped for the next in rotation.

    :raise 400 invalid_input: a month already over, or a number outside 1..20.
    :raise 409 conflict: the month's roster is published (edit its days instead), or a
        concurrent generation of the same month.
    """
    require_open(station)
    month = reception.month_of(month)
    _require_not_past_month(month)
    if deputies_per_day is not None and not 1 <= deputies_per_day <= PER_DAY_MAX:
        raise InvalidInput({"deputies_per_day": f"每天值班代表人数应在1至{PER_DAY_MAX}之间"})
    roster = get_roster(station.id, month, for_update=True)
    if roster is not None and roster.status == RosterStatus.published:
        raise Conflict("该月排班已发布，不能重新生成；请逐日调整值班代表")
    per_day = deputies_per_day or (roster.deputies_per_day if roster is not None else default_per_day(station.id))
    today = clock.beijing_today()
    if roster is None:
        roster = DutyRoster(station_id=station.id, month=month, status=RosterStatus.draft)
        db.session.add(roster)
    else:
        # Days already over keep their duty: only today on is drafted again. A statement, not
        # the relationship's delete-orphan: the unit of work inserts before it deletes, and the
        # new rows would meet the old ones in the unique constraint.
        db.session.execute(db.delete(DutyAssignment).where(DutyAssignment.roster_id == roster.id,
                                                           DutyAssignment.duty_date >= today))
        db.session.expire(roster, ["assignments"])
    roster.deputies_per_day = per_day
    roster.generated_at = clock.now()
    flush_or_conflict("该月排班正在由他人生成，请刷新后查看")

    days = [d for d in reception.days_of_month(station, month) if d.date >= today]
    rotation = Rotation(station.id, members_of(station.id))
    # This month's days already over count too: they were part of the rotation.
    rotation.count_rosters(add_months(month, -HISTORY_MONTHS), month)
    leaves = leaves_between([m.id for m in rotation.members], days[0].date, days[-1].date) if days else {}
    for day in days:
        for deputy_id, replaces in rotation.assign_day(day.date, per_day, _on_leave(leaves, day.date)):
            db.session.add(DutyAssignment(roster_id=roster.id, station_id=station.id, duty_date=day.date,
                                          deputy_id=deputy_id, replaces_deputy_id=replaces))
    flush_or_conflict("排班已被他人修改，请刷新后重试")
    log.info("roster %s of station %s for %s generated by user %s: %d days, %d per day",
             roster.id, station.id, month.isoformat()[:7], user_id, len(days), per_day)
    return roster


def publish_roster(user_id: int, station: Station, month: date) -> DutyRoster:
    """Publish the month's roster: deputies and residents now see who is on duty. Publishing
    a published roster changes nothing.

    :raise 404 not_found: no roster of that month yet.
    """
    require_open(station)
    roster = get_roster(station.id, reception.month_of(month), for_update=True)
    if roster is None:
        raise RosterNotFound()
    if roster.status != RosterStatus.published:
        roster.status = RosterStatus.published
        roster.published_at = clock.now()
        roster.published_by_id = user_id
        db.session.flush()
        log.info("roster %s of station %s published by user %s", roster.id, station.id, user_id)
    return roster


def set_day_deputies(user_id: int, station: Station, day: HeldDay, deputy_ids: list[int]) -> None:
    """Put exactly `deputy_ids` on duty on `day` (in its roster, drafted if there is none yet).

    :raise 400 invalid_input: a repeated deputy, one not serving in the station that day, or
        one on leave that day.
    :raise 409 conflict: the day is over.
    """
    if day.date < clock.beijing_today():
        raise Conflict("该接待日已过去，不能修改值班代表")
    if len(set(deputy_ids)) != len(deputy_ids):
        raise InvalidInput({"deputy_ids": "代表不能重复"})
    members = {m.id: m for m in members_of(station.id)}
    strangers = [i for i in deputy_ids if i not in members or not members[i].serves_on(day.date)]
    if strangers:
        raise InvalidInput({"deputy_ids": f"代表（id {'、'.join(map(str, strangers))}）当日不是本站的代表"})
    away = _on_leave(leaves_between(deputy_ids, day.date, day.date), day.date)
    if away:
        names = "、".join(members[i].deputy.name for i in deputy_ids if i in away)
        raise InvalidInput({"deputy_ids": f"{names}当日请假，不能排班"})
    month = reception.month_of(day.rule_date)
    roster = get_roster(station.id, month, for_update=True)
    if roster is None:
        roster = DutyRoster(station_id=station.id, month=month, status=RosterStatus.draft,
                            deputies_per_day=default_per_day(station.id))
        db.session.add(roster)
        flush_or_conflict("该月排班正在由他人生成，请刷新后重试")
    current = list(db.session.scalars(db.select(DutyAssignment).where(
        DutyAssignment.station_id == station.id, DutyAssignment.duty_date == day.date)))
    kept = set()
    for assignment in current:
        if assignment.deputy_id in deputy_ids and assignment.roster_id == roster.id:
            kept.add(assignment.deputy_id)
        else:
            db.session.delete(assignment)
    db.session.flush()
    for deputy_id in deputy_ids:
        if deputy_id not in kept:
            db.session.add(DutyAssignment(roster_id=roster.id, station_id=station.id, duty_date=day.date,
                                          deputy_id=deputy_id))
    flush_or_conflict("值班代表已被他人修改，请刷新后重试")
    log.info("duty of station %s on %s set to %s by user %s", station.id, day.date, deputy_ids, user_id)


def move_duty(station_id: int, from_date: date, to_date: date | None) -> None:
    """Carry a day's duty to the date it is now held on (None: the day is cancelled, its duty
    dropped). Used by `reception_days` when a day is moved, cancelled or restored."""
    rows = list(db.session.scalars(db.select(DutyAssignment).where(
        DutyAssignment.station_id == station_id, DutyAssignment.duty_date == from_date)))
    if to_date is not None:
        # Rows left on a date no day is held (possible only through a rule change made before
        # the pruning below existed) would meet the moved ones in the unique constraint.
        for stale in db.session.scalars(db.select(DutyAssignment).where(
                DutyAssignment.station_id == station_id, DutyAssignment.duty_date == to_date)):
            db.session.delete(stale)
        db.session.flush()
    for row in rows:
        if to_date is None:
            db.session.delete(row)
        else:
            row.duty_date = to_date
    db.session.flush()


def drop_duty_off_held_days(station_ids_clause) -> int:
    """Remove duty from today on that no longer sits on a day its station holds (after a
    reception rule changed). `station_ids_clause`: a WHERE clause on DutyAssignment.station_id.
    Returns how many assignments went."""
    today = clock.beijing_today()
    rows = list(db.session.scalars(db.select(DutyAssignment).where(
        station_ids_clause, DutyAssignment.duty_date >= today)))
    if not rows:
        return 0
    stations = list(db.session.scalars(db.select(Station).where(Station.id.in_({r.station_id for r in rows}))))
    held = reception.held_days_for(stations, today, max(r.duty_date for r in rows))
    held_dates = {sid: {d.date for d in days} for sid, days in held.items()}
    dropped = [r for r in rows if r.duty_date not in held_dates.get(r.station_id, ())]
    for row in dropped:
        db.session.delete(row)
    db.session.flush()
    return len(dropped)


# --- leave ---------------------------------------------------------------------------------------

@dataclass
class Swap:
    station: Station
    date: date
    substitute_id: int | None  # None: nobody free, the day has one deputy fewer


def list_leaves(deputy: Deputy) -> list[DeputyLeave]:
    return list(db.session.scalars(db.select(DeputyLeave).where(DeputyLeave.deputy_id == deputy.id)
                                   .order_by(DeputyLeave.starts_on.desc(), DeputyLeave.id.desc())))


def record_leave(user_id: int, deputy: Deputy, starts_on: date, ends_on: date,
                 reason: str | None) -> tuple[DeputyLeave, list[Swap]]:
    """Excuse the deputy from duty on [starts_on, ends_on], and swap them out of the days
    already rostered in it from today on, for the next in each station's rotation.

    :raise 400 invalid_input: the end before the start, or a span over a year.
    :raise 409 conflict: overlapping leave already recorded.
    """
    if ends_on < starts_on:
        raise InvalidInput({"ends_on": "结束日期不能早于开始日期"})
    if (ends_on - starts_on).days >= LEAVE_MAX_DAYS:
        raise InvalidInput({"ends_on": f"一次请假最长{LEAVE_MAX_DAYS}天"})
    # The deputy's row is the lock: two overlapping leaves recorded at once cannot both pass.
    db.session.scalar(db.select(Deputy.id).where(Deputy.id == deputy.id).with_for_update())
    overlapping = db.session.scalar(db.select(DeputyLeave).where(
        DeputyLeave.deputy_id == deputy.id, DeputyLeave.starts_on <= ends_on, DeputyLeave.ends_on >= starts_on)
        .limit(1))
    if overlapping is not None:
        raise Conflict(f"与已登记的请假（{overlapping.starts_on.isoformat()} 至 {overlapping.ends_on.isoformat()}）"
                       "时间重叠")
    leave = DeputyLeave(deputy_id=deputy.id, starts_on=starts_on, ends_on=ends_on, reason=reason,
                        created_by_id=user_id)
    db.session.add(leave)
    db.session.flush()
    swaps = _swap_out(deputy.id, max(starts_on, clock.beijing_today()), ends_on)
    log.info("leave %s of deputy %s (%s..%s) recorded by user %s; %d duty days swapped",
             leave.id, deputy.id, starts_on, ends_on, user_id, len(swaps))
    return leave, swaps


def _swap_out(deputy_id: int, start: date, end: date) -> list[Swap]:
    if start > end:
        return []
    duty = list(db.session.scalars(
        db.select(DutyAssignment).where(DutyAssignment.deputy_id == deputy_id,
                                        DutyAssignment.duty_date.between(start, end))
        .order_by(DutyAssignment.duty_date, DutyAssignment.id)))
    swaps: list[Swap] = []
    rotations: dict[int, Rotation] = {}
    for assignment in duty:
        station = db.session.get(Station, assignment.station_id)
        rotation = rotations.get(station.id)
        if rotation is None:
            rotation = rotations[station.id] = Rotation(station.id, members_of(station.id))
            month = assignment.roster.month
            rotation.count_rosters(add_months(month, -HISTORY_MONTHS), month)
        day = assignment.duty_date
        taken = set(db.session.scalars(db.select(DutyAssignment.deputy_id).where(
            DutyAssignment.station_id == station.id, DutyAssignment.duty_date == day)))
        on_leave = _on_leave(leaves_between([m.id for m in rotation.members], day, day), day)
        substitute = rotation.substitute(day, taken, on_leave)
        if substitute is None:
            db.session.delete(assignment)
        else:
            assignment.deputy_id = substitute
            assignment.replaces_deputy_id = deputy_id
            rotation.standing[substitute].done += 1
            rotation.standing[deputy_id].done -= 1
        swaps.append(Swap(station, day, substitute))
    db.session.flush()
    return swaps


def delete_leave(user_id: int, deputy: Deputy, leave_id: int) -> DeputyLeave:
    """Strike a leave record off. Days it swapped stay as they are (the roster was announced).

    :raise 404 not_found: no such leave of this deputy.
    """
    leave = db.session.scalar(db.select(DeputyLeave).where(DeputyLeave.id == leave_id,
                                                           DeputyLeave.deputy_id == deputy.id)) \
        if leave_id <= MAX_ROW_ID else None
    if leave is None:
        raise LeaveNotFound()
    db.session.delete(leave)
    db.session.flush()
    log.info("leave %s of deputy %s deleted by user %s", leave_id, deputy.id, user_id)
    return leave


def deputy_names(ids) -> dict[int, str]:
    ids = set(ids)
    if not ids:
        return {}
    return dict(db.session.execute(db.select(Deputy.id, Deputy.name).where(Deputy.id.in_(ids))).all())


# --- reading: staff's day list, a deputy's schedule ------------------------------------------------

@dataclass
class DayRow:
    """A reception day as staff see it: when held (or cancelled), its roster, who is on duty,
    who checked in."""

    station: Station
    date: date
    rule_date: date
    cancelled: bool
    reason: str | None
    roster: DutyRoster | None
    duty: list[DutyAssignment]
    check_ins: list[CheckIn]

    @property
    def moved(self) -> bool:
        return not self.cancelled and self.date != self.rule_date


def day_rows(stations: list[Station], start: date, end: date) -> list[DayRow]:
    """The stations' reception days in [start, end]: held ones by the date held, cancelled ones
    by their rule date; by date, then station. A fixed number of queries."""
    if not stations or start > end:
        return []
    ids = [s.id for s in stations]
    days = reception.station_days_for(stations, start, end)
    rosters = {(r.station_id, r.month): r for r in db.session.scalars(db.select(DutyRoster).where(
        DutyRoster.station_id.in_(ids),
        DutyRoster.month.between(reception.month_of(start - timedelta(reception.MAX_MOVE_DAYS)),
                                 reception.month_of(end + timedelta(reception.MAX_MOVE_DAYS)))))}
    duty: dict[tuple[int, date], list[DutyAssignment]] = defaultdict(list)
    for row in db.session.scalars(db.select(DutyAssignment).where(
            DutyAssignment.station_id.in_(ids), DutyAssignment.duty_date.between(start, end))
            .options(selectinload(DutyAssignment.deputy)).order_by(DutyAssignment.id)):
        duty[(row.station_id, row.duty_date)].append(row)
    arrived: dict[tuple[int, date], list[CheckIn]] = defaultdict(list)
    for row in db.session.scalars(db.select(CheckIn).where(CheckIn.station_id.in_(ids),
                                                           CheckIn.on_date.between(start, end))
                                  .options(selectinload(CheckIn.deputy)).order_by(CheckIn.checked_in_at, CheckIn.id)):
        arrived[(row.station_id, row.on_date)].append(row)
    rows: list[DayRow] = []
    for station in stations:
        found = days[station.id]
        for held in found.held:
            rows.append(DayRow(station, held.date, held.rule_date, False, held.reason,
                               rosters.get((station.id, reception.month_of(held.rule_date))),
                               duty.get((station.id, held.date), []), arrived.get((station.id, held.date), [])))
        for gone in found.cancelled:
            rows.append(DayRow(station, gone.rule_date, gone.rule_date, True, gone.reason,
                               rosters.get((station.id, reception.month_of(gone.rule_date))), [],
                               arrived.get((station.id, gone.rule_date), [])))
    rows.sort(key=lambda r: (r.date, r.station.id, r.cancelled))
    return rows


def roster_rows(station: Station, roster: DutyRoster) -> list[DayRow]:
    """The days of a roster's month (by rule date), wherever they are held."""
    first, last = roster.month, month_end(roster.month)
    rows = day_rows([station], first - timedelta(reception.MAX_MOVE_DAYS), last + timedelta(reception.MAX_MOVE_DAYS))
    return [r for r in rows if first <= r.rule_date <= last]


@dataclass
class ScheduleDay:
    date: date
    station: Station
    rule_date: date | None  # set when the day was moved from that date
    fellows: list[Deputy]
    replaces: Deputy | None


def deputy_schedule(deputy_id: int) -> list[ScheduleDay]:
    """The deputy's duty days from today (Beijing) on, published rosters only, by date."""
    today = clock.beijing_today()
    mine = list(db.session.scalars(
        db.select(DutyAssignment).join(DutyRoster, DutyAssignment.roster_id == DutyRoster.id)
        .where(DutyAssignment.deputy_id == deputy_id, DutyAssignment.duty_date >= today,
               DutyRoster.status == RosterStatus.published)
        .order_by(DutyAssignment.duty_date, DutyAssignment.station_id)))
    if not mine:
        return []
    stations = {s.id: s for s in db.session.scalars(
        db.select(Station).where(Station.id.in_({a.station_id for a in mine})))}
    held = reception.held_days_for(list(stations.values()), today, max(a.duty_date for a in mine))
    held_on = {(sid, d.date): d for sid, days in held.items() for d in days}
    others: dict[tuple[int, date], list[Deputy]] = defaultdict(list)
    pairs = [and_(DutyAssignment.station_id == a.station_id, DutyAssignment.duty_date == a.duty_date) for a in mine]
    for row in db.session.scalars(db.select(DutyAssignment).where(or_(*pairs), DutyAssignment.deputy_id != deputy_id)
                                  .options(selectinload(DutyAssignment.deputy)).order_by(DutyAssignment.id)):
        others[(row.station_id, row.duty_date)].append(row.deputy)
    replaced = {d.id: d for d in db.session.scalars(db.select(Deputy).where(
        Deputy.id.in_({a.replaces_deputy_id for a in mine if a.replaces_deputy_id is not None} or {-1})))}
    schedule = []
    for assignment in mine:
        day = held_on.get((assignment.station_id, assignment.duty_date))
        if day is None:
            continue  # not a day the station holds any more
        schedule.append(ScheduleDay(date=day.date, station=stations[assignment.station_id],
                                    rule_date=day.rule_date if day.moved else None,
                                    fellows=others[(assignment.station_id, assignment.duty_date)],
                                    replaces=replaced.get(assignment.replaces_deputy_id)))
    return schedule
