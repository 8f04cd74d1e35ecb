"""Deputies check in at their station over HTTP (进站签到): one check-in per deputy, station and
Beijing day, the distance flag, reception days and extra visits, the server's clock zone, and
concurrent scans."""
from __future__ import annotations

import math
import threading
from datetime import UTC, date, datetime

import pytest
import requests

from backend import clock
from backend.services.duty import check_ins
from models import CheckIn, DayChangeKind, Deputy, ReceptionDayChange, Station, db
from tests.factories import (
    auth,
    bind_deputy_user,
    create_check_in,
    create_deputy,
    create_duty,
    create_region_tree,
    create_station,
    wx_login,
)

API = "/api/v1/deputy/check-ins"
LAT, LNG = 30.63, 119.68
# Metres in one degree of latitude on the sphere haversine uses (mean radius 6371008.8 m): a
# point due north of the station by d metres is d / this degrees away, whatever the formula.
M_PER_DEG_LAT = 6_371_008.8 * math.pi / 180


def north_of(metres: float) -> tuple[float, float]:
    return LAT + metres / M_PER_DEG_LAT, LNG


@pytest.fixture
def world(app, client):
    """Station 递铺 (scene ci01, 逢六 by default) with two members; station 德清 (ci02) elsewhere."""
    clock.freeze(datetime(2027, 1, 6, 10, 0, tzinfo=clock.BEIJING))  # a 逢六 day
    with app.app_context():
        regions = create_region_tree()
        home = create_station(regions["township"], name="递铺联络站", scene="ci01", lat=LAT, lng=LNG)
        other = create_station(regions["other_county"], name="德清联络站", scene="ci02", lat=30.55, lng=119.97)
        zhang = create_deputy(name="张代表", stations=[home])
        li = create_deputy(name="李代表", stations=[home])
        gone = create_deputy(name="赵代表", stations=[home], membership_ended_on=date(2026, 12, 31))
        ids = {"home": home.id, "other": other.id, "zhang": zhang.id, "li": li.id, "gone": gone.id}
    tokens = {name: bind_deputy_user(client, app, ids[name], f"ci-{name}") for name in ("zhang", "li", "gone")}
    return {"ids": ids, "tokens": tokens}


def scan(client, world, who="zhang", scene="ci01", **body):
    return client.post(API, json={"scene": scene, **body}, headers=auth(world["tokens"][who]))


def rows(app) -> list[CheckIn]:
    with app.app_context():
        return db.session.scalars(db.select(CheckIn).order_by(CheckIn.id)).all()


def test_the_first_scan_creates_the_check_in_and_a_second_answers_it(app, client, world):
    first = scan(client, world, lat=LAT, lng=LNG)
    assert first.status_code == 201, first.get_json()
    body = first.get_json()["check_in"]
    assert body["station"] == {"id": world["ids"]["home"], "name": "递铺联络站"}
    assert body["deputy_id"] == world["ids"]["zhang"]
    assert body["date"] == "2027-01-06"
    assert body["checked_in_at"] == "2027-01-06T10:00:00+08:00"
    assert body["distance_m"] == 0 and body["is_far"] is False
    assert body["on_reception_day"] is True and body["on_duty"] is False

    clock.freeze(datetime(2027, 1, 6, 15, 0, tzinfo=clock.BEIJING))
    again = scan(client, world, lat=north_of(900)[0], lng=LNG)  # later, and from elsewhere
    assert again.status_code == 200
    assert again.get_json() == first.get_json()  # the first one, unchanged
    assert len(rows(app)) == 1


def test_a_check_in_without_a_location_is_kept_without_a_distance(client, world):
    body = scan(client, world).get_json()["check_in"]
    assert body["lat"] is None and body["lng"] is None and body["distance_m"] is None
    assert body["is_far"] is False


def test_300_metres_away_is_near_800_metres_is_far(client, world):
    near = scan(client, world, "zhang", lat=north_of(300)[0], lng=LNG).get_json()["check_in"]
    far = scan(client, world, "li", lat=north_of(800)[0], lng=LNG).get_json()["check_in"]
    assert near["distance_m"] == pytest.approx(300, abs=0.5) and near["is_far"] is False
    assert far["distance_m"] == pytest.approx(800, abs=0.5) and far["is_far"] is True
    assert near["lat"] == pytest.approx(north_of(300)[0])  # kept as given (GCJ-02)


def test_far_is_more_than_500_metres_east_west_too(client, world):
    # Due east along the parallel: one degree of longitude is cos(lat) of a degree of latitude;
    # over a few hundred metres the parallel and the great circle differ by far less than 1 m.
    per_deg_lng = M_PER_DEG_LAT * math.cos(math.radians(LAT))
    near = scan(client, world, "zhang", lat=LAT, lng=LNG + 490 / per_deg_lng).get_json()["check_in"]
    far = scan(client, world, "li", lat=LAT, lng=LNG - 510 / per_deg_lng).get_json()["check_in"]
    assert near["distance_m"] == pytest.approx(490, abs=0.5) and near["is_far"] is False
    assert far["distance_m"] == pytest.approx(510, abs=0.5) and far["is_far"] is True


def test_each_deputy_and_each_day_has_its_own_check_in(app, client, world):
    assert scan(client, world, "zhang").status_code == 201
    assert scan(client, world, "li").status_code == 201
    clock.freeze(datetime(2027, 1, 7, 9, 0, tzinfo=clock.BEIJING))
    nextday = scan(client, world, "zhang")
    assert nextday.status_code == 201
    assert nextday.get_json()["check_in"]["date"] == "2027-01-07"
    assert nextday.get_json()["check_in"]["on_reception_day"] is False  # an extra visit
    assert [(r.deputy_id, r.on_date) for r in rows(app)] == [
        (world["ids"]["zhang"], date(2027, 1, 6)), (world["ids"]["li"], date(2027, 1, 6)),
        (world["ids"]["zhang"], date(2027, 1, 7))]


def test_a_server_in_utc_at_17_00_checks_in_on_tomorrows_beijing_date(client, world):
    clock.freeze(datetime(2027, 1, 5, 17, 0, tzinfo=UTC))  # 01:00 on the 6th in Beijing
    body = scan(client, world).get_json()["check_in"]
    assert body["date"] == "2027-01-06" and body["on_reception_day"] is True
    assert body["checked_in_at"] == "2027-01-06T01:00:00+08:00"
    clock.freeze(datetime(2027, 1, 6, 15, 59, tzinfo=UTC))  # 23:59 on the 6th: the same day
    assert scan(client, world).status_code == 200
    clock.freeze(datetime(2027, 1, 6, 16, 0, tzinfo=UTC))  # midnight: the 7th begins
    late = scan(client, world)
    assert late.status_code == 201 and late.get_json()["check_in"]["date"] == "2027-01-07"


def test_on_duty_only_on_a_published_roster(app, client, world):
    with app.app_context():
        home = db.session.get(Station, world["ids"]["home"])
        create_duty(home, db.session.get(Deputy, world["ids"]["zhang"]), date(2027, 1, 6))
        create_duty(home, db.session.get(Deputy, world["ids"]["li"]), date(2027, 2, 6), published=False)
    assert scan(client, world, "zhang").get_json()["check_in"]["on_duty"] is True
    assert scan(client, world, "li").get_json()["check_in"]["on_duty"] is False  # not on duty this day
    clock.freeze(datetime(2027, 2, 6, 10, 0, tzinfo=clock.BEIJING))
    assert scan(client, world, "li").get_json()["check_in"]["on_duty"] is False  # a draft promises nothing


def test_a_moved_reception_day_is_a_reception_day_on_its_new_date(app, client, world):
    with app.app_context():
        db.session.add(ReceptionDayChange(station_id=world["ids"]["home"], rule_date=date(2027, 1, 16),
                                          kind=DayChangeKind.moved, moved_to=date(2027, 1, 18), reason="调休"))
        db.session.add(ReceptionDayChange(station_id=world["ids"]["home"], rule_date=date(2027, 1, 26),
                                          kind=DayChangeKind.cancelled, reason="台风"))
        db.session.commit()
    expected = {date(2027, 1, 16): False, date(2027, 1, 18): True, date(2027, 1, 26): False}
    for day, held in expected.items():
        clock.freeze(datetime(day.year, day.month, day.day, 10, 0, tzinfo=clock.BEIJING))
        assert scan(client, world).get_json()["check_in"]["on_reception_day"] is held, day


def test_only_a_member_of_the_station_may_check_in(app, client, world):
    refused = scan(client, world, "zhang", scene="ci02")
    assert refused.status_code == 403
    error = refused.get_json()["error"]
    assert error["code"] == "forbidden" and "编组" in error["message"]
    ended = scan(client, world, "gone")  # grouped here until 31 December
    assert ended.status_code == 403
    assert rows(app) == []


def test_unknown_codes_and_bad_locations_are_refused(client, world):
    unknown = scan(client, world, scene="nope99")
    assert unknown.status_code == 404 and unknown.get_json()["error"]["code"] == "station_not_found"
    for body, field in (({"lat": LAT}, "_body"), ({"lng": LNG}, "_body"), ({"lat": 91, "lng": LNG}, "lat"),
                        ({"lat": LAT, "lng": "东经"}, "lng")):
        response = scan(client, world, **body)
        assert response.status_code == 400, body
        fields = response.get_json()["error"]["details"]["fields"]
        assert field in fields and any("\u4e00" <= ch <= "\u9fff" for ch in fields[field]), fields
    assert client.post(API, json={"scene": "ci01"}).status_code == 401


def test_residents_and_staff_cannot_check_in(client, world):
    token = wx_login(client, "ci-resident")["token"]
    response = client.post(API, json={"scene": "ci01"}, headers=auth(token))
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden"


def test_simultaneous_scans_make_one_check_in(app, live_server, world):
    """Six scans at once from one deputy: one row, one 201, five 200s all naming it."""
    barrier = threading.Barrier(6)
    results: list = [None] * 6

    def run(i: int) -> None:
        barrier.wait()
        results[i] = requests.post(f"{live_server}{API}", json={"scene": "ci01"},
                                   headers=auth(world["tokens"]["zhang"]), timeout=20)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(r.status_code for r in results) == [200] * 5 + [201], [r.text for r in results]
    assert len({r.json()["check_in"]["id"] for r in results}) == 1
    assert len(rows(app)) == 1


def test_losing_the_race_to_insert_answers_the_winners_check_in(app, world, monkeypatch):
    """The scan that inserts second (its lookup ran before the first committed) fails on the
    unique constraint and answers the first row instead, in the same transaction."""
    with app.app_context():
        station = db.session.get(Station, world["ids"]["home"])
        winner = create_check_in(station, db.session.get(Deputy, world["ids"]["zhang"]), date(2027, 1, 6)).id
        lookups = []
        real = check_ins._existing

        def late_lookup(*args):
            lookups.append(args)
            return None if len(lookups) == 1 else real(*args)

        monkeypatch.setattr(check_ins, "_existing", late_lookup)
        row, created = check_ins.check_in(world["ids"]["zhang"], station, LAT, LNG)
        assert (row.id, created, len(lookups)) == (winner, False, 2)
        db.session.commit()  # the transaction is still usable
    assert len(rows(app)) == 1
