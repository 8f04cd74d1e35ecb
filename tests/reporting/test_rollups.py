"""Roll-ups: per-station, per-day figures that sum to exactly what counting the issues and records
live gives for a rolled-up period and scope, kept so by the nightly job as issues move,
idempotent, in Beijing days, and computed with a fixed number of queries whatever the number of
stations."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from backend import clock
from backend.services.reporting import rollups
from backend.services.reporting.rollups import figures_of, roll_up_day, roll_up_days, roll_up_job
from models import (
    Deputy,
    IssueStatus,
    ReceptionRecord,
    Region,
    StaffRole,
    Station,
    StationDayFigures,
    db,
)
from tests.factories import (
    auth,
    bind_deputy_user,
    count_queries,
    create_categories,
    create_check_in,
    create_deputy,
    create_duty,
    create_issue,
    create_region_tree,
    create_staff,
    create_station,
    staff_login,
    wx_login,
)
from tests.job_helpers import act, at, bj, rate, submit

FIRST, LAST = date(2026, 11, 2), date(2026, 11, 15)
STATS_KEYS = ("received", "accepted", "resolved", "rejected", "pending_review", "resolution_rate", "ratings",
              "satisfaction_rate", "overdue", "check_ins", "duty_days_assigned", "duty_days_attended",
              "attendance_rate", "avg_first_response_hours")


@pytest.fixture
def world(app, client):
    """Stations A (递铺, township) and B (古城, community) in 安吉县, C in 德清; 张 at A, 李 at B,
    赵 at C; A's manager, the county admin. Nothing has happened yet: `play` acts it out."""
    at(bj(2026, 11, 2, 9))
    with app.app_context():
        create_categories()
        regions = create_region_tree()
        stations = {"A": create_station(regions["township"], name="递铺联络站", scene="roll-a"),
                    "B": create_station(regions["community"], name="古城联络站", scene="roll-b"),
                    "C": create_station(regions["other_county"], name="德清联络站", scene="roll-c")}
        deputies = {"zhang": create_deputy(name="张代表", stations=[stations["A"]]),
                    "li": create_deputy(name="李代表", stations=[stations["B"]]),
                    "zhao": create_deputy(name="赵代表", stations=[stations["C"]])}
        manager = create_staff(username="roll-a-manager", stations=[stations["A"]])
        create_staff(username="roll-county", role=StaffRole.region_admin, region=regions["county"])
        ids = {name: s.id for name, s in stations.items()} | {name: d.id for name, d in deputies.items()}
        ids["manager_user"] = manager.user_id
        ids["township_code"] = regions["township"].code
    tokens = {name: bind_deputy_user(client, app, ids[name], f"roll-{name}") for name in ("zhang", "li", "zhao")}
    tokens["resident"] = wx_login(client, "roll-resident")["token"]
    tokens["manager"] = staff_login(client, "roll-a-manager")["token"]
    tokens["county"] = staff_login(client, "roll-county")["token"]
    return {"ids": ids, "tokens": tokens, "nos": {}}


def play(app, client, world, *, nights=(), until: date = date(2026, 11, 16)):
    """Act out two weeks of November 2026 (all times Beijing), running the nightly job at 01:00
    on each day of `nights`:

    11-02 Mon 10:00 i1, i2 at A, i3, i8 at B, i4 at C submitted (accept due 11-04); i9 at C
                    written straight to the database, transferred, due 11-11, without a single
                    timeline event (only its clock can tell the roll-ups it moved)
    11-03 Tue 10:00 张: i1 accepted, replied, resolved, rated satisfied → closed;
                    i2 accepted (reply due 11-12); 李: i8 accepted and transferred, due 11-11
    11-04 Wed 10:00 李 rejects i3; p1 at A held for review (pending_review)
    11-05 Thu 10:00 i6 at B (never touched: red from 11-10)
    11-06 Fri 07:30 i5 at A (the 6th in Beijing, still the 5th in UTC); accept due 11-10
                    duty: 张 at A (checks in), 李 at B (does not), 赵 at C in a draft roster
                    (promises nothing); reception records A 3, B 2
    11-07 Sat       张 checks in at A again (a visit off duty)
    11-12 Thu 10:00 张 resolves i2, rated unsatisfied → reopened; 张 accepts i5, late;
                    i7 at A submitted; i8's department deadline passed yesterday: red
    11-13 Fri 10:00 张 accepts and answers i7

    Resumes where the last call stopped, so a test can look between nights.
    """
    tokens, ids, nos = world["tokens"], world["ids"], world["nos"]
    resident, zhang = tokens["resident"], tokens["zhang"]

    def on_1102():
        for name, scene in (("i1", "roll-a"), ("i2", "roll-a"), ("i3", "roll-b"), ("i8", "roll-b"), ("i4", "roll-c")):
            nos[name] = submit(client, resident, scene)
        with app.app_context():
            create_issue(db.session.get(Station, ids["C"]), status=IssueStatus.transferred,
                         created_at=bj(2026, 11, 2, 10), transfers=[("县交通运输局", date(2026, 11, 11))])

    def on_1103():
        act(client, zhang, nos["i1"], "accept")
        act(client, zhang, nos["i1"], "reply", {"content": "已联系物业。"})
        act(client, zhang, nos["i1"], "resolve", {"summary": "已修复。"})
        rate(client, resident, nos["i1"], "satisfied")
        act(client, zhang, nos["i2"], "accept")
        act(client, tokens["li"], nos["i8"], "accept")
        act(client, tokens["li"], nos["i8"], "transfer", {"department": "县住建局", "deadline": "2026-11-11"})

    def on_1104():
        act(client, tokens["li"], nos["i3"], "reject", {"reason": "不属于人大代表职责范围"})
        with app.app_context():
            create_issue(db.session.get(Station, ids["A"]), status=IssueStatus.pending_review,
                         created_at=bj(2026, 11, 4, 10))

    def on_1105():
        nos["i6"] = submit(client, resident, "roll-b")

    def on_1106():
        at(bj(2026, 11, 6, 7, 30))
        nos["i5"] = submit(client, resident, "roll-a")
        with app.app_context():
            a, b = db.session.get(Station, ids["A"]), db.session.get(Station, ids["B"])
            zhang_d, li_d = db.session.get(Deputy, ids["zhang"]), db.session.get(Deputy, ids["li"])
            create_duty(a, zhang_d, date(2026, 11, 6))
            create_duty(b, li_d, date(2026, 11, 6))
            create_duty(db.session.get(Station, ids["C"]), db.session.get(Deputy, ids["zhao"]), date(2026, 11, 6),
                        published=False)
            create_check_in(a, zhang_d, date(2026, 11, 6), on_reception_day=True)
            for station, residents in ((a, 3), (b, 2)):
                db.session.add(ReceptionRecord(station_id=station.id, on_date=date(2026, 11, 6),
                                               recorded_by_id=ids["manager_user"], residents=residents,
                                               topics="道路、路灯"))
            db.session.commit()

    def on_1107():
        with app.app_context():
            create_check_in(db.session.get(Station, ids["A"]), db.session.get(Deputy, ids["zhang"]),
                            date(2026, 11, 7))

    def on_1112():
        act(client, zhang, nos["i2"], "resolve", {"summary": "已处理。"})
        rate(client, resident, nos["i2"], "unsatisfied")
        act(client, zhang, nos["i5"], "accept")
        nos["i7"] = submit(client, resident, "roll-a")

    def on_1113():
        act(client, zhang, nos["i7"], "accept")
        act(client, zhang, nos["i7"], "reply", {"content": "收到，正在协调。"})

    actions = {date(2026, 11, 2): on_1102, date(2026, 11, 3): on_1103, date(2026, 11, 4): on_1104,
               date(2026, 11, 5): on_1105, date(2026, 11, 6): on_1106, date(2026, 11, 7): on_1107,
               date(2026, 11, 12): on_1112, date(2026, 11, 13): on_1113}
    day = world.get("next_day", FIRST)
    while day <= until:
        if day in nights:
            run_job(app, day)
        if day in actions:
            at(bj(day.year, day.month, day.day, 10))
            actions[day]()
        day += timedelta(days=1)
    world["next_day"] = day


def run_job(app, day: date) -> dict:
    with app.app_context():
        return roll_up_job(at(bj(day.year, day.month, day.day, 1)))


def counted(app, station_ids, start: date, end: date) -> dict:
    """The figures counted live from the issues and records, as on a day not rolled up."""
    with app.app_context():
        got = figures_of(rollups.live_sums(station_ids, start, end, clock.beijing_today()))
        return {key: got[key] for key in STATS_KEYS}


def summed(app, station_ids, start: date, end: date) -> dict:
    with app.app_context():
        got = figures_of(rollups.column_sums(station_ids, start, end)[0])
        return {key: got[key] for key in STATS_KEYS}


def scopes(world):
    """(who asks, their query, the stations it covers) for the comparisons."""
    ids = world["ids"]
    return [
        ("county", {}, [ids["A"], ids["B"]]),
        ("manager", {}, [ids["A"]]),
        ("county", {"station": ids["B"]}, [ids["B"]]),
        ("county", {"region": ids["township_code"]}, [ids["A"], ids["B"]]),
    ]


PERIODS = [(FIRST, LAST), (FIRST, date(2026, 11, 8)), (date(2026, 11, 9), LAST), (date(2026, 11, 5), date(2026, 11, 5)),
           (date(2026, 11, 6), date(2026, 11, 6))]


def test_the_nightly_job_keeps_the_sums_equal_to_the_statistics(app, client, world):
    """Run every night while issues move — some received in one week are finished the next, one
    turns red while its day is no longer recomputed whole — and on the 16th every scope and
    period of the fortnight sums to what GET /api/v1/manage/stats answers."""
    nights = [FIRST + timedelta(days=n) for n in range(1, 15)]
    play(app, client, world, nights=nights)
    at(bj(2026, 11, 16, 10))
    for who, params, station_ids in scopes(world):
        for start, end in PERIODS:
            assert summed(app, station_ids, start, end) == counted(app, station_ids, start, end), (
                who, params, start, end)


def test_the_figures_worked_out_by_hand(app, client, world):
    play(app, client, world)
    with app.app_context():
        roll_up_days([FIRST + timedelta(days=n) for n in range(14)], today=date(2026, 11, 16))
    at(bj(2026, 11, 16, 10))
    ids = world["ids"]
    first_week = summed(app, [ids["A"], ids["B"]], FIRST, date(2026, 11, 8))
    assert first_week == {
        # received: i1 i2 p1 i5 at A, i3 i8 i6 at B (i4 is 德清's)
        "received": 7, "accepted": 4,  # i1 i2 i8 i5
        "resolved": 1, "rejected": 1, "pending_review": 1,  # i1 closed; i3; p1
        "resolution_rate": 0.2,  # 1 ÷ (7 − 1 − 1)
        "ratings": 2, "satisfaction_rate": 0.5,  # i1 satisfied, i2 unsatisfied (received in week one)
        "overdue": 2,  # i6 (accept due 11-09), i8 (department due 11-11)
        "check_ins": 2, "duty_days_assigned": 2, "duty_days_attended": 1, "attendance_rate": 0.5,
        # The first answers: i1's reply and i8's transfer, each a day after submission.
        "avg_first_response_hours": 24.0,
    }
    assert first_week == counted(app, [ids["A"], ids["B"]], FIRST, date(2026, 11, 8))
    with app.app_context():
        rows = {(r.station_id, r.day): r for r in db.session.scalars(db.select(StationDayFigures))}
        # i5 was submitted at 07:30 on the 6th, Beijing: the 6th's, though it was the 5th in UTC.
        assert (ids["A"], date(2026, 11, 5)) not in rows
        a6 = rows[(ids["A"], date(2026, 11, 6))]
        assert (a6.received, a6.accepted, a6.open_issues, a6.overdue) == (1, 1, 1, 0)
        assert (a6.check_ins, a6.duty_assigned, a6.duty_attended, a6.residents_received) == (1, 1, 1, 3)
        assert (ids["C"], date(2026, 11, 6)) not in rows  # 赵's duty is in a draft: nothing to count
        b6 = rows[(ids["B"], date(2026, 11, 6))]
        assert (b6.duty_assigned, b6.duty_attended, b6.residents_received, b6.received) == (1, 0, 2, 0)
        a2 = rows[(ids["A"], date(2026, 11, 2))]
        assert (a2.received, a2.accepted, a2.closed, a2.open_issues, a2.replied, a2.overdue) == (2, 2, 1, 1, 1, 0)
        assert (a2.ratings, a2.satisfied, a2.unsatisfied) == (2, 1, 1)
        b2 = rows[(ids["B"], date(2026, 11, 2))]
        assert (b2.received, b2.rejected, b2.open_issues, b2.overdue) == (2, 1, 1, 1)
        assert figures_of(rollups.column_sums([ids["A"], ids["B"]], FIRST, LAST)[0])["residents_received"] == 5


def test_an_old_day_is_refreshed_when_its_issues_move(app, client, world):
    """Rows of days older than the week recomputed whole follow their issues: A's 2nd after a
    rating (a timeline event), B's and C's 2nd after clocks turned red with no event (i8's and
    i9's department deadline, the 11th)."""
    ids = world["ids"]

    def row(station, day=FIRST):
        with app.app_context():
            return db.session.scalar(db.select(StationDayFigures).filter_by(station_id=ids[station], day=day))

    play(app, client, world, nights=[date(2026, 11, 3)], until=date(2026, 11, 3))
    assert (row("A").received, row("A").accepted) == (2, 0)
    play(app, client, world, nights=[date(2026, 11, 4)], until=date(2026, 11, 4))  # the 3rd's moves
    assert (row("A").accepted, row("A").closed, row("B").accepted, row("B").overdue) == (2, 1, 1, 0)
    # The 2nd is not among the eight days recomputed whole on the night of the 13th.
    play(app, client, world, until=date(2026, 11, 12))
    summary = run_job(app, date(2026, 11, 13))
    assert (summary["from"], summary["to"], summary["refreshed"]) == ("2026-11-05", "2026-11-12", 3)
    a, b = row("A"), row("B")
    assert (a.resolved, a.closed, a.open_issues, a.ratings, a.unsatisfied) == (0, 1, 1, 2, 1)
    assert (b.received, b.rejected, b.open_issues, b.overdue) == (2, 1, 1, 1)
    assert (b.check_ins, row("B", date(2026, 11, 6)).residents_received) == (0, 2)
    assert (row("C").received, row("C").overdue) == (2, 2)  # i4 since the 5th, i9 since the 12th


def test_days_never_rolled_up_get_no_partial_rows(app, client, world):
    """After more than a week of downtime the job recomputes its week; days before it stay
    without rows (a backfill with roll_up_days fills them) rather than half-filled."""
    play(app, client, world, nights=[date(2026, 11, 16)])
    with app.app_context():
        days = set(db.session.scalars(db.select(StationDayFigures.day).distinct()))
    assert min(days) >= date(2026, 11, 8)
    with app.app_context():
        assert roll_up_days([FIRST + timedelta(days=n) for n in range(6)], today=date(2026, 11, 16)) > 0
    at(bj(2026, 11, 16, 10))
    for who, params, station_ids in scopes(world):
        assert summed(app, station_ids, FIRST, LAST) == counted(app, station_ids, FIRST, LAST)


def test_rolling_up_again_changes_nothing(app, client, world):
    play(app, client, world, nights=[date(2026, 11, 16)])

    def snapshot():
        with app.app_context():
            return sorted((r.station_id, r.day, *(getattr(r, c) for c in rollups.ISSUE_COLUMNS + rollups.DAY_COLUMNS))
                          for r in db.session.scalars(db.select(StationDayFigures)))

    before = snapshot()
    assert run_job(app, date(2026, 11, 16))["rows"] == len([r for r in before if r[1] >= date(2026, 11, 8)])
    with app.app_context():
        roll_up_day(date(2026, 11, 12), today=date(2026, 11, 16))
    assert snapshot() == before


def test_a_fixed_number_of_queries_whatever_the_stations(app, client, world):
    """One grouped query per kind of fact for all stations: more stations, no more queries."""
    play(app, client, world)

    def more_stations(numbers):
        with app.app_context():
            county = db.session.scalar(db.select(Region).filter_by(code="330523000000"))
            for n in numbers:
                station = create_station(county, scene=f"roll-more{n}")
                deputy = create_deputy(stations=[station])
                create_issue(station, created_at=bj(2026, 11, 9 + n % 5), accept_due_on=date(2026, 11, 12))
                create_check_in(station, deputy, date(2026, 11, 9 + n % 5))

    def queries():
        with app.app_context():
            return count_queries(app, lambda: roll_up_job(at(bj(2026, 11, 16, 1))))[1]

    more_stations(range(5))
    few = queries()
    more_stations(range(5, 30))
    assert queries() == few
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(StationDayFigures.id))) >= 30


def test_month_rows_follow_their_days_and_categories_their_issues(app, client, world):
    """Month rows (whole months of the dashboard) are the sums of their day rows after every
    night, refreshed days included; the month's categories count its issues."""
    from models import Issue, StationMonthCategory, StationMonthFigures

    play(app, client, world, nights=[FIRST + timedelta(days=n) for n in range(1, 15)])
    names = rollups.COLUMNS
    with app.app_context():
        days: dict = {}
        for row in db.session.scalars(db.select(StationDayFigures)):
            sums = days.setdefault((row.station_id, row.day.replace(day=1)), dict.fromkeys(names, 0))
            for name in names:
                sums[name] += getattr(row, name)
        months = {(r.station_id, r.month): {n: getattr(r, n) for n in names}
                  for r in db.session.scalars(db.select(StationMonthFigures))}
        assert months == days and months
        counted = {}
        for issue in db.session.scalars(db.select(Issue)):
            key = (issue.station_id, issue.created_at.astimezone(clock.BEIJING).date().replace(day=1), issue.category_id)
            counted[key] = counted.get(key, 0) + 1
        categories = {(r.station_id, r.month, r.category_id): r.received
                      for r in db.session.scalars(db.select(StationMonthCategory))}
        assert categories == counted


@pytest.mark.parametrize("start, end, whole, edges", [
    (date(2026, 1, 1), date(2026, 11, 20), (date(2026, 1, 1), date(2026, 10, 1)), [(date(2026, 11, 1), date(2026, 11, 20))]),
    (date(2026, 1, 15), date(2026, 3, 31), (date(2026, 2, 1), date(2026, 3, 1)), [(date(2026, 1, 15), date(2026, 1, 31))]),
    (date(2026, 2, 1), date(2026, 2, 28), (date(2026, 2, 1), date(2026, 2, 1)), []),
    (date(2026, 2, 2), date(2026, 2, 27), None, [(date(2026, 2, 2), date(2026, 2, 27))]),
    (date(2025, 12, 31), date(2026, 1, 1), None, [(date(2025, 12, 31), date(2026, 1, 1))]),
])
def test_a_period_splits_into_whole_months_and_days(start, end, whole, edges):
    got_whole, got_edges = rollups.split_period(start, end)
    assert (got_whole[0], got_whole[1].replace(day=1)) == whole if whole else got_whole is None
    assert got_edges == edges


def api_stats(client, world, start: date, end: date) -> dict:
    response = client.get(f"/api/v1/manage/stats?from={start}&to={end}", headers=auth(world["tokens"]["county"]))
    assert response.status_code == 200, response.get_json()
    return response.get_json()["stats"]


def test_the_statistics_read_rolled_up_days_and_count_the_rest_live(app, client, world):
    """GET /api/v1/manage/stats sums the rows of the days rolled up before today and counts the
    others live: the 2nd–4th (never rolled up: the first night is the 13th's, which recomputes
    the 5th–12th) and today. A move on an issue of a rolled-up day shows after the next night."""
    ids = world["ids"]
    county = [ids["A"], ids["B"]]
    play(app, client, world, nights=[date(2026, 11, 13)], until=date(2026, 11, 13))
    at(bj(2026, 11, 13, 12))
    got, live = api_stats(client, world, FIRST, LAST), counted(app, county, FIRST, LAST)
    # i7, received on the 12th (rolled up at 01:00), was accepted and answered at 10:00 today.
    assert (got["received"], got["accepted"]) == (live["received"], live["accepted"] - 1) == (8, 4)
    assert got["as_of"].startswith("2026-11-13T01:00")
    with app.app_context():
        assert sorted(rollups.rolled_days(FIRST, LAST)) == [date(2026, 11, d) for d in range(5, 13)]

    run_job(app, date(2026, 11, 14))
    at(bj(2026, 11, 14, 9))
    submit(client, world["tokens"]["resident"], "roll-b")  # today's: counted at once
    got = api_stats(client, world, FIRST, LAST)
    assert {key: got[key] for key in STATS_KEYS} == counted(app, county, FIRST, LAST)
    assert got["received"] == 9 and got["as_of"].startswith("2026-11-14T01:00")
    # A period of today alone reads no roll-up rows.
    today = api_stats(client, world, date(2026, 11, 14), date(2026, 11, 14))
    assert (today["received"], today["as_of"]) == (1, None)


@pytest.mark.redis
def test_the_rolled_part_of_the_statistics_is_cached_until_the_next_roll_up(app, client, world):
    """With Redis, a scope and period's sums of roll-up rows are read once; the nightly job's
    commit retires them, and the next answer sums the new rows."""
    from sqlalchemy import event

    play(app, client, world, nights=[date(2026, 11, 13)], until=date(2026, 11, 13))
    at(bj(2026, 11, 13, 12))

    def rows_read() -> tuple[dict, int]:
        statements = []

        def note(_conn, _cursor, statement, *_args):
            statements.append(statement)

        with app.app_context():
            engine = db.engine
        event.listen(engine, "before_cursor_execute", note)
        try:
            got = api_stats(client, world, FIRST, LAST)
        finally:
            event.remove(engine, "before_cursor_execute", note)
        return got, sum("station_month_figures" in s or "station_day_figures" in s for s in statements)

    first, read = rows_read()
    assert read == 1
    again, read = rows_read()
    assert (again, read) == (first, 0)
    run_job(app, date(2026, 11, 14))  # i7's acceptance, yesterday, is now in its day's row
    at(bj(2026, 11, 14, 9))
    after, read = rows_read()
    assert read == 1 and after["accepted"] == first["accepted"] + 1
