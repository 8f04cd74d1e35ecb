"""Submitting issues: the content check, Idempotency-Key, the rate limit, deadlines on the
working-day calendar, and two accepts at once."""
from __future__ import annotations

import io
import threading
from datetime import datetime, timedelta

import pytest
import requests

from backend import clock
from models import Issue, db
from tests.factories import auth, count_queries
from tests.images import png
from tests.issues.test_issue_lifecycle import act, submit, world  # noqa: F401  (fixture)


def _count(app) -> int:
    with app.app_context():
        return db.session.scalar(db.select(db.func.count(Issue.id)))


def test_risky_text_is_refused_and_not_stored(client, world, app):
    response = submit(client, world, content="有人在小区里组织赌博，请处理。")
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "content_rejected"
    assert _count(app) == 0


def test_text_for_review_waits_for_staff_and_is_hidden_from_deputies(client, world):
    issue = submit(client, world, content="业主们准备去街道示威，希望代表关注。").get_json()["issue"]
    assert issue["status"] == "pending_review" and issue["status_label"] == "待审核"
    no = issue["no"]
    assert client.get(f"/api/v1/issues/{no}", headers=auth(world["tokens"]["deputy"])).status_code == 404
    assert client.get("/api/v1/deputy/inbox", headers=auth(world["tokens"]["deputy"])).get_json()["total"] == 0
    assert act(client, world, "deputy", no, "accept").status_code == 404
    # Only staff release it; a deputy cannot even find it.
    released = act(client, world, "manager", no, "release", prefix="manage")
    assert released.status_code == 200 and released.get_json()["issue"]["status"] == "submitted"
    assert client.get(f"/api/v1/issues/{no}", headers=auth(world["tokens"]["deputy"])).status_code == 200
    assert act(client, world, "manager", no, "release", prefix="manage").status_code == 409


def test_staff_may_reject_what_awaits_review(client, world):
    no = submit(client, world, content="业主们准备去街道示威，希望代表关注。").get_json()["issue"]["no"]
    rejected = act(client, world, "manager", no, "reject", {"reason": "内容不属于代表履职范围"}, prefix="manage")
    assert rejected.get_json()["issue"]["status"] == "rejected"


def test_check_unavailable_keeps_the_issue_for_review(client, world, fake_wechat):
    fake_wechat.fail("/wxa/msg_sec_check", errcode=-1, times=5)
    response = submit(client, world)
    assert response.status_code == 201
    assert response.get_json()["issue"]["status"] == "pending_review"


def test_same_idempotency_key_twice_makes_one_issue(client, world, app):
    headers = auth(world["tokens"]["resident"]) | {"Idempotency-Key": "k-123"}
    body = {"scene": "issue01", "category": "交通出行", "content": "小区门口的路灯坏了三个月。"}
    first = client.post("/api/v1/issues", json=body, headers=headers)
    second = client.post("/api/v1/issues", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.get_json() == second.get_json()
    assert _count(app) == 1
    other = client.post("/api/v1/issues", json=body | {"content": "另一条不同的意见建议内容。"}, headers=headers)
    assert other.status_code == 422 and other.get_json()["error"]["code"] == "idempotency_key_reused"
    # Keys are per user: another resident may use the same one.
    stranger = auth(world["tokens"]["stranger"]) | {"Idempotency-Key": "k-123"}
    assert client.post("/api/v1/issues", json=body, headers=stranger).status_code == 201
    assert _count(app) == 2


def test_a_failed_first_attempt_releases_the_key(client, world, app):
    headers = auth(world["tokens"]["resident"]) | {"Idempotency-Key": "retry-me"}
    bad = client.post("/api/v1/issues", json={"scene": "issue01", "category": "交通出行", "content": "短"},
                      headers=headers)
    assert bad.status_code == 400
    good = client.post("/api/v1/issues", json={"scene": "issue01", "category": "交通出行",
                                               "content": "修改后的意见建议内容足够长。"}, headers=headers)
    assert good.status_code == 201 and _count(app) == 1


def test_rate_limit_is_per_user(client, world):
    for n in range(10):
        assert submit(client, world, content=f"第{n}条意见建议，内容足够长。").status_code == 201
    limited = submit(client, world, content="第十一条意见建议，内容足够长。")
    assert limited.status_code == 429 and limited.get_json()["error"]["code"] == "rate_limited"
    other = client.post("/api/v1/issues", json={"scene": "issue01", "category": "其他", "content": "另一位居民的意见建议。"},
                        headers=auth(world["tokens"]["stranger"]))
    assert other.status_code == 201
    clock.freeze(clock.now() + timedelta(hours=2))
    assert submit(client, world, content="两小时后再提交的意见建议。").status_code == 201


def test_deadline_across_national_day(client, world):
    clock.freeze(datetime(2026, 9, 30, 10, 0, tzinfo=clock.BEIJING))  # Wednesday before the holiday
    issue = submit(client, world).get_json()["issue"]
    assert issue["accept_due_on"] == "2026-10-09"  # Oct 1–7 off; Oct 8 is the first working day
    assert issue["deadline_estimated"] is False
    clock.freeze(datetime(2026, 10, 8, 9, 0, tzinfo=clock.BEIJING))
    assert client.get(f"/api/v1/issues/{issue['no']}", headers=auth(world["tokens"]["resident"])).get_json()[
        "issue"]["clock"] == "yellow"
    clock.freeze(datetime(2026, 10, 10, 9, 0, tzinfo=clock.BEIJING))  # a working Saturday, past due
    assert client.get(f"/api/v1/issues/{issue['no']}", headers=auth(world["tokens"]["resident"])).get_json()[
        "issue"]["clock"] == "red"


def test_deadline_in_a_year_the_calendar_does_not_know(client, world):
    clock.freeze(datetime(2027, 3, 5, 10, 0, tzinfo=clock.BEIJING))  # a Friday
    issue = submit(client, world).get_json()["issue"]
    assert issue["accept_due_on"] == "2027-03-09" and issue["deadline_estimated"] is True


@pytest.mark.postgres
def test_two_accepts_at_once_one_wins(app, client, world, live_server):
    no = submit(client, world).get_json()["issue"]["no"]
    barrier = threading.Barrier(2)
    results = []

    def accept(token):
        barrier.wait()
        results.append(requests.post(f"{live_server}/api/v1/deputy/issues/{no}/accept", json={},
                                     headers=auth(token), timeout=20))

    threads = [threading.Thread(target=accept, args=(world["tokens"][w],)) for w in ("deputy", "colleague")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status_code for r in results) == [200, 409], [r.text for r in results]
    loser = next(r for r in results if r.status_code == 409)
    assert loser.json()["error"]["code"] == "invalid_transition"
    events = client.get(f"/api/v1/issues/{no}", headers=auth(world["tokens"]["resident"])).get_json()["issue"]["events"]
    assert [e["kind"] for e in events].count("accepted") == 1


def _upload(client, token, name="p.png"):
    response = client.post("/api/v1/uploads", data={"file": (io.BytesIO(png()), name)},
                           headers=auth(token), content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()
    return response.get_json()["upload"]["id"]


def test_images_are_attached_and_shown_to_the_sender_until_checked(client, world, app):
    image = _upload(client, world["tokens"]["resident"])
    issue = submit(client, world, images=[image]).get_json()["issue"]
    assert [i["id"] for i in issue["images"]] == [image] and issue["images"][0]["media_check"] == "pending"
    deputy_view = client.get(f"/api/v1/issues/{issue['no']}", headers=auth(world["tokens"]["deputy"])).get_json()
    assert deputy_view["issue"]["images"] == []
    with app.app_context():
        from backend.services.content.uploads import record_media_verdict
        from models import Upload
        upload = db.session.get(Upload, image)
        record_media_verdict(upload.media_check_trace_id, "pass")
        db.session.commit()
    deputy_view = client.get(f"/api/v1/issues/{issue['no']}", headers=auth(world["tokens"]["deputy"])).get_json()
    assert [i["id"] for i in deputy_view["issue"]["images"]] == [image]
    # An image is attached to one issue only, and only by its owner.
    assert submit(client, world, images=[image]).status_code == 400
    stranger = client.post("/api/v1/issues", json={"scene": "issue01", "category": "其他", "images": [image],
                                                    "content": "借用别人的图片提交意见建议。"},
                           headers=auth(world["tokens"]["stranger"]))
    assert stranger.status_code == 400 and "images" in stranger.get_json()["error"]["details"]["fields"]


def test_categories_are_listed_in_order(client, world):
    names = [c["name"] for c in client.get("/api/v1/categories").get_json()["items"]]
    assert names[:2] == ["城乡建设", "交通出行"] and names[-1] == "其他" and len(names) == 9


def test_a_replay_while_the_first_is_running_is_409_and_an_abandoned_claim_is_taken_over(client, world, app):
    from sqlalchemy import text

    from backend.web import idempotency
    from models import IdempotencyRecord, User

    body = {"scene": "issue01", "category": "交通出行", "content": "小区门口的路灯坏了三个月。"}
    headers = auth(world["tokens"]["resident"]) | {"Idempotency-Key": "in-flight"}
    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.openid == "fake-resident-1"))
        first = client.post("/api/v1/issues", json=body, headers=headers | {"Idempotency-Key": "probe"})
        probe = db.session.scalar(db.select(IdempotencyRecord).where(IdempotencyRecord.key == "probe"))
        # A claim with no answer yet: what a request still running (or a killed worker) leaves.
        db.session.add(IdempotencyRecord(user_id=user.id, key="in-flight", request_hash=probe.request_hash,
                                         created_at=clock.now()))
        db.session.commit()
        user_id, postgres = user.id, db.engine.dialect.name == "postgresql"
        holder = None
        if postgres:
            # On PostgreSQL a running request also holds the key's lock, in its own transaction.
            holder = db.engine.connect()
            holder.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": idempotency._lock_key(user_id, "in-flight")})
    assert first.status_code == 201
    running = client.post("/api/v1/issues", json=body, headers=headers)
    assert running.status_code == 409 and running.get_json()["error"]["code"] == "conflict"
    if postgres:
        # Its worker dies: the transaction ends, and the lock with it. The retry takes over at once.
        holder.close()
    else:
        # Without the lock, two minutes on the claim counts as abandoned.
        clock.freeze(clock.now() + timedelta(minutes=3))
    retried = client.post("/api/v1/issues", json=body, headers=headers)
    assert retried.status_code == 201
    assert client.post("/api/v1/issues", json=body, headers=headers).get_json() == retried.get_json()
    assert _count(app) == 2


def test_a_page_of_the_inbox_costs_the_same_queries_for_3_or_12_issues(client, world, app):
    def queries_for_inbox() -> int:
        response, count = count_queries(app, lambda: client.get(
            "/api/v1/deputy/inbox", headers=auth(world["tokens"]["deputy"])))
        assert response.status_code == 200
        return count

    for n in range(3):
        no = submit(client, world, content=f"第{n}条意见建议，内容足够长。").get_json()["issue"]["no"]
    act(client, world, "deputy", no, "accept")  # so every kind of related row is there to load
    few = queries_for_inbox()
    for n in range(9):
        other = client.post("/api/v1/issues", json={"scene": "issue01", "category": "其他",
                                                     "content": f"另一位居民的第{n}条意见建议。"},
                            headers=auth(world["tokens"]["stranger"]))
        assert other.status_code == 201
        if n % 3 == 0:
            act(client, world, "deputy", other.get_json()["issue"]["no"], "accept")
    assert queries_for_inbox() == few
