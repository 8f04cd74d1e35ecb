"""Attempts limited per user and per address (OWASP API4): invite codes cannot be guessed
without end, wx-login and follow/unfollow bursts are cut — 429 in API.md's shape with
Retry-After, with Redis and without it (then counted in `throttle_hit`)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from backend import clock
from models import Deputy, InviteCode, ThrottleHit, db
from tests.factories import auth, create_deputy, create_region_tree, create_station, wx_login

ADDR = "203.0.113.9"


def bind(client, token, code, addr=ADDR):
    return client.post("/api/v1/auth/bind-deputy", json={"invite_code": code}, headers=auth(token),
                       environ_base={"REMOTE_ADDR": addr})


def assert_429(answer):
    assert answer.status_code == 429, answer.get_json()
    error = answer.get_json()["error"]
    assert error["code"] == "rate_limited" and error["message"]
    assert int(answer.headers["Retry-After"]) >= 1
    assert error["details"]["retry_after"] == int(answer.headers["Retry-After"])


@pytest.fixture
def invite(app):
    from backend.services.accounts.signin import create_invite

    with app.app_context():
        regions = create_region_tree()
        deputy = create_deputy(name="李明", stations=[create_station(regions["township"])])
        code = create_invite(db.session.get(Deputy, deputy.id)).code
        db.session.commit()
    return code


def test_wrong_invite_codes_are_limited_per_user(client, app, invite):
    token = wx_login(client, "guesser")["token"]
    for n in range(10):
        assert bind(client, token, f"ZZZZZZ{n:02d}").status_code == 400
    assert_429(bind(client, token, "ZZZZZZ99"))
    assert_429(bind(client, token, invite))  # the right code too: no more tries this hour
    # Another resident on another address is not affected.
    other = wx_login(client, "honest")["token"]
    assert bind(client, other, invite, addr="198.51.100.1").status_code == 200
    # An hour later the guesser may try again.
    clock.freeze(clock.now() + timedelta(hours=1, seconds=1))
    assert bind(client, token, "ZZZZZZ98").status_code == 400


def test_wrong_invite_codes_are_limited_per_address(client, app, invite):
    tokens = [wx_login(client, f"account-{n}")["token"] for n in range(31)]
    for n in range(30):  # three per fresh account: under each account's limit
        assert bind(client, tokens[n], f"YYYYYY{n:02d}").status_code == 400
    assert_429(bind(client, tokens[30], invite))
    assert bind(client, tokens[30], invite, addr="198.51.100.2").status_code == 200


def test_a_training_session_binding_everyone_from_one_address_is_not_limited(client, app):
    from backend.services.accounts.signin import create_invite

    with app.app_context():
        regions = create_region_tree()
        station = create_station(regions["township"])
        codes = []
        for n in range(40):
            deputy = create_deputy(name=f"代表{n}", stations=[station])
            codes.append(create_invite(db.session.get(Deputy, deputy.id)).code)
        db.session.commit()
    for n, code in enumerate(codes):
        token = wx_login(client, f"deputy-{n}")["token"]
        assert bind(client, token, code).status_code == 200, n
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).where(InviteCode.used_at.is_not(None))) == 40


def test_wx_login_bursts_from_one_address_are_cut(client, app):
    app.config["WX_LOGIN_PER_ADDRESS_PER_MINUTE"] = 5
    try:
        for n in range(5):
            answer = client.post("/api/v1/auth/wx-login", json={"code": f"c{n}"}, environ_base={"REMOTE_ADDR": ADDR})
            assert answer.status_code == 200
        assert_429(client.post("/api/v1/auth/wx-login", json={"code": "c9"}, environ_base={"REMOTE_ADDR": ADDR}))
        assert client.post("/api/v1/auth/wx-login", json={"code": "c9"},
                           environ_base={"REMOTE_ADDR": "198.51.100.3"}).status_code == 200
        clock.freeze(clock.now() + timedelta(minutes=1, seconds=1))
        assert client.post("/api/v1/auth/wx-login", json={"code": "c8"},
                           environ_base={"REMOTE_ADDR": ADDR}).status_code == 200
    finally:
        app.config["WX_LOGIN_PER_ADDRESS_PER_MINUTE"] = 120


def test_follow_and_unfollow_bursts_are_cut_per_user(client, app):
    with app.app_context():
        station_id = create_station(create_region_tree()["township"]).id
    token = wx_login(client, "toggler")["token"]
    path = f"/api/v1/stations/{station_id}/follow"
    for n in range(30):
        answer = (client.post if n % 2 == 0 else client.delete)(path, headers=auth(token))
        assert answer.status_code == 200, n
    assert_429(client.post(path, headers=auth(token)))
    other = wx_login(client, "calm")["token"]
    assert client.post(path, headers=auth(other)).status_code == 200


def test_without_redis_the_attempts_are_rows_that_survive_the_refusal(client, app, invite):
    if app.extensions.get("redis") is not None:
        pytest.skip("counted in Redis here; the database count is the SQLite run's")
    token = wx_login(client, "guesser")["token"]
    assert bind(client, token, "ZZZZZZ01").status_code == 400
    with app.app_context():
        buckets = sorted(db.session.scalars(db.select(ThrottleHit.bucket)).all())
    # The wx-login's attempt, and the wrong code's two failures, although its request rolled back.
    assert buckets == ["bind-fail-addr", "bind-fail-user", "wx-login-addr"]
