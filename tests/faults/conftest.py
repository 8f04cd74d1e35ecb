"""Fixtures of the fault tests: servers of their own (tests/faults/servers.py), a database per
test copied from a template, the app under gunicorn, and a small world to act in.

They run in the PostgreSQL pass of `.ci/run` (marker `postgres`). Where this machine lacks the
PostgreSQL server binaries or redis-server they skip and say why — unless REQUIRE_SERVICES=1,
under which a missing binary fails the run.
"""
from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from backend import create_app
from backend.services.signin import create_invite
from models import Deputy, DeputyLevel, StaffRole, db
from tests.factories import (
    create_categories,
    create_deputy,
    create_region_tree,
    create_staff,
    create_station,
)
from tests.faults.servers import Gunicorn, PgCluster, RedisServer, missing_postgres

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
SECRET = "faults-secret-key"
# Every WeChat call of a served app waits at most this long (WECHAT_TIMEOUT_SECONDS).
WECHAT_TIMEOUT = 2.0
TEMPLATE = "faults_template"
_databases = itertools.count(1)


def _unavailable(reason: str):
    if REQUIRE_SERVICES:
        pytest.fail(f"REQUIRE_SERVICES=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_cluster(tmp_path_factory):
    """A PostgreSQL cluster of the tests' own, with a template database holding the schema."""
    reason = missing_postgres()
    if reason:
        _unavailable(reason)
    cluster = PgCluster()
    try:
        cluster.init()
        cluster.start()
        with cluster.connect() as conn:
            conn.execute(f"CREATE DATABASE {TEMPLATE}")
        app = create_app(SQLALCHEMY_DATABASE_URI=cluster.url(TEMPLATE), REDIS_URL=None, TESTING=True,
                         SECRET_KEY=SECRET, UPLOAD_DIR=str(tmp_path_factory.mktemp("uploads")))
        with app.app_context():
            db.create_all()
            db.session.commit()
            db.engine.dispose()  # a template must have no connections when it is copied
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def database_url_of_test(pg_cluster) -> str:
    name = f"faults_{os.getpid()}_{next(_databases)}"
    with pg_cluster.connect() as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    return pg_cluster.url(name)


@pytest.fixture
def scratch():
    """A directory any OS user may read (pytest's own tmp_path is root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="lianluozhan-faults-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def redis_server(scratch):
    if shutil.which("redis-server") is None:
        _unavailable("redis-server not found on PATH")
    server = RedisServer(scratch)
    server.start()
    yield server
    server.destroy()


@pytest.fixture
def wechat(fake_wechat):
    """The session's fake WeChat, well-behaved at the start and the end of each test."""
    fake_wechat.reset()
    yield fake_wechat
    fake_wechat.reset()


@pytest.fixture
def local_app(database_url_of_test, scratch, wechat):
    """The app in this process, on the test's database: to build data and look at it. No Redis:
    what it writes is read by the served app before anything is cached."""
    app = create_app(SQLALCHEMY_DATABASE_URI=database_url_of_test, REDIS_URL=None, TESTING=True,
                     SECRET_KEY=SECRET, WECHAT_API_BASE=wechat.base_url, WECHAT_FAKE=True,
                     UPLOAD_DIR=str(scratch / "uploads"))
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def serve(database_url_of_test, redis_server, wechat, scratch):
    """serve(workers=2, threads=1, **env) → a started Gunicorn serving the app on the test's
    database, the test's Redis and the fake WeChat; stopped after the test."""
    started: list[Gunicorn] = []

    def start(workers: int = 2, threads: int = 1, **extra_env) -> Gunicorn:
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("WECHAT_", "REDIS_", "DATABASE_", "CLOCK_", "FAKE_WECHAT_", "TEST_",
                                      "SCHEDULER_", "OUTBOX_", "METRICS_"))}
        env.update(DATABASE_URL=database_url_of_test, REDIS_URL=redis_server.url, SECRET_KEY=SECRET,
                   WECHAT_API_BASE=wechat.base_url, FAKE_WECHAT_AUTOSTART="0",
                   WECHAT_TIMEOUT_SECONDS=str(WECHAT_TIMEOUT), UPLOAD_DIR=str(scratch / "uploads"))
        env.update({k: str(v) for k, v in extra_env.items()})
        root = scratch / f"gunicorn{len(started)}"
        root.mkdir()
        server = Gunicorn(root, env, workers=workers, threads=threads)
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()


# --- the world the scenarios act in --------------------------------------------------------------

SCENE = "fault01"
BODY = {"scene": SCENE, "category": "交通出行"}


@dataclass
class World:
    base_url: str
    station_id: int
    deputy_id: int
    residents: list[str] = field(default_factory=list)  # tokens
    tokens: dict[str, str] = field(default_factory=dict)  # deputy, admin

    def url(self, path: str) -> str:
        return self.base_url + path


def auth(token: str, key: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return headers


def build_world(app, base_url: str, residents: int = 2) -> World:
    """A station (scene fault01) with two deputies, one bound to WeChat; a region admin; and
    `residents` signed-in residents — all through the served app where the app signs people in."""
    with app.app_context():
        create_categories()
        regions = create_region_tree()
        station = create_station(regions["township"], scene=SCENE, name="递铺街道联络站")
        deputy = create_deputy(name="张代表", levels=[DeputyLevel.county], stations=[station])
        create_deputy(name="李代表", levels=[DeputyLevel.township], stations=[station])
        create_staff(username="admin", role=StaffRole.region_admin, region=regions["county"])
        invite = create_invite(db.session.get(Deputy, deputy.id)).code
        db.session.commit()
        world = World(base_url, station.id, deputy.id)
    with requests.Session() as http:
        for n in range(residents):
            world.residents.append(_signed_in(http, base_url, f"resident-{n}"))
        deputy_token = _signed_in(http, base_url, "deputy-zhang")
        bound = http.post(base_url + "/api/v1/auth/bind-deputy", json={"invite_code": invite},
                          headers=auth(deputy_token), timeout=10)
        assert bound.status_code == 200, bound.text
        world.tokens["deputy"] = bound.json()["token"]
        login = http.post(base_url + "/api/v1/manage/login", json={"username": "admin", "password": "Secret-pass-1"},
                          timeout=10)
        assert login.status_code == 200, login.text
        world.tokens["admin"] = login.json()["token"]
    return world


def _signed_in(http: requests.Session, base_url: str, code: str) -> str:
    response = http.post(base_url + "/api/v1/auth/wx-login", json={"code": code}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["token"]


def issue_body(text: str) -> dict:
    return BODY | {"content": f"{text}：小区门口的路灯坏了，晚上出行不便，请协调修复。"}


def assert_api_error(response: requests.Response, status: int, code: str) -> None:
    """An answer in API.md's error format with a Chinese message."""
    assert response.status_code == status, (response.status_code, response.text[:300])
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    message = body["error"]["message"]
    assert isinstance(message, str) and any("\u4e00" <= ch <= "\u9fff" for ch in message), message
    assert isinstance(body["error"]["details"], dict)
