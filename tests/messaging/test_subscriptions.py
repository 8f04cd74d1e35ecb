"""POST/GET /api/v1/subscriptions and the grant ledger the outbox draws on: one accept, one
message; a refusal empties it; two senders never take the same last grant."""
from __future__ import annotations

import threading
import time

import pytest
from openapi_spec_validator import validate

from backend.services.messaging import subscriptions
from config import FAKE_TEMPLATE_IDS
from models import SubscriptionEvent, SubscriptionGrant, User, db
from tests.factories import (
    auth,
    bind_deputy_user,
    create_deputy,
    create_staff,
    staff_login,
    wx_login,
)

REMINDER = FAKE_TEMPLATE_IDS["reception_reminder"]
STATUS = FAKE_TEMPLATE_IDS["issue_status"]
URL = "/api/v1/subscriptions"


@pytest.fixture
def resident(client):
    return wx_login(client, "subscriber")


def post(client, token, results, **extra):
    return client.post(URL, json={"results": results, **extra}, headers=auth(token))


def grant_row(app, user_id, template_id=REMINDER) -> SubscriptionGrant | None:
    with app.app_context():
        return db.session.scalar(db.select(SubscriptionGrant).filter_by(user_id=user_id, template_id=template_id))


def events(app) -> list[tuple]:
    with app.app_context():
        return [(e.user_id, e.openid, e.template_id, e.status, e.source)
                for e in db.session.scalars(db.select(SubscriptionEvent).order_by(SubscriptionEvent.id))]


def test_each_accept_adds_one_grant_and_a_refusal_empties_it(app, client, resident):
    token, user_id = resident["token"], resident["user"]["id"]
    response = post(client, token, {REMINDER: "accept"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"items": [
        {"template_id": REMINDER, "template": "reception_reminder", "available": 1, "status": "accept"}]}
    assert post(client, token, {REMINDER: "accept"}).get_json()["items"][0]["available"] == 2
    for refusal in ("reject", "ban", "filter"):
        item = post(client, token, {REMINDER: refusal}).get_json()["items"][0]
        assert (item["available"], item["status"]) == (0, refusal)
        assert post(client, token, {REMINDER: "accept"}).get_json()["items"][0]["available"] == 1
    row = grant_row(app, user_id)
    assert (row.available, row.accepted_total, row.used_total, row.last_status) == (1, 5, 0, "accept")
    assert events(app)[:2] == [(user_id, "fake-subscriber", REMINDER, "accept", "miniprogram")] * 2
    assert len(events(app)) == 8


def test_several_templates_in_one_answer_keep_their_order_and_errmsg_is_ignored(app, client, resident):
    results = {STATUS: "reject", REMINDER: "accept", "errMsg": "requestSubscribeMessage:ok"}
    items = post(client, resident["token"], results).get_json()["items"]
    assert [(i["template"], i["available"], i["status"]) for i in items] == [
        ("issue_status", 0, "reject"), ("reception_reminder", 1, "accept")]
    assert [e[2:4] for e in events(app)] == [(STATUS, "reject"), (REMINDER, "accept")]


def test_grants_stop_at_the_ceiling(app, client, resident):
    with app.app_context():
        db.session.add(SubscriptionGrant(user_id=resident["user"]["id"], template_id=REMINDER,
                                         available=subscriptions.GRANT_CEILING, accepted_total=100,
                                         last_status="accept"))
        db.session.commit()
    item = post(client, resident["token"], {REMINDER: "accept"}).get_json()["items"][0]
    assert item["available"] == subscriptions.GRANT_CEILING == 100
    assert grant_row(app, resident["user"]["id"]).accepted_total == 101


def test_get_lists_every_configured_template_then_others(app, client, resident):
    post(client, resident["token"], {REMINDER: "accept"})
    with app.app_context():
        db.session.add(SubscriptionGrant(user_id=resident["user"]["id"], template_id="retired-template",
                                         available=2, last_status="accept"))
        db.session.commit()
    response = client.get(URL, headers=auth(resident["token"]))
    assert response.status_code == 200
    items = response.get_json()["items"]
    assert [i["template"] for i in items] == ["reception_reminder", "issue_status", "issue_escalation",
                                              "manager_digest", None]
    assert items[0] == {"template_id": REMINDER, "template": "reception_reminder", "available": 1, "status": "accept"}
    assert items[1] == {"template_id": STATUS, "template": "issue_status", "available": 0, "status": None}
    assert items[4]["template_id"] == "retired-template"


def test_a_deputy_may_report_grants(app, client, ctx):
    token = bind_deputy_user(client, app, create_deputy().id, "deputy-sub")
    assert post(client, token, {REMINDER: "accept"}).status_code == 200


def test_a_token_is_required_and_staff_have_no_wechat_grants(app, client, ctx):
    assert client.post(URL, json={"results": {REMINDER: "accept"}}).status_code == 401
    assert client.get(URL).status_code == 401
    create_staff(username="manager1")
    token = staff_login(client, "manager1")["token"]
    response = post(client, token, {REMINDER: "accept"})
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize("payload, field, message", [
    ({"results": "accept"}, "results", "应为对象"),
    ({"results": [REMINDER]}, "results", "应为对象"),
    ({}, "results", "必填"),
    ({"results": {}}, "results", "至少1项"),
    ({"results": {REMINDER: "yes"}}, f"results.{REMINDER}", "取值应为"),
    ({"results": {REMINDER: 1}}, f"results.{REMINDER}", "取值应为"),
    ({"results": {f"t{n}": "accept" for n in range(21)}}, "results", "最多20项"),
    ({"results": {"someone-elses-template": "accept"}}, "results.someone-elses-template", "不是本小程序的订阅消息模板"),
])
def test_bad_answers_are_400_with_chinese_messages_and_change_nothing(app, client, resident, payload, field, message):
    response = client.post(URL, json=payload, headers=auth(resident["token"]))
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "invalid_input"
    assert message in error["details"]["fields"][field], error
    assert events(app) == []


def test_one_unknown_template_refuses_the_whole_answer(app, client, resident):
    response = post(client, resident["token"], {REMINDER: "accept", "not-ours": "accept"})
    assert response.status_code == 400
    assert set(response.get_json()["error"]["details"]["fields"]) == {"results.not-ours"}
    assert events(app) == [] and grant_row(app, resident["user"]["id"]) is None


def test_a_body_that_is_not_json_is_refused(client, resident):
    response = client.post(URL, data="results=accept", headers={**auth(resident["token"]),
                                                                 "Content-Type": "application/json"})
    assert response.status_code == 400


def test_the_openapi_document_lists_the_routes(client):
    doc = client.get("/api/openapi.json").get_json()
    validate(doc)
    route = doc["paths"]["/api/v1/subscriptions"]
    assert route["post"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/SubscriptionResultsIn"}
    assert route["post"]["security"] == [{"bearerAuth": []}] and "400" in route["post"]["responses"]
    assert route["get"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/SubscriptionGrantsOut"}


# -- the ledger the outbox uses ---------------------------------------------------------------------

def _user_with_grants(available: int, status: str = "accept") -> int:
    user = User(openid=f"ledger-{available}-{status}")
    db.session.add(user)
    db.session.flush()
    db.session.add(SubscriptionGrant(user_id=user.id, template_id=REMINDER, available=available,
                                     accepted_total=available, last_status=status))
    db.session.commit()
    return user.id


def _state(user_id: int) -> tuple:
    db.session.expire_all()
    row = db.session.scalar(db.select(SubscriptionGrant).filter_by(user_id=user_id))
    return row.available, row.used_total, row.last_status


def test_consume_return_and_revoke(app, ctx):
    user_id = _user_with_grants(1)
    assert subscriptions.consume_grant(user_id, REMINDER) is True
    assert subscriptions.consume_grant(user_id, REMINDER) is False
    assert subscriptions.consume_grant(user_id, STATUS) is False  # no row at all
    db.session.commit()
    assert _state(user_id) == (0, 1, "accept")
    subscriptions.return_grant(user_id, REMINDER)
    db.session.commit()
    assert _state(user_id) == (1, 0, "accept")
    subscriptions.revoke_grants(user_id, REMINDER)
    db.session.commit()
    assert _state(user_id) == (0, 0, "reject")
    # A grant taken before the user said no is not given back after it.
    subscriptions.return_grant(user_id, REMINDER)
    db.session.commit()
    assert _state(user_id) == (0, 0, "reject")


def test_a_returned_grant_stays_under_the_ceiling(app, ctx):
    user_id = _user_with_grants(subscriptions.GRANT_CEILING)
    subscriptions.return_grant(user_id, REMINDER)
    db.session.commit()
    assert _state(user_id)[0] == subscriptions.GRANT_CEILING


def test_nothing_is_committed_by_the_ledger(app, ctx):
    user_id = _user_with_grants(1)
    assert subscriptions.consume_grant(user_id, REMINDER) is True
    db.session.rollback()
    assert _state(user_id) == (1, 0, "accept")


@pytest.mark.postgres
def test_two_senders_on_the_last_grant_one_wins(app):
    """The second UPDATE waits for the first transaction, then finds nothing left."""
    with app.app_context():
        user_id = _user_with_grants(1)
    results: dict[str, bool] = {}
    first_took = threading.Event()
    release_first = threading.Event()

    def first():
        with app.app_context():
            results["first"] = subscriptions.consume_grant(user_id, REMINDER)
            first_took.set()
            release_first.wait(10)
            db.session.commit()

    def second():
        with app.app_context():
            first_took.wait(10)
            results["second"] = subscriptions.consume_grant(user_id, REMINDER)
            db.session.commit()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    assert "second" not in results  # it waits on the first one's row lock
    release_first.set()
    for thread in threads:
        thread.join(10)
    assert results == {"first": True, "second": False}
    with app.app_context():
        assert _state(user_id) == (0, 1, "accept")


@pytest.mark.postgres
def test_many_senders_at_once_take_exactly_the_grants_there_are(app):
    with app.app_context():
        user_id = _user_with_grants(3)
    start = threading.Barrier(8)
    taken: list[bool] = []

    def sender():
        with app.app_context():
            start.wait(10)
            taken.append(subscriptions.consume_grant(user_id, REMINDER))
            db.session.commit()

    threads = [threading.Thread(target=sender) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(taken) == [False] * 5 + [True] * 3
    with app.app_context():
        assert _state(user_id) == (0, 3, "accept")


@pytest.mark.postgres
def test_two_first_answers_at_once_make_one_row(app, live_server):
    """Both requests insert the user's first grant row: the upsert keeps one, counting both."""
    import requests

    with app.test_client() as client:
        token = wx_login(client, "twice")["token"]
    start = threading.Barrier(2)
    statuses: list[int] = []

    def answer():
        start.wait(10)
        statuses.append(requests.post(live_server + URL, json={"results": {REMINDER: "accept"}},
                                      headers=auth(token), timeout=10).status_code)

    threads = [threading.Thread(target=answer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert statuses == [200, 200]
    with app.app_context():
        rows = db.session.scalars(db.select(SubscriptionGrant)).all()
        assert [(r.available, r.accepted_total) for r in rows] == [(2, 2)]
