"""GET /metrics: Prometheus' text format, figures equal to the rows, the bearer token."""
from __future__ import annotations

import math
import re
from datetime import datetime, timedelta

import pytest

from backend import clock
from backend.jobs.schedule import JOBS
from models import JobRun, OutboxMessage, OutboxState, SchedulerLease, User, db

BJ = clock.BEIJING
NOW = datetime(2027, 1, 5, 12, 0, tzinfo=BJ)
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


# The sample names of each type of metric: its TYPE line's name, plus a histogram's suffixes
# (a counter's TYPE line already names it `…_total`).
SUFFIXES = {"gauge": ("",), "counter": ("",), "histogram": ("_bucket", "_count", "_sum")}


def parse(text: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of the exposition, keyed by name and labels; fails on any malformed line,
    on a sample without its metric's TYPE and HELP before it, and on a name given twice."""
    assert text.endswith("\n")
    samples, typed, helped = {}, {}, set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helped.add(line.split(" ")[2])
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in SUFFIXES and name not in typed, line
            typed[name] = kind
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, raw_labels, value = match.groups()
        family = next((family for family, kind in typed.items() for suffix in SUFFIXES[kind]
                       if family + suffix == name), None)
        assert family is not None and family in helped, f"{name} has no TYPE/HELP before it"
        labels = {}
        rest = raw_labels or ""
        while rest:
            label = LABEL.match(rest)
            assert label, f"bad labels in {line!r}"
            labels[label[1]] = re.sub(r"\\(.)", lambda m: "\n" if m[1] == "n" else m[1], label[2])
            rest = rest[label.end():]
        samples[(name, frozenset(labels.items()))] = float(value)
    return samples


def _get(client, **headers):
    return client.get("/metrics", headers=headers)


def _user() -> int:
    user = User(openid="metrics-user")
    db.session.add(user)
    db.session.commit()
    return user.id


def _message(user_id: int, n: int, state: OutboxState, not_before: datetime) -> OutboxMessage:
    return OutboxMessage(recipient_id=user_id, template="reception_reminder", cause=f"m{n}", template_id="t",
                         openid="o", data={}, state=state, not_before=not_before)


def test_outbox_counts_and_the_oldest_due_message(client, ctx):
    user_id = _user()
    states = [OutboxState.sent] * 3 + [OutboxState.unknown] * 2 + [OutboxState.no_grant]
    rows = [_message(user_id, n, state, NOW - timedelta(hours=1)) for n, state in enumerate(states)]
    # Due for 90 s and 30 s; a deferred one not due until tomorrow does not count as waiting.
    rows += [_message(user_id, 10, OutboxState.pending, NOW - timedelta(seconds=30)),
             _message(user_id, 11, OutboxState.deferred, NOW - timedelta(seconds=90)),
             _message(user_id, 12, OutboxState.deferred, NOW + timedelta(hours=20))]
    db.session.add_all(rows)
    db.session.commit()
    clock.freeze(NOW)

    response = _get(client)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = parse(response.get_data(as_text=True))
    expected = {"sent": 3, "unknown": 2, "no_grant": 1, "pending": 1, "deferred": 2}
    for state in OutboxState:
        assert samples[("lianluozhan_outbox_messages", frozenset({("state", state.value)}))] == expected.get(
            state.value, 0)
    assert samples[("lianluozhan_outbox_unknown_messages", frozenset())] == 2
    assert samples[("lianluozhan_outbox_unknown_undecided_messages", frozenset())] == 2
    assert samples[("lianluozhan_outbox_oldest_due_seconds", frozenset())] == 90


def test_an_unknown_message_decided_on_no_longer_waits(client, ctx):
    user_id = _user()
    decided, waiting = (_message(user_id, n, OutboxState.unknown, NOW - timedelta(hours=1)) for n in (1, 2))
    decided.decision, decided.decided_at = "not_resent", NOW
    db.session.add_all([decided, waiting])
    db.session.commit()
    samples = parse(_get(client).get_data(as_text=True))
    assert samples[("lianluozhan_outbox_unknown_messages", frozenset())] == 2
    assert samples[("lianluozhan_outbox_unknown_undecided_messages", frozenset())] == 1


def test_scheduler_lease_and_each_jobs_last_runs(client, ctx):
    holder = 'host "a"\\b:7'  # quotes and backslashes must come back intact
    db.session.add(SchedulerLease(name="scheduler", holder=holder, acquired_at=NOW - timedelta(hours=2),
                                  heartbeat_at=NOW - timedelta(seconds=25)))
    ok_started, ok_finished = NOW - timedelta(hours=11), NOW - timedelta(hours=11) + timedelta(seconds=3)
    db.session.add_all([
        JobRun(job="rollup", runner="h:1", started_at=ok_started, finished_at=ok_finished, status="ok"),
        JobRun(job="rollup", runner="h:1", started_at=NOW - timedelta(hours=1), finished_at=NOW, status="failed"),
        JobRun(job="outbox-reap", runner="h:1", started_at=NOW - timedelta(seconds=5), status="running"),
    ])
    db.session.commit()
    clock.freeze(NOW)

    samples = parse(_get(client).get_data(as_text=True))
    assert samples[("lianluozhan_scheduler_leader", frozenset({("holder", holder)}))] == 1
    assert samples[("lianluozhan_scheduler_heartbeat_age_seconds", frozenset())] == 25

    def job(name, metric, **labels):
        return samples[(f"lianluozhan_job_{metric}", frozenset({("job", name), *labels.items()}))]

    assert job("rollup", "last_run_timestamp_seconds") == (NOW - timedelta(hours=1)).timestamp()
    assert job("rollup", "last_success_timestamp_seconds") == ok_finished.timestamp()
    assert [job("rollup", "last_status", status=s) for s in ("running", "ok", "failed")] == [0, 0, 1]
    assert [job("outbox-reap", "last_status", status=s) for s in ("running", "ok", "failed")] == [1, 0, 0]
    assert job("outbox-reap", "last_success_timestamp_seconds") == 0
    for name in (j.name for j in JOBS):
        assert ("lianluozhan_job_last_run_timestamp_seconds", frozenset({("job", name)})) in samples
    assert job("auto-close", "last_run_timestamp_seconds") == 0


def test_with_no_scheduler_ever_the_heartbeat_age_is_infinite(client, ctx):
    samples = parse(_get(client).get_data(as_text=True))
    assert math.isinf(samples[("lianluozhan_scheduler_heartbeat_age_seconds", frozenset())])
    assert not [key for key in samples if key[0] == "lianluozhan_scheduler_leader"]


@pytest.fixture
def token(app):
    app.config["METRICS_TOKEN"] = "metrics-secret"
    yield "metrics-secret"
    app.config["METRICS_TOKEN"] = None


def test_a_configured_token_is_required(client, token):
    assert _get(client).status_code == 401
    assert _get(client, Authorization="Bearer wrong").status_code == 401
    refused = _get(client, Authorization=f"Basic {token}")
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert refused.json["error"]["code"] == "unauthorized"
    allowed = _get(client, Authorization=f"Bearer {token}")
    assert allowed.status_code == 200 and "lianluozhan_outbox_messages" in allowed.get_data(as_text=True)
