"""POST /api/v1/uploads is limited per user per hour (UPLOAD_MAX_PER_HOUR), counted in Redis when
there is one and from the upload rows otherwise; an upload that failed does not count."""
from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest

from backend import clock, create_app
from models import Upload, db
from tests import images
from tests.factories import auth, wx_login

T0 = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)


@pytest.fixture(params=["database", pytest.param("redis", marks=pytest.mark.redis)])
def limiter(request, app, monkeypatch):
    """Each test runs once counting rows and once (with TEST_REDIS_URL) counting in Redis."""
    if request.param == "database":
        monkeypatch.setitem(app.extensions, "redis", None)
    else:
        assert app.extensions["redis"] is not None
    return request.param


@pytest.fixture(autouse=True)
def small_limit(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "UPLOAD_DIR", str(tmp_path / "uploads"))
    monkeypatch.setitem(app.config, "UPLOAD_MAX_PER_HOUR", 3)
    clock.freeze(T0)


def post_image(client, token, data=None):
    return client.post("/api/v1/uploads", headers=auth(token), content_type="multipart/form-data",
                       data={"file": (io.BytesIO(data or images.jpeg()), "a.jpg", "image/jpeg")})


def upload_count(app) -> int:
    with app.app_context():
        return db.session.scalar(db.select(db.func.count(Upload.id)))


def stored_files(tmp_path) -> int:
    root = tmp_path / "uploads"
    return sum(1 for p in root.rglob("*") if p.is_file()) if root.exists() else 0


def test_over_the_limit_is_429_with_a_chinese_message_and_retry_after(app, client, limiter, tmp_path):
    token = wx_login(client, "busy")["token"]
    for _ in range(3):
        assert post_image(client, token).status_code == 201
    response = post_image(client, token)
    assert response.status_code == 429
    error = response.get_json()["error"]
    assert error["code"] == "rate_limited"
    assert error["message"] == "上传过于频繁，每小时最多上传3张图片，请稍后再试"
    assert response.headers["Retry-After"] == "3600"
    assert error["details"] == {"limit": 3, "retry_after": 3600}
    # Refused before anything was stored.
    assert upload_count(app) == 3 and stored_files(tmp_path) == 3


def test_the_limit_is_per_user(client, limiter):
    busy, other = wx_login(client, "busy")["token"], wx_login(client, "other")["token"]
    for _ in range(3):
        assert post_image(client, busy).status_code == 201
    assert post_image(client, busy).status_code == 429
    assert post_image(client, other).status_code == 201


def test_the_window_slides(client, limiter):
    token = wx_login(client, "busy")["token"]
    for minute in (0, 20, 40):
        clock.freeze(T0 + timedelta(minutes=minute))
        assert post_image(client, token).status_code == 201
    clock.freeze(T0 + timedelta(minutes=59))
    assert post_image(client, token).status_code == 429
    clock.freeze(T0 + timedelta(minutes=60, seconds=1))  # the 0:00 upload has left the hour
    assert post_image(client, token).status_code == 201
    assert post_image(client, token).status_code == 429


@pytest.mark.redis
def test_with_redis_retry_after_says_when_the_oldest_upload_leaves_the_hour(app, client):
    token = wx_login(client, "busy")["token"]
    for minute in (0, 10, 20):
        clock.freeze(T0 + timedelta(minutes=minute))
        assert post_image(client, token).status_code == 201
    clock.freeze(T0 + timedelta(minutes=45))
    response = post_image(client, token)
    assert response.status_code == 429 and response.headers["Retry-After"] == str(15 * 60)


def test_failed_uploads_do_not_use_up_the_quota(app, client, limiter):
    token = wx_login(client, "clumsy")["token"]
    pdf = b"%PDF-1.7\n%%EOF\n"
    for _ in range(4):
        assert post_image(client, token, pdf).status_code == 415
    response = client.post("/api/v1/uploads", headers=auth(token), content_type="multipart/form-data", data={})
    assert response.status_code == 400
    for _ in range(3):
        assert post_image(client, token).status_code == 201
    assert post_image(client, token).status_code == 429
    assert upload_count(app) == 3


def test_a_failure_at_the_commit_gives_the_slot_back(app, client, limiter, monkeypatch, tmp_path):
    """The database fails as the upload's row is committed: no row, no file, no slot used."""
    from sqlalchemy.exc import OperationalError

    token = wx_login(client, "unlucky")["token"]
    commit = db.session.commit
    failing = [True]

    def commit_failing_once():
        if failing[0] and any(isinstance(obj, Upload) for obj in db.session.new):
            failing[0] = False
            raise OperationalError("COMMIT", {}, Exception("the database went away"))
        return commit()

    monkeypatch.setattr(db.session, "commit", commit_failing_once)
    monkeypatch.setitem(app.config, "UPLOAD_MAX_PER_HOUR", 1)
    assert post_image(client, token).status_code == 503  # service_unavailable: the database went away
    assert not failing[0] and upload_count(app) == 0 and stored_files(tmp_path) == 0
    assert post_image(client, token).status_code == 201
    assert post_image(client, token).status_code == 429


def test_redis_down_counts_the_rows_instead(app, fake_wechat, tmp_path):
    """REDIS_URL set but nothing listening: neither an error nor an open door."""
    broken = create_app(TESTING=True, SECRET_KEY="x", SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
                        REDIS_URL="redis://127.0.0.1:1/0", WECHAT_API_BASE=fake_wechat.base_url,
                        UPLOAD_DIR=str(tmp_path / "uploads"), UPLOAD_MAX_PER_HOUR=2)
    try:
        client = broken.test_client()
        token = wx_login(client, "redis-down")["token"]
        assert post_image(client, token).status_code == 201
        assert post_image(client, token).status_code == 201
        response = post_image(client, token)
        assert response.status_code == 429
        assert response.get_json()["error"]["message"] == "上传过于频繁，每小时最多上传2张图片，请稍后再试"
        assert response.headers["Retry-After"] == "3600"
        clock.freeze(T0 + timedelta(hours=1, seconds=1))
        assert post_image(client, token).status_code == 201
    finally:
        with broken.app_context():
            db.engine.dispose()
