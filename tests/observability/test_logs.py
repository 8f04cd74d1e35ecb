"""Log lines: one JSON object per line of a fixed shape, an access line per request, text for
people, and nothing personal — no Authorization header, no body, no phone, no signed query."""
from __future__ import annotations

import io
import json
import logging
from datetime import datetime

import pytest

from backend.observability import logs
from tests.factories import auth
from tests.issues.test_issue_lifecycle import submit, world  # noqa: F401  (fixture)


def test_the_access_line_has_the_fields_a_log_search_needs(client, json_log):
    client.get("/api/v1/stations/scan/some-scene?from=poster&token=SECRET-IN-QUERY",
               headers={"X-Request-Id": "trace-shape"})
    [line] = [line for line in json_log.lines() if line["logger"] == "backend.access"]
    assert set(line) == {"time", "level", "logger", "message", "request_id", "method", "path", "route", "status",
                         "duration_ms"}
    assert datetime.fromisoformat(line["time"]).utcoffset() is not None  # ISO 8601 with its zone
    assert line["level"] == "INFO" and line["request_id"] == "trace-shape"
    assert line["method"] == "GET" and line["status"] == 404
    assert line["path"] == "/api/v1/stations/scan/some-scene"  # the query string is never logged
    assert line["route"] == "/api/v1/stations/scan/<scene>"
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert "SECRET-IN-QUERY" not in json_log.text


def test_every_line_is_one_json_object_even_with_line_breaks_in_it(client, json_log):
    client.get("/api/v1/x%0A%7B%22level%22%3A%22ERROR%22%7D")  # a path with a newline and JSON in it
    logging.getLogger("backend.test").warning("第一行\n第二行", exc_info=ValueError("坏了"))
    lines = json_log.lines()  # fails on any line that is not JSON
    [access] = [line for line in lines if line["logger"] == "backend.access"]
    assert access["path"] == '/api/v1/x\\x0a{"level":"ERROR"}'
    [warning] = [line for line in lines if line["logger"] == "backend.test"]
    assert warning["message"] == "第一行\n第二行" and "request_id" not in warning
    assert "ValueError: 坏了" in warning["exception"]
    assert "第一行" in json_log.text  # Chinese stays readable, not \u escapes


def test_no_personal_data_reaches_the_logs(client, world, json_log):  # noqa: F811  (the fixture)
    token = world["tokens"]["resident"]
    phone, content = "13912345678", "我家楼下的下水道堵了两周，气味很大。"
    response = submit(client, world, content=content, contact_phone=phone)
    assert response.status_code == 201, response.get_json()
    no = response.get_json()["issue"]["no"]
    client.get(f"/api/v1/issues/{no}?access_token={token}", headers=auth(token))
    assert client.get("/api/v1/auth/me", headers=auth("not-a-real-token-ZZZ")).status_code == 401

    text = json_log.text
    assert "backend.access" in text and "INSERT INTO issue " in text  # the requests and their SQL were logged
    for secret in (phone, content, token, "not-a-real-token-ZZZ", "Bearer", "Authorization"):
        assert secret not in text, secret


def test_text_lines_name_the_request_or_the_run():
    formatter = logs.TextFormatter()
    record = logging.LogRecord("backend.x", logging.INFO, __file__, 1, "hello %s", ("you",), None)
    record.request_id, record.run_id = "trace-1", None
    assert formatter.format(record).endswith("INFO backend.x [trace-1]: hello you")
    record.request_id, record.run_id = None, "job:rollup:7"
    assert formatter.format(record).endswith("[job:rollup:7]: hello you")
    record.run_id = None
    assert formatter.format(record).endswith("[-]: hello you")


def test_run_ids_are_bound_for_a_block_and_the_same_thread_only():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    log = logging.getLogger("backend.test.runs")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        with logs.bound_run("job:rollup:42"):
            log.info("inside")
        log.info("outside")
    finally:
        log.removeHandler(handler)
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert inside["run_id"] == "job:rollup:42" and "run_id" not in outside


def test_logging_is_set_up_once_and_never_over_someone_elses(monkeypatch):
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", logging.WARNING)
    logs.configure("json", "info")
    [handler] = root.handlers
    assert isinstance(handler.formatter, logs.JsonFormatter) and root.level == logging.INFO
    logs.configure("text", "INFO")  # a second app in the process: the first set-up stays
    assert root.handlers == [handler]
    with pytest.raises(ValueError):
        logs.configure("yaml", "INFO")
