"""The shared access token: one `stable_token` fetch per expiry, however many workers ask.

Runs on SQLite always, on PostgreSQL with TEST_DATABASE_URL and on Redis with TEST_REDIS_URL.
The two-process test runs this file as a script for its workers (see `_worker`).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from backend.wechat.errors import WeChatUnavailable
from backend.wechat.token_store import (
    DatabaseTokenStore,
    FallbackTokenStore,
    MemoryTokenStore,
    RedisTokenStore,
    RememberedTokenStore,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


class Fetcher:
    """A stand-in for the stable_token call, counting calls; WeChat itself is tested elsewhere."""

    def __init__(self, expires_in=7200, pause=0.0, start=0):
        self.calls: list[bool] = []
        self.start = start
        self.expires_in = expires_in
        self.pause = pause
        self._lock = threading.Lock()

    def __call__(self, force_refresh: bool):
        with self._lock:
            self.calls.append(force_refresh)
            number = self.start + len(self.calls)
        time.sleep(self.pause)
        return f"token-{number}", self.expires_in


@pytest.fixture
def store_app(store_overrides, fake):
    from tests.wechat.conftest import build_app, fake_overrides

    return build_app(**store_overrides, **fake_overrides(fake))


def test_each_configuration_gets_its_store(store_app, tmp_path):
    from tests.wechat.conftest import build_app

    store = store_app.extensions["wechat"].token_store
    assert type(store) is RememberedTokenStore
    if store_app.config["REDIS_URL"]:
        # Redis, and the database while Redis is down.
        assert type(store.shared) is FallbackTokenStore
        assert type(store.shared.primary) is RedisTokenStore and type(store.shared.fallback) is DatabaseTokenStore
    else:
        assert type(store.shared) is DatabaseTokenStore
    memory = build_app(SQLALCHEMY_DATABASE_URI="sqlite://", MIGRATIONS_DIR=str(tmp_path))
    assert type(memory.extensions["wechat"].token_store) is MemoryTokenStore


def test_with_redis_down_the_token_is_kept_in_the_database(sqlite_overrides, fake):
    """Content checks and sign-in go on without Redis: the token store falls back to the database."""
    from models import WeChatAccessToken, db
    from tests.wechat.conftest import build_app, fake_overrides

    app = build_app(**sqlite_overrides, **fake_overrides(fake, REDIS_URL="redis://127.0.0.1:1/0"))
    with app.app_context():
        store = app.extensions["wechat"].token_store.shared
        fetch = Fetcher()
        assert store.get(fake.app_id) is None
        assert store.refresh(fake.app_id, fetch) == "token-1"
        assert store.get(fake.app_id) == "token-1" and fetch.calls == [False]
        assert db.session.get(WeChatAccessToken, fake.app_id).token == "token-1"
        # And the gateway's calls get it: a content check is made, not given up.
        assert app.extensions["wechat"].post_json("wxa/msg_sec_check", {
            "version": 2, "openid": "fake-x", "scene": 3, "content": "小区门口的路灯坏了。"})["result"]["suggest"] == "pass"


def test_refresh_reuses_a_fresh_token_and_forces_only_for_the_stale_one(store_app, fake):
    app_id = fake.app_id
    with store_app.app_context():
        store = store_app.extensions["wechat"].token_store.shared
        fetch = Fetcher()
        assert store.get(app_id) is None
        assert store.refresh(app_id, fetch) == "token-1"
        assert store.get(app_id) == "token-1"
        assert store.refresh(app_id, fetch) == "token-1" and fetch.calls == [False]
        # WeChat refused token-1: fetch again, forcing, since the store still holds it.
        assert store.refresh(app_id, fetch, stale_token="token-1") == "token-2"
        assert fetch.calls == [False, True]
        # Another worker refused token-1 too, but token-2 is already there: no fetch.
        assert store.refresh(app_id, fetch, stale_token="token-1") == "token-2"
        assert fetch.calls == [False, True]


def test_a_token_inside_the_safety_margin_is_not_handed_out(store_app, fake):
    with store_app.app_context():
        store = store_app.extensions["wechat"].token_store.shared
        assert store.margin_seconds == 300
        assert store.refresh(fake.app_id, Fetcher(expires_in=200)) == "token-1"
        assert store.get(fake.app_id) is None  # expires in 200 s: refresh now, not at 0 s


def test_a_failed_fetch_leaves_no_lock_behind(store_app, fake):
    def broken(force_refresh):
        raise WeChatUnavailable(-1, "system error")

    with store_app.app_context():
        store = store_app.extensions["wechat"].token_store.shared
        with pytest.raises(WeChatUnavailable):
            store.refresh(fake.app_id, broken)
        started = time.monotonic()
        assert store.refresh(fake.app_id, Fetcher()) == "token-1"
        assert time.monotonic() - started < 1


def test_threads_refreshing_together_fetch_once(store_app, fake):
    store = store_app.extensions["wechat"].token_store.shared
    fetch = Fetcher(pause=0.2)
    tokens = []

    def ask():
        with store_app.app_context():
            tokens.append(store.get(fake.app_id) or store.refresh(fake.app_id, fetch))

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert tokens == ["token-1"] * 6 and len(fetch.calls) == 1


def test_the_process_remembers_a_shared_token_for_a_while_and_forgets_it_on_refresh(store_app, fake):
    with store_app.app_context():
        store = store_app.extensions["wechat"].token_store
        shared = store.shared
        assert store.refresh(fake.app_id, Fetcher()) == "token-1"
        assert store.get(fake.app_id) == "token-1"
        # Another process replaces the shared token: this one keeps using its own for a while ...
        shared.refresh(fake.app_id, Fetcher(start=4), stale_token="token-1")
        assert store.get(fake.app_id) == "token-1"
        # ... until WeChat refuses it: the refresh finds the shared one and nothing is remembered.
        unused = Fetcher(start=9)
        assert store.refresh(fake.app_id, unused, stale_token="token-1") == "token-5" and unused.calls == []
        assert store.get(fake.app_id) == "token-5"
    assert store.remember_seconds == 30  # a tenth of the margin: the token stays valid that long


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_database_store_leaves_the_callers_transaction_alone(request, backend, fake):
    from models import WeChatAccessToken, db
    from tests.wechat.conftest import build_app, fake_overrides

    app = build_app(**request.getfixturevalue(f"{backend}_overrides"), **fake_overrides(fake))
    with app.app_context():
        db.session.add(WeChatAccessToken(app_id=f"{fake.app_id}-other", token="uncommitted"))
        if backend == "postgresql":
            db.session.flush()  # SQLite would hold its write lock from here on: see the next test
        assert DatabaseTokenStore().refresh(fake.app_id, Fetcher()) == "token-1"
        assert db.session().in_transaction()
        db.session.rollback()
        assert db.session.get(WeChatAccessToken, f"{fake.app_id}-other") is None
        assert db.session.get(WeChatAccessToken, fake.app_id).token == "token-1"
        db.session.remove()


def test_on_sqlite_a_refresh_behind_a_writing_request_gives_up_after_lock_seconds(sqlite_overrides, fake):
    from models import WeChatAccessToken, db
    from tests.wechat.conftest import build_app, fake_overrides

    app = build_app(**sqlite_overrides, **fake_overrides(fake))
    with app.app_context():
        db.session.add(WeChatAccessToken(app_id=f"{fake.app_id}-other", token="uncommitted"))
        db.session.flush()
        started = time.monotonic()
        with pytest.raises(WeChatUnavailable):
            DatabaseTokenStore(lock_seconds=0.3).refresh(fake.app_id, Fetcher())
        assert time.monotonic() - started < 2
        db.session.rollback()
        db.session.remove()


def test_two_worker_processes_fetch_once_per_expiry(store_overrides, fake):
    """Two processes ask for tokens in a loop across three expiries: one fetch per expiry."""
    from tests.wechat.conftest import fake_overrides

    ttl, margin, duration = 0.8, 0.1, 2.7
    # Short tokens. We refresh `margin` before expiry; the fake renews a token asked for in its
    # last 0.4 s, which leaves 0.3 s for a loaded machine between our clock and the fake's.
    fake.configure(token_ttl_seconds=ttl, handover_seconds=0.4)
    overrides = fake_overrides(fake, WECHAT_TOKEN_MARGIN_SECONDS=margin)
    spec = {"overrides": {**store_overrides, **overrides}, "duration": duration}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    workers = [
        subprocess.Popen([sys.executable, __file__, json.dumps(spec)], cwd=ROOT, env=env, text=True,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        for _ in range(2)
    ]
    try:
        for worker in workers:  # start both loops together, once both apps are built
            assert worker.stdout.readline().strip() == "ready"
        for worker in workers:
            worker.stdin.write("go\n")
            worker.stdin.flush()
        seen = [json.loads(worker.communicate(timeout=30)[0]) for worker in workers]
    finally:
        for worker in workers:
            worker.kill() if worker.poll() is None else None
    assert all(worker.returncode == 0 for worker in workers)

    issued = set(seen[0]) | set(seen[1])
    fetches = fake.stable_token_calls
    # Every fetch brought a new token (none wasted by a second worker), both workers went
    # through at least three tokens, and the count follows the expiries (~4), not the workers (~8).
    report = f"fetches={fetches} seen={seen}"
    assert fetches == len(issued), report
    assert len(seen[0]) >= 3 and len(seen[1]) >= 3, report
    assert 3 <= fetches <= int(duration / (ttl - margin)) + 2, report
    assert not fake.calls("/cgi-bin/token")


def _worker(spec: dict) -> None:
    """One worker process: its own app and gateway, asking for the token until time is up."""
    sys.path.insert(0, str(HERE))
    from conftest import build_app

    app = build_app(**spec["overrides"])
    with app.app_context():
        gateway = app.extensions["wechat"]
        print("ready", flush=True)
        sys.stdin.readline()
        seen: list[str] = []
        deadline = time.monotonic() + spec["duration"]
        while time.monotonic() < deadline:
            token = gateway.access_token()
            if not seen or seen[-1] != token:
                seen.append(token)
            time.sleep(0.005)
    print(json.dumps(seen), flush=True)


if __name__ == "__main__":
    _worker(json.loads(sys.argv[1]))
