"""The application factory. `wsgi.py` is the only place an app is built at import time."""
from __future__ import annotations

import os

from flask import Flask
from werkzeug.routing import (
    IntegerConverter,
    PathConverter,
    UnicodeConverter,
    ValidationError,
)

from backend.observability import logs
from backend.web.json_provider import SafeJSONProvider
from backend.validation import MAX_ROW_ID
from backend.web.request_limits import LimitedRequest
from config import PROJECT_ROOT, check_production, load_config


class RowIdConverter(IntegerConverter):
    """`<int:…>` in a route is a row id. One beyond the integer range names no row, but asking
    the database for it would be an error (a 500): it becomes 0, an id no row has, so the view
    answers its own 404 (`station_not_found`, `not_found` …) as for any unknown id."""

    def to_python(self, value: str) -> int:
        number = super().to_python(value)
        return number if number <= MAX_ROW_ID else 0


class _NoNul:
    """A text segment holding a NUL character (`%00`) names nothing: the route does not match and
    the answer is 404. Let through, it would fail in PostgreSQL, which cannot compare text
    with NUL, and in file paths: a 500 either way."""

    def to_python(self, value: str) -> str:
        if "\x00" in value:
            raise ValidationError()
        return super().to_python(value)


class TextConverter(_NoNul, UnicodeConverter):
    """`<name>` and `<string:name>`: any text without a slash or a NUL."""


class TextPathConverter(_NoNul, PathConverter):
    """`<path:name>`: any text without a NUL."""


def _make_sqlite_directory(url: str) -> None:
    """SQLite creates its file but not the folder it goes in: a fresh clone has no `instance/`,
    and `flask --app wsgi db upgrade` (the README's first command) would fail to open it."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:" \
            and not parsed.database.startswith("file:"):
        os.makedirs(os.path.dirname(os.path.abspath(parsed.database)), exist_ok=True)


def create_app(**overrides) -> Flask:
    """Build the app from the environment's settings, then `overrides` (tests pass these)."""
    app = Flask(__name__, instance_path=str(PROJECT_ROOT / "instance"))
    app.request_class = LimitedRequest  # 413 for every body past its limit, chunked ones too
    app.config.from_mapping(load_config(**overrides))
    # Before anything is served or signed: a deployment on the public development key would
    # accept tokens anyone can make.
    check_production(app.config)
    app.config.setdefault("MIGRATIONS_DIR", PROJECT_ROOT / "migrations")
    _make_sqlite_directory(app.config["SQLALCHEMY_DATABASE_URI"])
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        # No JIT: our statements are short, and PostgreSQL compiles any whose estimated cost
        # passes jit_above_cost — 340 ms of compiling for a 60 ms dashboard count at a province.
        options = dict(app.config["SQLALCHEMY_ENGINE_OPTIONS"])
        connect_args = dict(options.get("connect_args", {}))
        connect_args["options"] = (connect_args.get("options", "") + " -c jit=off").strip()
        # A database host that does not answer must fail a request within seconds (a 503), not
        # hang a worker until the operating system gives up on the connection.
        connect_args.setdefault("connect_timeout", app.config["DATABASE_CONNECT_TIMEOUT_SECONDS"])
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {**options, "connect_args": connect_args}
    app.json = SafeJSONProvider(app)
    app.json.ensure_ascii = False  # Chinese stays readable in answers and logs
    app.json.sort_keys = False
    app.url_map.converters["int"] = RowIdConverter
    app.url_map.converters["default"] = app.url_map.converters["string"] = TextConverter
    app.url_map.converters["path"] = TextPathConverter
    if app.config.get("CLOCK_START"):
        from datetime import datetime

        from backend import clock

        clock.accelerate(datetime.fromisoformat(app.config["CLOCK_START"]), app.config["CLOCK_SPEED"],
                         app.config["CLOCK_ORIGIN"])
    # A process with no logging yet (the dev server, a gunicorn worker, a `flask` command) gets
    # a handler on stderr in LOG_FORMAT; pytest's and gunicorn's own set-ups are left as they are.
    logs.configure(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"])

    from backend import cli, crypto, errors
    from backend.caches import identity_cache
    from backend.extensions import init_extensions
    from backend.observability.middleware import init_observability
    from backend.services.issues import issue_page_cache
    from backend.services.privacy import audit
    from backend.services.reference import workdays
    from backend.services.stations import scan_cache, station_places
    from backend.storage import init_storage
    from backend.web import landing, media, metrics, openapi
    from backend.web.security_headers import init_security_headers
    from backend.web.sessions import LazyCookieSessionInterface
    from backend.web.wechat_callback import bp as wechat_callback
    from backend.wechat import init_wechat
    from miniprogram_api import register_api

    app.session_interface = LazyCookieSessionInterface()
    # First: the WSGI layer outermost, so a request's id and timing cover all the rest; the
    # headers' hook registered first runs last, after any other that changes the answer.
    init_observability(app)
    init_security_headers(app)
    crypto.init_app(app)
    init_extensions(app)
    init_storage(app)
    scan_cache.hook_invalidation()
    identity_cache.hook_invalidation()
    issue_page_cache.hook_invalidation()
    station_places.hook_invalidation()
    workdays.hook_invalidation()
    init_wechat(app)
    errors.register_error_handlers(app)
    audit.init_app(app)
    register_api(app)
    app.register_blueprint(openapi.docs)
    app.register_blueprint(landing.bp)
    app.register_blueprint(media.bp)
    app.register_blueprint(metrics.bp)
    app.register_blueprint(wechat_callback)
    from backend.console import init_console

    init_console(app)
    cli.register_commands(app)
    app.extensions["app_factory"] = create_app  # `outbox send` builds a sender app of its own
    return app
