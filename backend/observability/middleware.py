"""What every HTTP request leaves behind: its id, an access line, its metrics.

A WSGI middleware around the Flask app, so that it holds for everything the request does — our
code, SQLAlchemy and Werkzeug reading the body, error handlers, teardown — and every answer,
even one Flask built from an error, carries `X-Request-Id`:

- An incoming `X-Request-Id` (nginx's `$request_id`, a caller's) is kept when it is 1–128 of
  `A-Z a-z 0-9 . _ : -`; anything else (spaces, newlines, quotes, a second id joined by a comma)
  is replaced by a new one, so no caller can write into our log lines. The id is in every log
  record made while the request runs (`backend.observability.logs`).
- One access line per request (logger `backend.access`): method, the path without its query
  string (signed media links and WeChat's signatures travel there), the route template, status
  and duration. No header and no body is ever logged.
- `backend.observability.http_metrics` counts the request under its route template.

The error body stays API.md's `{"error": {...}}`: the header is how a report finds its log lines.
"""
from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, request
from werkzeug.wsgi import get_path_info

from backend.observability import http_metrics, logs

HEADER = "X-Request-Id"
ENVIRON_ID = "lianluozhan.request_id"
ENVIRON_ROUTE = "lianluozhan.route"
_ACCEPTED = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MAX_PATH = 512

access_log = logging.getLogger("backend.access")
log = logging.getLogger(__name__)


def accepted_id(value: str | None) -> str | None:
    """`value` if it may stand as a request id, else None."""
    if value and _ACCEPTED.fullmatch(value):
        return value
    return None


def new_id() -> str:
    # The shape of nginx's $request_id: 32 hex digits.
    return uuid.uuid4().hex


def init_observability(app: Flask) -> None:
    """Wrap the app (first, so that everything after runs inside) and note each request's route."""
    app.wsgi_app = RequestObserver(app.wsgi_app)

    @app.before_request
    def _note_route():
        # The rule, never the path: /api/v1/issues/<no> is one series, not one per issue.
        request.environ[ENVIRON_ROUTE] = request.url_rule.rule if request.url_rule is not None else None


class RequestObserver:
    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app
        self._metrics_failed = False

    def __call__(self, environ, start_response):
        rid = accepted_id(environ.get("HTTP_X_REQUEST_ID")) or new_id()
        environ[ENVIRON_ID] = rid
        token = logs.request_id.set(rid)
        started = time.perf_counter()
        status = ["500"]

        def start_with_id(code: str, headers: list, exc_info=None):
            status[0] = code.split(" ", 1)[0]
            headers = [(name, value) for name, value in headers if name.lower() != "x-request-id"]
            headers.append((HEADER, rid))
            return start_response(code, headers, exc_info)

        try:
            return self.wsgi_app(environ, start_with_id)
        finally:
            # Werkzeug's responses call start_response before they return their body: the
            # status is known here. The time is the answer's making, not its sending.
            self._done(environ, status[0], time.perf_counter() - started)
            logs.request_id.reset(token)

    def _done(self, environ, status: str, seconds: float) -> None:
        method = _printable(environ.get("REQUEST_METHOD", ""))[:16]
        route = environ.get(ENVIRON_ROUTE)
        path = _printable(environ.get("SCRIPT_NAME", "") + get_path_info(environ))[:_MAX_PATH]
        code = int(status) if status.isdigit() else 0
        duration_ms = round(seconds * 1000, 1)
        access_log.info("%s %s %s %.1fms", method, path, code, duration_ms,
                        extra={"method": method, "path": path, "route": route, "status": code,
                               "duration_ms": duration_ms})
        try:
            http_metrics.observe(method, route, code, seconds)
        except Exception:  # the answer is made: a metrics directory gone must not break it
            if not self._metrics_failed:
                self._metrics_failed = True
                log.exception("request metrics could not be recorded (said once per process)")


def _printable(text: str) -> str:
    """Control characters shown as escapes: a path with %0A in it cannot start a log line."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}", text)
