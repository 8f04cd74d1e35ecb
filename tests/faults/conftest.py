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
from pathlib import Path

import pytest

from backend import create_app
from models import db
from tests.faults.servers import Gunicorn, PgCluster, RedisServer, missing_postgres
from tests.faults.world import SECRET, WECHAT_TIMEOUT

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
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
