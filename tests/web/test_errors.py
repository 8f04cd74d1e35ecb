"""Bad input of every kind gets API.md's error shape with a Chinese message, never a 500."""
from __future__ import annotations

import pytest

from models import User, db
from tests.factories import wx_login


def _is_error(response, status, code):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["error"]["message"])
    return body["error"]


def test_unknown_path_is_404_json(client):
    _is_error(client.get("/api/v1/no-such-thing"), 404, "not_found")


def test_wrong_method_is_405_with_allow(client):
    response = client.delete("/api/v1/auth/wx-login")
    _is_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]


def test_malformed_json(client, app):
    response = client.post("/api/v1/auth/wx-login", data='{"code": ', content_type="application/json")
    _is_error(response, 400, "invalid_input")
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(User.id))) == 0


@pytest.mark.parametrize("payload", ['["code"]', '"code"', "null", "123"])
def test_json_that_is_not_an_object(client, payload):
    _is_error(client.post("/api/v1/auth/wx-login", data=payload, content_type="application/json"), 400,
              "invalid_input")


def test_wrong_content_type(client):
    _is_error(client.post("/api/v1/auth/wx-login", data="code=abc",
                          content_type="application/x-www-form-urlencoded"), 415, "unsupported_media_type")
    _is_error(client.post("/api/v1/auth/wx-login", data='{"code": "a"}', content_type="text/plain"), 415,
              "unsupported_media_type")


def test_oversized_body(client, app):
    big = '{"code": "' + "a" * (app.config["MAX_CONTENT_LENGTH"] + 10) + '"}'
    _is_error(client.post("/api/v1/auth/wx-login", data=big, content_type="application/json"), 413,
              "payload_too_large")
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(User.id))) == 0


def test_field_errors_name_each_field_in_chinese(client):
    error = _is_error(client.post("/api/v1/manage/login", json={"username": 5}), 400, "invalid_input")
    fields = error["details"]["fields"]
    assert set(fields) == {"username", "password"}
    assert fields["password"] == "必填" and fields["username"] == "应为文本"


def test_non_integer_ids_do_not_route(client):
    _is_error(client.get("/api/v1/deputies/abc"), 404, "not_found")
    _is_error(client.get("/api/v1/stations/1.5/qrcode.png"), 404, "not_found")


def test_sql_and_html_in_input_are_just_text(client):
    response = client.get("/api/v1/stations/scan/' OR 1=1 --")
    _is_error(response, 404, "station_not_found")
    login = wx_login(client, "<script>alert(1)</script>")
    assert login["user"]["roles"] == ["resident"]


def test_health_and_readiness(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["checks"]["database"] == "ok"


def test_readiness_says_redis_is_down_but_stays_ready(app, fake_wechat):
    """Without Redis the service answers from the database: still ready, the check says why it is slower."""
    from backend import create_app

    broken = create_app(TESTING=True, SECRET_KEY="x", SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
                        REDIS_URL="redis://127.0.0.1:1/0", WECHAT_API_BASE=fake_wechat.base_url)
    response = broken.test_client().get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "checks": {"database": "ok", "redis": "unavailable"}}
    with broken.app_context():
        db.engine.dispose()


def test_readiness_says_unavailable_when_the_database_is_down(fake_wechat):
    from backend import create_app

    broken = create_app(TESTING=True, SECRET_KEY="x", REDIS_URL=None, WECHAT_API_BASE=fake_wechat.base_url,
                        SQLALCHEMY_DATABASE_URI="postgresql+psycopg://postgres@127.0.0.1:1/none")
    response = broken.test_client().get("/readyz")
    assert response.status_code == 503 and response.get_json()["checks"]["database"] == "unavailable"


def test_a_database_that_cannot_be_reached_is_503_not_500(fake_wechat):
    """503 service_unavailable (retry later) for the API, and a page saying so in the console."""
    import re

    from backend import create_app

    broken = create_app(TESTING=True, SECRET_KEY="x", REDIS_URL=None, WECHAT_API_BASE=fake_wechat.base_url,
                        SQLALCHEMY_DATABASE_URI="postgresql+psycopg://postgres@127.0.0.1:1/none")
    client = broken.test_client()
    response = client.post("/api/v1/auth/wx-login", json={"code": "someone"})
    _is_error(response, 503, "service_unavailable")
    assert response.headers["Retry-After"] == "5"
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/console/login").get_data(as_text=True))[1]
    page = client.post("/console/login", data={"username": "admin", "password": "whatever", "csrf_token": token})
    assert page.status_code == 503 and "服务暂时不可用" in page.get_data(as_text=True)


def test_only_a_busy_sqlite_counts_as_unavailable():
    import sqlite3

    from sqlalchemy import exc

    from backend.errors import database_unavailable

    def wrapped(message: str):
        return exc.OperationalError("SELECT 1", {}, sqlite3.OperationalError(message))

    assert database_unavailable(wrapped("database is locked"))
    assert not database_unavailable(wrapped("no such table: issue"))  # a bug, not an outage
    assert not database_unavailable(exc.IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE")))
