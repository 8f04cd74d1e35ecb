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


def test_the_scheduler_and_its_jobs_in_words_a_station_manager_reads(app, client, scene):
    from backend.jobs.leader import take_lease
    from backend.jobs.schedule import JOBS
    from models import JobRun

    with app.app_context():
        take_lease("county-app-01:48213", clock.now() - timedelta(seconds=30))
        db.session.add(JobRun(job="rollup", runner="county-app-01:48213", started_at=clock.now() - timedelta(hours=1),
                              finished_at=clock.now() - timedelta(minutes=59), status="ok", detail={}))
        db.session.commit()
    signed_in(client, "dipu-manager")
    response = client.get("/console/reminders")
    page, words = response.get_data(as_text=True), text_of(response)
    assert 'data-scheduler="up"' in page
    assert "定时任务正常运行" in words and "30 秒前报到" in words
    # Each job by its Chinese name; the technical ids only where an operator hovers.
    for name, title in (("reception-reminders", "接待日提醒"), ("rollup", "统计汇总"), ("auto-close", "自动结案")):
        assert re.search(rf'<tr data-job="{name}"><td title="{name}">{title}</td>', page)
    assert all(job.title and job.title in words for job in JOBS)
    assert not any(job.name in words for job in JOBS) and "county-app-01" not in words
    assert 'title="调度进程 county-app-01:48213"' in page


# -- unknown messages: a region admin decides -------------------------------------------------------

def unknown_messages(app, scene) -> dict[str, int]:
    """Reminders that ended `unknown` (the request went out, no answer came): two to 张建国 about
    station A, one to 赵强 about station C of another county; one whose day is over."""
    from models import Deputy, OutboxState, User

    ids = {}
    with app.app_context():
        now = clock.now()
        for label, deputy_key, station_key, day, slot, expires in (
                ("eve", "zhang", "a", "2026-11-26", "eve", now + timedelta(days=6)),
                ("morning", "zhang", "a", "2026-11-26", "morning", now + timedelta(days=6)),
                ("past", "zhang", "a", "2026-11-16", "morning", now - timedelta(days=4)),
                ("other", "zhao", "c", "2026-11-26", "eve", now + timedelta(days=6))):
            deputy = db.session.get(Deputy, scene.deputies[deputy_key])
            if deputy.user_id is None:
                user = User(openid=f"o-{deputy_key}")
                db.session.add(user)
                db.session.flush()
                deputy.user_id = user.id
            station_id = scene.stations[station_key]
            message = OutboxMessage(recipient_id=deputy.user_id, template="reception_reminder",
                                    cause=f"reception:{station_id}:{day}:{slot}", template_id="tpl-reminder",
                                    station_id=station_id, openid=f"o-{deputy_key}", page="pages/index/index",
                                    data={"thing1": {"value": "递铺街道联络站"}}, state=OutboxState.unknown,
                                    attempts=1, last_error="read timeout after the request went out",
                                    not_before=now - timedelta(hours=1), expires_at=expires)
            db.session.add(message)
            db.session.flush()
            ids[label] = message.id
        db.session.commit()
    return ids


def test_whom_an_unknown_message_concerns_and_only_region_admins_decide(app, client, scene):
    ids = unknown_messages(app, scene)
    token = signed_in(client, "dipu-manager")
    response = client.get("/console/reminders?state=unknown")
    page, words = response.get_data(as_text=True), text_of(response)
    assert sorted(int(i) for i in re.findall(r'data-message="(\d+)"', page)) == sorted(
        [ids["eve"], ids["morning"], ids["past"]])
    assert re.search(r"张建国\s*（代表）", words) and "2026-11-26 接待日（前一天晚上）" in words and "接待日提醒" in words
    assert "递铺街道人大代表联络站" in words and "read timeout" in words
    assert "data-form=\"resend\"" not in page and "等待区域管理员决定是否重发" in words
    assert client.post(f"/console/reminders/{ids['eve']}/resend", data={"csrf_token": token}).status_code == 403
    with app.app_context():
        assert db.session.get(OutboxMessage, ids["eve"]).decision is None


def test_a_region_admin_resends_or_closes_an_unknown_message_once(app, client, scene):
    from models import AuditEntry, OutboxState, StaffAccount

    ids = unknown_messages(app, scene)
    token = signed_in(client, "anji-admin")
    page = client.get("/console/reminders?state=unknown").get_data(as_text=True)
    assert f'/console/reminders/{ids["eve"]}/resend' in page and f'/console/reminders/{ids["eve"]}/close' in page

    response = client.post(f"/console/reminders/{ids['eve']}/resend", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/console/reminders?state=unknown"
    client.post(f"/console/reminders/{ids['morning']}/close", data={"csrf_token": token})
    with app.app_context():
        admin_user = db.session.scalar(db.select(StaffAccount.user_id).filter_by(username="anji-admin"))
        eve, morning = db.session.get(OutboxMessage, ids["eve"]), db.session.get(OutboxMessage, ids["morning"])
        # The unknown ones stay unknown; the decision, who and when are beside it.
        assert (eve.state, eve.decision, eve.decided_by_id) == (OutboxState.unknown, "resent", admin_user)
        assert (morning.state, morning.decision, morning.decided_by_id) == (OutboxState.unknown, "not_resent",
                                                                            admin_user)
        assert eve.decided_at is not None and morning.decided_at is not None
        [again] = db.session.scalars(db.select(OutboxMessage).filter_by(resend_of_id=ids["eve"])).all()
        assert (again.state, again.recipient_id, again.template, again.data, again.station_id) == (
            OutboxState.pending, eve.recipient_id, eve.template, eve.data, eve.station_id)
        assert db.session.scalar(db.select(db.func.count()).select_from(OutboxMessage)
                                 .where(OutboxMessage.resend_of_id.is_not(None))) == 1
        audited = {(e.action, e.target_type, e.target_id, e.actor_user_id)
                   for e in db.session.scalars(db.select(AuditEntry).where(AuditEntry.target_type == "outbox_message"))}
        assert audited == {("console.resend_unknown", "outbox_message", str(ids["eve"]), admin_user),
                           ("console.close_unknown", "outbox_message", str(ids["morning"]), admin_user)}

    words = text_of(client.get("/console/reminders?state=unknown"))
    assert "已重新发送" in words and "已确认不再发送" in words and "新消息待发送" in words

    # Decided once: a second decision (a second admin, a double click) is refused and changes nothing.
    for decision in ("resend", "close"):
        response = client.post(f"/console/reminders/{ids['eve']}/{decision}", data={"csrf_token": token})
        assert "已有处理决定" in text_of(client.get(response.headers["Location"]))
    # A reminder of a day that is over is not resent; it can still be closed.
    response = client.post(f"/console/reminders/{ids['past']}/resend", data={"csrf_token": token})
    assert "已过时效" in text_of(client.get(response.headers["Location"]))
    with app.app_context():
        assert db.session.get(OutboxMessage, ids["eve"]).decision == "resent"
        assert db.session.get(OutboxMessage, ids["past"]).decision is None
        assert db.session.scalar(db.select(db.func.count()).select_from(OutboxMessage)
                                 .where(OutboxMessage.resend_of_id.is_not(None))) == 1

    # Another county's admin cannot see or decide on them; a message that is not unknown is no one's to decide.
    other = app.test_client()
    other_token = signed_in(other, "deqing-admin")
    assert other.post(f"/console/reminders/{ids['past']}/close", data={"csrf_token": other_token}).status_code == 404
    with app.app_context():
        new_id = db.session.scalar(db.select(OutboxMessage.id).filter_by(resend_of_id=ids["eve"]))
    assert client.post(f"/console/reminders/{new_id}/resend", data={"csrf_token": token}).status_code == 404
