"""Sign-in over HTTP: wx-login against the fake WeChat, bind-deputy, staff login and lockout,
token expiry and forgery."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from backend import clock
from backend.services.accounts.signin import create_invite
from models import InviteCode, LoginAttempt, User, db
from tests.factories import auth, create_deputy, create_region_tree, create_staff, create_station, staff_login, wx_login


def test_wx_login_creates_resident_once_and_keeps_session_key_on_server(client, app, fake_wechat):
    first = wx_login(client, "abc")
    second = wx_login(client, "abc")
    assert first["user"]["roles"] == ["resident"]
    assert first["user"]["deputy_id"] is None
    assert first["user"]["id"] == second["user"]["id"]
    assert first["expires_in"] > 0
    body = str(first)
    with app.app_context():
        user = db.session.get(User, first["user"]["id"])
        assert user.openid == "fake-abc"
        assert user.session_key and user.session_key not in body and user.session_key not in first["token"]
    # code2session needs no access token: signing in must not fetch one.
    assert not [c for c in fake_wechat.calls() if "token" in c["path"]]


def test_wx_login_invalid_code_is_refused_like_wechat(client, app):
    response = client.post("/api/v1/auth/wx-login", json={"code": "invalid"})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_input" and "code" in error["details"]["fields"]
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(User.id))) == 0


def test_wx_login_wechat_busy_is_503(client, fake_wechat):
    fake_wechat.fail("/sns/jscode2session", errcode=-1, times=1)
    response = client.post("/api/v1/auth/wx-login", json={"code": "abc"})
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "wechat_unavailable"


def test_wx_login_needs_a_code(client):
    for body in ({}, {"code": ""}, {"code": 123}):
        response = client.post("/api/v1/auth/wx-login", json=body)
        assert response.status_code == 400, body
        assert response.get_json()["error"]["details"]["fields"]["code"]


def test_token_roundtrip_forged_and_expired(client, app):
    login = wx_login(client, "me")
    assert client.get("/api/v1/auth/me", headers=auth(login["token"])).get_json()["user"]["id"] == login["user"]["id"]

    forged = login["token"][:-3] + ("aaa" if not login["token"].endswith("aaa") else "bbb")
    response = client.get("/api/v1/auth/me", headers=auth(forged))
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthorized"

    assert client.get("/api/v1/auth/me").get_json()["error"]["code"] == "unauthorized"
    assert client.get("/api/v1/auth/me", headers={"Authorization": "Basic abc"}).status_code == 401

    # itsdangerous reads its own clock: make the token old instead of moving ours.
    app.config["TOKEN_TTL_SECONDS"] = -1
    try:
        response = client.get("/api/v1/auth/me", headers=auth(login["token"]))
    finally:
        app.config["TOKEN_TTL_SECONDS"] = 7 * 24 * 3600
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "token_expired"


def _deputy_with_invite(app):
    with app.app_context():
        regions = create_region_tree()
        station = create_station(regions["township"])
        deputy = create_deputy(stations=[station])
        invite = create_invite(deputy)
        db.session.commit()
        return deputy.id, invite.code


def test_bind_deputy_gives_deputy_role_and_fresh_token(client, app):
    deputy_id, code = _deputy_with_invite(app)
    login = wx_login(client, "dep")
    response = client.post("/api/v1/auth/bind-deputy", json={"invite_code": code.lower()}, headers=auth(login["token"]))
    assert response.status_code == 200, response.get_json()
    data = response.get_json()
    assert data["user"]["roles"] == ["resident", "deputy"] and data["user"]["deputy_id"] == deputy_id
    assert data["token"] != login["token"]
    me = client.get("/api/v1/auth/me", headers=auth(data["token"])).get_json()["user"]
    assert me["deputy_id"] == deputy_id

    # The same person retrying is fine; anyone else gets invite_used.
    again = client.post("/api/v1/auth/bind-deputy", json={"invite_code": code}, headers=auth(login["token"]))
    assert again.status_code == 200
    other = wx_login(client, "other")
    used = client.post("/api/v1/auth/bind-deputy", json={"invite_code": code}, headers=auth(other["token"]))
    assert used.status_code == 409 and used.get_json()["error"]["code"] == "invite_used"


def test_bind_deputy_unknown_or_expired_code(client, app):
    deputy_id, code = _deputy_with_invite(app)
    login = wx_login(client, "dep")
    unknown = client.post("/api/v1/auth/bind-deputy", json={"invite_code": "ZZZZZZZZ"}, headers=auth(login["token"]))
    assert unknown.status_code == 400 and unknown.get_json()["error"]["code"] == "invite_invalid"

    with app.app_context():
        invite = db.session.scalar(db.select(InviteCode).filter_by(code=code))
        invite.expires_at = datetime.now(timezone.utc) - timedelta(minutes=1)
        db.session.commit()
    expired = client.post("/api/v1/auth/bind-deputy", json={"invite_code": code}, headers=auth(login["token"]))
    assert expired.status_code == 400 and expired.get_json()["error"]["code"] == "invite_invalid"
    with app.app_context():
        assert db.session.scalar(db.select(InviteCode).filter_by(code=code)).used_at is None
    me = client.get("/api/v1/auth/me", headers=auth(login["token"])).get_json()["user"]
    assert me["deputy_id"] is None


def test_bind_deputy_needs_sign_in(client):
    response = client.post("/api/v1/auth/bind-deputy", json={"invite_code": "ABCDEFGH"})
    assert response.status_code == 401


def test_rebinding_a_deputy_revokes_the_old_phone(client, app):
    deputy_id, code = _deputy_with_invite(app)
    old = wx_login(client, "old-phone")
    bound = client.post("/api/v1/auth/bind-deputy", json={"invite_code": code}, headers=auth(old["token"])).get_json()
    with app.app_context():
        from models import Deputy
        new_code = create_invite(db.session.get(Deputy, deputy_id)).code
        db.session.commit()
    new = wx_login(client, "new-phone")
    assert client.post("/api/v1/auth/bind-deputy", json={"invite_code": new_code},
                       headers=auth(new["token"])).status_code == 200
    assert client.get("/api/v1/auth/me", headers=auth(bound["token"])).status_code == 401


def test_staff_login_and_lockout_after_five_failures(client, app):
    with app.app_context():
        regions = create_region_tree()
        station = create_station(regions["township"])
        create_staff(username="zhang", stations=[station])
        station_id = station.id
    ok = staff_login(client, "zhang")
    assert ok["user"]["roles"] == ["station_manager"] and ok["user"]["station_ids"] == [station_id]

    for attempt in range(4):
        bad = client.post("/api/v1/manage/login", json={"username": "zhang", "password": "wrong"})
        assert bad.status_code == 401 and bad.get_json()["error"]["code"] == "unauthorized", attempt
    fifth = client.post("/api/v1/manage/login", json={"username": "zhang", "password": "wrong"})
    assert fifth.status_code == 423 and fifth.get_json()["error"]["code"] == "account_locked"
    # Locked: even the right password is refused, and not even checked.
    locked = client.post("/api/v1/manage/login", json={"username": "zhang", "password": "Secret-pass-1"})
    assert locked.status_code == 423
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(LoginAttempt.id)).filter_by(username="zhang")) == 6

    # After the window the right password works again.
    clock.freeze(datetime.now(timezone.utc) + timedelta(minutes=16))
    assert client.post("/api/v1/manage/login",
                       json={"username": "zhang", "password": "Secret-pass-1"}).status_code == 200


def test_staff_login_unknown_user_and_disabled_account(client, app):
    with app.app_context():
        create_region_tree()
        create_staff(username="gone", is_active=False)
    for body in ({"username": "nobody", "password": "x"}, {"username": "gone", "password": "Secret-pass-1"}):
        response = client.post("/api/v1/manage/login", json=body)
        assert response.status_code == 401
        assert response.get_json()["error"]["message"] == "用户名或密码错误"


def test_a_success_resets_the_failure_count(client, app):
    with app.app_context():
        create_region_tree()
        create_staff(username="li")
    for _ in range(4):
        client.post("/api/v1/manage/login", json={"username": "li", "password": "wrong"})
    staff_login(client, "li")
    for _ in range(4):
        assert client.post("/api/v1/manage/login", json={"username": "li", "password": "wrong"}).status_code == 401
