"""The scan answer cached in Redis: served without queries, retired by any change to what it
is made of and by the clock, and never a reason to fail when Redis is gone."""
from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import update

from backend import clock, create_app
from models import Deputy, DeputyLevel, Station, StationMembership, db
from tests.factories import count_queries, create_deputy, create_region_tree, create_station

pytestmark = pytest.mark.redis


@pytest.fixture
def station(app):
    with app.app_context():
        station = create_station(create_region_tree()["township"], scene="cache01")
        deputy = create_deputy(name="原名", levels=[DeputyLevel.county], stations=[station])
        return {"id": station.id, "deputy": deputy.id}


def scan(client):
    response = client.get("/api/v1/stations/scan/cache01")
    assert response.status_code == 200
    return response.get_json()


def test_second_scan_is_served_without_queries(client, app, station):
    first, cold = count_queries(app, lambda: scan(client))
    second, warm = count_queries(app, lambda: scan(client))
    assert cold > 0 and warm == 0
    assert first == second


def test_a_change_to_a_deputy_retires_the_cached_answer(client, app, station):
    scan(client)
    with app.app_context():
        db.session.get(Deputy, station["deputy"]).name = "新名"
        db.session.commit()
    assert [d["name"] for d in scan(client)["deputies"]] == ["新名"]


def test_a_bulk_update_of_memberships_retires_it_too(client, app, station):
    assert len(scan(client)["deputies"]) == 1
    with app.app_context():
        db.session.execute(update(StationMembership).values(ended_on=date(2020, 1, 1)))
        db.session.commit()
    assert scan(client)["deputies"] == []


def test_a_rolled_back_change_keeps_the_cache(client, app, station):
    scan(client)
    with app.app_context():
        db.session.get(Station, station["id"]).name = "不会保存"
        db.session.flush()
        db.session.rollback()
    _, warm = count_queries(app, lambda: scan(client))
    assert warm == 0


def test_closing_time_and_midnight_move_the_answer_on(client, station):
    clock.freeze(datetime(2026, 12, 16, 16, 0, tzinfo=clock.BEIJING))
    assert scan(client)["next_reception_day"]["date"] == "2026-12-16"
    clock.freeze(datetime(2026, 12, 16, 17, 1, tzinfo=clock.BEIJING))
    assert scan(client)["next_reception_day"]["date"] == "2026-12-26"
    clock.freeze(datetime(2026, 12, 26, 0, 1, tzinfo=clock.BEIJING))
    assert scan(client)["next_reception_day"]["date"] == "2026-12-26"
    # Back in time (a test, or a corrected server clock): the cached span does not cover it.
    clock.freeze(datetime(2026, 12, 16, 9, 0, tzinfo=clock.BEIJING))
    assert scan(client)["next_reception_day"]["date"] == "2026-12-16"


def test_redis_down_means_no_cache_not_an_error(app, station, fake_wechat):
    # Nothing listens on port 1: every Redis call fails at once.
    broken = create_app(TESTING=True, SECRET_KEY="x", SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
                        REDIS_URL="redis://127.0.0.1:1/0", WECHAT_API_BASE=fake_wechat.base_url)
    client = broken.test_client()
    for _ in range(2):
        response = client.get("/api/v1/stations/scan/cache01")
        assert response.status_code == 200
        assert response.get_json()["station"]["id"] == station["id"]
    with broken.app_context():
        db.session.get(Deputy, station["deputy"]).name = "改名"
        db.session.commit()  # the generation cannot be bumped; the commit still stands
    assert client.get("/api/v1/stations/scan/cache01").get_json()["deputies"][0]["name"] == "改名"
    with broken.app_context():
        db.engine.dispose()
