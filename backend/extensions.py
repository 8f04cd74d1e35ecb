"""Shared clients set up once per app: the database (from models) and an optional Redis."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from flask import Flask, current_app
from flask_migrate import Migrate
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from backend.caches import redis_guard
from models import db

log = logging.getLogger(__name__)
migrate = Migrate()

__all__ = ["db", "get_redis", "init_extensions", "migrate"]


def init_extensions(app: Flask) -> None:
    db.init_app(app)
    # Registered after Flask-SQLAlchemy's own teardown, so it runs first (Flask runs them last
    # registered first) and leaves that one nothing to do.
    app.teardown_appcontext(_end_session)
    _make_sqlite_transactional()
    migrate.init_app(app, db, directory=str(app.config["MIGRATIONS_DIR"]))
    url = app.config.get("REDIS_URL")
    # Redis is a shared cache and lock service, never a reason to fail or hang a request:
    # backend/caches/redis_guard.py.
    app.extensions["redis"] = redis_guard.connect(url) if url else None


def _end_session(_error) -> None:
    """End the request's session without letting a dead connection turn its answer into a 500.

    Closing a session rolls back its open transaction; when the database dropped the connection
    meanwhile (a restart, a crash), that ROLLBACK raises — after the answer was made, in Flask's
    teardown, where no error handler runs. The connection is already invalidated by then (the
    pool replaces it), and a transaction on a closed connection is over anyway.
    """
    try:
        db.session.remove()
    except SQLAlchemyError as exc:
        log.warning("request's database session ended with an error: %s", type(exc).__name__)
        db.session.registry.clear()


_sqlite_hooked = False


def _make_sqlite_transactional() -> None:
    """Make a SQLite savepoint nest inside the request's transaction.

    Python's sqlite3 module opens a transaction only before a write, so a SAVEPOINT taken
    before any write (`begin_nested()` around an insert that may collide) starts a transaction
    of its own, and releasing it commits: the request's later rollback could not undo it. Here a
    BEGIN goes first when none is open. Reads stay outside transactions as the module intends,
    so concurrent requests still only queue on writes.
    """
    global _sqlite_hooked
    if _sqlite_hooked:
        return
    _sqlite_hooked = True

    @event.listens_for(Engine, "savepoint")
    def _begin_first(connection, _name):
        if connection.dialect.name == "sqlite":
            driver = connection.connection.dbapi_connection
            if not driver.in_transaction:
                driver.execute("BEGIN")


@contextmanager
def own_transaction() -> Iterator[Connection]:
    """A connection apart from the request's transaction, whose statements are committed when
    the block ends. On PostgreSQL each statement commits by itself (autocommit: no BEGIN and
    COMMIT round trips), so use it for one statement or for statements that stand alone."""
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            yield connection
    else:
        with db.engine.begin() as connection:
            yield connection


def get_redis() -> redis.Redis | None:
    """The Redis client, or None when `REDIS_URL` is not set (single-machine SQLite default)."""
    return current_app.extensions.get("redis")
