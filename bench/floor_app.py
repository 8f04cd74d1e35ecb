"""The floor under issue submission: its I/O from a bare Flask handler on the raw drivers.

bench/issues.py submit --floor serves this beside the real app with the same gunicorn config and
the same load (bench/issues.lua). Per request it does what a submission does on the wire, in the
same order, and nothing else — no token check, validation, ORM, caches or serialiser:

- Redis: the identity MGET, the rate-limit script, the access-token GET, the generation bumps
  (a pipeline) — four round trips;
- WeChat: `POST /wxa/msg_sec_check` (v2 body) to the fake WeChat through a keep-alive
  `requests.Session`, as wechatpy sends it;
- PostgreSQL (psycopg, one connection per worker plus one in autocommit for the key claim, as
  the app's pool holds them): the `Idempotency-Key` upsert, then `INSERT … RETURNING` of an issue
  (its number drawn from the day's sequence) and of its event into the real tables, the UPDATE of
  the stored answer, COMMIT.

What it answers is JSON of the same shape and size class as the real answer. The figure it gives
is how fast this machine can do that I/O from Python with no application around it: the real
call's throughput read as a fraction of it says how much the application costs.
"""
from __future__ import annotations

import json
import os
import secrets
from datetime import datetime, timedelta, timezone

import psycopg
import redis
import requests
from flask import Flask, jsonify, request

app = Flask(__name__)
app.json.ensure_ascii = False

_DSN = os.environ["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
_WECHAT = os.environ["WECHAT_API_BASE"].rstrip("/")
_APP_ID = "wxf00dfacefake0001"
_APP_SECRET = "fake-wechat-dev-secret-0123456789"

_state: dict = {}


def _setup() -> dict:
    # Per worker process, on first use (gunicorn forks after import).
    if not _state:
        work = psycopg.connect(_DSN)
        claim = psycopg.connect(_DSN, autocommit=True)
        station, category, user = work.execute(
            "SELECT (SELECT min(id) FROM station), (SELECT min(id) FROM category), (SELECT min(id) FROM app_user)"
        ).fetchone()
        work.commit()
        today = datetime.now(timezone(timedelta(hours=8))).date()
        claim.execute(f"CREATE SEQUENCE IF NOT EXISTS floor_no_{today:%Y%m%d}")
        http = requests.Session()
        http.trust_env = False
        token = http.post(f"{_WECHAT}/cgi-bin/stable_token", json={
            "grant_type": "client_credential", "appid": _APP_ID, "secret": _APP_SECRET}).json()["access_token"]
        cache = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14"))
        cache.set("floor:token", json.dumps({"token": token}))
        _state.update(work=work, claim=claim, http=http, redis=cache, today=today,
                      ids=(station, category, user), take=cache.register_script(
                          "redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2]) return redis.call('ZCARD', KEYS[1])"))
    return _state


@app.get("/healthz")
def healthz():
    return jsonify(status="ok")


@app.post("/api/v1/issues")
def submit():
    s = _setup()
    body = request.get_json()
    user_key = request.headers.get("Authorization", "")[-16:]
    cache = s["redis"]
    cache.mget(["floor:gen", f"floor:user:{user_key}", "floor:gen:a", "floor:gen:b", "floor:gen:c"])
    s["take"](keys=[f"floor:rate:{user_key}"], args=[datetime.now().timestamp(), secrets.token_hex(4)])
    token = json.loads(cache.get("floor:token"))["token"]
    verdict = s["http"].post(f"{_WECHAT}/wxa/msg_sec_check", params={"access_token": token}, json={
        "version": 2, "openid": "fake-floor", "scene": 3, "content": body["content"]}).json()
    now = datetime.now(timezone.utc)
    station, category, user = s["ids"]
    claim_id = s["claim"].execute(
        "INSERT INTO idempotency_record (user_id, key, request_hash, created_at) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (user_id, key) DO UPDATE SET created_at = excluded.created_at "
        "WHERE idempotency_record.created_at < %s RETURNING id",
        (user, secrets.token_hex(8), "0" * 64, now, now - timedelta(hours=24))).fetchone()[0]
    work = s["work"]
    issue = work.execute(
        "INSERT INTO issue (no, station_id, category_id, content, submitter_id, is_anonymous, status,"
        " content_check, unsatisfied_count, resolution_round, escalated_to_manager, deadline_estimated,"
        " contact_phone_shared, created_at, accept_due_on)"
        " VALUES (%s || lpad(nextval(%s::regclass)::text, 6, '0'), %s, %s, %s, %s, false, 'submitted', %s,"
        " 0, 0, false, false, false, %s, %s) RETURNING *",
        (f"F{s['today']:%Y%m%d}-", f"floor_no_{s['today']:%Y%m%d}", station, category, body["content"], user,
         verdict["result"]["suggest"], now, s["today"])).fetchone()
    event = work.execute(
        "INSERT INTO issue_event (issue_id, kind, to_status, actor_id, actor_role, created_at)"
        " VALUES (%s, 'submitted', 'submitted', %s, 'resident', %s) RETURNING *", (issue[0], user, now)).fetchone()
    answer = {"issue": {"no": issue[1], "status": "submitted", "content": body["content"], "category": body["category"],
                        "created_at": now.isoformat(), "events": [{"kind": event[2], "created_at": now.isoformat()}]}}
    work.execute("UPDATE idempotency_record SET response_status = 201, response_body = %s WHERE id = %s",
                 (json.dumps(answer, ensure_ascii=False), claim_id))
    work.commit()
    with cache.pipeline(transaction=False) as pipe:
        pipe.incr("floor:gen:station")
        pipe.incr("floor:gen:deputy")
        pipe.execute()
    return jsonify(answer), 201
