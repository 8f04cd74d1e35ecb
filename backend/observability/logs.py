"""Log lines: what request or run each one belongs to, and their shape (one JSON object a line, or text).

Every record is stamped at creation with the request id (`request_id`) or run id (`run_id`) in
force in the code that logs it — ours, SQLAlchemy's, Werkzeug's, gunicorn's alike. The ids live in
context variables (set by `backend.observability.middleware` for requests, by `bound_run` for jobs and
senders), and a log record factory copies them onto each record: a `logging.Filter` would only
see records passing through the one handler or logger it sits on, and records propagated from
library loggers to other handlers (pytest's, a second handler an operator adds) would go without.

`LOG_FORMAT=json` writes one object per line with `time` (ISO 8601, UTC), `level`, `logger`,
`message`, the ids, the access line's `method`/`path`/`route`/`status`/`duration_ms` when the
record has them, and `exception` (the traceback text) when there is one. `text` is for people
reading a terminal. Nothing personal goes in: the access line has the path without its query
string, and no header or body is ever logged.
"""
from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
run_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("run_id", default=None)

# Fields an access line (or any record given them with `extra=`) carries into the JSON object.
ACCESS_FIELDS = ("method", "path", "route", "status", "duration_ms")

_factory_installed = False


def install_record_factory() -> None:
    """Stamp every record with the ids in force where it is created (once per process)."""
    global _factory_installed
    if _factory_installed:
        return
    _factory_installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.request_id = request_id.get()
        record.run_id = run_id.get()
        return record

    logging.setLogRecordFactory(factory)


@contextmanager
def bound_run(value: str) -> Iterator[None]:
    """Log lines written inside carry `run_id=value` (a job run, a sender thread, a scheduler)."""
    token = run_id.set(value)
    try:
        yield
    finally:
        run_id.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line. Chinese stays readable (no \\u escapes); newlines in a message
    or a traceback are escaped by JSON, so a line can never be forged by what is logged."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in ("request_id", "run_id"):
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        for name in ACCESS_FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`time LEVEL logger [id]: message`, the id being the request's or the run's ('-': none)."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(context_id)s]: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        record.context_id = getattr(record, "request_id", None) or getattr(record, "run_id", None) or "-"
        return super().format(record)


def formatter(kind: str) -> logging.Formatter:
    """The formatter LOG_FORMAT names ('json' or 'text')."""
    if kind == "json":
        return JsonFormatter()
    if kind == "text":
        return TextFormatter()
    raise ValueError(f"LOG_FORMAT must be json or text, not {kind!r}")


def configure(log_format: str, level: str = "INFO") -> None:
    """Set up logging for a process that has none yet; leave alone one that has.

    A process whose root logger already has handlers was set up by someone who knows better:
    pytest (its capture), gunicorn's `logconfig_dict`, an embedding program. Either way the
    records carry the ids.
    """
    install_record_factory()
    formatter(log_format)  # refuse a wrong LOG_FORMAT at start, not at the first line
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(log_format))
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # a line per plugin, every run
