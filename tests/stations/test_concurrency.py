"""Concurrent requests against a served app: races end in one row, never in a 500."""
from __future__ import annotations

import threading

import requests

from models import StationFollow, User, db
from tests.factories import create_region_tree, create_station


def _together(n: int, action) -> list:
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        results[i] = action()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


def test_simultaneous_first_sign_ins_make_one_user(app, live_server):
    responses = _together(6, lambda: requests.post(f"{live_server}/api/v1/auth/wx-login",
                                                   json={"code": "twin"}, timeout=20))
    assert [r.status_code for r in responses] == [200] * 6, [r.text for r in responses]
    assert len({r.json()["user"]["id"] for r in responses}) == 1
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(User.id)).where(User.openid == "fake-twin")) == 1


def test_simultaneous_follows_make_one_follow(app, live_server):
    with app.app_context():
        station_id = create_station(create_region_tree()["township"]).id
    token = requests.post(f"{live_server}/api/v1/auth/wx-login", json={"code": "f"}, timeout=20).json()["token"]
    responses = _together(6, lambda: requests.post(f"{live_server}/api/v1/stations/{station_id}/follow",
                                                   headers={"Authorization": f"Bearer {token}"}, timeout=20))
    assert [r.status_code for r in responses] == [200] * 6, [r.text for r in responses]
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(StationFollow.id))) == 1
