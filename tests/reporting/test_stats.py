"""Staff statistics over HTTP (GET /api/v1/manage/stats) against figures worked out by hand:
issues received in the period and what became of them, satisfaction, first response, overdue,
check-ins and attendance; the headline "224 received, 219 done → 0.9777"; scope by station and
region."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from backend import clock
from models import Category, Issue, IssueStatus, RatingScore, StaffRole, User, db
from tests.factories import (
    auth,
    bind_deputy_user,
    create_categories,
    create_check_in,
    create_deputy,
    create_duty,
    create_issue,
    create_region_tree,
    create_staff,
    create_station,
    staff_login,
)

API = "/api/v1/manage/stats"
S = IssueStatus


def bj(y, m, d, hh=10, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=clock.BEIJING)


@pytest.fixture
def world(app, client):
    """Today is 16 March 2027. 递铺 (A, township) and 古城 (B, community) in 安吉县, 德清 (C) next door.

    issues in February (created 10:00 on the day unless said; h = hours to the first reply):
      i1 A closed, accepted, 2h, rated satisfied       i6 B submitted, accept due 3-20
      i2 A resolved, accepted, 4h, rated unsatisfied   i7 B transferred, accepted, 9h, department due 3-01
         then basically satisfied                      i8 A submitted, accept due 3-15 (overdue)
      i3 A rejected                                    i9 A replied, accepted, 3h, reply due 2-10
      i4 A pending review                                 (created 23:30 on 2-28: still February)
      i5 B accepted, no reply, reply due 3-10 (overdue)
    outside: A created 00:10 on 3-01 and 23:59 on 1-31 (Beijing); C in February.
    duties at A: 张 2-06 (checked in), 2-16 (missed); 张's check-in 2-20 (extra); 赵 at C 2-06 (checked in).
    """
    clock.freeze(bj(2027, 3, 16, 15))
    with app.app_context():
        create_categories()
        regions = create_region_tree()
        a = create_station(regions["township"], name="递铺联络站", scene="sa01")
        b = create_station(regions["community"], name="古城联络站", scene="sa02")
        c = create_station(regions["other_county"], name="德清联络站", scene="sa03")
        zhang = create_deputy(name="张代表", stations=[a])
        zhao = create_deputy(name="赵代表", stations=[c])

        def issue(station, status, created=None, accepted=False, hours=None, **kw):
            created = created or bj(2027, 2, 10)
            row = create_issue(station, status=status, created_at=created,
                               first_response_at=created + timedelta(hours=hours) if hours is not None else None, **kw)
            if accepted:
                row.accepted_at = created + timedelta(hours=1)
                db.session.commit()

        issue(a, S.closed, accepted=True, hours=2, ratings=[RatingScore.satisfied])
        issue(a, S.resolved, accepted=True, hours=4, ratings=[RatingScore.unsatisfied, RatingScore.basically_satisfied])
        issue(a, S.rejected)
        issue(a, S.pending_review)
        issue(b, S.accepted, accepted=True, reply_due_on=date(2027, 3, 10))
        issue(b, S.submitted, accept_due_on=date(2027, 3, 20))
        issue(b, S.transferred, accepted=True, hours=9, transfers=[("县住建局", date(2027, 3, 1))])
        issue(a, S.submitted, accept_due_on=date(2027, 3, 15))
        issue(a, S.replied, created=bj(2027, 2, 28, 23, 30), accepted=True, hours=3, reply_due_on=date(2027, 2, 10))
        issue(a, S.submitted, created=bj(2027, 3, 1, 0, 10), accept_due_on=date(2027, 3, 3))
        issue(a, S.closed, created=bj(2027, 1, 31, 23, 59), accepted=True, hours=1, ratings=[RatingScore.unsatisfied])
        issue(c, S.accepted, accepted=True, hours=50, reply_due_on=date(2027, 2, 1), ratings=[RatingScore.unsatisfied])

        create_duty(a, zhang, date(2027, 2, 6))
        create_duty(a, zhang, date(2027, 2, 16))
        create_check_in(a, zhang, date(2027, 2, 6))
        create_check_in(a, zhang, date(2027, 2, 20))
        create_duty(c, zhao, date(2027, 2, 6))
        create_check_in(c, zhao, date(2027, 2, 6))

        create_staff(username="a-manager", stations=[a])
        create_staff(username="anji-admin", role=StaffRole.region_admin, region=regions["county"])
        create_staff(username="township-admin", role=StaffRole.region_admin, region=regions["township"])
        ids = {"a": a.id, "b": b.id, "c": c.id, "zhang": zhang.id}
    tokens = {name: staff_login(client, name)["token"] for name in ("a-manager", "anji-admin", "township-admin")}
    tokens["zhang"] = bind_deputy_user(client, app, ids["zhang"], "sa-zhang")
    return {"ids": ids, "tokens": tokens}


def stats(client, world, who, query="?from=2027-02-01&to=2027-02-28"):
    response = client.get(API + query, headers=auth(world["tokens"][who]))
    assert response.status_code == 200, response.get_json()
    return response.get_json()["stats"]


def test_the_county_in_february(client, world):
    got = stats(client, world, "anji-admin")
    assert got == {
        "from": "2027-02-01", "to": "2027-02-28",
        "received": 9, "accepted": 5, "resolved": 2, "rejected": 1, "pending_review": 1,
        "resolution_rate": 0.2857,  # 2 ÷ (9 − 1 − 1)
        "ratings": 3, "satisfaction_rate": 0.6667,  # satisfied + basically satisfied of 3
        "avg_first_response_hours": 4.5,  # (2 + 4 + 9 + 3) ÷ 4
        "overdue": 3,  # i5, i7, i8
        "check_ins": 2, "duty_days_assigned": 2, "duty_days_attended": 1, "attendance_rate": 0.5,
        "as_of": None,  # nothing rolled up: every day counted live
    }


def test_one_station_or_one_region(client, world):
    b = stats(client, world, "anji-admin", f"?from=2027-02-01&to=2027-02-28&station={world['ids']['b']}")
    assert {k: b[k] for k in ("received", "accepted", "resolved", "resolution_rate", "ratings", "satisfaction_rate",
                              "avg_first_response_hours", "overdue", "check_ins", "attendance_rate")} == {
        "received": 3, "accepted": 2, "resolved": 0, "resolution_rate": 0.0, "ratings": 0,
        "satisfaction_rate": None, "avg_first_response_hours": 9.0, "overdue": 2, "check_ins": 0,
        "attendance_rate": None}
    community = stats(client, world, "anji-admin", "?from=2027-02-01&to=2027-02-28&region=330523001001")
    assert community == b
    assert stats(client, world, "anji-admin", "?from=2027-02-01&to=2027-02-28&region=330523000000") == \
        stats(client, world, "anji-admin")
    # The township's admin has both stations too (古城 lies under 递铺街道).
    assert stats(client, world, "township-admin")["received"] == 9


def test_a_station_manager_sees_only_their_station(client, world):
    got = stats(client, world, "a-manager")
    assert (got["received"], got["resolved"], got["resolution_rate"], got["overdue"]) == (6, 2, 0.5, 1)
    assert stats(client, world, "a-manager", "?from=2027-02-01&to=2027-02-28&region=330523001000") == got


def test_the_period_is_bounded_by_beijing_midnights(client, world):
    march = stats(client, world, "a-manager", "?from=2027-03-01&to=2027-03-01")
    assert march["received"] == 1  # created 00:10 on 1 March in Beijing, 16:10 UTC on 28 February
    january = stats(client, world, "a-manager", "?from=2027-01-31&to=2027-01-31")
    assert (january["received"], january["resolved"], january["resolution_rate"]) == (1, 1, 1.0)


def test_the_default_period_is_this_year_to_today(client, world):
    got = stats(client, world, "anji-admin", "")
    assert (got["from"], got["to"], got["received"]) == ("2027-01-01", "2027-03-16", 11)


def test_overdue_follows_beijings_today(client, world):
    # 23:59 on 15 March in Beijing: i8, due on the 15th, is not late yet; at midnight it is.
    clock.freeze(datetime(2027, 3, 15, 15, 59, tzinfo=UTC))
    assert stats(client, world, "anji-admin")["overdue"] == 2
    clock.freeze(datetime(2027, 3, 15, 16, 0, tzinfo=UTC))
    assert stats(client, world, "anji-admin")["overdue"] == 3


def test_scope_is_enforced(client, world):
    def get(who, query):
        return client.get(API + query, headers=auth(world["tokens"][who]))

    for who, query, code in (("anji-admin", "?region=330521000000", "not_found"),  # 德清, next door
                             ("anji-admin", "?region=330500000000", "not_found"),  # the city above
                             ("anji-admin", "?region=330523009000", "not_found"),  # no such region
                             ("a-manager", "?region=330523001001", "not_found"),  # 古城: none of theirs
                             ("a-manager", f"?station={world['ids']['b']}", "station_not_found"),
                             ("township-admin", f"?station={world['ids']['c']}", "station_not_found")):
        response = get(who, query)
        assert response.status_code == 404 and response.get_json()["error"]["code"] == code, (who, query)
    for query in ("?region=3305", "?region=33052300000x", "?from=2027-02-28&to=2027-02-01", "?to=2027-02-30"):
        response = get("anji-admin", query)
        assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_input", query
    assert get("zhang", "").status_code == 403
    assert client.get(API).status_code == 401


def _bulk(station_id: int, count: int, status: IssueStatus, created_at: datetime, start: int) -> None:
    submitter = User(openid=f"bulk-{start}")
    db.session.add(submitter)
    db.session.flush()
    category = db.session.scalar(db.select(Category.id).limit(1))
    db.session.add_all(Issue(no=f"{created_at.astimezone(clock.BEIJING):%Y%m%d}-{start + n:06d}", station_id=station_id,
                             category_id=category, content="路灯不亮，晚上出行不便。", submitter_id=submitter.id,
                             status=status, content_check="pass", created_at=created_at + timedelta(minutes=n))
                       for n in range(count))
    db.session.commit()


def test_224_received_and_219_done_is_0_9777(app, client, world):
    """The shape of the headline figure counties publish (收集224条, 落实处理219条, 办结率97%)."""
    with app.app_context():
        a, c = world["ids"]["a"], world["ids"]["c"]
        _bulk(a, 150, S.closed, bj(2027, 4, 1, 8), 1)
        _bulk(a, 69, S.resolved, bj(2027, 4, 2, 8), 200)
        _bulk(a, 5, S.accepted, bj(2027, 4, 3, 8), 300)
        _bulk(a, 7, S.accepted, bj(2027, 5, 1, 8), 400)  # after the period
        _bulk(c, 30, S.accepted, bj(2027, 4, 1, 8), 500)  # another county
    clock.freeze(bj(2027, 5, 6))
    got = stats(client, world, "anji-admin", "?from=2027-04-01&to=2027-04-30")
    assert (got["received"], got["resolved"], got["resolution_rate"]) == (224, 219, 0.9777)
    assert round(219 / 224, 4) == 0.9777
