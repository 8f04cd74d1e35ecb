"""Staff create, edit, close and reopen stations (backend/services/stations/station_admin.py): who may,
every refusal, and what residents, deputies and reminders see after."""
from __future__ import annotations

from datetime import date, datetime, time

import pytest

from backend import clock
from backend.auth import Caller, caller_for
from backend.errors import ApiError, Conflict, Forbidden, InvalidInput, StationNotFound
from backend.permissions import get_station
from backend.services.stations import station_admin
from backend.services.stations.stations import SCENE_PATTERN
from models import (
    DutyAssignment,
    IssueStatus,
    OutboxMessage,
    OutboxState,
    StaffAccount,
    StaffRole,
    Station,
    StationKind,
    User,
    db,
)
from tests.factories import (
    create_categories,
    create_check_in,
    create_deputy,
    create_duty,
    create_issue,
    create_region_tree,
    create_staff,
    create_station,
)

API = "/api/v1"
TODAY = date(2026, 11, 9)  # a Monday

FIELDS = {"name": "递铺街道昌硕联络站", "address": "安吉县递铺街道昌硕东路1号", "region_code": "330523001000",
          "lat": 30.64, "lng": 119.69, "kind": "community", "opens_at": "09:00", "closes_at": "17:00",
          "phone": "0572-5123456", "intro": "就近服务社区居民。\n小区改造、养老托幼等身边事可在此反映。"}


@pytest.fixture
def world(app):
    """安吉县: a township center station and a community station under it; 德清县: one station.
    Staff: county, township and 德清 admins, an admin with no region, a manager of each county."""
    clock.freeze(datetime(2026, 11, 9, 10, 0, tzinfo=clock.BEIJING))
    with app.app_context():
        create_categories()
        regions = create_region_tree()
        center = create_station(regions["township"], name="递铺街道人大代表联络站", scene="adm01", lat=30.63, lng=119.68)
        center.kind = StationKind.center
        local = create_station(regions["community"], name="古城社区联络站", scene="adm02", lat=30.631, lng=119.681)
        local.parent_station_id = center.id
        elsewhere = create_station(regions["other_county"], name="德清联络站", scene="adm03", lat=30.54, lng=119.97)
        db.session.commit()
        create_staff(username="admin", role=StaffRole.region_admin, region=regions["county"])
        create_staff(username="township-admin", role=StaffRole.region_admin, region=regions["township"])
        create_staff(username="other-admin", role=StaffRole.region_admin, region=regions["other_county"])
        create_staff(username="adrift", role=StaffRole.region_admin)
        create_staff(username="manager", stations=[local])
        create_staff(username="other-manager", stations=[elsewhere])
        db.session.add(User(openid="fake-adm-resident"))
        db.session.commit()
        return {"center": center.id, "local": local.id, "elsewhere": elsewhere.id}


def as_(who: str) -> Caller:
    """The caller `who` is: a staff username, or "resident"."""
    if who == "resident":
        return caller_for(db.session.scalar(db.select(User).filter_by(openid="fake-adm-resident")))
    return caller_for(db.session.scalar(db.select(StaffAccount).filter_by(username=who)).user)


def station(station_id: int) -> Station:
    return db.session.get(Station, station_id)


def chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def fields_of(excinfo) -> dict[str, str]:
    error = excinfo.value
    assert isinstance(error, InvalidInput) and error.status == 400 and error.code == "invalid_input"
    assert chinese(error.message)
    fields = error.details["fields"]
    assert fields and all(chinese(message) for message in fields.values()), fields
    return fields


def scan(client, scene: str):
    return client.get(f"{API}/stations/scan/{scene}")


# --- create -------------------------------------------------------------------------------------

def test_an_admin_creates_a_station_residents_can_scan(app, client, world):
    with app.app_context():
        created = station_admin.create_station(as_("admin"), **FIELDS)
        db.session.commit()
        assert created.is_active and created.region.code == "330523001000"
        assert created.kind == StationKind.community and created.parent_station_id is None
        assert (created.opens_at, created.closes_at) == (time(9, 0), time(17, 0))
        assert created.phone == "0572-5123456" and created.intro.startswith("就近服务")
        assert SCENE_PATTERN.match(created.scene) and len(created.scene) == station_admin.SCENE_LENGTH
        scene, station_id = created.scene, created.id
    response = scan(client, scene)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["station"]["name"] == "递铺街道昌硕联络站"
    assert response.get_json()["station"]["id"] == station_id


def test_scenes_are_random_not_sequential(app, world):
    with app.app_context():
        admin = as_("admin")
        scenes = [station_admin.create_station(admin, **{**FIELDS, "name": f"新建联络站{n}"}).scene for n in range(4)]
        assert len(set(scenes)) == 4
        assert all(set(s) <= set(station_admin.SCENE_ALPHABET) and not s.isdigit() for s in scenes)


def test_a_station_is_placed_by_region_id_too_and_under_a_center(app, world):
    with app.app_context():
        township_admin = as_("township-admin")
        community = db.session.scalar(db.select(Station.region_id).where(Station.id == world["local"]))
        created = station_admin.create_station(
            township_admin, **{**FIELDS, "region_code": None, "region_id": community, "opens_at": time(8, 30),
                               "closes_at": time(17, 30), "phone": None, "intro": "  ",
                               "parent_station_id": world["center"]})
        assert created.region_id == community and created.parent_station_id == world["center"]
        assert created.phone is None and created.intro is None
        assert created.open_hours == "08:30-17:30"


@pytest.mark.parametrize("who", ["manager", "other-manager", "resident", "adrift"])
def test_only_region_admins_with_a_region_create_stations(app, world, who):
    with app.app_context(), pytest.raises(Forbidden) as excinfo:
        station_admin.create_station(as_(who), **FIELDS)
    assert excinfo.value.status == 403 and chinese(excinfo.value.message)


@pytest.mark.parametrize(("who", "region"), [
    ("admin", {"region_code": "330521000000"}),  # 德清县: another county
    ("admin", {"region_code": "330523999999"}),  # no such region: the same answer
    ("admin", {"region_code": "abc"}),
    ("admin", {"region_code": "330500000000"}),  # 湖州市: above the admin's county
    ("township-admin", {"region_code": "330523000000"}),  # 安吉县: above the township
])
def test_the_region_must_lie_within_the_admins(app, world, who, region):
    with app.app_context(), pytest.raises(InvalidInput) as excinfo:
        station_admin.create_station(as_(who), **{**FIELDS, **region})
    assert fields_of(excinfo) == {"region_code": "未找到该行政区划，或不在您的管辖范围内"}


def test_a_region_id_out_of_reach_or_none_at_all(app, world):
    with app.app_context():
        other = db.session.scalar(db.select(Station.region_id).where(Station.id == world["elsewhere"]))
        with pytest.raises(InvalidInput) as excinfo:
            station_admin.create_station(as_("admin"), **{**FIELDS, "region_code": None, "region_id": other})
        assert set(fields_of(excinfo)) == {"region_id"}
        with pytest.raises(InvalidInput) as excinfo:
            station_admin.create_station(as_("admin"), **{**FIELDS, "region_code": None})
        assert fields_of(excinfo) == {"region_code": "必填"}


def test_every_bad_field_is_named_at_once(app, world):
    with app.app_context(), pytest.raises(InvalidInput) as excinfo:
        station_admin.create_station(
            as_("admin"), **{**FIELDS, "name": " ", "address": "x", "lat": 60.0, "lng": -74.0, "kind": "hub",
                             "opens_at": "18:00", "closes_at": "09:00", "phone": "call me", "intro": "长" * 2001,
                             "parent_station_id": 999_999})
    fields = fields_of(excinfo)
    assert set(fields) == {"name", "address", "lat", "lng", "kind", "closes_at", "phone", "intro",
                           "parent_station_id"}
    assert fields["name"] == "不能为空"
    assert "GCJ-02" in fields["lat"] and "GCJ-02" in fields["lng"]
    assert "中心联络站" in fields["kind"]
    assert fields["closes_at"] == "结束时间应晚于开始时间"


@pytest.mark.parametrize(("field", "value"), [
    ("lat", float("nan")), ("lat", True), ("lat", "北纬30度"), ("lng", 150.0), ("lng", None),
    ("opens_at", "9点"), ("opens_at", "25:00"), ("opens_at", time(9, 0, tzinfo=clock.BEIJING)),
    ("closes_at", None), ("kind", None), ("name", "古\u200b城"), ("name", "古城\n联络站"), ("name", 42),
    ("address", "路" * 201), ("phone", "12"), ("phone", "0572-5123456-0572-5123456-0572-5123"),
])
def test_one_bad_field(app, world, field, value):
    with app.app_context(), pytest.raises(InvalidInput) as excinfo:
        station_admin.create_station(as_("admin"), **{**FIELDS, field: value})
    assert set(fields_of(excinfo)) == {field}


def test_names_are_unique_within_a_region(app, world):
    with app.app_context():
        admin = as_("admin")
        with pytest.raises(Conflict) as excinfo:
            station_admin.create_station(admin, **{**FIELDS, "name": "  递铺街道人大代表联络站 "})
        assert excinfo.value.status == 409 and "递铺街道人大代表联络站" in excinfo.value.message
        # The same name in another region is another station.
        again = station_admin.create_station(admin, **{**FIELDS, "name": "递铺街道人大代表联络站",
                                                         "region_code": "330523001001"})
        assert again.region.code == "330523001001"


def test_a_closed_stations_name_stays_taken(app, world):
    with app.app_context():
        station(world["local"]).is_active = False
        db.session.commit()
        with pytest.raises(Conflict):
            station_admin.create_station(as_("admin"), **{**FIELDS, "name": "古城社区联络站",
                                                           "region_code": "330523001001"})


@pytest.mark.parametrize(("parent", "message"), [
    ("local", "上级联络站应为中心联络站"),
    ("elsewhere", "未找到该联络站，或不在您的管辖范围内"),
])
def test_the_parent_must_be_a_center_within_reach(app, world, parent, message):
    with app.app_context(), pytest.raises(InvalidInput) as excinfo:
        station_admin.create_station(as_("admin"), **{**FIELDS, "parent_station_id": world[parent]})
    assert fields_of(excinfo) == {"parent_station_id": message}


# --- edit ---------------------------------------------------------------------------------------

def test_a_manager_edits_the_practical_details_of_their_station(app, client, world):
    with app.app_context():
        manager = as_("manager")
        edited = station_admin.update_station(manager, station(world["local"]), address="安吉县递铺街道古城路8号",
                                              phone=None, opens_at="08:30", closes_at="17:30", intro="新的简介")
        db.session.commit()
        assert (edited.address, edited.phone, edited.open_hours, edited.intro) == (
            "安吉县递铺街道古城路8号", None, "08:30-17:30", "新的简介")
    body = scan(client, "adm02").get_json()["station"]
    assert body["address"] == "安吉县递铺街道古城路8号" and body["open_hours"] == "08:30-17:30"


@pytest.mark.parametrize("change", [{"name": "新名字联络站"}, {"region_code": "330523001000"}, {"lat": 30.7},
                                    {"kind": "center"}, {"parent_station_id": None}])
def test_a_manager_cannot_change_what_only_admins_may(app, world, change):
    with app.app_context(), pytest.raises(Forbidden) as excinfo:
        station_admin.update_station(as_("manager"), station(world["local"]), address="安吉县某路1号", **change)
    assert "区域管理员" in excinfo.value.message
    with app.app_context():
        assert station(world["local"]).address != "安吉县某路1号"


@pytest.mark.parametrize("who", ["other-manager", "other-admin", "adrift"])
def test_a_station_out_of_reach_is_not_found(app, world, who):
    with app.app_context(), pytest.raises(StationNotFound) as excinfo:
        station_admin.update_station(as_(who), station(world["local"]), phone="0572-5000000")
    assert excinfo.value.status == 404 and excinfo.value.code == "station_not_found"


def test_a_resident_cannot_edit(app, world):
    with app.app_context(), pytest.raises(Forbidden):
        station_admin.update_station(as_("resident"), station(world["local"]), phone="0572-5000000")


def test_an_admin_edits_everything_and_scan_sees_it_at_once(app, client, world):
    assert scan(client, "adm02").get_json()["station"]["name"] == "古城社区联络站"  # cached, with Redis
    with app.app_context():
        edited = station_admin.update_station(
            as_("admin"), station(world["local"]), name="古城社区人大代表联络站", region_code="330523001000",
            kind="other", lat=30.65, lng=119.70, parent_station_id=None, closes_at=time(18, 0))
        db.session.commit()
        assert edited.region.code == "330523001000" and edited.kind == StationKind.other
        assert (edited.lat, edited.lng, edited.parent_station_id, edited.closes_at) == (30.65, 119.70, None, time(18))
    body = scan(client, "adm02").get_json()["station"]
    assert body["name"] == "古城社区人大代表联络站" and body["region"]["code"] == "330523001000"
    assert body["kind"] == "other" and body["open_hours"] == "09:00-18:00"


def test_edits_are_checked_like_new_stations(app, world):
    with app.app_context():
        admin = as_("admin")
        local = station(world["local"])
        with pytest.raises(InvalidInput) as excinfo:
            station_admin.update_station(admin, local, region_code="330521000000", lat=200, name="")
        assert set(fields_of(excinfo)) == {"region_code", "lat", "name"}
        with pytest.raises(InvalidInput) as excinfo:  # checked against the hours it keeps
            station_admin.update_station(admin, local, closes_at="08:00")
        assert fields_of(excinfo) == {"closes_at": "结束时间应晚于开始时间"}
        with pytest.raises(InvalidInput) as excinfo:
            station_admin.update_station(admin, local, name=None, region_id=None)
        assert set(fields_of(excinfo)) == {"name", "region_id"}
        with pytest.raises(TypeError):
            station_admin.update_station(admin, local, scene="guessable")
        # Moved into the township, it meets the center's name there.
        with pytest.raises(Conflict):
            station_admin.update_station(admin, local, name="递铺街道人大代表联络站", region_code="330523001000")
        assert station_admin.update_station(admin, local, name="递铺街道人大代表联络站").name == "递铺街道人大代表联络站"


def test_a_station_cannot_sit_under_itself_or_its_own_children(app, world):
    with app.app_context():
        admin = as_("admin")
        center, local = station(world["center"]), station(world["local"])
        with pytest.raises(InvalidInput) as excinfo:
            station_admin.update_station(admin, center, parent_station_id=center.id)
        assert "本站" in fields_of(excinfo)["parent_station_id"]
        station_admin.update_station(admin, local, kind="center")
        with pytest.raises(InvalidInput) as excinfo:
            station_admin.update_station(admin, center, parent_station_id=local.id)
        assert "下级" in fields_of(excinfo)["parent_station_id"]
        # A center with stations under it stays a center until they move.
        with pytest.raises(InvalidInput) as excinfo:
            station_admin.update_station(admin, center, kind="community")
        assert set(fields_of(excinfo)) == {"kind"}


def test_an_edit_that_changes_nothing_writes_nothing(app, world):
    with app.app_context():
        local = station(world["local"])
        station_admin.update_station(as_("manager"), local, address=local.address, opens_at="09:00")
        assert not db.session.dirty


# --- close and reopen ---------------------------------------------------------------------------

@pytest.mark.parametrize(("who", "error"), [("manager", Forbidden), ("resident", Forbidden), ("adrift", Forbidden),
                                            ("other-admin", StationNotFound)])
def test_only_the_stations_region_admins_close_it(app, world, who, error):
    with app.app_context():
        with pytest.raises(error):
            station_admin.close_station(as_(who), station(world["local"]), "社区联络站合并")
        with pytest.raises(error):
            station_admin.reopen_station(as_(who), station(world["local"]))
        assert station(world["local"]).is_active


@pytest.mark.parametrize("reason", [None, "", "  ", "停" * 201])
def test_closing_needs_a_reason(app, world, reason):
    with app.app_context(), pytest.raises(InvalidInput) as excinfo:
        station_admin.close_station(as_("admin"), station(world["local"]), reason)
    assert set(fields_of(excinfo)) == {"reason"}


def test_a_station_with_unfinished_issues_is_not_closed(app, world):
    with app.app_context():
        local = station(world["local"])
        for status in (IssueStatus.submitted, IssueStatus.pending_review, IssueStatus.transferred,
                       IssueStatus.resolved, IssueStatus.closed, IssueStatus.rejected):
            create_issue(local, status=status)
        with pytest.raises(Conflict) as excinfo:
            station_admin.close_station(as_("admin"), station(world["local"]), "社区联络站合并")
        assert excinfo.value.details == {"unfinished_issues": 3}
        assert "3条意见建议未办结" in excinfo.value.message and "办结" in excinfo.value.message
        assert station(world["local"]).is_active


def test_a_closed_station_disappears_for_residents_and_comes_back_when_reopened(app, client, world):
    with app.app_context():
        local = station(world["local"])
        create_issue(local, status=IssueStatus.closed)  # history: does not hold the closing up
        wang = create_deputy(name="王代表", stations=[local])
        li = create_deputy(name="李代表", stations=[local])
        create_duty(local, wang, date(2026, 11, 6))  # held: stays
        create_duty(local, wang, TODAY)  # today, not attended: goes
        create_duty(local, li, TODAY)  # today, attended: stays
        create_check_in(local, li, TODAY)
        create_duty(local, wang, date(2026, 11, 16))  # goes
        create_duty(local, li, date(2026, 12, 6), published=False)  # goes
        follower = User(openid="fake-adm-follower")
        db.session.add(follower)
        db.session.flush()
        for station_id, state in ((local.id, OutboxState.pending), (local.id, OutboxState.sent),
                                  (world["center"], OutboxState.pending)):
            db.session.add(OutboxMessage(recipient_id=follower.id, template="reception_reminder",
                                         cause=f"reception:{station_id}:2026-11-16:eve:{state.value}",
                                         template_id="tpl", openid=follower.openid, data={}, state=state))
        db.session.commit()
    assert scan(client, "adm02").status_code == 200
    nearby = client.get(f"{API}/stations/nearby", query_string={"lat": 30.631, "lng": 119.681}).get_json()
    assert world["local"] in [s["id"] for s in nearby["items"]]

    with app.app_context():
        closure = station_admin.close_station(as_("admin"), station(world["local"]), "社区联络站并入街道中心站")
        db.session.commit()
        assert (closure.dropped_duty, closure.skipped_reminders) == (3, 1)
        assert not closure.station.is_active
        left = db.session.execute(db.select(DutyAssignment.duty_date, DutyAssignment.deputy_id)
                                  .where(DutyAssignment.station_id == world["local"])
                                  .order_by(DutyAssignment.duty_date)).all()
        assert [d for d, _ in left] == [date(2026, 11, 6), TODAY]
        states = dict(db.session.execute(db.select(OutboxMessage.cause, OutboxMessage.state)).tuples().all())
        assert states[f"reception:{world['local']}:2026-11-16:eve:pending"] == OutboxState.skipped
        assert states[f"reception:{world['local']}:2026-11-16:eve:sent"] == OutboxState.sent
        assert states[f"reception:{world['center']}:2026-11-16:eve:pending"] == OutboxState.pending
        with pytest.raises(StationNotFound):
            get_station(world["local"])
        # Staff keep reaching it: its history is theirs.
        assert station_admin.access_managed_station(as_("manager"), world["local"]).id == world["local"]
        with pytest.raises(Conflict):
            station_admin.close_station(as_("admin"), station(world["local"]), "再次停用")

    response = scan(client, "adm02")
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "station_not_found"
    nearby = client.get(f"{API}/stations/nearby", query_string={"lat": 30.631, "lng": 119.681}).get_json()
    assert world["local"] not in [s["id"] for s in nearby["items"]]
    assert client.get("/s/adm02").status_code == 404

    with app.app_context():
        reopened = station_admin.reopen_station(as_("township-admin"), station(world["local"]))
        db.session.commit()
        assert reopened.is_active
        with pytest.raises(Conflict):
            station_admin.reopen_station(as_("admin"), station(world["local"]))
    assert scan(client, "adm02").status_code == 200


def test_access_managed_station(app, world):
    with app.app_context():
        assert station_admin.access_managed_station(as_("manager"), world["local"]).id == world["local"]
        assert station_admin.access_managed_station(as_("admin"), world["center"]).id == world["center"]
        for who, station_id in (("manager", world["center"]), ("other-manager", world["local"]),
                                ("other-admin", world["local"]), ("admin", world["elsewhere"]),
                                ("admin", 0), ("admin", 2**40), ("admin", 999_999)):
            with pytest.raises(StationNotFound):
                station_admin.access_managed_station(as_(who), station_id)
        with pytest.raises(Forbidden):
            station_admin.access_managed_station(as_("resident"), world["local"])


def test_services_flush_and_leave_the_commit_to_the_request(app, world):
    with app.app_context():
        created = station_admin.create_station(as_("admin"), **FIELDS)
        assert created.id is not None
        db.session.rollback()
        assert db.session.scalar(db.select(Station).filter_by(name=FIELDS["name"])) is None


def test_api_errors_carry_chinese_messages(app, world):
    with app.app_context():
        for call in (lambda: station_admin.create_station(as_("manager"), **FIELDS),
                     lambda: station_admin.close_station(as_("admin"), station(world["elsewhere"]), "合并"),
                     lambda: station_admin.reopen_station(as_("admin"), station(world["local"]))):
            with pytest.raises(ApiError) as excinfo:
                call()
            assert chinese(excinfo.value.message)
