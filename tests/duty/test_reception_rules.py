"""The reception-day services directly: rule names and checks, the days a station holds (one
station or many at once), moves that cross month ends, changes left behind by a rule change,
and the rotation over odd numbers."""
from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta

import pytest

from backend import clock
from backend.services.duty import reception, rosters
from backend.services.duty.reception import HeldDay
from models import (
    DayChangeKind,
    ReceptionDayChange,
    ReceptionRuleKind,
    Station,
    db,
)
from tests.factories import (
    count_queries,
    create_deputy,
    create_region_tree,
    create_rule,
    create_station,
)

MONTHLY, WEEKLY = ReceptionRuleKind.monthly_days, ReceptionRuleKind.weekly


@pytest.mark.parametrize("kind, days, label", [
    (MONTHLY, [6, 16, 26], "逢六（每月6日、16日、26日）"),
    (MONTHLY, [26, 16, 6], "逢六（每月6日、16日、26日）"),
    (MONTHLY, [10, 20, 30], "逢十（每月10日、20日、30日）"),
    (MONTHLY, [1, 11, 21], "逢一（每月1日、11日、21日）"),
    (MONTHLY, [10, 25], "每月10日、25日"),
    (MONTHLY, [6, 16], "每月6日、16日"),  # two of 逢六's three days are not 逢六
    (MONTHLY, [1, 2, 3, 15], "每月1日至3日、15日"),
    (MONTHLY, [31], "每月31日"),
    (MONTHLY, list(range(1, 32)), "每天"),
    (WEEKLY, [3], "每周三"),
    (WEEKLY, [7], "每周日"),
    (WEEKLY, [1, 3, 5], "每周一、周三、周五"),
    (WEEKLY, [1, 2, 3, 4, 5], "每周一至周五"),
    (WEEKLY, list(range(1, 8)), "每天"),
])
def test_rule_labels(kind, days, label):
    assert reception.rule_label(kind, sorted(days)) == label


def test_a_label_too_long_to_generate_is_none():
    many = [d for d in range(1, 32) if d % 3 != 0]
    assert reception.rule_label(MONTHLY, many) is None


@pytest.mark.parametrize("kind, days, message", [
    (MONTHLY, [], "至少"), (MONTHLY, [6, 6], "重复"), (MONTHLY, [0], "1至31"), (MONTHLY, [32], "1至31"),
    (WEEKLY, [8], "1至7"), (WEEKLY, [True], "1至7"),
])
def test_rule_checks(kind, days, message):
    with pytest.raises(ValueError, match=message):
        reception.validate_rule(kind, days)


def test_rule_days_come_back_sorted():
    assert reception.validate_rule(MONTHLY, [26, 6, 16]) == [6, 16, 26]


@pytest.fixture
def county(app):
    with app.app_context():
        regions = create_region_tree()
        yield regions
        db.session.remove()


def _change(station, rule_date, moved_to=None, reason="节假日"):
    kind = DayChangeKind.moved if moved_to else DayChangeKind.cancelled
    db.session.add(ReceptionDayChange(station_id=station.id, rule_date=rule_date, kind=kind, moved_to=moved_to,
                                      reason=reason))
    db.session.commit()


def test_held_days_apply_moves_and_cancellations(county):
    station = create_station(county["community"])
    _change(station, date(2027, 1, 26), date(2027, 2, 2))
    _change(station, date(2027, 2, 16))
    held = reception.held_days(station, date(2027, 1, 1), date(2027, 2, 28))
    assert held == [
        HeldDay(date(2027, 1, 6), date(2027, 1, 6)), HeldDay(date(2027, 1, 16), date(2027, 1, 16)),
        HeldDay(date(2027, 2, 2), date(2027, 1, 26), "节假日"), HeldDay(date(2027, 2, 6), date(2027, 2, 6)),
        HeldDay(date(2027, 2, 26), date(2027, 2, 26))]
    assert held[2].moved and not held[0].moved
    # A span holding only the new date still finds the day, and one holding only the old does not.
    assert reception.held_days(station, date(2027, 2, 1), date(2027, 2, 3)) == [held[2]]
    assert reception.held_days(station, date(2027, 1, 20), date(2027, 1, 31)) == []
    assert reception.held_day(station, date(2027, 2, 2)) == held[2]
    assert reception.held_day(station, date(2027, 1, 26)) is None
    assert reception.held_day(station, date(2027, 2, 16)) is None
    # A roster's month is the month of the rule date.
    assert [d.date for d in reception.days_of_month(station, date(2027, 1, 1))] == [
        date(2027, 1, 6), date(2027, 1, 16), date(2027, 2, 2)]
    assert [d.date for d in reception.days_of_month(station, date(2027, 2, 1))] == [
        date(2027, 2, 6), date(2027, 2, 26)]
    days = reception.station_days_for([station], date(2027, 2, 1), date(2027, 2, 28))[station.id]
    assert [(c.rule_date, c.reason) for c in days.cancelled] == [(date(2027, 2, 16), "节假日")]


def test_a_change_applies_only_while_the_rule_names_its_date(county):
    station = create_station(county["community"])
    _change(station, date(2027, 3, 16))

    def march():
        return [d.date.day for d in reception.held_days(station, date(2027, 3, 1), date(2027, 3, 31))]

    assert march() == [6, 26]
    station.reception_rule = create_rule(kind=WEEKLY, days=[3], label="每周三")
    db.session.commit()
    assert march() == [3, 10, 17, 24, 31]  # the 16th is no Wednesday: nothing to cancel
    station.reception_rule = create_rule(kind=WEEKLY, days=[2], label="每周二")
    db.session.commit()
    assert march() == [2, 9, 23, 30]  # a Tuesday: the cancellation of that date holds again
    station.reception_rule = None
    db.session.commit()
    assert march() == [6, 26]


def test_many_stations_at_once_in_a_fixed_number_of_queries(app, county):
    rules = [None, create_rule(kind=WEEKLY, days=[3], label="每周三"), create_rule(days=[10, 25], label="每月10日、25日")]
    stations = [create_station(county["community"] if i % 2 else county["township"], rule=rules[i % 3])
                for i in range(12)]
    for station in stations[:4]:
        _change(station, date(2027, 5, 26), date(2027, 5, 27))
    ids = [s.id for s in stations]
    db.session.remove()

    def load():
        found = db.session.scalars(db.select(Station).where(Station.id.in_(ids)).order_by(Station.id)).all()
        return reception.held_days_for(found, date(2027, 5, 1), date(2027, 5, 31))

    with app.app_context():
        held, queries = count_queries(app, load)
        assert queries <= 5, queries  # stations, lineages, the default rule, changes
        by_station = {sid: [d.date.day for d in days] for sid, days in held.items()}
    assert by_station[ids[0]] == [6, 16, 27]  # the default 逢六, the 26th moved
    assert by_station[ids[1]] == [5, 12, 19, 27]  # Wednesdays in May 2027, the 26th moved too
    assert by_station[ids[2]] == [10, 25]  # the 26th is no rule date of 10/25: nothing moves
    assert by_station[ids[6]] == [6, 16, 26]


def test_next_day_honours_changes_and_the_beijing_date(county):
    station = create_station(county["community"])
    rule = reception.rule_for(station)
    _change(station, date(2027, 1, 6), date(2027, 1, 8))
    at = datetime(2027, 1, 5, 17, 0, tzinfo=clock.BEIJING) - timedelta(hours=8)  # 17:00 UTC on the 4th
    day = reception.next_reception_day(station, rule, at=at)
    assert (day.date, day.rule_date, day.on_duty, day.roster_published) == (
        date(2027, 1, 8), date(2027, 1, 6), [], False)
    at = datetime(2027, 1, 8, 17, 0, tzinfo=clock.BEIJING)  # closing time on the moved day
    assert reception.next_reception_day(station, rule, at=at).date == date(2027, 1, 16)


def test_rotation_over_odd_numbers_stays_within_one(county, app):
    """Seven members, three a day, every Wednesday for a year: 156 duties, 22 or 23 each."""
    clock.freeze(datetime(2026, 12, 1, 10, 0, tzinfo=clock.BEIJING))
    station = create_station(county["community"], rule=create_rule(kind=WEEKLY, days=[3], label="每周三"))
    ids = [create_deputy(stations=[station]).id for _ in range(7)]
    counts: Counter = Counter()
    for month in range(1, 13):
        roster = rosters.generate_roster(0, station, date(2027, month, 1), 3)
        db.session.commit()
        counts.update(a.deputy_id for a in roster.assignments)
        assert max(counts[i] for i in ids) - min(counts[i] for i in ids) <= 1, (month, counts)
    assert sum(counts.values()) == 52 * 3 and sorted(set(counts.values())) == [22, 23]
