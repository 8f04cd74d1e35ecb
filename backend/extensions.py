"""Shared clients set up once per app: the database (from models) and an optional Redis."""
from __future__ import annotations

import logging

import redis
from flask import Flask, current_app
from flask_migrate import Migrate

from models import db

log = logging.getLogger(__name__)
migrate = Migrate()

__all__ = ["db", "migrate", "init_extensions", "get_redis"]


def init_extensions(app: Flask) -> None:
    db.init_app(app)
    migrate.init_app(app, db, directory=str(app.config["MIGRATIONS_DIR"]))
    url = app.config.get("REDIS_URL")
    # Short timeouts: Redis is a shared cache and lock service, never a reason to hang a request.
    app.extensions["redis"] = (
        redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0) if url else None
    )


def get_redis() -> redis.Redis | None:
    """The Redis client, or None when `REDIS_URL` is not set (single-machine SQLite default)."""
    return current_app.extensions.get("redis")
