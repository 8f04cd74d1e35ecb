"""Scan-to-find over HTTP: station by scene, its deputies, its next reception day."""
from __future__ import annotations

from datetime import date, datetime, time, timezone

import pytest

from backend import clock
from models import DeputyLevel, ReceptionRuleKind, db
from tests.factories import create_deputy, create_region_tree, create_rule, create_station

BJ = clock.BEIJING


@pytest.fixture
def county(app):
    with app.app_context():
        regions = create_region_tree()
        station = create_station(regions["community"], name="古城社区人大代表联络站", scene="gucheng01")
        return {"station_id": station.id, "regions": {k: v.id for k, v in regions.items()}}


def scan(client, scene="gucheng01"):
    return client.get(f"/api/v1/stations/scan/{scene}")


def test_scan_returns_station_with_region_path_and_rule(client, county):
    response = scan(client)
    assert response.status_code == 200
    station = response.get_json()["station"]
    assert station["id"] == county["station_id"] and station["scene"] == "gucheng01"
    assert station["name"] == "古城社区人大代表联络站"
    assert station["region"] == {"code": "330523001001", "name": "古城社区",
                                 "path": ["浙江省", "湖州市", "安吉县", "递铺街道", "古城社区"]}
    assert station["reception_rule"]["label"] == "逢六（每月6日、16日、26日）"
    assert station["open_hours"] == "09:00-17:00"
    assert isinstance(station["lat"], float) and isinstance(station["lng"], float)


def test_scan_unknown_or_malformed_scene_is_station_not_found(client, county):
    for scene in ("nope", "x" * 33, "bad%20scene", "阿"):
        response = scan(client, scene)
        assert response.status_code == 404, scene
        error = response.get_json()["error"]
        assert error["code"] == "station_not_found" and error["message"]


def test_closed_station_is_not_found(client, app, county):
    with app.app_context():
        from models import Region
        create_station(db.session.get(Region, county["regions"]["township"]), scene="closed01", is_active=False)
    assert scan(client, "closed01").status_code == 404


def test_deputies_current_only_ordered_by_level_with_all_seats(client, app, county):
    with app.app_context():
        from models import Station
        station = db.session.get(Station, county["station_id"])
        township = create_deputy(name="乡镇代表", levels=[DeputyLevel.township], stations=[station])
        double = create_deputy(name="两级代表", levels=[DeputyLevel.county, DeputyLevel.township], stations=[station],
                               groups=["城乡建设组"])
        national = create_deputy(name="全国代表", levels=[DeputyLevel.national], stations=[station])
        create_deputy(name="已调离", levels=[DeputyLevel.county], stations=[station],
                      membership_ended_on=date(2024, 1, 1))
        create_deputy(name="届满", levels=[DeputyLevel.county], stations=[station], ended_on=date(2021, 12, 31),
                      started_on=date(2016, 10, 1))
        retired = create_deputy(name="已离任", levels=[DeputyLevel.county], stations=[station])
        retired.retired_at = datetime.now(timezone.utc)
        db.session.commit()
        ids = [national.id, double.id, township.id]
    deputies = scan(client).get_json()["deputies"]
    assert [d["id"] for d in deputies] == ids
    assert deputies[1]["level"] == "county" and deputies[1]["levels"] == ["county", "township"]
    assert deputies[1]["groups"] == ["城乡建设组"]
    assert set(deputies[0]) == {"id", "name", "level", "levels", "photo_url", "groups"}
    assert "13800001234" not in scan(client).get_data(as_text=True)  # deputies' phones stay private


def _at_beijing(y, m, d, hh, mm=0):
    clock.freeze(datetime(y, m, d, hh, mm, tzinfo=BJ))


@pytest.mark.parametrize("moment, expected", [
    ((2026, 12, 6, 10), "2026-12-06"),    # a 逢六 day, before closing: today
    ((2026, 12, 6, 16, 59), "2026-12-06"),
    ((2026, 12, 6, 17, 0), "2026-12-16"),  # at closing time the day is over
    ((2026, 12, 26, 18), "2027-01-06"),    # across the year end
    ((2027, 2, 26, 17, 30), "2027-03-06"),  # February has no 30th or 31st to worry about
    ((2026, 12, 7, 9), "2026-12-16"),
])
def test_next_reception_day_fengliu(client, county, moment, expected):
    _at_beijing(*moment)
    day = scan(client).get_json()["next_reception_day"]
    assert day == {"date": expected, "on_duty": [], "roster_published": False}


def test_next_reception_day_uses_beijing_date_when_server_is_utc(client, county):
    # 17:00 UTC on the 5th is 01:00 on the 6th in Beijing: already a reception day there.
    clock.freeze(datetime(2026, 12, 5, 17, 0, tzinfo=timezone.utc))
    assert scan(client).get_json()["next_reception_day"]["date"] == "2026-12-06"
    clock.freeze(datetime(2026, 12, 5, 15, 59, tzinfo=timezone.utc))  # 23:59 on the 5th in Beijing
    assert scan(client).get_json()["next_reception_day"]["date"] == "2026-12-06"
    clock.freeze(datetime(2026, 12, 6, 9, 0, tzinfo=timezone.utc))  # 17:00 on the 6th in Beijing
    assert scan(client).get_json()["next_reception_day"]["date"] == "2026-12-16"


def test_rules_are_data_inherited_region_then_station(client, app, county):
    with app.app_context():
        from models import Region, Station
        wednesday = create_rule(kind=ReceptionRuleKind.weekly, days=[3], label="每周三")
        township = db.session.get(Region, county["regions"]["township"])
        township.reception_rule = wednesday
        db.session.commit()
    _at_beijing(2026, 12, 3, 18)  # a Thursday evening
    body = scan(client).get_json()
    assert body["station"]["reception_rule"]["label"] == "每周三"
    assert body["next_reception_day"]["date"] == "2026-12-09"

    with app.app_context():
        own = create_rule(days=[10, 25], label="每月10日、25日")
        db.session.get(Station, county["station_id"]).reception_rule = own
        db.session.commit()
    body = scan(client).get_json()
    assert body["station"]["reception_rule"]["label"] == "每月10日、25日"
    assert body["next_reception_day"]["date"] == "2026-12-10"


def test_next_reception_day_null_when_none_within_60_days(client, app, county):
    with app.app_context():
        from models import Station
        db.session.get(Station, county["station_id"]).reception_rule = create_rule(days=[], label="预约接待")
        db.session.commit()
    assert scan(client).get_json()["next_reception_day"] is None


def test_next_reception_day_sixty_day_boundary(client, app, county):
    # Only the 31st: from 1 Feb 2027 the next 31st is 31 March, 58 days later (inside the window);
    # from 31 Dec 2026 after closing it is 31 Jan (31 days).
    with app.app_context():
        from models import Station
        db.session.get(Station, county["station_id"]).reception_rule = create_rule(days=[31], label="每月31日")
        db.session.commit()
    _at_beijing(2027, 2, 1, 9)
    assert scan(client).get_json()["next_reception_day"]["date"] == "2027-03-31"
    _at_beijing(2026, 12, 31, 18)
    assert scan(client).get_json()["next_reception_day"]["date"] == "2027-01-31"


def test_station_closing_time_is_the_stations_own(client, app, county):
    with app.app_context():
        from models import Region
        create_station(db.session.get(Region, county["regions"]["township"]), scene="late01", closes_at=time(20, 0))
    _at_beijing(2026, 12, 16, 18)
    assert scan(client, "late01").get_json()["next_reception_day"]["date"] == "2026-12-16"
    assert scan(client).get_json()["next_reception_day"]["date"] == "2026-12-26"
