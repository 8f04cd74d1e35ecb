"""What a deployment (real WeChat credentials) refuses: the public development SECRET_KEY, and an
open /metrics; and bodies nested past the JSON parser's depth, anywhere."""
from __future__ import annotations

import logging

import pytest
from itsdangerous import URLSafeTimedSerializer

from backend import create_app
from config import DEV_SECRET_KEY, ConfigError

REAL_WECHAT = {"WECHAT_FAKE": False, "WECHAT_APP_ID": "wx0123456789abcdef", "WECHAT_APP_SECRET": "s" * 32}


@pytest.mark.parametrize("key", [None, "", DEV_SECRET_KEY, "short"])
def test_a_deployment_does_not_start_on_the_public_or_no_secret_key(app, key):
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app(TESTING=True, SECRET_KEY=key, SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
                   REDIS_URL=None, **REAL_WECHAT)


def test_a_deployment_starts_with_a_real_key_and_development_with_the_default(app):
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    deployed = create_app(TESTING=True, SECRET_KEY="a" * 64, SQLALCHEMY_DATABASE_URI=uri, REDIS_URL=None,
                          **REAL_WECHAT)
    assert deployed.config["SECRET_KEY"] == "a" * 64
    developing = create_app(TESTING=True, SECRET_KEY=DEV_SECRET_KEY, SQLALCHEMY_DATABASE_URI=uri, REDIS_URL=None,
                            WECHAT_FAKE=True)
    assert developing.config["SECRET_KEY"] == DEV_SECRET_KEY


def test_load_config_reads_a_missing_secret_key_as_the_development_one(monkeypatch):
    from config import load_config, production_problems

    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("WECHAT_APP_ID", "wx0123456789abcdef")
    monkeypatch.setenv("WECHAT_APP_SECRET", "s" * 32)
    cfg = load_config()
    assert cfg["WECHAT_FAKE"] is False
    assert any("SECRET_KEY is not set" in problem for problem in production_problems(cfg))


def test_metrics_are_closed_in_a_deployment_without_a_token(app):
    deployed = create_app(TESTING=True, SECRET_KEY="b" * 64,
                          SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"], REDIS_URL=None,
                          **REAL_WECHAT)
    client = deployed.test_client()
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer anything"}):
        answer = client.get("/metrics", headers=headers)
        assert answer.status_code == 401, headers
        assert answer.get_json()["error"]["code"] == "unauthorized"
        assert "lianluozhan_" not in answer.get_data(as_text=True)
    deployed.config["METRICS_TOKEN"] = "scrape-me"
    assert client.get("/metrics", headers={"Authorization": "Bearer scrape-me"}).status_code == 200


def test_metrics_stay_open_in_development_without_a_token(client, app):
    assert app.config["WECHAT_FAKE"] and not app.config.get("METRICS_TOKEN")
    assert client.get("/metrics").status_code == 200


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("path", ["/api/v1/auth/wx-login", "/api/v1/manage/login"])
def test_json_nested_past_the_parser_is_bad_input_not_a_500(client, path, caplog):
    body = '{"code": ' + _nested(5000) + "}"
    with caplog.at_level(logging.INFO):
        answer = client.post(path, data=body, content_type="application/json")
    assert answer.status_code == 400
    error = answer.get_json()["error"]
    assert error["code"] == "invalid_input" and error["message"] == "请求体不是合法的 JSON"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_token_signed_with_the_development_key_is_refused_where_the_key_is_real(client, app):
    # The suite's own key is not the public one, so a forged token means nothing here.
    forged = URLSafeTimedSerializer(DEV_SECRET_KEY, salt="lianluozhan.api-token.v1").dumps({"uid": 1, "ver": 0})
    answer = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {forged}"})
    assert answer.status_code == 401
