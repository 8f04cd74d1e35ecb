"""Attendance over HTTP (GET /api/v1/manage/attendance): duty days of published rosters against
check-ins, leave, extra visits and far check-ins, per deputy and per station, compared with
figures worked out by hand from the table in `world`."""
from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from backend import clock
from models import Deputy, StaffRole, db
from tests.factories import (
    auth,
    bind_deputy_user,
    create_check_in,
    create_deputy,
    create_duty,
    create_leave,
    create_region_tree,
    create_staff,
    create_station,
    staff_login,
)

API = "/api/v1/manage/attendance"
TODAY = datetime(2027, 3, 16, 15, 0, tzinfo=clock.BEIJING)

FIGURES = ("assigned", "attended", "on_leave", "missed", "pending", "check_ins", "extra_visits", "far_check_ins")


@pytest.fixture
def world(app, client):
    """Today is 16 March 2027. Stations 递铺 (A) and 古城 (B) in 安吉县, 德清 (C) next door.

    duties (published unless said)     check-ins
    张 A: 1-06 1-16 2-06 3-16 3-26     张 A: 1-06, 1-07 (extra), 2026-12-16 (before the period)
    李 A: 1-06 2-16 3-06               李 A: 1-06 (far), 2-16, 2-20 (extra, far)
    王 A: 1-26; B: 2-06 (draft)        王 B: 1-26 (extra: on duty at A, not B), 2-06 (extra: a draft)
    赵 C: 1-06                         赵 C: 1-06
    张 on leave 1-15..1-17; 张 also on duty 2026-12-16 at A.
    """
    clock.freeze(TODAY)
    with app.app_context():
        regions = create_region_tree()
        a = create_station(regions["township"], name="递铺联络站", scene="at01")
        b = create_station(regions["community"], name="古城联络站", scene="at02")
        c = create_station(regions["other_county"], name="德清联络站", scene="at03")
        zhang = create_deputy(name="张代表", stations=[a])
        li = create_deputy(name="李代表", stations=[a])
        wang = create_deputy(name="王代表", stations=[a, b])
        zhao = create_deputy(name="赵代表", stations=[c])
        for deputy, days in ((zhang, ["2026-12-16", "2027-01-06", "2027-01-16", "2027-02-06", "2027-03-16",
                                      "2027-03-26"]),
                             (li, ["2027-01-06", "2027-02-16", "2027-03-06"]), (wang, ["2027-01-26"])):
            for day in days:
                create_duty(a, deputy, date.fromisoformat(day))
        create_duty(b, wang, date(2027, 2, 6), published=False)
        create_duty(c, zhao, date(2027, 1, 6))
        create_leave(zhang, date(2027, 1, 15), date(2027, 1, 17))
        for station, deputy, day, far in ((a, zhang, "2026-12-16", False), (a, zhang, "2027-01-06", False),
                                          (a, zhang, "2027-01-07", False), (a, li, "2027-01-06", True),
                                          (a, li, "2027-02-16", False), (a, li, "2027-02-20", True),
                                          (b, wang, "2027-01-26", False), (b, wang, "2027-02-06", False),
                                          (c, zhao, "2027-01-06", False)):
            create_check_in(station, deputy, date.fromisoformat(day), is_far=far)
        create_staff(username="a-manager", stations=[a])
        create_staff(username="anji-admin", role=StaffRole.region_admin, region=regions["county"])
        create_staff(username="deqing-admin", role=StaffRole.region_admin, region=regions["other_county"])
        ids = {"a": a.id, "b": b.id, "c": c.id, "zhang": zhang.id, "li": li.id, "wang": wang.id, "zhao": zhao.id}
    tokens = {name: staff_login(client, name)["token"] for name in ("a-manager", "anji-admin", "deqing-admin")}
    tokens["zhang"] = bind_deputy_user(client, app, ids["zhang"], "at-zhang")
    return {"ids": ids, "tokens": tokens}


def report(client, world, who, query="?from=2027-01-01&to=2027-03-31"):
    response = client.get(API + query, headers=auth(world["tokens"][who]))
    assert response.status_code == 200, response.get_json()
    return response.get_json()["attendance"]


def figures(row) -> tuple:
    return tuple(row[name] for name in FIGURES) + (row["rate"],)


def by_name(rows, key) -> dict[str, tuple]:
    return {row[key]["name"]: figures(row) for row in rows}


#                 assigned attended leave missed pending check_ins extra far  rate
ZHANG_A = (4, 1, 1, 1, 1, 2, 1, 0, 0.25)
LI_A = (3, 2, 0, 1, 0, 3, 1, 2, 0.6667)
WANG_A = (1, 0, 0, 1, 0, 0, 0, 0, 0.0)
STATION_A = (8, 3, 1, 3, 1, 5, 2, 2, 0.375)


def test_a_station_manager_sees_their_station_per_deputy_and_per_station(client, world):
    got = report(client, world, "a-manager")
    assert (got["from"], got["to"]) == ("2027-01-01", "2027-03-31")
    assert by_name(got["stations"], "station") == {"递铺联络站": STATION_A}
    assert by_name(got["deputies"], "deputy") == {"张代表": ZHANG_A, "李代表": LI_A, "王代表": WANG_A}
    assert figures(got["totals"]) == STATION_A


def test_a_region_admin_sees_every_station_of_the_region(client, world):
    got = report(client, world, "anji-admin")
    assert by_name(got["stations"], "station") == {
        "递铺联络站": STATION_A,
        "古城联络站": (0, 0, 0, 0, 0, 2, 2, 0, None),  # only extra visits; a draft roster counts for nothing
    }
    assert by_name(got["deputies"], "deputy") == {
        "张代表": ZHANG_A, "李代表": LI_A, "王代表": (1, 0, 0, 1, 0, 2, 2, 0, 0.0)}
    assert figures(got["totals"]) == (8, 3, 1, 3, 1, 7, 4, 2, 0.375)
    assert by_name(report(client, world, "deqing-admin")["stations"], "station") == {
        "德清联络站": (1, 1, 0, 0, 0, 1, 0, 0, 1.0)}


def test_one_month_and_one_station(client, world):
    got = report(client, world, "anji-admin", f"?station={world['ids']['a']}&from=2027-02-01&to=2027-02-28")
    assert by_name(got["stations"], "station") == {"递铺联络站": (2, 1, 0, 1, 0, 2, 1, 1, 0.5)}
    assert by_name(got["deputies"], "deputy") == {"张代表": (1, 0, 0, 1, 0, 0, 0, 0, 0.0),
                                                  "李代表": (1, 1, 0, 0, 0, 2, 1, 1, 1.0)}


def test_the_default_period_is_this_year_to_today(client, world):
    got = report(client, world, "a-manager", "")
    assert (got["from"], got["to"]) == ("2027-01-01", "2027-03-16")
    assert figures(got["totals"]) == STATION_A


def test_today_is_beijings_today_whatever_the_servers_zone(client, world):
    clock.freeze(datetime(2027, 3, 15, 17, 0, tzinfo=UTC))  # 01:00 on the 16th in Beijing
    assert by_name(report(client, world, "a-manager")["deputies"], "deputy")["张代表"] == ZHANG_A
    clock.freeze(datetime(2027, 3, 15, 15, 59, tzinfo=UTC))  # 23:59 on the 15th: the 16th is ahead
    assert by_name(report(client, world, "a-manager")["deputies"], "deputy")["张代表"] == (
        3, 1, 1, 1, 0, 2, 1, 0, 0.3333)


def test_a_checked_in_duty_day_is_attended_even_on_leave(app, client, world):
    with app.app_context():
        create_leave(db.session.get(Deputy, world["ids"]["li"]), date(2027, 2, 1), date(2027, 2, 28))
    got = by_name(report(client, world, "a-manager")["deputies"], "deputy")
    assert got["李代表"] == LI_A


def test_scope_and_bad_queries(client, world):
    def get(who, query):
        return client.get(API + query, headers=auth(world["tokens"][who]))

    outside = get("a-manager", f"?station={world['ids']['b']}")
    assert outside.status_code == 404 and outside.get_json()["error"]["code"] == "station_not_found"
    assert get("deqing-admin", f"?station={world['ids']['a']}").status_code == 404
    assert get("a-manager", "?station=999999").status_code == 404
    for query in ("?from=2027-03-01&to=2027-02-01", "?from=2027-02-30", "?station=abc", "?to=1999-12-31"):
        response = get("a-manager", query)
        assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_input", query
    assert get("zhang", "").status_code == 403
    assert client.get(API).status_code == 401
