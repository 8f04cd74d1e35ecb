"""Fixtures for the WeChat tests: a fake WeChat on a real socket and small Flask apps.

PostgreSQL runs when TEST_DATABASE_URL is set (in a schema of its own, dropped afterwards),
Redis when TEST_REDIS_URL is set (keys of a unique app id, deleted afterwards).
"""
from __future__ import annotations

import os
import uuid

import pytest
import redis
import sqlalchemy as sa
from flask import Flask

from backend.extensions import init_extensions
from backend.wechat import init_wechat
from backend.wechat.fake_server import FakeWeChat
from backend.wechat.token_store import RedisTokenStore
from config import load_config
from models import WeChatAccessToken

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL")
STORE_BACKENDS = ["sqlite", "postgresql", "redis"]


def build_app(**overrides) -> Flask:
    """A minimal app with the extensions and the gateway; the tables must exist already."""
    app = Flask("wechat_tests")
    settings = {"REDIS_URL": None, "WECHAT_FAKE": True, "FAKE_WECHAT_AUTOSTART": False}
    app.config.from_mapping(load_config(**{**settings, **overrides}))
    init_extensions(app)
    init_wechat(app)
    return app


def fake_overrides(fake: FakeWeChat, **extra) -> dict:
    return {
        "WECHAT_APP_ID": fake.app_id,
        "WECHAT_APP_SECRET": fake.app_secret,
        "WECHAT_API_BASE": fake.base_url,
        "WECHAT_TIMEOUT_SECONDS": 2.0,
        **extra,
    }


@pytest.fixture
def fake():
    """A fresh fake WeChat with an app id of its own, so stored tokens never collide."""
    with FakeWeChat(f"wxtest{uuid.uuid4().hex[:12]}", f"secret-{uuid.uuid4().hex}") as server:
        yield server


@pytest.fixture
def sqlite_overrides(tmp_path) -> dict:
    url = f"sqlite:///{tmp_path / 'wechat.sqlite3'}"
    _create_token_table(url, {})
    return {"SQLALCHEMY_DATABASE_URI": url, "MIGRATIONS_DIR": str(tmp_path)}


@pytest.fixture
def postgresql_overrides(tmp_path):
    if not TEST_DATABASE_URL:
        pytest.skip("TEST_DATABASE_URL is not set (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)")
    schema = f"wechat_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(TEST_DATABASE_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    options = {"pool_pre_ping": True, "connect_args": {"options": f"-csearch_path={schema}"}}
    _create_token_table(TEST_DATABASE_URL, options)
    try:
        yield {"SQLALCHEMY_DATABASE_URI": TEST_DATABASE_URL, "SQLALCHEMY_ENGINE_OPTIONS": options,
               "MIGRATIONS_DIR": str(tmp_path)}
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def redis_overrides(sqlite_overrides, fake):
    if not TEST_REDIS_URL:
        pytest.skip("TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379/15)")
    yield {**sqlite_overrides, "REDIS_URL": TEST_REDIS_URL}
    client = redis.Redis.from_url(TEST_REDIS_URL)
    for key in client.scan_iter(match=RedisTokenStore.key(fake.app_id) + "*"):
        client.delete(key)
    client.close()


@pytest.fixture(params=STORE_BACKENDS)
def store_overrides(request) -> dict:
    """Config overrides selecting each token store in turn (skipped when not configured)."""
    return request.getfixturevalue(f"{request.param}_overrides")


@pytest.fixture
def wechat_app(fake, sqlite_overrides):
    """An app on SQLite talking to `fake`. Not named `app`: tests/conftest.py's cleanup would
    then treat it as the suite's shared app and empty tables this app never created."""
    return build_app(**sqlite_overrides, **fake_overrides(fake))


@pytest.fixture
def gateway(wechat_app):
    with wechat_app.app_context():
        yield wechat_app.extensions["wechat"]


def _create_token_table(url: str, engine_options: dict) -> None:
    engine = sa.create_engine(url, **{k: v for k, v in engine_options.items() if k != "pool_pre_ping"})
    WeChatAccessToken.__table__.create(engine, checkfirst=True)
    engine.dispose()
