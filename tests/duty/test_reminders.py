"""Reception-day reminders: planned in their slots (18:00 the evening before, 08:00 the morning
of), to the deputies on duty and the station's followers, once whatever the number of runs."""
from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from backend import clock
from backend.services.duty.reminders import plan_reception_reminders
from models import (
    DayChangeKind,
    Deputy,
    OutboxMessage,
    ReceptionDayChange,
    StationFollow,
    User,
    db,
)
from tests.factories import (
    create_deputy,
    create_duty,
    create_region_tree,
    create_station,
)

BJ = clock.BEIJING


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), BJ)


def _user(openid: str | None) -> User:
    user = User(openid=openid)
    db.session.add(user)
    db.session.commit()
    return user


def _bound_deputy(station, openid: str, **kwargs) -> Deputy:
    deputy = create_deputy(stations=[station], **kwargs)
    deputy.user_id = _user(openid).id
    db.session.commit()
    return deputy


def _planned() -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(db.select(OutboxMessage).order_by(OutboxMessage.id)))


@pytest.fixture
def county(ctx):
    regions = create_region_tree()
    station = create_station(regions["township"], name="浙江省湖州市安吉县递铺街道古城社区人大代表联络站", closes_at=time(17, 0))
    other = create_station(regions["township"])
    deputies = [_bound_deputy(station, f"dep-{n}") for n in range(3)]
    follower = _user("resident-follow")
    db.session.add(StationFollow(user_id=follower.id, station_id=station.id))
    db.session.commit()
    return {"station": station, "other": other, "deputies": deputies, "follower": follower}


def test_evening_and_morning_reminders_are_planned_once(county):
    station, follower = county["station"], county["follower"]
    # The name is longer than a `thing` value may be (20). 2027-01-05 17:59 is before the evening slot of the 6th (逢六) opens.
    assert plan_reception_reminders(_at(date(2027, 1, 5), 17, 59)) == {}
    summary = plan_reception_reminders(_at(date(2027, 1, 5), 18, 0))
    assert summary == {"eve": {"day": "2027-01-06", "planned": 4}}
    rows = _planned()
    assert {r.recipient_id for r in rows} == {d.user_id for d in county["deputies"]} | {follower.id}
    assert {r.cause for r in rows} == {f"reception:{station.id}:2027-01-06:eve"}
    first = rows[0]
    assert first.data["date2"] == {"value": "2027年1月6日"}
    assert len(first.data["thing1"]["value"]) <= 20 and first.data["thing1"]["value"].endswith("…")
    assert first.openid == "dep-0" and first.state.value == "pending"
    assert first.expires_at == datetime(2027, 1, 6, 17, 0, tzinfo=BJ)
    tips = {r.recipient_id: r.data["thing4"]["value"] for r in rows}
    assert tips[follower.id] != tips[county["deputies"][0].user_id]
    # Run again in the same slot, and again later that evening: nothing new.
    assert plan_reception_reminders(_at(date(2027, 1, 5), 18, 15))["eve"]["planned"] == 0
    assert plan_reception_reminders(_at(date(2027, 1, 5), 21, 0))["eve"]["planned"] == 0
    # Too late to wake people; and the next morning's slot.
    assert plan_reception_reminders(_at(date(2027, 1, 5), 21, 30)) == {}
    assert plan_reception_reminders(_at(date(2027, 1, 6), 7, 59)) == {}
    assert plan_reception_reminders(_at(date(2027, 1, 6), 8, 0))["morning"]["planned"] == 4
    assert plan_reception_reminders(_at(date(2027, 1, 6), 11, 59))["morning"]["planned"] == 0
    assert plan_reception_reminders(_at(date(2027, 1, 6), 12, 0)) == {}
    assert len(_planned()) == 8
    # No reception day on the 7th: its evening slot (on the 6th) plans nothing.
    assert plan_reception_reminders(_at(date(2027, 1, 6), 18, 0)) == {"eve": {"day": "2027-01-07", "planned": 0}}


def test_a_published_roster_names_who_is_reminded(county):
    station, deputies = county["station"], county["deputies"]
    create_duty(station, deputies[1], date(2027, 1, 16))
    create_duty(station, deputies[2], date(2027, 1, 6))  # another day of the same roster
    plan_reception_reminders(_at(date(2027, 1, 15), 19, 0))
    assert {r.recipient_id for r in _planned()} == {deputies[1].user_id, county["follower"].id}


def test_a_deputy_who_follows_their_station_gets_one_reminder(county):
    deputy = county["deputies"][0]
    db.session.add(StationFollow(user_id=deputy.user_id, station_id=county["station"].id))
    db.session.commit()
    plan_reception_reminders(_at(date(2027, 1, 5), 18, 0))
    mine = [r for r in _planned() if r.recipient_id == deputy.user_id]
    assert len(mine) == 1 and "值班" in mine[0].data["thing4"]["value"]


def test_moved_cancelled_and_retired(county):
    station, deputies = county["station"], county["deputies"]
    # The 16th moved to the 18th; the 6th cancelled; one deputy retired.
    db.session.add_all([
        ReceptionDayChange(station_id=station.id, rule_date=date(2027, 1, 16), kind=DayChangeKind.moved,
                           moved_to=date(2027, 1, 18), reason="会议"),
        ReceptionDayChange(station_id=station.id, rule_date=date(2027, 1, 6), kind=DayChangeKind.cancelled,
                           reason="停电"),
    ])
    deputies[0].retired_at = clock.now()
    db.session.commit()
    assert plan_reception_reminders(_at(date(2027, 1, 5), 18, 0))["eve"]["planned"] == 0
    assert plan_reception_reminders(_at(date(2027, 1, 15), 18, 0))["eve"]["planned"] == 0
    assert plan_reception_reminders(_at(date(2027, 1, 17), 18, 0))["eve"]["planned"] == 3
    assert {r.recipient_id for r in _planned()} == {deputies[1].user_id, deputies[2].user_id, county["follower"].id}
    assert {r.cause for r in _planned()} == {f"reception:{station.id}:2027-01-18:eve"}


def test_a_utc_server_plans_by_beijing_time(county):
    # 10:00 UTC on the 5th is 18:00 in Beijing.
    summary = plan_reception_reminders(datetime(2027, 1, 5, 10, 0, tzinfo=UTC))
    assert summary["eve"]["day"] == "2027-01-06" and summary["eve"]["planned"] == 4
