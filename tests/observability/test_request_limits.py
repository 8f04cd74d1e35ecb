"""Bodies past their limit get 413 `payload_too_large` in API.md's shape — with a Content-Length
or chunked without one, JSON, multipart or urlencoded — and never a 500 or a silently cut body."""
from __future__ import annotations

import http.client
import io
import json
import socket

import pytest

from tests.factories import auth, wx_login

LIMIT = 1024 * 1024  # MAX_CONTENT_LENGTH


def json_of(size: int) -> bytes:
    """A JSON object of exactly `size` bytes."""
    body = b'{"code": "' + b"a" * (size - 12) + b'"}'
    assert len(body) == size
    return body


def send_chunked(live_server: str, path: str, body: bytes, content_type: str = "application/json",
                 headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """POST `body` with Transfer-Encoding: chunked over a real socket, as a client would: the
    status, headers and body of the answer. A server that answers before reading everything may
    close while we still send, or keep reading what is left: the answer is read all the same."""
    host, port = live_server.removeprefix("http://").split(":")
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n{extra}"
                     "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n".encode())
        try:
            for start in range(0, len(body), 64 * 1024):
                part = body[start:start + 64 * 1024]
                conn.sendall(b"%x\r\n%s\r\n" % (len(part), part))
            conn.sendall(b"0\r\n\r\n")
        except OSError:
            pass
        answer = http.client.HTTPResponse(conn)
        answer.begin()
        return answer.status, dict(answer.getheaders()), answer.read()


def is_too_large(status: int, body: bytes) -> None:
    assert status == 413, body[:300]
    error = json.loads(body)["error"]
    assert error["code"] == "payload_too_large" and set(error) == {"code", "message", "details"}


def test_json_with_a_content_length_past_the_limit(client):
    response = client.post("/api/v1/auth/wx-login", data=json_of(LIMIT + 1), content_type="application/json")
    is_too_large(response.status_code, response.get_data())


@pytest.mark.parametrize("size", [LIMIT + 1, LIMIT + 300_000, 4 * LIMIT])
def test_chunked_json_past_the_limit_is_413_not_a_cut_body(live_server, size):
    status, headers, body = send_chunked(live_server, "/api/v1/auth/wx-login", json_of(size))
    is_too_large(status, body)
    assert headers["X-Request-Id"] and headers["X-Content-Type-Options"] == "nosniff"


def test_chunked_json_up_to_the_limit_is_read_whole(live_server):
    # Read whole and validated: its one field is too long (a cut body would be "not JSON").
    status, _, body = send_chunked(live_server, "/api/v1/auth/wx-login", json_of(LIMIT))
    assert status == 400
    assert json.loads(body)["error"]["details"]["fields"] == {"code": "最多128个字符"}


def test_chunked_past_the_limit_with_an_idempotency_key(live_server, client):
    """Idempotency reads the raw body before the JSON: the same 413."""
    token = wx_login(client, "chunky")["token"]
    status, _, body = send_chunked(live_server, "/api/v1/issues", json_of(LIMIT + 10),
                                   headers={**auth(token), "Idempotency-Key": "big-1"})
    is_too_large(status, body)


def test_chunked_bodies_in_process_too(client):
    """The same through the test client, with the marker servers set for a chunked body."""
    response = client.post("/api/v1/auth/wx-login", input_stream=io.BytesIO(json_of(LIMIT + 5)),
                           content_type="application/json", headers={"Transfer-Encoding": "chunked"},
                           environ_overrides={"wsgi.input_terminated": True})
    assert response.request.content_length is None
    is_too_large(response.status_code, response.get_data())


def test_a_multipart_form_of_too_many_parts(client):
    token = wx_login(client, "parts")["token"]
    fields = {f"f{n}": "x" for n in range(40)} | {"file": (io.BytesIO(b"\xff\xd8\xff"), "a.jpg", "image/jpeg")}
    response = client.post("/api/v1/uploads", data=fields, headers=auth(token), content_type="multipart/form-data")
    is_too_large(response.status_code, response.get_data())


def test_a_multipart_text_field_past_the_form_memory_limit(client, app):
    token = wx_login(client, "field")["token"]
    fields = {"note": "x" * (app.config["MAX_FORM_MEMORY_SIZE"] + 1),
              "file": (io.BytesIO(b"\xff\xd8\xff"), "a.jpg", "image/jpeg")}
    response = client.post("/api/v1/uploads", data=fields, headers=auth(token), content_type="multipart/form-data")
    is_too_large(response.status_code, response.get_data())


def test_an_urlencoded_form_is_held_to_the_form_memory_limit(client, app, live_server):
    """Werkzeug reads such a form whole with no limit of its own below MAX_CONTENT_LENGTH. The
    console answers its own 413 page (HTML, like all its pages)."""
    big = b"username=" + b"a" * app.config["MAX_FORM_MEMORY_SIZE"]
    assert len(big) < LIMIT
    response = client.post("/console/login", data=big, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413 and response.mimetype == "text/html"
    status, _, _ = send_chunked(live_server, "/console/login", big, "application/x-www-form-urlencoded")
    assert status == 413
    small = client.post("/console/login", data=b"username=a&password=b",
                        content_type="application/x-www-form-urlencoded")
    assert small.status_code == 400  # read, then refused for its missing CSRF token
