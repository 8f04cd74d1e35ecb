"""Working-day deadlines and the 三色督办 clock.

Expected dates are written by hand from the State Council's 2026 holiday notice (国办发明电
〔2025〕7号), which chinese_calendar 1.11.0 encodes:
  元旦 1月1日（周四）至3日休，1月4日（周日）上班；
  春节 2月15日（周日）至23日（周一）休，2月14日（周六）、2月28日（周六）上班；
  清明 4月4日至6日；劳动节 5月1日至5日休，5月9日（周六）上班；端午 6月19日至21日；
  中秋 9月25日至27日；国庆 10月1日（周四）至7日（周三）休，9月20日（周日）、10月10日（周六）上班。
2027 was not published when the package was released; the 2027 overrides below are made up.
"""
from __future__ import annotations

from datetime import date, datetime, timezone

import chinese_calendar
import pytest
from sqlalchemy import event

from backend.services.reference import workdays as wd
from backend.services.reference.workdays import Deadline
from models import CalendarOverride, User, db

D = date


def due(start: date, n: int) -> Deadline:
    return wd.add_workdays(start, n)


# --- the premise: what the package knows -------------------------------------------------------

def test_package_covers_2026_and_raises_for_2027():
    assert chinese_calendar.is_workday(D(2026, 10, 10)) is True
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(D(2027, 1, 4))
    assert 2026 in wd.PACKAGE_YEARS and 2027 not in wd.PACKAGE_YEARS


def test_agrees_with_the_package_on_every_day_of_2026(ctx):
    day = D(2026, 1, 1)
    while day.year == 2026:
        assert wd.is_workday(day) == (chinese_calendar.is_workday(day), False), day
        day = D.fromordinal(day.toordinal() + 1)


def test_2026_has_248_working_days(ctx):
    # 365 days − 104 weekend days − 19 holidays on weekdays + 6 adjusted weekend workdays.
    assert wd.workdays_left(D(2026, 12, 31), D(2025, 12, 31)) == 248


# --- 2026 deadlines ---------------------------------------------------------------------------

@pytest.mark.parametrize("start, n, expected", [
    (D(2026, 9, 30), 2, D(2026, 10, 9)),   # Wed before the holiday: Thu 8, Fri 9
    (D(2026, 9, 30), 7, D(2026, 10, 15)),  # 8, 9, Sat 10 (调休), 12, 13, 14, 15
    (D(2026, 9, 29), 2, D(2026, 10, 8)),   # Wed 30, then Thu 8 after seven days off
    (D(2026, 9, 24), 2, D(2026, 9, 29)),   # Thu; Fri 25–Sun 27 are 中秋: Mon 28, Tue 29
])
def test_across_national_day(ctx, start, n, expected):
    assert due(start, n) == Deadline(expected, False)


@pytest.mark.parametrize("start, n, expected", [
    (D(2026, 2, 13), 2, D(2026, 2, 24)),  # Fri: Sat 14 (调休), then Tue 24 after nine days off
    (D(2026, 2, 12), 7, D(2026, 2, 28)),  # 13, 14, 24, 25, 26, 27, Sat 28 (调休)
])
def test_across_spring_festival(ctx, start, n, expected):
    assert due(start, n) == Deadline(expected, False)


def test_across_a_weekend(ctx):
    assert due(D(2026, 3, 6), 2) == Deadline(D(2026, 3, 10), False)  # Fri → Tue
    assert due(D(2026, 3, 6), 1) == Deadline(D(2026, 3, 9), False)   # Fri → Mon
    assert due(D(2026, 3, 6), 0) == Deadline(D(2026, 3, 6), False)   # the receipt day itself


def test_an_adjusted_working_sunday_counts(ctx):
    assert wd.is_workday(D(2026, 9, 20)) == (True, False)  # Sunday, 国庆调休
    assert wd.is_workday(D(2026, 9, 19)) == (False, False)  # the Saturday before is not
    assert due(D(2026, 9, 18), 2) == Deadline(D(2026, 9, 21), False)  # Fri → Sun 20, Mon 21
    # Submitted on that Sunday: received that day, like any working day.
    assert due(D(2026, 9, 20), 2) == Deadline(D(2026, 9, 22), False)
    # 元旦: Wed 31 Dec 2025, then Jan 1–3 off, Sun 4 worked.
    assert due(D(2025, 12, 31), 2) == Deadline(D(2026, 1, 5), False)


@pytest.mark.parametrize("start, n, expected", [
    (D(2026, 10, 3), 2, D(2026, 10, 10)),  # National Day: received Thu 8; Fri 9, Sat 10 (调休)
    (D(2026, 2, 17), 2, D(2026, 2, 26)),   # Spring Festival: received Tue 24; 25, 26
    (D(2026, 3, 7), 2, D(2026, 3, 11)),    # a Saturday: received Mon 9; 10, 11
    (D(2026, 3, 7), 0, D(2026, 3, 9)),
])
def test_a_submission_on_a_rest_day_counts_from_the_next_working_day(ctx, start, n, expected):
    assert due(start, n) == Deadline(expected, False)


def test_an_instant_counts_on_its_beijing_date(ctx):
    # 17:30 UTC on Friday 6 March is 01:30 on Saturday 7 March in Beijing.
    assert due(datetime(2026, 3, 6, 17, 30, tzinfo=timezone.utc), 2) == Deadline(D(2026, 3, 11), False)
    assert due(datetime(2026, 3, 6, 15, 59, tzinfo=timezone.utc), 2) == Deadline(D(2026, 3, 10), False)
    with pytest.raises(ValueError):
        wd.add_workdays(datetime(2026, 3, 6, 12, 0), 2)
    with pytest.raises(ValueError):
        wd.add_workdays(D(2026, 3, 6), -1)


# --- a year the package does not cover ----------------------------------------------------------

def test_2027_unknown_counts_weekdays_and_is_estimated(ctx):
    assert wd.is_workday(D(2027, 1, 1)) == (True, True)    # a Friday, surely 元旦, but unknown
    assert wd.is_workday(D(2027, 1, 2)) == (False, True)   # Saturday
    assert due(D(2027, 3, 5), 2) == Deadline(D(2027, 3, 9), True)  # Fri → Tue
    # Crossing into 2027 makes a 2026 submission's deadline an estimate too...
    assert due(D(2026, 12, 30), 2) == Deadline(D(2027, 1, 1), True)  # Thu 31, Fri 1
    # ...but not one that stays in 2026.
    assert due(D(2026, 12, 24), 2) == Deadline(D(2026, 12, 28), False)  # Fri 25, Mon 28


def test_2027_overrides_apply_but_stay_estimated_until_the_year_is_complete(ctx):
    wd.set_override(D(2027, 1, 1), False, "元旦")
    assert wd.is_workday(D(2027, 1, 1)) == (False, False)  # that date is known
    assert wd.is_workday(D(2027, 1, 4)) == (True, True)    # the rest of the year is not
    assert due(D(2026, 12, 31), 2) == Deadline(D(2027, 1, 5), True)  # Mon 4, Tue 5


def test_2027_marked_complete_is_no_longer_estimated(ctx):
    # A made-up 2027 schedule: 元旦 Fri 1 Jan off, Sunday 3 Jan worked in exchange.
    wd.set_override(D(2027, 1, 1), False, "元旦")
    wd.set_override(D(2027, 1, 3), True, "元旦调休")
    wd.mark_year_complete(2027, note="国办发明电〔2026〕号（测试）")
    assert wd.is_workday(D(2027, 1, 4)) == (True, False)
    assert wd.is_workday(D(2027, 1, 9)) == (False, False)  # a Saturday, trusted now
    assert due(D(2026, 12, 31), 2) == Deadline(D(2027, 1, 4), False)  # Sun 3, Mon 4
    assert due(D(2027, 3, 5), 2) == Deadline(D(2027, 3, 9), False)
    assert 2028 not in wd.PACKAGE_YEARS and due(D(2027, 12, 30), 2).estimated  # Fri 31, then 2028

    wd.mark_year_complete(2027, complete=False)
    assert due(D(2026, 12, 31), 2) == Deadline(D(2027, 1, 4), True)


def test_an_override_corrects_a_2026_date(ctx):
    assert due(D(2026, 9, 30), 7) == Deadline(D(2026, 10, 15), False)
    wd.set_override(D(2026, 10, 10), False, "更正：不调休")
    assert wd.is_workday(D(2026, 10, 10)) == (False, False)
    assert due(D(2026, 9, 30), 7) == Deadline(D(2026, 10, 16), False)  # 8, 9, 12, 13, 14, 15, 16
    wd.set_override(D(2026, 10, 8), False, "")
    assert due(D(2026, 9, 30), 2) == Deadline(D(2026, 10, 12), False)  # 9, 12

    assert wd.remove_override(D(2026, 10, 8)) is True
    assert wd.remove_override(D(2026, 10, 8)) is False
    assert wd.remove_override(D(2026, 10, 10)) is True
    assert due(D(2026, 9, 30), 7) == Deadline(D(2026, 10, 15), False)


# --- the clock ----------------------------------------------------------------------------------

@pytest.mark.parametrize("due_on, today, left, colour", [
    (D(2026, 10, 9), D(2026, 9, 30), 2, "green"),    # Thu 8, Fri 9 still ahead
    (D(2026, 10, 9), D(2026, 10, 1), 2, "green"),    # the holiday itself uses up nothing
    (D(2026, 10, 9), D(2026, 10, 7), 2, "green"),
    (D(2026, 10, 9), D(2026, 10, 8), 1, "yellow"),   # the working day before
    (D(2026, 10, 9), D(2026, 10, 9), 0, "yellow"),   # the due day
    (D(2026, 10, 9), D(2026, 10, 10), -1, "red"),    # Sat 10 is a working day, overdue by one
    (D(2026, 10, 9), D(2026, 10, 12), -2, "red"),
    (D(2026, 10, 8), D(2026, 9, 30), 1, "yellow"),   # eight days away, one working day
    (D(2026, 10, 8), D(2026, 9, 29), 2, "green"),
    (D(2026, 3, 10), D(2026, 3, 6), 2, "green"),     # Fri → Mon 9, Tue 10
    (D(2026, 3, 10), D(2026, 3, 7), 2, "green"),
    (D(2026, 3, 10), D(2026, 3, 9), 1, "yellow"),
    (D(2026, 3, 6), D(2026, 3, 7), -1, "red"),       # the Saturday after a Friday deadline
    (D(2026, 3, 6), D(2026, 3, 8), -1, "red"),
    (D(2026, 3, 6), D(2026, 3, 9), -1, "red"),
    (D(2026, 3, 6), D(2026, 3, 10), -2, "red"),
])
def test_clock(ctx, due_on, today, left, colour):
    assert wd.workdays_left(due_on, today) == left
    assert wd.clock_colour(due_on, today) == colour


def test_clock_defaults_to_beijing_today(ctx):
    from backend import clock
    clock.freeze(datetime(2026, 10, 7, 16, 30, tzinfo=timezone.utc))  # 00:30 on Thu 8 in Beijing
    assert wd.workdays_left(D(2026, 10, 9)) == 1
    assert wd.clock_colour(D(2026, 10, 9)) == "yellow"


def test_clock_across_an_unknown_year_counts_weekdays(ctx):
    assert wd.workdays_left(D(2027, 1, 5), D(2026, 12, 31)) == 3  # Fri 1, Mon 4, Tue 5
    assert wd.clock_colour(D(2027, 1, 4), D(2027, 1, 1)) == "yellow"


# --- efficiency: no query per date ---------------------------------------------------------------

def test_thousands_of_clocks_load_the_calendar_once(app, ctx):
    wd.set_override(D(2026, 10, 9), False, "测试")
    db.session.commit()
    wd.invalidate()
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        for i in range(3000):
            due_on = D.fromordinal(D(2026, 1, 1).toordinal() + i % 700)
            wd.clock_colour(due_on, D(2026, 10, 8))
            wd.add_workdays(due_on, 7)
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert len(statements) == 2  # the overrides, the completed years
    # Loaded with the override: Fri 9 off leaves only Sat 10 (调休); without it, 9 and 10 (green).
    assert wd.clock_colour(D(2026, 10, 10), D(2026, 10, 8)) == "yellow"


def test_a_calendar_can_be_passed_without_the_database():
    calendar = wd.Calendar({D(2027, 1, 1): False}, complete_years=[2027])
    assert wd.add_workdays(D(2026, 12, 31), 1, calendar=calendar) == Deadline(D(2027, 1, 4), False)
    assert calendar.is_year_known(2027) and not calendar.is_year_known(2028)


# --- staff edits --------------------------------------------------------------------------------

def test_setting_an_override_twice_replaces_it(ctx):
    user = User()
    db.session.add(user)
    db.session.flush()
    wd.set_override(D(2026, 10, 10), False, "第一次")
    wd.set_override(D(2026, 10, 10), True, "  第二次  ", actor_user=user)
    wd.set_override(D(2026, 1, 4), False, "")
    wd.set_override(D(2027, 1, 1), False, "元旦")
    db.session.commit()

    rows = wd.list_overrides(2026)
    assert [(r.date, r.is_workday, r.note) for r in rows] == [
        (D(2026, 1, 4), False, ""), (D(2026, 10, 10), True, "第二次")]
    assert rows[1].created_by_id == user.id
    assert db.session.scalar(db.select(db.func.count()).select_from(CalendarOverride)) == 3


def test_staff_input_is_checked(ctx):
    with pytest.raises(ValueError):
        wd.set_override(datetime(2026, 10, 10, tzinfo=timezone.utc), False, "")
    with pytest.raises(ValueError):
        wd.set_override(D(2026, 10, 10), False, "长" * 201)
    with pytest.raises(ValueError):
        wd.mark_year_complete(27)


def test_an_override_entered_meanwhile_by_someone_else_is_replaced(ctx, monkeypatch):
    wd.set_override(D(2026, 10, 10), False, "先到")
    db.session.commit()
    # The race window: our lookup saw no row, another request's insert committed before ours.
    real_scalar, lookups = db.session.scalar, []

    def scalar(*args, **kwargs):
        lookups.append(args)
        return None if len(lookups) == 1 else real_scalar(*args, **kwargs)

    monkeypatch.setattr(db.session, "scalar", scalar)
    wd.set_override(D(2026, 10, 10), True, "后到")
    monkeypatch.undo()
    assert len(lookups) == 2  # missed, collided on insert, looked again
    db.session.commit()
    assert [(r.is_workday, r.note) for r in wd.list_overrides(2026)] == [(True, "后到")]
