"""工作人员 and 提醒 in the console: region admins create station managers, change their stations,
reset passwords (lifting a lockout) and disable accounts; every staff member sees the reminder
messages about their stations and whether the scheduler runs."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from backend import clock
from models import ConsoleSession, OutboxMessage, StaffAccount, db
from tests.console.test_console_http import sign_in, signed_in, text_of
from tests.console_scene import build_scene


@pytest.fixture
def scene(app):
    return build_scene(app)


def test_only_region_admins_run_accounts(client, scene):
    signed_in(client, "dipu-manager")
    assert client.get("/console/staff").status_code == 403
    assert "工作人员</a>" not in client.get("/console/").get_data(as_text=True)


def test_create_a_station_manager_who_then_signs_in(app, scene):
    admin = app.test_client()
    token = signed_in(admin, "anji-admin")
    form = {"csrf_token": token, "username": "gucheng", "display_name": "古城社区联络员",
            "password": "gucheng", "station_id": [str(scene.stations["b"])]}
    page = text_of(admin.post("/console/staff", data=form))
    assert "密码" in page  # too short, no digits, contains the username: refused, nothing made
    response = admin.post("/console/staff", data={**form, "password": "Lianluo-2026-b"})
    assert response.status_code == 302
    assert "已创建站长账号" in text_of(admin.get(response.headers["Location"]))

    manager = app.test_client()
    assert sign_in(manager, "gucheng", "Lianluo-2026-b").status_code == 302
    listed = re.findall(r'<tr data-station="(\d+)"', manager.get("/console/stations").get_data(as_text=True))
    assert listed == [str(scene.stations["b"])]
    # A station of another county cannot be handed to them.
    response = admin.post("/console/staff", data={**form, "username": "wukang", "password": "Lianluo-2026-c",
                                                  "station_id": [str(scene.stations["c"])]})
    assert response.status_code == 200 and "不在您的管辖范围内" in text_of(response)


def test_reset_a_password_lifts_the_lockout_and_ends_sessions(app, scene):
    manager = app.test_client()
    signed_in(manager, "dipu-manager")
    clock.freeze(clock.now() + timedelta(minutes=1))  # the failures come after that success
    for _ in range(5):
        sign_in(app.test_client(), "dipu-manager", "wrong-password")
    assert sign_in(app.test_client(), "dipu-manager").status_code == 423

    clock.freeze(clock.now() + timedelta(minutes=1))
    admin = app.test_client()
    token = signed_in(admin, "anji-admin")
    accounts = admin.get("/console/staff").get_data(as_text=True)
    account_id = re.search(r'href="/console/staff/(\d+)">dipu-manager<', accounts).group(1)
    response = admin.post(f"/console/staff/{account_id}/password", data={"csrf_token": token,
                                                                          "password": "New-password-2026"})
    assert "已重置密码" in text_of(admin.get(response.headers["Location"]))
    assert manager.get("/console/issues").status_code == 302  # the old session is over
    with app.app_context():
        ended = db.session.execute(db.select(ConsoleSession.ended_reason).join(
            StaffAccount, StaffAccount.user_id == ConsoleSession.user_id).where(
            StaffAccount.username == "dipu-manager")).scalars().all()
    assert ended and set(ended) == {"password-reset"}
    assert sign_in(app.test_client(), "dipu-manager", "New-password-2026").status_code == 302


def test_disable_and_enable(app, scene):
    admin = app.test_client()
    token = signed_in(admin, "anji-admin")
    account_id = re.search(r'href="/console/staff/(\d+)">dipu-manager<',
                           admin.get("/console/staff").get_data(as_text=True)).group(1)
    admin.post(f"/console/staff/{account_id}/disable", data={"csrf_token": token})
    assert 'data-active="false"' in admin.get(f"/console/staff/{account_id}").get_data(as_text=True)
    assert sign_in(app.test_client(), "dipu-manager").status_code == 401
    admin.post(f"/console/staff/{account_id}/enable", data={"csrf_token": token})
    assert sign_in(app.test_client(), "dipu-manager").status_code == 302
    # An admin's own page offers no way to lock themself out.
    own = re.search(r'href="/console/staff/(\d+)">anji-admin<', admin.get("/console/staff").get_data(as_text=True))
    assert 'data-form="active"' not in admin.get(f"/console/staff/{own.group(1)}").get_data(as_text=True)
    assert admin.get("/console/staff/999999").status_code == 404


def test_reminders_of_the_callers_stations(app, client, scene):
    token = signed_in(client, "dipu-manager")
    # Accepting plans a status notice to the resident, about station A.
    client.post(f"/console/issues/{scene.issues['submitted-today']}/accept", data={"csrf_token": token})
    with app.app_context():
        message = db.session.scalar(db.select(OutboxMessage))
        assert message.station_id == scene.stations["a"] and message.template == "issue_status"
    page = client.get("/console/reminders").get_data(as_text=True)
    assert re.findall(r'data-message="(\d+)" data-state="(\w+)"', page) == [(str(message.id), "pending")]
    assert 'data-count="pending">1<' in page
    assert 'data-scheduler="down"' in page  # no scheduler runs in this test
    assert "意见建议办理进度" in text_of(client.get("/console/reminders?state=pending&template=issue_status"))
    assert 'data-message=' not in client.get("/console/reminders?state=sent").get_data(as_text=True)

    other = app.test_client()
    signed_in(other, "deqing-admin")
    assert 'data-message=' not in other.get("/console/reminders").get_data(as_text=True)
    assert client.get("/console/reminders?state=lost").status_code == 400
