"""Residents received in person (接待登记) over HTTP: deputies log their own receptions at their
stations, staff at the stations they manage, optionally tied to an issue of that station; staff
list them."""
from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from backend import clock
from models import IssueStatus, ReceptionRecord, StaffRole, Station, db
from tests.factories import (
    auth,
    bind_deputy_user,
    create_categories,
    create_deputy,
    create_issue,
    create_region_tree,
    create_staff,
    create_station,
    staff_login,
)

CREATE = "/api/v1/deputy/reception-records"
LIST = "/api/v1/manage/reception-records"


@pytest.fixture
def world(app, client):
    """递铺 (张代表, 李代表) and 古城 in 安吉县, 德清 (王代表) next door; a manager of 递铺, the
    county's admin, 德清's manager; issues at 递铺 (one held for review) and at 德清."""
    clock.freeze(datetime(2027, 1, 16, 11, 0, tzinfo=clock.BEIJING))
    with app.app_context():
        create_categories()
        regions = create_region_tree()
        home = create_station(regions["township"], name="递铺联络站", scene="rr01")
        village = create_station(regions["community"], name="古城联络站", scene="rr03")
        other = create_station(regions["other_county"], name="德清联络站", scene="rr02")
        zhang = create_deputy(name="张代表", stations=[home])
        li = create_deputy(name="李代表", stations=[home])
        wang = create_deputy(name="王代表", stations=[other])
        create_staff(username="home-manager", stations=[home])
        create_staff(username="other-manager", stations=[other])
        create_staff(username="anji-admin", role=StaffRole.region_admin, region=regions["county"])
        ids = {"home": home.id, "village": village.id, "other": other.id, "zhang": zhang.id, "li": li.id,
               "wang": wang.id}
        nos = {"home": create_issue(home).no, "held": create_issue(home, status=IssueStatus.pending_review).no,
               "other": create_issue(other).no}
    tokens = {"zhang": bind_deputy_user(client, app, ids["zhang"], "rr-zhang"),
              "wang": bind_deputy_user(client, app, ids["wang"], "rr-wang")}
    for username in ("home-manager", "other-manager", "anji-admin"):
        tokens[username] = staff_login(client, username)["token"]
    return {"ids": ids, "nos": nos, "tokens": tokens}


def record(client, world, who, headers=None, **fields):
    body = {"station_id": world["ids"]["home"], "date": "2027-01-16", "residents": 3,
            "topics": "小区停车难、垃圾分类点设置", **fields}
    return client.post(CREATE, json=body, headers={**auth(world["tokens"][who]), **(headers or {})})


def error_code(response, status) -> str:
    assert response.status_code == status, response.get_json()
    error = response.get_json()["error"]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in error["message"])
    return error["code"]


def stored(app) -> list[ReceptionRecord]:
    with app.app_context():
        return db.session.scalars(db.select(ReceptionRecord).order_by(ReceptionRecord.id)).all()


def test_a_deputy_logs_a_reception_at_their_station(app, client, world):
    response = record(client, world, "zhang")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()["reception_record"]
    assert body["station"] == {"id": world["ids"]["home"], "name": "递铺联络站"}
    assert body["deputy"] == {"id": world["ids"]["zhang"], "name": "张代表"}
    assert (body["date"], body["residents"], body["topics"], body["issue_no"]) == (
        "2027-01-16", 3, "小区停车难、垃圾分类点设置", None)
    assert body["created_at"] == "2027-01-16T11:00:00+08:00"
    [row] = stored(app)
    assert (row.deputy_id, row.on_date, row.issue_id) == (world["ids"]["zhang"], date(2027, 1, 16), None)


def test_a_reception_tied_to_an_issue_of_the_station(app, client, world):
    response = record(client, world, "zhang", issue_no=world["nos"]["home"], date="2027-01-06")
    assert response.status_code == 201
    assert response.get_json()["reception_record"]["issue_no"] == world["nos"]["home"]
    assert stored(app)[0].issue_id is not None


def test_an_issue_of_another_station_or_out_of_sight_is_not_found(app, client, world):
    for no in (world["nos"]["other"], world["nos"]["held"], "20270116-999999"):
        assert error_code(record(client, world, "zhang", issue_no=no), 404) == "issue_not_found", no
    # Staff of 德清 see their issue, but it is not of 递铺.
    assert error_code(record(client, world, "anji-admin", issue_no=world["nos"]["other"]), 404) == "issue_not_found"
    assert stored(app) == []


def test_staff_log_receptions_at_the_stations_they_manage(app, client, world):
    named = record(client, world, "home-manager", deputy_id=world["ids"]["li"], issue_no=world["nos"]["held"])
    assert named.status_code == 201, named.get_json()  # staff see issues held for review
    assert named.get_json()["reception_record"]["deputy"]["name"] == "李代表"
    alone = record(client, world, "anji-admin")
    assert alone.status_code == 201 and alone.get_json()["reception_record"]["deputy"] is None
    not_member = record(client, world, "home-manager", deputy_id=world["ids"]["wang"])
    assert error_code(not_member, 400) == "invalid_input"
    assert "deputy_id" in not_member.get_json()["error"]["details"]["fields"]
    assert error_code(record(client, world, "other-manager"), 403) == "forbidden"
    assert len(stored(app)) == 2


def test_a_deputy_records_only_at_their_own_station_and_only_themself(app, client, world):
    assert error_code(record(client, world, "wang"), 403) == "forbidden"
    assert error_code(record(client, world, "zhang", deputy_id=world["ids"]["li"]), 403) == "forbidden"
    assert error_code(record(client, world, "zhang", station_id=999999), 404) == "station_not_found"
    assert stored(app) == []


@pytest.mark.parametrize("fields, bad", [
    ({"date": "2027-01-17"}, "date"),  # tomorrow in Beijing
    ({"date": "2027-13-01"}, "date"),
    ({"date": "2026-01-14"}, "date"),  # more than a year ago
    ({"residents": 0}, "residents"),
    ({"residents": 501}, "residents"),
    ({"residents": "三"}, "residents"),
    ({"topics": "   "}, "topics"),
    ({"topics": "问" * 2001}, "topics"),
    ({"station_id": None}, "station_id"),
])
def test_bad_receptions_are_refused(app, client, world, fields, bad):
    response = record(client, world, "zhang", **fields)
    assert error_code(response, 400) == "invalid_input"
    assert bad in response.get_json()["error"]["details"]["fields"]
    assert stored(app) == []


def test_limits_are_inclusive(client, world):
    assert record(client, world, "zhang", residents=1).status_code == 201
    assert record(client, world, "zhang", residents=500, topics="问" * 2000).status_code == 201
    assert record(client, world, "zhang", date="2026-01-15").status_code == 201  # a year and a day ago


def test_the_date_is_beijings_whatever_the_servers_zone(client, world):
    clock.freeze(datetime(2027, 1, 16, 17, 0, tzinfo=UTC))  # 01:00 on the 17th in Beijing
    assert record(client, world, "zhang", date="2027-01-17").status_code == 201
    assert error_code(record(client, world, "zhang", date="2027-01-18"), 400) == "invalid_input"


def test_a_replayed_idempotency_key_returns_the_first_record(app, client, world):
    first = record(client, world, "zhang", headers={"Idempotency-Key": "rr-1"})
    again = record(client, world, "zhang", headers={"Idempotency-Key": "rr-1"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.get_json() == first.get_json()
    assert len(stored(app)) == 1


def test_staff_list_the_receptions_of_their_stations(app, client, world):
    for day, who in (("2027-01-06", "zhang"), ("2027-01-16", "zhang"), ("2027-01-10", "home-manager")):
        assert record(client, world, who, date=day).status_code == 201
    assert record(client, world, "wang", station_id=world["ids"]["other"]).status_code == 201

    def listing(who, query=""):
        response = client.get(LIST + query, headers=auth(world["tokens"][who]))
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    mine = listing("home-manager")
    assert [i["date"] for i in mine["items"]] == ["2027-01-16", "2027-01-10", "2027-01-06"]  # newest first
    assert (mine["total"], mine["page"], mine["per_page"]) == (3, 1, 20)
    assert listing("anji-admin")["total"] == 3  # the county: not 德清
    assert [i["station"]["name"] for i in listing("other-manager")["items"]] == ["德清联络站"]
    assert [i["date"] for i in listing("home-manager", "?from=2027-01-07&to=2027-01-15")["items"]] == ["2027-01-10"]
    page2 = listing("home-manager", "?per_page=2&page=2")
    assert [i["date"] for i in page2["items"]] == ["2027-01-06"] and page2["total"] == 3
    assert listing("anji-admin", f"?station={world['ids']['village']}")["items"] == []
    assert listing("home-manager", "?station=&from=")["total"] == 3  # empty filters are "any"

    outside = client.get(f"{LIST}?station={world['ids']['other']}", headers=auth(world["tokens"]["home-manager"]))
    assert error_code(outside, 404) == "station_not_found"
    backwards = client.get(f"{LIST}?from=2027-01-10&to=2027-01-01", headers=auth(world["tokens"]["home-manager"]))
    assert error_code(backwards, 400) == "invalid_input"
    assert error_code(client.get(LIST, headers=auth(world["tokens"]["zhang"])), 403) == "forbidden"


def test_a_closed_station_takes_no_receptions(app, client, world):
    with app.app_context():
        db.session.get(Station, world["ids"]["home"]).is_active = False
        db.session.commit()
    assert error_code(record(client, world, "zhang"), 404) == "station_not_found"
