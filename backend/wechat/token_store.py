"""Where the access token is kept, so that every worker process shares one.

A store hands out the cached token while it is fresh, and refreshes it under a lock held across
processes: one `stable_token` fetch per expiry serves every worker. Expiry is judged on the real
clock (`time.time()`), never on `backend.clock`, because WeChat's tokens expire on WeChat's clock
even when tests freeze ours.
"""
from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import redis
from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from backend.wechat import budget
from backend.wechat.errors import WeChatUnavailable
from models import WeChatAccessToken, db

log = logging.getLogger(__name__)

# fetch(force_refresh) -> (access_token, expires_in seconds)
FetchFn = Callable[[bool], "tuple[str, float]"]

DEFAULT_MARGIN_SECONDS = 300.0
_TABLE = WeChatAccessToken.__table__


class TokenStore:
    """Shared logic; subclasses provide the storage and the lock."""

    def __init__(self, margin_seconds: float = DEFAULT_MARGIN_SECONDS):
        self.margin_seconds = margin_seconds

    def get(self, app_id: str) -> str | None:
        """The cached token if it stays valid for more than the margin, else None."""
        raise NotImplementedError

    def refresh(self, app_id: str, fetch: FetchFn, stale_token: str | None = None) -> str:
        """A fresh token: another process's if it stored one meanwhile, else one fetched here.

        `stale_token` is a token WeChat just refused; it never counts as fresh, and when the store
        still holds it the fetch forces WeChat to issue a new one.
        """
        raise NotImplementedError

    def _fresh(self, token: str | None, expires_at: float | None, stale_token: str | None) -> str | None:
        if not token or token == stale_token or expires_at is None:
            return None
        return token if expires_at - self.margin_seconds > time.time() else None

    @staticmethod
    def _fetch(fetch: FetchFn, stale_token: str | None) -> tuple[str, float]:
        # Measure from before the request, so a slow answer never makes the token look younger.
        started = time.time()
        token, expires_in = fetch(stale_token is not None)
        return token, started + float(expires_in)


class MemoryTokenStore(TokenStore):
    """One process only: for an in-memory SQLite database, which no other process can see."""

    def __init__(self, margin_seconds: float = DEFAULT_MARGIN_SECONDS):
        super().__init__(margin_seconds)
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[str, float]] = {}

    def get(self, app_id):
        token, expires_at = self._tokens.get(app_id, (None, None))
        return self._fresh(token, expires_at, None)

    def refresh(self, app_id, fetch, stale_token=None):
        left = budget.remaining()
        if not self._lock.acquire(timeout=-1 if left is None else max(0.0, left)):
            raise WeChatUnavailable(None, "timed out waiting for another thread to refresh the token")
        try:
            current = self._fresh(*self._tokens.get(app_id, (None, None)), stale_token)
            if current:
                return current
            token, expires_at = self._fetch(fetch, stale_token)
            self._tokens[app_id] = (token, expires_at)
            return token
        finally:
            self._lock.release()


class RedisTokenStore(TokenStore):
    """The token in Redis; a `SET NX PX` lock makes one process fetch while the others poll."""

    # Delete the lock only if it is still ours: it may have expired and been taken meanwhile.
    _RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"

    def __init__(self, redis_client, margin_seconds: float = DEFAULT_MARGIN_SECONDS,
                 lock_seconds: float = 15.0, poll_seconds: float = 0.02):
        super().__init__(margin_seconds)
        self._redis = redis_client
        self._lock_seconds = lock_seconds
        self._poll_seconds = poll_seconds
        self._release = redis_client.register_script(self._RELEASE)

    @staticmethod
    def key(app_id: str) -> str:
        return f"wechat:access_token:{app_id}"

    def _read(self, app_id: str) -> tuple[str | None, float | None]:
        raw = self._redis.get(self.key(app_id))
        if not raw:
            return None, None
        value = json.loads(raw)
        return value.get("token"), value.get("expires_at")

    def get(self, app_id):
        try:
            return self._fresh(*self._read(app_id), None)
        except (redis.RedisError, ValueError) as exc:
            raise _store_down(exc) from None

    def refresh(self, app_id, fetch, stale_token=None):
        try:
            return self._refresh(app_id, fetch, stale_token)
        except redis.RedisError as exc:
            raise _store_down(exc) from None

    def _refresh(self, app_id, fetch, stale_token):
        lock_key = self.key(app_id) + ":lock"
        owner = secrets.token_hex(16)
        # Past this, the holder's lock has expired and we would have taken it: something is wrong.
        # Sooner when the call we fetch for has less time left (budget): a worker waits on another
        # one's refresh no longer than it would wait on WeChat.
        deadline = time.monotonic() + budget.capped(self._lock_seconds * 2)
        while True:
            if self._redis.set(lock_key, owner, nx=True, px=int(self._lock_seconds * 1000)):
                try:
                    current = self._fresh(*self._read(app_id), stale_token)
                    if current:
                        return current
                    token, expires_at = self._fetch(fetch, stale_token)
                    ttl_ms = max(1, int((expires_at - time.time()) * 1000))
                    self._redis.set(self.key(app_id),
                                    json.dumps({"token": token, "expires_at": expires_at}), px=ttl_ms)
                    return token
                finally:
                    self._release(keys=[lock_key], args=[owner])
            current = self._fresh(*self._read(app_id), stale_token)
            if current:
                return current
            if time.monotonic() > deadline:
                raise WeChatUnavailable(None, "timed out waiting for another process to refresh the token")
            time.sleep(self._poll_seconds)


class DatabaseTokenStore(TokenStore):
    """The token in the `wechat_access_token` row, refreshed while that row is locked.

    Reads and refreshes run on their own connection and transaction, never the caller's
    `db.session`. Needs an app context (it uses `db.engine`). On SQLite the lock is the database
    write lock: a request that has already flushed writes in its own transaction should get its
    token before writing, or the refresh waits on that request's lock until `lock_seconds`.
    """

    def __init__(self, margin_seconds: float = DEFAULT_MARGIN_SECONDS, lock_seconds: float = 15.0):
        super().__init__(margin_seconds)
        self._lock_seconds = lock_seconds

    def get(self, app_id):
        try:
            with db.engine.connect() as conn:
                row = conn.execute(_select_row(app_id)).first()
        except DBAPIError as exc:
            raise _store_down(exc) from None
        return self._fresh(*_unpack(row), None)

    def refresh(self, app_id, fetch, stale_token=None):
        engine = db.engine
        try:
            if engine.dialect.name == "sqlite":
                return self._refresh_sqlite(engine, app_id, fetch, stale_token)
            return self._refresh_postgresql(engine, app_id, fetch, stale_token)
        except DBAPIError as exc:
            raise _store_down(exc) from None

    def _refresh_postgresql(self, engine, app_id, fetch, stale_token):
        with engine.begin() as conn:
            conn.execute(text(f"SET LOCAL lock_timeout = '{self._wait_ms()}ms'"))
            # If another transaction is inserting the row right now, this waits for it and then
            # does nothing; either way the row exists for the FOR UPDATE below.
            conn.execute(pg_insert(_TABLE).values(app_id=app_id).on_conflict_do_nothing())
            return self._refresh_locked(conn, app_id, fetch, stale_token,
                                        _select_row(app_id).with_for_update())

    def _refresh_sqlite(self, engine, app_id, fetch, stale_token):
        with engine.connect() as conn:
            # pysqlite would open its own deferred transaction; autocommit mode lets us say
            # BEGIN IMMEDIATE, which takes the write lock up front so only one process refreshes.
            conn.execution_options(isolation_level="AUTOCOMMIT")
            previous = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
            conn.exec_driver_sql(f"PRAGMA busy_timeout = {self._wait_ms()}")
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                try:
                    conn.execute(sqlite_insert(_TABLE).values(app_id=app_id).on_conflict_do_nothing())
                    token = self._refresh_locked(conn, app_id, fetch, stale_token, _select_row(app_id))
                except BaseException:
                    conn.exec_driver_sql("ROLLBACK")
                    raise
                conn.exec_driver_sql("COMMIT")
                return token
            finally:
                conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(previous)}")

    def _wait_ms(self) -> int:
        """How long to wait for the row's lock: lock_seconds, or what is left of the call's
        budget. At least 1 ms: 0 would mean "wait forever" to PostgreSQL."""
        return max(1, int(budget.capped(self._lock_seconds) * 1000))

    def _refresh_locked(self, conn, app_id, fetch, stale_token, query):
        current = self._fresh(*_unpack(conn.execute(query).first()), stale_token)
        if current:
            return current
        token, expires_at = self._fetch(fetch, stale_token)
        conn.execute(
            update(_TABLE).where(_TABLE.c.app_id == app_id)
            .values(token=token, expires_at=datetime.fromtimestamp(expires_at, UTC))
        )
        return token


class FallbackTokenStore(TokenStore):
    """Redis, and the database while Redis is down: content checks and sign-in's token must not
    stop with a cache. Both hold tokens from `stable_token`, which hands every caller the same
    valid token unless forced, so a token fetched for one store does not cut off the other's."""

    def __init__(self, primary: TokenStore, fallback: TokenStore):
        super().__init__(primary.margin_seconds)
        self.primary, self.fallback = primary, fallback

    def get(self, app_id):
        try:
            return self.primary.get(app_id)
        except TokenStoreDown:
            return self.fallback.get(app_id)

    def refresh(self, app_id, fetch, stale_token=None):
        try:
            return self.primary.refresh(app_id, fetch, stale_token)
        except TokenStoreDown:
            return self.fallback.refresh(app_id, fetch, stale_token)


class RememberedTokenStore(TokenStore):
    """A shared store with the token it handed out remembered in this process for a little while.

    Every WeChat call needs the token; asking Redis or the database each time costs a round trip
    per call (an outbox sender makes hundreds a second). The shared store only hands out a token
    valid for longer than the margin, so keeping it a tenth of the margin is safe; a token WeChat refuses meanwhile goes through `refresh`, which asks the shared store and
    forgets the remembered one.
    """

    def __init__(self, shared: TokenStore):
        super().__init__(shared.margin_seconds)
        self.shared = shared
        self.remember_seconds = shared.margin_seconds / 10  # 30 s with the default margin
        self._remembered: dict[str, tuple[str, float]] = {}

    def get(self, app_id):
        token, until = self._remembered.get(app_id, (None, 0.0))
        if token and time.monotonic() < until:
            return token

        token = self.shared.get(app_id)
        if token:
            self._remembered[app_id] = (token, time.monotonic() + self.remember_seconds)
        return token

    def refresh(self, app_id, fetch, stale_token=None):
        # Not remembered: a token just fetched may be valid for less than the margin; the next
        # `get` asks the shared store, which knows.
        self._remembered.pop(app_id, None)
        return self.shared.refresh(app_id, fetch, stale_token)


def store_for_app(app) -> TokenStore:
    """Redis when `REDIS_URL` is set (the database while Redis is down), else the database
    (memory for an in-memory SQLite), each remembered in the process for a while."""
    margin = float(app.config.get("WECHAT_TOKEN_MARGIN_SECONDS", DEFAULT_MARGIN_SECONDS))
    # The holder of the lock spends at most one timed-out fetch in it; leave room for that.
    lock_seconds = 2 * float(app.config.get("WECHAT_TIMEOUT_SECONDS", 5)) + 5
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "sqlite" and (
        url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"
    ):
        database: TokenStore = MemoryTokenStore(margin)
    else:
        database = DatabaseTokenStore(margin, lock_seconds)
    if app.config.get("REDIS_URL"):
        client = app.extensions.get("redis")
        if client is None:
            raise RuntimeError("REDIS_URL is set but init_extensions(app) has not run yet")
        return RememberedTokenStore(FallbackTokenStore(RedisTokenStore(client, margin, lock_seconds), database))
    if isinstance(database, MemoryTokenStore):
        return database
    return RememberedTokenStore(database)


def _select_row(app_id: str):
    return select(_TABLE.c.token, _TABLE.c.expires_at).where(_TABLE.c.app_id == app_id)


def _unpack(row) -> tuple[str | None, float | None]:
    if row is None or row.expires_at is None:
        return None, None
    return row.token, row.expires_at.timestamp()


class TokenStoreDown(WeChatUnavailable):
    """The store itself failed (Redis or the database unreachable): nothing was asked of WeChat."""

    def __init__(self, errmsg: str):
        super().__init__(None, errmsg, request_sent=False)


def _store_down(exc: BaseException) -> TokenStoreDown:
    log.warning("wechat token store failed: %s", type(exc).__name__)
    return TokenStoreDown(f"access token store unavailable ({type(exc).__name__})")
