"""审计日志 in the console: region admins read the entries of their region — by actor or by
target — filter and page them, and export them; the export is itself recorded."""
from __future__ import annotations

import io
import re
from datetime import datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from backend import clock
from backend.services.privacy import audit
from models import AuditEntry, Deputy, StaffAccount, User, db
from tests.console.test_console_http import sign_in, signed_in, text_of
from tests.console_scene import build_scene


@pytest.fixture
def scene(app):
    return build_scene(app)


def _entry_ids(response) -> list[int]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [int(n) for n in re.findall(r'<tr data-entry="(\d+)"', response.get_data(as_text=True))]


def _add(app, action: str, *, user_id=None, role="anonymous", target_type=None, target_id=None, at=None,
         detail=None, outcome=200) -> int:
    with app.app_context():
        entry = audit.record(action, user_id=user_id, role=role, target_type=target_type, target_id=target_id,
                             detail=detail, outcome=outcome)
        if at is not None:
            entry.at = at
        db.session.commit()
        return entry.id


def _user_of(app, username: str) -> int:
    with app.app_context():
        return db.session.scalar(select(StaffAccount.user_id).where(StaffAccount.username == username))


def test_only_region_admins_read_the_log(app, client, scene):
    signed_in(client, "dipu-manager")
    assert client.get("/console/audit").status_code == 403
    assert client.get("/console/audit.xlsx").status_code == 403
    assert "审计日志</a>" not in client.get("/console/").get_data(as_text=True)
    admin = app.test_client()
    signed_in(admin, "anji-admin")
    assert "审计日志</a>" in admin.get("/console/").get_data(as_text=True)


def test_an_admin_reads_the_entries_of_their_region_by_actor_or_target(app, scene):
    anji, deqing = app.test_client(), app.test_client()
    signed_in(anji, "anji-admin")
    signed_in(deqing, "deqing-admin")
    manager = app.test_client()
    signed_in(manager, "dipu-manager")
    sign_in(app.test_client(), "nobody-here", "whatever-1")  # no account: no region's

    with app.app_context():
        dipu_sign_in = db.session.scalar(select(AuditEntry.id).where(
            AuditEntry.actor_user_id == _user_of(app, "dipu-manager"), AuditEntry.action == "staff.sign_in"))
        deqing_sign_in = db.session.scalar(select(AuditEntry.id).where(
            AuditEntry.actor_user_id == _user_of(app, "deqing-admin"), AuditEntry.action == "staff.sign_in"))
        unknown = db.session.scalar(select(AuditEntry.id).where(AuditEntry.actor_user_id.is_(None)))
        # A deputy of station b, bound to WeChat, shown a resident's phone on an issue of b.
        user = User(openid="fake-li")
        db.session.add(user)
        db.session.flush()
        db.session.get(Deputy, scene.deputies["li"]).user_id = user.id
        li_user = user.id
        db.session.commit()
    li_view = _add(app, "personal_data.view", user_id=li_user, role="deputy", target_type="issue",
                   target_id=scene.issues["replied-oct"], detail={"field": "contact_phone"})
    # Someone of no region acting on each county's station and issue: found by the target.
    on_b = _add(app, "manage_stations.update", target_type="station", target_id=scene.stations["b"])
    on_c = _add(app, "manage_stations.update", target_type="station", target_id=scene.stations["c"])
    on_c_issue = _add(app, "personal_data.view", target_type="issue", target_id=scene.issues["other-county"],
                      detail={"field": "contact_phone"})

    seen = set(_entry_ids(anji.get("/console/audit")))
    assert {dipu_sign_in, li_view, on_b} <= seen
    assert not {deqing_sign_in, on_c, on_c_issue, unknown} & seen
    seen = set(_entry_ids(deqing.get("/console/audit")))
    assert {deqing_sign_in, on_c, on_c_issue} <= seen
    assert not {dipu_sign_in, li_view, on_b, unknown} & seen
    page = text_of(anji.get("/console/audit?kind=view"))
    assert "李明" in page and "查看居民手机号" in page


def test_filters_and_paging(app, scene):
    admin = app.test_client()
    signed_in(admin, "anji-admin")
    manager_user = _user_of(app, "dipu-manager")
    station_a = str(scene.stations["a"])
    old = _add(app, "console.edit_station", user_id=manager_user, role="station_manager", target_type="station",
               target_id=station_a, at=clock.now() - timedelta(days=45))
    writes = [_add(app, "console.edit_station", user_id=manager_user, role="station_manager",
                   target_type="station", target_id=station_a, at=clock.now() - timedelta(minutes=n))
              for n in range(1, 61)]

    # The default period is the last 30 days: the old entry is out; newest first, 50 a page.
    first = _entry_ids(admin.get("/console/audit?kind=write"))
    assert first == writes[:50]
    second = _entry_ids(admin.get("/console/audit?kind=write&page=2"))
    assert second == writes[50:]
    day = (clock.now() - timedelta(days=45)).astimezone(clock.BEIJING).date().isoformat()
    assert _entry_ids(admin.get(f"/console/audit?from={day}&to={day}")) == [old]

    assert set(_entry_ids(admin.get("/console/audit?actor=dipu&kind=write"))) == set(writes[:50])
    assert _entry_ids(admin.get("/console/audit?actor=dipu&kind=sign_in")) == []
    assert len(_entry_ids(admin.get("/console/audit?actor=anji&kind=sign_in"))) == 1
    assert _entry_ids(admin.get("/console/audit?actor=nobody")) == []
    assert len(_entry_ids(admin.get(f"/console/audit?target_type=station&target_id={station_a}"))) == 50
    assert _entry_ids(admin.get(f"/console/audit?target_type=issue&target_id={station_a}")) == []
    assert _entry_ids(admin.get("/console/audit?action=edit_station&page=2")) == writes[50:]

    for bad in ("kind=everything", "target_type=planet", "from=2026-13-01", "from=2026-11-20&to=2026-11-01",
                "page=-1"):
        response = admin.get("/console/audit?" + bad)
        assert response.status_code == 400, bad
        assert "有误" in text_of(response) or "未知" in text_of(response) or "不能晚于" in text_of(response)


def test_export_holds_the_filtered_entries_and_is_itself_recorded(app, scene):
    admin = app.test_client()
    signed_in(admin, "anji-admin")
    admin_user = _user_of(app, "anji-admin")
    manager_user = _user_of(app, "dipu-manager")
    _add(app, "console.edit_station", user_id=manager_user, role="station_manager", target_type="station",
         target_id=scene.stations["a"])
    _add(app, "staff.sign_in", detail={"username": "=HYPERLINK(\"x\")"}, target_type="staff_account",
         target_id=0, outcome=401)

    response = admin.get("/console/audit.xlsx?kind=write&actor=dipu")
    assert response.status_code == 200
    assert "filename*=UTF-8''" in response.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:5] == ("时间", "操作人", "身份", "类别", "内容")
    assert len(rows) == 2 and "dipu-manager" in rows[1][1] and rows[1][2] == "站长"
    assert isinstance(rows[1][0], datetime)
    with app.app_context():
        views = db.session.scalars(select(AuditEntry).where(AuditEntry.actor_user_id == admin_user,
                                                            AuditEntry.action == "personal_data.view")).all()
        assert [(v.target_type, v.detail) for v in views] == [("audit_log", {"field": "audit_log", "count": 1})]

    # Nothing matched: nobody's data was shown, nothing to record.
    response = admin.get("/console/audit.xlsx?actor=nobody")
    assert len(list(load_workbook(io.BytesIO(response.data)).active.iter_rows())) == 1
    with app.app_context():
        assert db.session.scalar(select(db.func.count(AuditEntry.id)).where(
            AuditEntry.actor_user_id == admin_user, AuditEntry.action == "personal_data.view")) == 1

    # The page lists the export among the views of personal data.
    assert "查看审计日志（1 条）" in text_of(admin.get("/console/audit?kind=view"))
    assert admin.get("/console/audit.xlsx?kind=nonsense").status_code == 400


def test_writes_are_named_as_staff_know_them(app, scene):
    admin = app.test_client()
    token = signed_in(admin, "anji-admin")
    admin.post(f"/console/stations/{scene.stations['a']}", data={"csrf_token": token, "phone": "0572-5000000"})
    _add(app, "manage_issues.assign", target_type="issue", target_id=scene.issues["yellow-reply"])
    _add(app, "console.act", target_type="issue", target_id=scene.issues["yellow-reply"],
         detail={"method": "POST", "args": {"no": scene.issues["yellow-reply"], "verb": "reject"}})
    page = text_of(admin.get("/console/audit?kind=write"))
    assert "修改联络站信息（csrf_token" not in page and "修改联络站信息（phone）" in page
    assert "分派给本站另一位代表" in page
    assert "意见建议·不予受理" in page
    sheet = load_workbook(io.BytesIO(admin.get("/console/audit.xlsx?kind=write").data)).active
    assert {"修改联络站信息（phone）", "分派给本站另一位代表"} <= {row[4] for row in sheet.iter_rows(values_only=True)}


def test_an_export_past_its_cap_is_refused_in_words(app, scene):
    from backend.auth import caller_for
    from backend.errors import InvalidInput
    from backend.services.privacy import audit_log

    for _ in range(3):
        _add(app, "manage_stations.update", target_type="station", target_id=scene.stations["a"])
    with app.test_request_context(), app.app_context():
        account = db.session.scalar(select(StaffAccount).where(StaffAccount.username == "anji-admin"))
        filters = audit_log.AuditFilter(start=clock.beijing_today(), end=clock.beijing_today())
        caller = caller_for(account.user)
        assert audit_log.count_entries(caller, filters, cap=1) == 2  # counted no further than needed
        with pytest.raises(InvalidInput, match="超过单次导出上限 2 条"):
            audit_log.export_workbook(caller, filters, max_rows=2)
        assert audit_log.export_workbook(caller, filters, max_rows=3)
