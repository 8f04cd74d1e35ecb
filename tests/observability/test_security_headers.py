"""The web's defences on every answer outside the console: JSON and errors run nothing, our HTML
pages allow their own files and nonce'd inline code only; HSTS where the site is on HTTPS; the
console keeps its own policy."""
from __future__ import annotations

import re

import pytest

from backend import create_app
from backend.console.security import CSP as CONSOLE_CSP
from backend.web.security_headers import DATA_CSP
from models import db
from tests.factories import create_region_tree, create_station


def common(response) -> None:
    headers = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]


@pytest.mark.parametrize("method, path, status", [
    ("GET", "/healthz", 200),
    ("GET", "/api/openapi.json", 200),
    ("GET", "/api/v1/stations/scan/nowhere", 404),   # an API error
    ("GET", "/no/such/path", 404),                   # Werkzeug's own 404
    ("DELETE", "/api/v1/auth/wx-login", 405),
    ("GET", "/api/v1/auth/me", 401),
    ("GET", "/media/1?a=1&e=1&s=x", 404),            # a bad signed link
    ("GET", "/wechat/callback", 403),                # plain text
])
def test_data_answers_run_and_load_nothing(client, method, path, status):
    response = client.open(path, method=method)
    assert response.status_code == status
    common(response)
    assert response.headers["Content-Security-Policy"] == DATA_CSP
    assert "Strict-Transport-Security" not in response.headers  # the test app is plain HTTP


def test_an_oversized_body_gets_them_too(client, app):
    response = client.post("/api/v1/auth/wx-login", data=b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1),
                           content_type="application/json")
    assert response.status_code == 413
    common(response)


def _nonce(response) -> str:
    [nonce] = re.findall(r"'nonce-([A-Za-z0-9_-]+)'", response.headers["Content-Security-Policy"].split(";")[1])
    return nonce


def test_the_docs_page_allows_its_own_script_only(client):
    response = client.get("/api/docs")
    common(response)
    csp = response.headers["Content-Security-Policy"]
    nonce = _nonce(response)
    assert f"script-src 'self' 'nonce-{nonce}';" in csp and "unsafe" not in csp
    assert "connect-src 'self'" in csp  # Swagger UI fetches /api/openapi.json
    html = response.get_data(as_text=True)
    assert f'<script nonce="{nonce}">' in html
    assert _nonce(client.get("/api/docs")) != nonce  # a new one for every answer


def test_the_landing_pages_style_is_allowed_by_its_nonce(client, app):
    with app.app_context():
        create_station(create_region_tree()["township"], scene="headers01")
    for path, status in (("/s/headers01", 200), ("/s/no-such-scene", 404)):
        response = client.get(path)
        assert response.status_code == status
        common(response)
        assert f'<style nonce="{_nonce(response)}">' in response.get_data(as_text=True)
        assert "img-src 'self'" in response.headers["Content-Security-Policy"]  # the station's code


def test_the_console_keeps_its_own_policy(client):
    for path in ("/console/login", "/console/no-such-page"):
        response = client.get(path)
        assert response.headers["Content-Security-Policy"] == CONSOLE_CSP
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert response.headers["X-Frame-Options"] == "DENY"


def test_hsts_wherever_the_cookie_is_secure(app, fake_wechat):
    secure = create_app(TESTING=True, SECRET_KEY="x", SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
                        REDIS_URL=None, WECHAT_API_BASE=fake_wechat.base_url, SESSION_COOKIE_SECURE=True,
                        HSTS_SECONDS=600)
    client = secure.test_client()
    for path in ("/healthz", "/no/such/path", "/console/login", "/api/docs"):
        assert client.get(path).headers["Strict-Transport-Security"] == "max-age=600"
    secure.config["HSTS_SECONDS"] = 0
    assert "Strict-Transport-Security" not in client.get("/healthz").headers
    with secure.app_context():
        db.engine.dispose()
