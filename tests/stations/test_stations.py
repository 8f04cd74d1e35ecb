"""Nearby stations, printed codes, the poster, the landing page, following a station."""
from __future__ import annotations

import io
import random

import pytest
from PIL import Image

from backend.services.stations.station_places import StationMap
from models import Station, StationFollow, db
from tests.factories import (
    auth,
    count_queries,
    create_deputy,
    create_region_tree,
    create_station,
    redis_commands,
    wx_login,
)


@pytest.fixture
def stations(app):
    with app.app_context():
        regions = create_region_tree()
        township = regions["township"]
        near = create_station(township, name="近站", scene="near01", lat=30.6300, lng=119.6800)
        mid = create_station(township, name="中站", scene="mid01", lat=30.6500, lng=119.7000)
        far = create_station(township, name="远站", scene="far01", lat=31.2300, lng=120.1600)
        create_station(township, name="停用站", scene="off01", lat=30.6301, lng=119.6801, is_active=False)
        create_deputy(name="王芳", stations=[near])
        return {"near": near.id, "mid": mid.id, "far": far.id}


def test_nearby_orders_by_distance_and_limits(client, stations):
    response = client.get("/api/v1/stations/nearby?lat=30.6301&lng=119.6801&limit=2")
    assert response.status_code == 200
    items = response.get_json()["items"]
    assert [i["id"] for i in items] == [stations["near"], stations["mid"]]
    assert items[0]["distance_m"] < 20
    assert 2500 < items[1]["distance_m"] < 3200  # about 2.9 km by the haversine formula
    everything = client.get("/api/v1/stations/nearby?lat=30.6301&lng=119.6801").get_json()["items"]
    assert [i["id"] for i in everything] == [stations["near"], stations["mid"], stations["far"]]
    assert 70_000 < everything[2]["distance_m"] < 90_000


def test_nearby_finds_stations_far_away_and_across_the_box_edge(client, stations):
    # From far away (Beijing) the box must keep growing until it reaches Anji.
    items = client.get("/api/v1/stations/nearby?lat=39.9&lng=116.4&limit=1").get_json()["items"]
    assert items[0]["id"] == stations["far"]


def nearby_ids(client, **query):
    response = client.get("/api/v1/stations/nearby", query_string={"lat": 30.6301, "lng": 119.6801} | query)
    assert response.status_code == 200
    return [(i["id"], i["name"]) for i in response.get_json()["items"]]


@pytest.mark.redis
def test_a_repeated_nearby_runs_no_query(app, client, stations):
    first, cold = count_queries(app, lambda: nearby_ids(client))
    _, warm = count_queries(app, lambda: nearby_ids(client, lat=30.64))
    assert cold > 0 and warm == 0
    assert [i for i, _ in first] == [stations["near"], stations["mid"], stations["far"]]


@pytest.mark.redis
def test_a_repeated_nearby_is_one_redis_round_trip(app, client, stations):
    nearby_ids(client)
    # Three boxes searched (the point is far from most stations), one read of the generation.
    found, commands = redis_commands(app, lambda: nearby_ids(client, lat=30.0, lng=119.0, limit=3))
    assert len(found) == 3
    assert commands == ["GET"]


@pytest.mark.redis
def test_a_new_moved_renamed_or_closed_station_shows_in_nearby_at_once(app, client, stations):
    assert [i for i, _ in nearby_ids(client, limit=2)] == [stations["near"], stations["mid"]]
    with app.app_context():
        added = create_station(db.session.get(Station, stations["near"]).region, name="新站", scene="new01",
                               lat=30.6310, lng=119.6810).id
    assert nearby_ids(client, limit=2) == [(stations["near"], "近站"), (added, "新站")]
    with app.app_context():
        far = db.session.get(Station, stations["far"])
        far.lat, far.lng, far.name = 30.6301, 119.6801, "搬来的站"
        db.session.get(Station, stations["near"]).is_active = False
        db.session.commit()
    assert nearby_ids(client, limit=2) == [(stations["far"], "搬来的站"), (added, "新站")]
    with app.app_context():
        db.session.get(Station, added).region.name = "改名镇"
        db.session.commit()
    regions = client.get("/api/v1/stations/nearby", query_string={"lat": 30.6301, "lng": 119.6801}).get_json()
    assert {i["region"]["name"] for i in regions["items"]} == {"改名镇"}


@pytest.mark.redis
def test_a_deputy_joining_a_station_leaves_the_nearby_map_and_cards_cached(app, client, stations):
    """Members, rosters and deputies change all day across a province; nearby shows none of them."""
    nearby_ids(client)
    with app.app_context():
        create_deputy(name="赵敏", stations=[db.session.get(Station, stations["mid"])])
    _, queries = count_queries(app, lambda: nearby_ids(client))
    assert queries == 0


def test_the_station_map_finds_what_a_scan_of_every_place_finds():
    """The grid's box search, small boxes and boxes larger than the stations' spread alike,
    against the plain filter — edges included (BETWEEN is inclusive)."""
    rnd = random.Random(7)
    places = [(i, rnd.uniform(29.5, 31.5), rnd.uniform(118.5, 121.0)) for i in range(3000)]
    places += [(3000, 30.05, 120.05), (3001, -45.0, -170.0)]  # on a cell's corner; far away
    grid = StationMap(places)
    boxes = [(30.05, 30.05, 120.05, 120.05), (-90.0, 90.0, -180.0, 180.0), (-50, -40, -175, -165)]
    for _ in range(300):
        lat, lng, half = rnd.uniform(29, 32), rnd.uniform(118, 121.5), rnd.choice([0.001, 0.05, 0.3, 2.0, 40.0])
        boxes.append((lat - half, lat + half, lng - half, lng + half))
    for lat_lo, lat_hi, lng_lo, lng_hi in boxes:
        expected = sorted(p for p in places if lat_lo <= p[1] <= lat_hi and lng_lo <= p[2] <= lng_hi)
        assert sorted(grid.in_box(lat_lo, lat_hi, lng_lo, lng_hi)) == expected


@pytest.mark.parametrize("query, field", [
    ("lat=91&lng=119", "lat"),
    ("lat=-90.5&lng=119", "lat"),
    ("lat=30&lng=abc", "lng"),
    ("lat=30&lng=181", "lng"),
    ("lng=119", "lat"),
    ("lat=30&lng=119&limit=51", "limit"),
    ("lat=30&lng=119&limit=0", "limit"),
    ("lat=nan&lng=119", "lat"),
    ("lat=30&lng=inf", "lng"),
])
def test_nearby_bad_coordinates(client, stations, query, field):
    response = client.get(f"/api/v1/stations/nearby?{query}")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_input"
    assert field in error["details"]["fields"]
    assert all(ord(ch) > 127 for ch in error["details"]["fields"][field][:1]) or error["details"]["fields"][field]


def test_qrcode_png_and_svg_encode_the_station_url(client, stations):
    png = client.get(f"/api/v1/stations/{stations['near']}/qrcode.png")
    assert png.status_code == 200 and png.mimetype == "image/png"
    image = Image.open(io.BytesIO(png.data))
    assert image.size[0] == image.size[1] and image.size[0] >= 200
    svg = client.get(f"/api/v1/stations/{stations['near']}/qrcode.svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    assert b"<svg" in svg.data


def test_codes_of_unknown_station(client, stations):
    for suffix in ("qrcode.png", "qrcode.svg", "poster.pdf"):
        response = client.get(f"/api/v1/stations/99999/{suffix}")
        assert response.status_code == 404 and response.get_json()["error"]["code"] == "station_not_found"


def test_poster_is_a_pdf(client, stations):
    response = client.get(f"/api/v1/stations/{stations['near']}/poster.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF")


def test_landing_page_for_scanners_outside_wechat(client, stations):
    response = client.get("/s/near01")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "近站" in page and "王芳" in page and "微信" in page
    assert f"/api/v1/stations/{stations['near']}/qrcode.png" in page
    missing = client.get("/s/unknown1")
    assert missing.status_code == 404 and "未找到" in missing.get_data(as_text=True)


def test_follow_and_unfollow(client, app, stations):
    token = wx_login(client, "follower")["token"]
    url = f"/api/v1/stations/{stations['near']}/follow"
    assert client.post(url).status_code == 401
    first = client.post(url, headers=auth(token))
    assert first.status_code == 200
    assert first.get_json()["follow"]["following"] is True
    assert first.get_json()["follow"]["followed_at"].endswith("+08:00")
    assert client.post(url, headers=auth(token)).status_code == 200
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(StationFollow.id))) == 1
    gone = client.delete(url, headers=auth(token))
    assert gone.status_code == 200 and gone.get_json()["follow"]["following"] is False
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(StationFollow.id))) == 0
    missing = client.post("/api/v1/stations/99999/follow", headers=auth(token))
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "station_not_found"
