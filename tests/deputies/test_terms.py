"""Terms (届次) and groupings (编组) over HTTP: staff read a deputy's seats and memberships, group a
deputy into a station and end the grouping — within their scope, never overlapping."""
from __future__ import annotations

from datetime import date, datetime

import pytest

from backend import clock
from models import (
    Deputy,
    DeputyLevel,
    DeputySeat,
    DutyAssignment,
    DutyRoster,
    RosterStatus,
    StaffRole,
    StationMembership,
    db,
)
from tests.factories import (
    auth,
    create_deputy,
    create_region_tree,
    create_staff,
    create_station,
    staff_login,
    wx_login,
)

API = "/api/v1"
TODAY = date(2026, 11, 9)


@pytest.fixture
def world(app, client):
    """安吉县: 古城 (run by `manager`) and 递铺 stations; 德清县: one station. 张代表 sits at two
    levels (the township seat of the last term ended) and is grouped into 古城 now and was
    grouped into 递铺 before; 新代表 is grouped nowhere yet; 外县代表 only in 德清."""
    clock.freeze(datetime(2026, 11, 9, 10, 0, tzinfo=clock.BEIJING))
    with app.app_context():
        regions = create_region_tree()
        gucheng = create_station(regions["community"], scene="trm01", name="古城社区联络站")
        dipu = create_station(regions["township"], scene="trm02", name="递铺街道联络站")
        deqing = create_station(regions["other_county"], scene="trm03", name="德清联络站")
        zhang = create_deputy(name="张代表", levels=[DeputyLevel.county], stations=[gucheng], leader=True,
                              phone="13900001111")
        db.session.add(DeputySeat(deputy_id=zhang.id, level=DeputyLevel.township, congress="递铺街道人民代表大会",
                                  term=17, started_on=date(2016, 10, 1), ended_on=date(2021, 9, 30)))
        db.session.add(StationMembership(station_id=dipu.id, deputy_id=zhang.id, started_on=date(2019, 1, 1),
                                         ended_on=date(2020, 12, 31)))
        db.session.commit()
        new = create_deputy(name="新代表")
        outsider = create_deputy(name="外县代表", stations=[deqing])
        create_staff(username="manager", stations=[gucheng])
        create_staff(username="dipu-manager", stations=[dipu])
        create_staff(username="admin", role=StaffRole.region_admin, region=regions["county"])
        create_staff(username="other-admin", role=StaffRole.region_admin, region=regions["other_county"])
        ids = {"zhang": zhang.id, "new": new.id, "outsider": outsider.id, "gucheng": gucheng.id, "dipu": dipu.id,
               "deqing": deqing.id}
    tokens: dict[str, str] = {}

    def token(who: str) -> str:
        if who not in tokens:
            tokens[who] = wx_login(client, who)["token"] if who == "resident" else staff_login(client, who)["token"]
        return tokens[who]

    return {"ids": ids, "token": token}


def call(client, world, who, method, path, body=None, headers=None):
    return client.open(API + path, method=method, json=body,
                       headers={**auth(world["token"](who)), **(headers or {})})


def error_of(response, status, code) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == code and any("\u4e00" <= ch <= "\u9fff" for ch in error["message"]), error
    return error


def add(client, world, station, deputy, who="admin", **body):
    return call(client, world, who, "POST", f"/manage/stations/{world['ids'][station]}/memberships",
                {"deputy_id": world["ids"][deputy], **body})


def end(client, world, station, membership_id, who="admin", **body):
    return call(client, world, who, "POST", f"/manage/stations/{world['ids'][station]}/memberships/"
                                            f"{membership_id}/end", body)


def scan_names(client, scene) -> list[str]:
    return [d["name"] for d in client.get(f"{API}/stations/scan/{scene}").get_json()["deputies"]]


# --- reading ----------------------------------------------------------------------------------

def test_staff_read_a_deputy_with_every_seat_and_grouping(client, world):
    response = call(client, world, "manager", "GET", f"/manage/deputies/{world['ids']['zhang']}")
    assert response.status_code == 200
    deputy = response.get_json()["deputy"]
    assert deputy["name"] == "张代表" and deputy["phone"] == "13900001111"
    assert deputy["retired"] is False and deputy["retired_at"] is None and deputy["wechat_bound"] is False
    assert [(s["level"], s["term_label"], s["ended_on"], s["current"]) for s in deputy["seats"]] == [
        ("county", "第十八届", None, True), ("township", "第十七届", "2021-09-30", False)]
    assert [(m["station"]["name"], m["started_on"], m["ended_on"], m["current"], m["is_leader"], m["managed"])
            for m in deputy["memberships"]] == [
        ("古城社区联络站", "2021-10-01", None, True, True, True),
        ("递铺街道联络站", "2019-01-01", "2020-12-31", False, False, False)]
    # The county admin manages both stations.
    admin = call(client, world, "admin", "GET", f"/manage/deputies/{world['ids']['zhang']}").get_json()["deputy"]
    assert [m["managed"] for m in admin["memberships"]] == [True, True]
    # A past grouping is enough for the station's manager to read the record.
    assert call(client, world, "dipu-manager", "GET", f"/manage/deputies/{world['ids']['zhang']}").status_code == 200


def test_reading_a_deputy_outside_ones_scope(client, world):
    error_of(call(client, world, "other-admin", "GET", f"/manage/deputies/{world['ids']['zhang']}"), 404, "not_found")
    error_of(call(client, world, "manager", "GET", f"/manage/deputies/{world['ids']['outsider']}"), 404, "not_found")
    for unknown in (424242, 2**31, 10**20):  # beyond PostgreSQL's integer too: still a 404, never a 500
        error_of(call(client, world, "admin", "GET", f"/manage/deputies/{unknown}"), 404, "not_found")
        error_of(call(client, world, "admin", "POST", f"/manage/stations/{unknown}/memberships", {"deputy_id": 1}),
                 404, "station_not_found")
        error_of(end(client, world, "dipu", unknown), 404, "not_found")
    error_of(call(client, world, "resident", "GET", f"/manage/deputies/{world['ids']['zhang']}"), 403, "forbidden")
    error_of(client.get(f"{API}/manage/deputies/{world['ids']['zhang']}"), 401, "unauthorized")


# --- grouping ---------------------------------------------------------------------------------

def test_grouping_a_deputy_into_a_station_shows_them_on_scan(client, app, world):
    assert scan_names(client, "trm02") == []
    response = add(client, world, "dipu", "zhang")
    assert response.status_code == 201, response.get_json()
    membership = response.get_json()["membership"]
    assert membership["station"]["name"] == "递铺街道联络站" and membership["started_on"] == "2026-11-09"
    assert membership["ended_on"] is None and membership["current"] is True and membership["is_leader"] is False
    assert scan_names(client, "trm02") == ["张代表"]
    with app.app_context():
        assert db.session.get(StationMembership, membership["id"]).deputy_id == world["ids"]["zhang"]


def test_groupings_of_one_deputy_and_station_never_overlap(client, world):
    # The old 递铺 grouping ended 2020-12-31: one may begin the day after, not before.
    error = error_of(add(client, world, "dipu", "zhang", started_on="2020-12-31"), 409, "conflict")
    assert "2019-01-01" in error["message"]
    assert add(client, world, "dipu", "zhang", started_on="2021-01-01").status_code == 201
    # Now running with no end: any later start overlaps it.
    error_of(add(client, world, "dipu", "zhang", started_on="2027-01-01"), 409, "conflict")
    error_of(add(client, world, "gucheng", "zhang"), 409, "conflict")
    # Grouping into another station at the same time is fine: a deputy may belong to several.
    assert add(client, world, "gucheng", "new", is_leader=True).status_code == 201


def test_ending_a_grouping_then_grouping_again(client, world):
    membership_id = add(client, world, "dipu", "new").get_json()["membership"]["id"]
    response = end(client, world, "dipu", membership_id, ended_on="2026-11-20")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["membership"]["ended_on"] == "2026-11-20"
    error_of(end(client, world, "dipu", membership_id), 409, "conflict")
    error_of(add(client, world, "dipu", "new", started_on="2026-11-20"), 409, "conflict")
    assert add(client, world, "dipu", "new", started_on="2026-11-21").status_code == 201


def test_ending_a_grouping_today_keeps_the_day_and_drops_later_duty_there(client, app, world):
    gucheng = world["ids"]["gucheng"]
    with app.app_context():
        zhang = world["ids"]["zhang"]
        membership_id = db.session.scalar(db.select(StationMembership.id).where(
            StationMembership.deputy_id == zhang, StationMembership.station_id == gucheng))
        # Duty at 古城 before, on and after today, and at 递铺 (another grouping) later.
        dipu_membership = StationMembership(station_id=world["ids"]["dipu"], deputy_id=zhang,
                                            started_on=date(2026, 11, 1))
        rosters = {s: DutyRoster(station_id=s, month=date(2026, 11, 1), status=RosterStatus.published)
                   for s in (gucheng, world["ids"]["dipu"])}
        db.session.add_all([dipu_membership, *rosters.values()])
        db.session.flush()
        for station, day in [(gucheng, 6), (gucheng, 9), (gucheng, 16), (gucheng, 26), (world["ids"]["dipu"], 16)]:
            db.session.add(DutyAssignment(roster_id=rosters[station].id, station_id=station,
                                          duty_date=date(2026, 11, day), deputy_id=zhang))
        db.session.commit()
    assert scan_names(client, "trm01") == ["张代表"]
    response = end(client, world, "gucheng", membership_id, who="manager")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["membership"]["ended_on"] == "2026-11-09" and body["membership"]["current"] is True
    assert body["dropped_duty_days"] == 2
    with app.app_context():
        left = sorted((a.station_id, a.duty_date.day) for a in db.session.scalars(db.select(DutyAssignment)))
        assert left == sorted([(gucheng, 6), (gucheng, 9), (world["ids"]["dipu"], 16)])
    # Still a member today; gone from the scan tomorrow.
    assert scan_names(client, "trm01") == ["张代表"]
    clock.freeze(datetime(2026, 11, 10, 9, 0, tzinfo=clock.BEIJING))
    assert scan_names(client, "trm01") == []


def test_bad_groupings_are_refused(client, app, world):
    membership_id = add(client, world, "dipu", "new").get_json()["membership"]["id"]
    fields = error_of(end(client, world, "dipu", membership_id, ended_on="2026-11-08"), 400,
                      "invalid_input")["details"]["fields"]
    assert "2026-11-09" in fields["ended_on"]
    # A membership of another station, or none at all, through this station's path.
    error_of(end(client, world, "gucheng", membership_id), 404, "not_found")
    error_of(end(client, world, "dipu", 424242), 404, "not_found")
    for body in ({}, {"deputy_id": "x"}, {"deputy_id": 0}, {"deputy_id": 1, "started_on": "2026-02-30"},
                 {"deputy_id": 1, "started_on": "1999-01-01"}):
        response = call(client, world, "admin", "POST", f"/manage/stations/{world['ids']['dipu']}/memberships", body)
        error_of(response, 400, "invalid_input")
    with app.app_context():
        db.session.get(Deputy, world["ids"]["new"]).retired_at = clock.now()
        db.session.commit()
    error = error_of(add(client, world, "gucheng", "new"), 409, "conflict")
    assert "离任" in error["message"]


def test_who_may_group_whom(client, app, world):
    # A station outside one's scope is not found.
    error_of(add(client, world, "dipu", "new", who="manager"), 404, "station_not_found")
    error_of(add(client, world, "gucheng", "new", who="other-admin"), 404, "station_not_found")
    error_of(add(client, world, "gucheng", "new", who="resident"), 403, "forbidden")
    # A deputy grouped only elsewhere is out of reach — as if unknown.
    fields = error_of(add(client, world, "gucheng", "outsider", who="manager"), 400, "invalid_input")["details"]["fields"]
    assert "deputy_id" in fields
    response = call(client, world, "manager", "POST", f"/manage/stations/{world['ids']['gucheng']}/memberships",
                    {"deputy_id": 424242})
    assert error_of(response, 400, "invalid_input")["details"]["fields"] == fields
    # The station's manager groups a newly elected deputy, and one already in their scope.
    assert add(client, world, "gucheng", "new", who="manager").status_code == 201
    with app.app_context():
        membership_id = db.session.scalar(db.select(StationMembership.id).where(
            StationMembership.station_id == world["ids"]["dipu"]))
    error_of(end(client, world, "dipu", membership_id, who="manager"), 404, "station_not_found")
    assert end(client, world, "dipu", membership_id, who="dipu-manager").status_code == 409  # ended in 2020


def test_grouping_honours_idempotency_keys(client, app, world):
    headers = {"Idempotency-Key": "group-new-into-dipu"}
    first = call(client, world, "admin", "POST", f"/manage/stations/{world['ids']['dipu']}/memberships",
                 {"deputy_id": world["ids"]["new"]}, headers=headers)
    again = call(client, world, "admin", "POST", f"/manage/stations/{world['ids']['dipu']}/memberships",
                 {"deputy_id": world["ids"]["new"]}, headers=headers)
    assert first.status_code == again.status_code == 201 and first.get_json() == again.get_json()
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(StationMembership.id)).where(
            StationMembership.deputy_id == world["ids"]["new"])) == 1
