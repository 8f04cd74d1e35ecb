"""Shared fixtures. The suite runs on SQLite by default and on PostgreSQL when
TEST_DATABASE_URL is set (`.ci/run` does both); TEST_REDIS_URL adds Redis.

The app always talks to a real fake-WeChat server over a socket: no test patches the gateway.
"""
from __future__ import annotations

import os
import socket
import uuid
from datetime import date
from urllib.parse import urlparse

import pytest
from sqlalchemy import text

from backend import clock, create_app
from backend.services.issues import issue_numbers
from backend.wechat.fake_server import FakeWeChat
from config import FAKE_WECHAT_APP_ID, FAKE_WECHAT_APP_SECRET, load_config
from models import AuditEntry, db

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL")
# Under CI a missing PostgreSQL or Redis is a failure, never a skip.
REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def _reachable(url: str | None, default_port: int) -> bool:
    if not url:
        return False
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=2):
            return True
    except OSError:
        return False


def pytest_configure(config):
    config.addinivalue_line("markers", "postgres: needs PostgreSQL (TEST_DATABASE_URL)")
    config.addinivalue_line("markers", "redis: needs Redis (TEST_REDIS_URL)")
    if REQUIRE_SERVICES:
        if not _reachable(TEST_DATABASE_URL, 5432):
            raise pytest.UsageError(f"REQUIRE_SERVICES=1 but PostgreSQL is not reachable at {TEST_DATABASE_URL!r}")
        if not _reachable(TEST_REDIS_URL, 6379):
            raise pytest.UsageError(f"REQUIRE_SERVICES=1 but Redis is not reachable at {TEST_REDIS_URL!r}")


def pytest_collection_modifyitems(config, items):
    pg = TEST_DATABASE_URL is not None and TEST_DATABASE_URL.startswith("postgresql")
    for item in items:
        if "postgres" in item.keywords and not pg:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL: set TEST_DATABASE_URL=postgresql+psycopg://..."))
        if "redis" in item.keywords and not TEST_REDIS_URL:
            item.add_marker(pytest.mark.skip(reason="needs Redis: set TEST_REDIS_URL=redis://127.0.0.1:6379/15"))


@pytest.fixture(scope="session")
def fake_wechat():
    server = FakeWeChat(FAKE_WECHAT_APP_ID, FAKE_WECHAT_APP_SECRET)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    if TEST_DATABASE_URL:
        return TEST_DATABASE_URL
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"


@pytest.fixture(scope="session")
def app(fake_wechat, database_url, tmp_path_factory):
    app = create_app(
        STORAGE_BACKEND="local",  # whatever the shell says; S3 tests install theirs (s3_config)
        UPLOAD_DIR=str(tmp_path_factory.mktemp("uploads")),
        TESTING=True,
        SECRET_KEY="test-secret",
        SQLALCHEMY_DATABASE_URI=database_url,
        REDIS_URL=TEST_REDIS_URL,
        WECHAT_FAKE=True,
        WECHAT_API_BASE=fake_wechat.base_url,
        WECHAT_TIMEOUT_SECONDS=2.0,
        PUBLIC_BASE_URL="https://lianluozhan.example.cn",
    )
    with app.app_context():
        db.drop_all()
        db.create_all()
        _restart_issue_numbers()
        db.session.commit()
    return app


def _restart_issue_numbers() -> None:
    """Number each day's issues from 1 again: on PostgreSQL they come from per-day sequences
    (backend/services/issues/issue_numbers.py), which emptying the tables leaves as they were. They are
    dropped, and the process forgets them: a scheduler a test started may have dropped some
    (housekeeping) behind this process's back."""
    if db.engine.dialect.name != "postgresql":
        return
    issue_numbers.drop_sequences_before(date.max)


@pytest.fixture(autouse=True)
def _clean_state(request):
    """Each test starts with empty tables, a free clock and a well-behaved fake WeChat."""
    yield
    clock.freeze(None)
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    request.getfixturevalue("fake_wechat").reset()
    with app.app_context():
        db.session.remove()
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        if db.engine.dialect.name == "postgresql":
            db.session.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
            _restart_issue_numbers()
        else:
            for table in tables:
                if table == AuditEntry.__tablename__:
                    # Its triggers refuse DELETE of recent entries (PostgreSQL's TRUNCATE fires
                    # no row trigger): a new table, made with its triggers, is an empty log.
                    AuditEntry.__table__.drop(db.session.connection())
                    AuditEntry.__table__.create(db.session.connection())
                else:
                    db.session.execute(text(f'DELETE FROM "{table}"'))
        db.session.commit()
        redis_client = app.extensions.get("redis")
        if redis_client is not None:
            redis_client.flushdb()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def ctx(app):
    """An app context for building test data with the factories."""
    with app.app_context():
        yield
        db.session.remove()


@pytest.fixture
def live_server(app):
    """The app served over a real socket by a threaded server, for tests of concurrent requests."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def s3_server():
    """A real S3-compatible server (moto's) on a free local port: the app talks to it over a
    socket, as to MinIO or OSS. Its buckets live as long as the session; tests make their own."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def _s3_settings(s3_server: str, **more) -> dict:
    """Settings (as `load_config` gives them) for the test server. Explicit credentials: boto3
    must never go looking for others."""
    return load_config(STORAGE_BACKEND="s3", S3_ENDPOINT_URL=s3_server, S3_REGION="cn-north-1",
                       S3_ACCESS_KEY_ID="llz-test-key", S3_SECRET_ACCESS_KEY="llz-test-secret",
                       S3_ADDRESSING_STYLE="path", **more)


@pytest.fixture(scope="session")
def s3_client(s3_server):
    """One client for the session, as an app has one (a new one costs ~0.5 s of model loading)."""
    from backend.storage.s3 import make_client

    return make_client(_s3_settings(s3_server))


@pytest.fixture
def s3_config(s3_server, s3_client) -> dict:
    """Settings for the S3 backend on a new, empty bucket of the test server, with a key prefix."""
    config = _s3_settings(s3_server, S3_BUCKET=f"llz-test-{uuid.uuid4().hex[:16]}", S3_PREFIX="llz/test")
    s3_client.create_bucket(Bucket=config["S3_BUCKET"],
                            CreateBucketConfiguration={"LocationConstraint": config["S3_REGION"]})
    return config


@pytest.fixture
def s3_storage(s3_config, s3_client):
    """The S3 backend on `s3_config`'s bucket, sharing the session's client."""
    from backend.storage.s3 import S3Storage

    return S3Storage(s3_client, s3_config["S3_BUCKET"], s3_config["S3_PREFIX"])
