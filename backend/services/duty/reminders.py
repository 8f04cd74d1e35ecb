"""Reception-day reminders (接待日提醒): the evening before and the morning of each day a station
holds, to each deputy on duty and to the residents following the station.

The job plans what is due by the clock, so it can run often and catch up after downtime: the
evening reminder of day D is due from 18:00 Beijing on D−1 until 21:30 (later it would wake
people), the morning one from 08:00 on D until noon. Planning twice plans nothing new (the
outbox keeps one message per recipient, template and cause). A day is one the station holds
(`reception.held_days_for`: moved days at their new date, cancelled ones not at all).

Who is on duty: the deputies of the day's published roster (排班); a station without a
published roster for that month expects all its current members, as 逢六 did before rosters.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import select, update

from backend import clock
from backend.services.duty import reception
from backend.services.messaging import outbox
from backend.wechat import templates
from models import (
    SENDABLE_STATES,
    Deputy,
    DutyAssignment,
    DutyRoster,
    OutboxMessage,
    OutboxState,
    RosterStatus,
    Station,
    StationFollow,
    StationMembership,
    User,
    db,
)


@dataclass(frozen=True)
class Slot:
    name: str  # "eve" or "morning": part of the cause
    opens: time  # Beijing time the reminder becomes due
    closes: time  # after this it is no longer worth sending
    day_offset: int  # the reception day is today + this


SLOTS = (Slot("eve", time(18, 0), time(21, 30), 1), Slot("morning", time(8, 0), time(12, 0), 0))
TEMPLATE = "reception_reminder"
# Tips name no day ("tomorrow"): the date is in the message, and a message held back by the
# day's quota (45009) may only go out on the reception day itself.
DEPUTY_TIP = "您在本站值班接待，请按时到站"
FOLLOWER_TIP = "代表在站接待群众，欢迎来访"


def plan_reception_reminders(now: datetime) -> dict:
    """The `reception-reminders` job: plan every reminder whose slot is open at `now`."""
    local = now.astimezone(clock.BEIJING)
    summary: dict = {}
    for slot in SLOTS:
        if slot.opens <= local.time() < slot.closes:
            day = local.date() + timedelta(days=slot.day_offset)
            summary[slot.name] = {"day": day.isoformat(), "planned": plan_day(day, slot)}
            db.session.commit()
    return summary


def plan_day(day: date, slot: Slot) -> int:
    """Plan `slot`'s reminders of every station holding a reception day on `day`. A reminder
    not sent by the station's closing time that day is dropped."""
    stations = list(db.session.scalars(select(Station).where(Station.is_active.is_(True))))
    held = reception.held_days_for(stations, day, day)
    holding = {s.id: s for s in stations if held[s.id]}
    if not holding:
        return 0
    rows = []
    # Deputies first: a deputy who also follows their station gets the deputy's reminder (the
    # outbox keeps the first of two with the same recipient, template and cause).
    for tip, recipients in ((DEPUTY_TIP, _deputies_on_duty(list(holding), day)),
                            (FOLLOWER_TIP, _followers(list(holding)))):
        messages: dict[int, dict] = {}  # one message per station and tip, many recipients
        for station_id, user_id, openid in recipients:
            if station_id not in messages:
                messages[station_id] = _message(holding[station_id], day, slot, tip)
            rows.append({**messages[station_id], "recipient_id": user_id, "openid": openid})
    return outbox.enqueue_many(rows)


def _message(station: Station, day: date, slot: Slot, tip: str) -> dict:
    """A station's reminder for `day`, without its recipient."""
    data = templates.message_data(TEMPLATE, {
        "thing1": templates.thing(station.name),
        "date2": templates.date_value(day),
        "thing3": templates.thing(station.address),
        "thing4": templates.thing(tip),
    })
    return {"template": TEMPLATE, "cause": f"reception:{station.id}:{day.isoformat()}:{slot.name}", "data": data,
            "station_id": station.id,
            "page": f"pages/station/index?scene={station.scene}",
            "expires_at": datetime.combine(day, station.closes_at, clock.BEIJING)}


def _deputies_on_duty(station_ids: list[int], day: date) -> list[tuple[int, int, str | None]]:
    """(station id, user id, openid) of each deputy expected at a station on `day`."""
    month = reception.month_of(day)
    published = dict(db.session.execute(
        select(DutyRoster.station_id, DutyRoster.id).where(
            DutyRoster.station_id.in_(station_ids), DutyRoster.month == month,
            DutyRoster.status == RosterStatus.published)).tuples().all())
    found: list[tuple[int, int, str | None]] = []
    if published:
        found += db.session.execute(
            select(DutyAssignment.station_id, User.id, User.openid)
            .join(Deputy, Deputy.id == DutyAssignment.deputy_id)
            .join(User, User.id == Deputy.user_id)
            .where(DutyAssignment.roster_id.in_(list(published.values())), DutyAssignment.duty_date == day,
                   Deputy.retired_at.is_(None))
            .order_by(DutyAssignment.station_id, DutyAssignment.id)).tuples().all()
    unrostered = [sid for sid in station_ids if sid not in published]
    by_station: dict[int, list] = defaultdict(list)
    if unrostered:
        for start in range(0, len(unrostered), 5000):
            rows = db.session.execute(
                select(StationMembership.station_id, User.id, User.openid)
                .join(Deputy, Deputy.id == StationMembership.deputy_id)
                .join(User, User.id == Deputy.user_id)
                .where(StationMembership.station_id.in_(unrostered[start:start + 5000]),
                       StationMembership.current_on(day), Deputy.retired_at.is_(None))
                .order_by(StationMembership.station_id, StationMembership.id)).tuples()
            for row in rows:
                by_station[row[0]].append(row)
    for rows in by_station.values():
        found += rows
    return found


def _followers(station_ids: list[int]) -> list[tuple[int, int, str | None]]:
    found: list[tuple[int, int, str | None]] = []
    for start in range(0, len(station_ids), 5000):
        found += db.session.execute(
            select(StationFollow.station_id, User.id, User.openid)
            .join(User, User.id == StationFollow.user_id)
            .where(StationFollow.station_id.in_(station_ids[start:start + 5000]), User.is_active.is_(True))
            .order_by(StationFollow.station_id, StationFollow.id)).tuples().all()
    return found


def skip_planned(station_id: int, why: str, day: date | None = None) -> int:
    """The station's reception reminders planned but not sent — of every day, or of the day held
    on `day` — become `skipped` with `why`: the day was cancelled or moved, or the station closed.
    (The evening-before reminder is planned hours ahead.) Returns how many."""
    prefix = f"reception:{station_id}:" + (f"{day.isoformat()}:" if day is not None else "")
    return db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.template == TEMPLATE, OutboxMessage.cause.startswith(prefix, autoescape=True),
               OutboxMessage.state.in_(list(SENDABLE_STATES)))
        .values(state=OutboxState.skipped, finished_at=clock.now(), last_error=why)
        .execution_options(synchronize_session=False)
    ).rowcount
