"""Helpers shared by the tests of the scheduled jobs (escalation, auto-close, roll-ups,
housekeeping, roster drafts): Beijing times, the issue verbs over HTTP, the outbox as planned."""
from __future__ import annotations

from datetime import datetime

from backend import clock
from models import OutboxMessage, db
from tests.factories import auth

THING_MAX = 20


def bj(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=clock.BEIJING)


def at(moment: datetime) -> datetime:
    """Freeze the clock at `moment` and give it back, for the job's `now`."""
    clock.freeze(moment)
    return moment


def submit(client, token: str, scene: str, **overrides) -> str:
    body = {"scene": scene, "category": "交通出行",
            "content": "小区门口的路灯坏了三个月，晚上出行很不方便，请帮忙协调修复。"} | overrides
    response = client.post("/api/v1/issues", json=body, headers=auth(token))
    assert response.status_code == 201, response.get_json()
    return response.get_json()["issue"]["no"]


def act(client, token: str, no: str, verb: str, body: dict | None = None, prefix: str = "deputy") -> dict:
    response = client.post(f"/api/v1/{prefix}/issues/{no}/{verb}", json=body or {}, headers=auth(token))
    assert response.status_code == 200, response.get_json()
    return response.get_json()["issue"]


def rate(client, token: str, no: str, score: str) -> dict:
    response = client.post(f"/api/v1/issues/{no}/rating", json={"score": score}, headers=auth(token))
    assert response.status_code == 200, response.get_json()
    return response.get_json()["issue"]


def planned(template: str | None = None) -> list[OutboxMessage]:
    """The outbox rows, oldest first (of one template if given)."""
    db.session.expire_all()
    query = db.select(OutboxMessage).order_by(OutboxMessage.id)
    if template is not None:
        query = query.where(OutboxMessage.template == template)
    return list(db.session.scalars(query))


def assert_within_wechat_limits(message: OutboxMessage) -> None:
    """Every `thing` value ≤ 20 characters and no value empty or with a line break."""
    for key, value in message.data.items():
        text = value["value"]
        assert text and "\n" not in text, (key, text)
        if key.startswith("thing"):
            assert len(text) <= THING_MAX, (key, text)
