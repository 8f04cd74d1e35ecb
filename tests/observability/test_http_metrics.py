"""Request metrics on /metrics: counted by method, route template and status; durations in a
histogram by route template; beside the outbox and scheduler gauges, behind the same token.

The counters belong to the process (every app a test builds adds to them), so each test reads
them before and after and compares the difference."""
from __future__ import annotations

import time

from backend import create_app
from backend.observability import http_metrics
from models import db
from tests.jobs.test_metrics import parse

REQUESTS = "lianluozhan_http_requests_total"
DURATION = "lianluozhan_http_request_duration_seconds"


def scrape(client, **headers) -> dict:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200
    return parse(response.get_data(as_text=True))


def count(samples, method, route, status) -> float:
    return samples.get((REQUESTS, frozenset({("method", method), ("route", route), ("status", str(status))})), 0)


def test_requests_are_counted_by_route_template_never_by_path(client):
    before = scrape(client)
    for scene in ("first-scene", "second-scene", "third-scene"):
        assert client.get(f"/api/v1/stations/scan/{scene}").status_code == 404
    client.get("/healthz")
    client.get("/no/such/page/one")
    client.get("/no/such/page/two")
    client.open("/healthz", method="BREW")  # no such method: one label value for all of them
    after = scrape(client)

    route = "/api/v1/stations/scan/<scene>"
    assert count(after, "GET", route, 404) - count(before, "GET", route, 404) == 3
    assert count(after, "GET", "/healthz", 200) - count(before, "GET", "/healthz", 200) == 1
    assert count(after, "GET", "<unmatched>", 404) - count(before, "GET", "<unmatched>", 404) == 2
    assert count(after, "other", "<unmatched>", 405) - count(before, "other", "<unmatched>", 405) == 1
    # The scrape before this one is counted too (this one is answered before it counts itself).
    assert count(after, "GET", "/metrics", 200) - count(before, "GET", "/metrics", 200) == 1
    labels = {value for (name, pairs) in after if name.startswith("lianluozhan_http") for _, value in pairs}
    assert not any("scene" in value and "<" not in value for value in labels)
    assert not any(value.startswith("/no/") or value == "BREW" for value in labels)


def test_the_hand_written_gauges_are_still_there(client):
    samples = scrape(client)
    assert ("lianluozhan_outbox_unknown_messages", frozenset()) in samples
    assert ("lianluozhan_scheduler_heartbeat_age_seconds", frozenset()) in samples


def test_durations_fall_in_the_right_buckets(app, fake_wechat):
    timed = create_app(TESTING=True, SECRET_KEY="x", SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
                       REDIS_URL=None, WECHAT_API_BASE=fake_wechat.base_url)

    @timed.get("/test/slow/<int:ms>")
    def slow(ms: int):
        time.sleep(ms / 1000)
        return {"slept": ms}

    client = timed.test_client()
    labels = frozenset({("method", "GET"), ("route", "/test/slow/<int:ms>")})

    def bucket(samples, le: str) -> float:
        return samples.get((f"{DURATION}_bucket", labels | {("le", le)}), 0)

    before = scrape(client)
    for ms in (30, 30, 120):
        assert client.get(f"/test/slow/{ms}").status_code == 200
    after = scrape(client)

    les = sorted({dict(pairs)["le"] for name, pairs in after if name == f"{DURATION}_bucket" and pairs >= labels},
                 key=float)
    assert les == [repr(float(b)) for b in http_metrics.BUCKETS] + ["+Inf"]
    delta = {le: bucket(after, le) - bucket(before, le) for le in les}
    # Each takes at least its sleep; the margins above it leave room for a loaded machine.
    assert delta["0.025"] == 0
    assert delta["0.1"] == 2            # the two of 30 ms, not the one of 120 ms
    assert delta["0.25"] == 3 and delta["+Inf"] == 3
    assert [delta[le] for le in les] == sorted(delta[le] for le in les)  # cumulative
    assert after[(f"{DURATION}_count", labels)] - before.get((f"{DURATION}_count", labels), 0) == 3
    total = after[(f"{DURATION}_sum", labels)] - before.get((f"{DURATION}_sum", labels), 0)
    assert 0.18 <= total < 1.0
    with timed.app_context():
        db.engine.dispose()


def test_the_token_guards_the_request_metrics_too(client, app):
    app.config["METRICS_TOKEN"] = "metrics-secret"
    try:
        refused = client.get("/metrics")
        assert refused.status_code == 401 and REQUESTS not in refused.get_data(as_text=True)
        assert REQUESTS in client.get("/metrics", headers={"Authorization": "Bearer metrics-secret"}).get_data(
            as_text=True)
    finally:
        app.config["METRICS_TOKEN"] = None
