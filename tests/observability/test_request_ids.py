"""X-Request-Id: kept when well-formed, made when missing or forged, on every answer, and in
every log line the request writes (ours, SQLAlchemy's, the access line)."""
from __future__ import annotations

import logging
import re
import socket

import pytest

from backend import create_app
from models import db

HEX32 = re.compile(r"[0-9a-f]{32}")


def test_a_well_formed_id_is_kept(client):
    for rid in ("0f3c2a9e8b7d4c1a9e8b7d4c1a0f3c2a", "req-2026.11.27:abc_DEF", "a" * 128, "7"):
        response = client.get("/healthz", headers={"X-Request-Id": rid})
        assert response.headers["X-Request-Id"] == rid


def test_without_one_a_new_one_is_made_each_time(client):
    ids = {client.get("/healthz").headers["X-Request-Id"] for _ in range(3)}
    assert len(ids) == 3 and all(HEX32.fullmatch(rid) for rid in ids)


@pytest.mark.parametrize("forged", [
    "abc def",                       # a space: a second field in a text log
    'x", "level": "ERROR',           # a JSON injection attempt
    "a" * 129,                       # too long
    "id1,id2",                       # two headers joined
    "请求-1",                         # not ASCII
    "",                              # empty
])
def test_a_forged_or_odd_id_is_replaced(client, forged):
    response = client.get("/healthz", headers={"X-Request-Id": forged})
    assert HEX32.fullmatch(response.headers["X-Request-Id"])


def test_an_id_with_a_line_break_sent_over_the_wire_is_replaced(live_server):
    """What a client can actually put on the wire: bytes the test client refuses to send."""
    host, port = live_server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: ok\x0bforged\xff\r\n"
                     b"Connection: close\r\n\r\n")
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    assert head.startswith("HTTP/1.1 200")
    [rid] = re.findall(r"(?im)^X-Request-Id: (.*)$", head)
    assert HEX32.fullmatch(rid.strip())


def test_error_answers_carry_it_and_keep_the_error_shape(client):
    for response in (client.get("/api/v1/no-such-thing", headers={"X-Request-Id": "trace-404"}),
                     client.delete("/api/v1/auth/wx-login", headers={"X-Request-Id": "trace-405"})):
        assert response.headers["X-Request-Id"].startswith("trace-")
        body = response.get_json()
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}


def test_every_line_the_request_writes_carries_its_id(client, json_log, fake_wechat):
    # The fake WeChat refuses the code: the gateway logs a warning; the user lookup is SQL.
    fake_wechat.fail("/sns/jscode2session", errcode=40029, times=1)
    response = client.post("/api/v1/auth/wx-login", json={"code": "abc"}, headers={"X-Request-Id": "trace-login-1"})
    assert response.headers["X-Request-Id"] == "trace-login-1"
    client.get("/api/v1/stations/scan/nowhere", headers={"X-Request-Id": "trace-scan-2"})

    lines = json_log.lines()
    scan = [line for line in lines if line.get("request_id") == "trace-scan-2"]
    assert {line["logger"] for line in scan} >= {"backend.access", "sqlalchemy.engine.Engine"}
    assert any("SELECT" in line["message"] for line in scan)
    login = [line for line in lines if line.get("request_id") == "trace-login-1"]
    assert any(line["logger"] == "backend.access" and line["status"] == response.status_code for line in login)
    # Lines written outside both requests carry none of their ids.
    assert all(line.get("request_id") in ("trace-login-1", "trace-scan-2") for line in lines
               if line["logger"] == "backend.access")


def test_captured_records_carry_the_id_as_an_attribute(client, caplog):
    caplog.set_level(logging.INFO)
    client.get("/healthz", headers={"X-Request-Id": "trace-caplog"})
    [access] = [r for r in caplog.records if r.name == "backend.access"]
    assert access.request_id == "trace-caplog"
    logging.getLogger("tests").info("after the request")
    assert caplog.records[-1].request_id is None


def test_an_unexpected_error_is_logged_whole_under_the_requests_id(app, fake_wechat, json_log):
    broken = create_app(TESTING=True, SECRET_KEY="x", SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
                        REDIS_URL=None, WECHAT_API_BASE=fake_wechat.base_url)

    @broken.get("/boom")
    def boom():
        logging.getLogger("backend.test").warning("about to fail")
        raise RuntimeError("a bug")

    response = broken.test_client().get("/boom", headers={"X-Request-Id": "trace-boom"})
    assert response.status_code == 500 and response.get_json()["error"]["code"] == "internal_error"
    assert response.headers["X-Request-Id"] == "trace-boom"
    mine = [line for line in json_log.lines() if line.get("request_id") == "trace-boom"]
    assert [line["logger"] for line in mine] == ["backend.test", "backend.errors", "backend.access"]
    error = mine[1]
    assert error["level"] == "ERROR" and "RuntimeError: a bug" in error["exception"]
    assert "Traceback" in error["exception"] and mine[2]["status"] == 500
    with broken.app_context():
        db.engine.dispose()
