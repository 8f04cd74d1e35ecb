"""The world the fault scenarios act in, and how they talk to the served app."""
from __future__ import annotations

from dataclasses import dataclass, field

import requests

from backend.services.accounts.signin import create_invite
from models import Deputy, DeputyLevel, StaffRole, db
from tests.factories import (
    create_categories,
    create_deputy,
    create_region_tree,
    create_staff,
    create_station,
)

SECRET = "faults-secret-key"
# Every WeChat call of a served app waits at most this long (WECHAT_TIMEOUT_SECONDS).
WECHAT_TIMEOUT = 2.0
SCENE = "fault01"
BODY = {"scene": SCENE, "category": "交通出行"}


@dataclass
class World:
    base_url: str
    station_id: int
    deputy_id: int
    residents: list[str] = field(default_factory=list)  # tokens
    tokens: dict[str, str] = field(default_factory=dict)  # deputy, admin

    def url(self, path: str) -> str:
        return self.base_url + path


def auth(token: str, key: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return headers


def build_world(app, base_url: str, residents: int = 2) -> World:
    """A station (scene fault01) with two deputies, one bound to WeChat; a region admin; and
    `residents` signed-in residents — all through the served app where the app signs people in."""
    with app.app_context():
        create_categories()
        regions = create_region_tree()
        station = create_station(regions["township"], scene=SCENE, name="递铺街道联络站")
        deputy = create_deputy(name="张代表", levels=[DeputyLevel.county], stations=[station])
        create_deputy(name="李代表", levels=[DeputyLevel.township], stations=[station])
        create_staff(username="admin", role=StaffRole.region_admin, region=regions["county"])
        invite = create_invite(db.session.get(Deputy, deputy.id)).code
        db.session.commit()
        world = World(base_url, station.id, deputy.id)
    with requests.Session() as http:
        for n in range(residents):
            world.residents.append(_signed_in(http, base_url, f"resident-{n}"))
        deputy_token = _signed_in(http, base_url, "deputy-zhang")
        bound = http.post(base_url + "/api/v1/auth/bind-deputy", json={"invite_code": invite},
                          headers=auth(deputy_token), timeout=10)
        assert bound.status_code == 200, bound.text
        world.tokens["deputy"] = bound.json()["token"]
        login = http.post(base_url + "/api/v1/manage/login", json={"username": "admin", "password": "Secret-pass-1"},
                          timeout=10)
        assert login.status_code == 200, login.text
        world.tokens["admin"] = login.json()["token"]
    return world


def _signed_in(http: requests.Session, base_url: str, code: str) -> str:
    response = http.post(base_url + "/api/v1/auth/wx-login", json={"code": code}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["token"]


def issue_body(text: str) -> dict:
    return BODY | {"content": f"{text}：小区门口的路灯坏了，晚上出行不便，请协调修复。"}


def assert_api_error(response: requests.Response, status: int, code: str) -> None:
    """An answer in API.md's error format with a Chinese message."""
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert_error_body(response.json(), code)


def assert_error_body(body: dict | None, code: str) -> None:
    assert body is not None and set(body) == {"error"} and body["error"]["code"] == code, body
    message = body["error"]["message"]
    assert isinstance(message, str) and any("\u4e00" <= ch <= "\u9fff" for ch in message), message
    assert isinstance(body["error"]["details"], dict)
