"""A gunicorn worker SIGKILLed while a submission is in flight: the resident's retry with the
same Idempotency-Key makes exactly one issue, at once — the dead worker's claim on the key is
not left to answer 409 "still running" for minutes."""
from __future__ import annotations

import os
import signal
import threading
import time

import pytest
import requests

from models import IdempotencyRecord, Issue, db
from tests.faults.servers import wait_for
from tests.faults.world import auth, build_world, issue_body

pytestmark = pytest.mark.postgres

# The content check is held this long, so the submission is surely in flight when its worker dies.
CHECK_HELD = 2.5


def _submission_in_flight(serve, local_app, wechat, label: str, key: str):
    """Two workers serving, one resident, and their submission under `key` started on a thread
    and held at the content check. Returns the server, the world, the resident, the body, the
    first attempt's outcome (its "response", or the "error" it met) and the thread."""
    server = serve(workers=2, WECHAT_TIMEOUT_SECONDS=CHECK_HELD + 2)
    world = build_world(local_app, server.base_url, residents=1)
    resident = world.residents[0]
    body = issue_body(label)
    wechat.delay("/wxa/msg_sec_check", CHECK_HELD)
    outcome: dict = {}

    def first_attempt():
        try:
            outcome["response"] = requests.post(world.url("/api/v1/issues"), json=body, headers=auth(resident, key),
                                                timeout=30)
        except requests.RequestException as exc:
            outcome["error"] = exc

    client = threading.Thread(target=first_attempt)
    client.start()
    wait_for(lambda: wechat.calls("/wxa/msg_sec_check"), 10, "the submission to reach the content check")
    return server, world, resident, body, outcome, client


def test_a_retry_after_the_worker_died_makes_exactly_one_issue(serve, local_app, wechat):
    key = "kill-me-1"
    server, world, resident, body, outcome, client = _submission_in_flight(serve, local_app, wechat,
                                                                           "worker-killed", key)
    # The key is claimed and the request waits on WeChat's answer: kill the worker holding it.
    holders = [pid for pid, what in server.inflight().items() if what == "POST /api/v1/issues"]
    assert len(holders) == 1, server.inflight()
    os.kill(holders[0], signal.SIGKILL)
    client.join(timeout=30)
    assert "error" in outcome, f"the first attempt was answered although its worker died: {outcome}"
    with local_app.app_context():
        # Nothing of it was committed but its claim on the key.
        assert db.session.scalar(db.select(db.func.count(Issue.id))) == 0
        assert db.session.scalar(db.select(db.func.count(IdempotencyRecord.id))) == 1

    # The resident's app retries at once with the same key: the dead claim is taken over.
    started = time.monotonic()
    retry = requests.post(world.url("/api/v1/issues"), json=body, headers=auth(resident, key), timeout=30)
    assert retry.status_code == 201, retry.text
    assert time.monotonic() - started < 5
    again = requests.post(world.url("/api/v1/issues"), json=body, headers=auth(resident, key), timeout=30)
    assert again.status_code == 201 and again.json() == retry.json()  # the stored first answer

    with local_app.app_context():
        issues = db.session.scalars(db.select(Issue)).all()
        assert [i.no for i in issues] == [retry.json()["issue"]["no"]]
        record = db.session.scalar(db.select(IdempotencyRecord))
        assert record.response_status == 201
    # The master replaced the killed worker.
    wait_for(lambda: len(server.worker_pids()) == 2 and holders[0] not in server.worker_pids(), 30,
             "a new worker")


def test_a_replay_while_the_first_attempt_runs_is_still_409(serve, local_app, wechat):
    """The takeover is only for dead claims: a live request keeps its key."""
    key = "live-1"
    _server, world, resident, body, outcome, client = _submission_in_flight(serve, local_app, wechat,
                                                                            "still-running", key)
    replay = requests.post(world.url("/api/v1/issues"), json=body, headers=auth(resident, key), timeout=30)
    assert replay.status_code == 409 and replay.json()["error"]["code"] == "conflict", replay.text
    client.join(timeout=30)
    assert outcome["response"].status_code == 201
    after = requests.post(world.url("/api/v1/issues"), json=body, headers=auth(resident, key), timeout=30)
    assert after.status_code == 201 and after.json() == outcome["response"].json()
    with local_app.app_context():
        assert db.session.scalar(db.select(db.func.count(Issue.id))) == 1
