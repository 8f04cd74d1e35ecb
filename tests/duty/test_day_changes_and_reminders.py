"""A reception day cancelled or moved after its reminders were planned: the planned ones are
skipped, never sent for a day that is not held; a closed station takes no roster, day change or
new deputy."""
from __future__ import annotations

from datetime import datetime

import pytest

from backend import clock
from backend.services.duty import reminders
from models import OutboxMessage, OutboxState, Station, StationFollow, User, db
from tests.console_scene import PASSWORD, build_scene
from tests.factories import auth, staff_login


@pytest.fixture
def planned(app, client):
    """The scene, with a resident following 递铺 and the evening-before reminders of 26 November
    planned at 18:30 on the 25th."""
    scene = build_scene(app)
    with app.app_context():
        follower = User(openid="o-follower")
        db.session.add(follower)
        db.session.flush()
        db.session.add(StationFollow(user_id=follower.id, station_id=scene.stations["a"]))
        db.session.commit()
        at = datetime(2026, 11, 25, 18, 30, tzinfo=clock.BEIJING)
        clock.freeze(at)
        assert reminders.plan_reception_reminders(at)["eve"]["planned"] == 1
    return scene


def outbox_rows(app) -> list[tuple[str, OutboxState, str | None]]:
    with app.app_context():
        return [(m.cause, m.state, m.last_error) for m in db.session.scalars(db.select(OutboxMessage))]


@pytest.mark.parametrize("change, why", [
    ({"cancel": True, "reason": "场地维修"}, "接待日已取消"),
    ({"move_to": "2026-11-27", "reason": "与县人代会会期冲突"}, "接待日已改到2026-11-27"),
])
def test_a_changed_day_skips_its_planned_reminders(app, client, planned, change, why):
    token = staff_login(client, "dipu-manager", PASSWORD)["token"]
    response = client.put(f"/api/v1/manage/reception-days/{planned.stations['a']}/2026-11-26", json=change,
                          headers=auth(token))
    assert response.status_code == 200, response.get_json()
    station = planned.stations["a"]
    assert outbox_rows(app) == [(f"reception:{station}:2026-11-26:eve", OutboxState.skipped, why)]


def test_restoring_a_moved_day_skips_the_reminders_of_the_date_it_had_moved_to(app, client, planned):
    token = staff_login(client, "dipu-manager", PASSWORD)["token"]
    url = f"/api/v1/manage/reception-days/{planned.stations['a']}/2026-11-26"
    client.put(url, json={"move_to": "2026-11-27", "reason": "会期冲突"}, headers=auth(token))
    at = datetime(2026, 11, 26, 18, 30, tzinfo=clock.BEIJING)
    with app.app_context():
        clock.freeze(at)
        reminders.plan_reception_reminders(at)  # the eve of the 27th
    client.put(url, json={"restore": True}, headers=auth(token))
    states = {cause.rsplit(":", 2)[1]: state for cause, state, _ in outbox_rows(app)}
    assert states == {"2026-11-26": OutboxState.skipped, "2026-11-27": OutboxState.skipped}


def test_a_closed_station_takes_no_roster_day_change_or_deputy(app, client, planned):
    with app.app_context():
        station = db.session.get(Station, planned.stations["a"])
        station.is_active = False
        db.session.commit()
    token = staff_login(client, "anji-admin", PASSWORD)["token"]
    a = planned.stations["a"]
    for method, url, body in (
            ("post", f"/api/v1/manage/stations/{a}/rosters/2026-12/generate", {}),
            ("put", f"/api/v1/manage/reception-days/{a}/2026-11-26", {"cancel": True, "reason": "场地维修"}),
            ("post", f"/api/v1/manage/stations/{a}/memberships", {"deputy_id": planned.deputies["li"]})):
        response = getattr(client, method)(url, json=body, headers=auth(token))
        assert response.status_code == 409, (url, response.get_json())
        assert "已停用" in response.get_json()["error"]["message"]
