"""The fake WeChat slow, failing or dropping answers, as seen by the served app.

Every WeChat call of a request is bounded by WECHAT_TIMEOUT_SECONDS in all — its access token
included — so no web worker is blocked longer than that (here 2 s; tolerance 1 s for the
request's own work), and a submission whose content check cannot be had still lands, as
`pending_review` for staff (issue 3's rule), never lost. Sign-in, which cannot work without
WeChat, answers 503 `wechat_unavailable` in the same time.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from models import Issue, IssueStatus, db
from tests.faults.load import make_residents
from tests.faults.world import (
    WECHAT_TIMEOUT,
    assert_api_error,
    auth,
    build_world,
    issue_body,
)

pytestmark = pytest.mark.postgres

# A request's own work besides waiting on WeChat, on a busy two-core machine.
TOLERANCE = 1.0
CHECK = "/wxa/msg_sec_check"
TOKEN = "/cgi-bin/stable_token"

FAULTS = {
    "slow": lambda fake: fake.delay(CHECK, 10),
    "busy (-1)": lambda fake: fake.fail(CHECK, errcode=-1),
    "a proxy's 502 page": lambda fake: fake.fail(CHECK, http_status=502, body="<html>Bad Gateway</html>"),
    "answer dropped": lambda fake: fake.drop(CHECK),
    # The token is refused (42001, expired), and fetching a new one hangs. Refused by a fail rule,
    # not by expiring the fake's tokens: with two workers remembering different tokens, taking
    # them all back early can cost one more unchecked submission, which is not what this is about.
    "token refresh hangs": lambda fake: (fake.fail(CHECK, errcode=42001), fake.delay(TOKEN, 10)),
    # Each step within the timeout on its own — a slow refused call, then a slow refresh, then
    # the call again — but not all of them together.
    "every step slow": lambda fake: (fake.delay(CHECK, WECHAT_TIMEOUT * 0.75), fake.fail(CHECK, errcode=42001),
                                     fake.delay(TOKEN, WECHAT_TIMEOUT * 0.75)),
}


def test_each_fault_bounds_the_request_and_the_issue_waits_for_review(serve, local_app, wechat):
    server = serve(workers=2)
    world = build_world(local_app, server.base_url, residents=len(FAULTS) + 1)
    assert WECHAT_TIMEOUT + TOLERANCE < 5  # the bound the issue sets for a blocked worker
    timings = {}
    submitted = 0
    for (name, fault), resident in zip(FAULTS.items(), world.residents, strict=False):
        # Each fault is used up by the submission it is meant for (times=1). Never reset() the fake
        # between them: it would forget the tokens it issued, as WeChat never does.
        fault(wechat)
        started = time.monotonic()
        response = requests.post(world.url("/api/v1/issues"), json=issue_body(name), headers=auth(resident),
                                 timeout=30)
        elapsed = time.monotonic() - started
        assert response.status_code == 201, (name, response.text)
        assert response.json()["issue"]["status"] == "pending_review", name
        submitted += 1
        timings[name] = (elapsed, server.wait_served("/api/v1/issues", submitted)[-1].seconds)
        assert timings[name][1] < WECHAT_TIMEOUT + TOLERANCE, (name, timings[name], server.log_tail())

        # WeChat well again: the next text is checked, and passes.
        passed = requests.post(world.url("/api/v1/issues"), json=issue_body(f"{name}，恢复后"),
                               headers=auth(world.residents[-1]), timeout=30)
        submitted += 1
        assert passed.status_code == 201 and passed.json()["issue"]["status"] == "submitted", (name, server.log_tail(12))
    print("\n" + "; ".join(f"{name}: {client:.2f} s ({worker:.2f} s in the worker)"
                           for name, (client, worker) in timings.items()))

    with local_app.app_context():
        statuses = db.session.scalars(db.select(Issue.status)).all()
    assert statuses.count(IssueStatus.pending_review) == len(FAULTS)
    assert statuses.count(IssueStatus.submitted) == len(FAULTS)

    # Signing in needs WeChat: a slow one is a clean 503 in the same time.
    wechat.reset()
    wechat.delay("/sns/jscode2session", 10)
    started = time.monotonic()
    assert_api_error(requests.post(world.url("/api/v1/auth/wx-login"), json={"code": "newcomer"}, timeout=30),
                     503, "wechat_unavailable")
    assert time.monotonic() - started < WECHAT_TIMEOUT + TOLERANCE
    assert "Traceback" not in server.log_tail(100_000), server.log_tail()


def test_many_submissions_while_wechat_hangs(serve, local_app, wechat):
    """Residents submitting at once while WeChat hangs — the content check, and the token every
    worker needs after WeChat refused the old one: workers wait on one another's token refresh
    no longer than on WeChat itself."""
    server = serve(workers=2)
    build_world(local_app, server.base_url, residents=0)
    residents = make_residents(local_app, 6, "hang")
    wechat.expire_tokens()
    wechat.delay(TOKEN, 10, times=20)
    wechat.delay(CHECK, 10, times=20)

    def submit(n: int) -> requests.Response:
        return requests.post(server.base_url + "/api/v1/issues", json=issue_body(f"并发{n}"),
                             headers=auth(residents[n]), timeout=60)

    with ThreadPoolExecutor(len(residents)) as pool:
        responses = list(pool.map(submit, range(len(residents))))
    assert [r.status_code for r in responses] == [201] * len(residents), [r.text for r in responses]
    assert {r.json()["issue"]["status"] for r in responses} == {"pending_review"}
    worker_times = [s.seconds for s in server.wait_served("/api/v1/issues", len(residents))]
    print(f"\nin the workers: {', '.join(f'{t:.2f}' for t in sorted(worker_times))} s")
    assert max(worker_times) < WECHAT_TIMEOUT + TOLERANCE, worker_times
