"""The audit log (staff writes, sign-ins, views of personal data; append-only, kept ≥ 180 days),
a resident's deletion of their personal data, and the retention of personal data."""
from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DatabaseError

from backend import clock
from backend.jobs import housekeeping
from models import (
    AuditEntry,
    CheckIn,
    Issue,
    OutboxMessage,
    OutboxState,
    StationFollow,
    SubscriptionGrant,
    User,
    db,
)
from tests.console.test_console_http import sign_in, signed_in
from tests.factories import auth, create_check_in, staff_login, wx_login
from tests.issues.test_issue_lifecycle import act, submit, world  # noqa: F401 — `world` is a fixture


def entries(app, **where) -> list[AuditEntry]:
    with app.app_context():
        query = select(AuditEntry).filter_by(**where).order_by(AuditEntry.id)
        found = db.session.scalars(query).all()
        db.session.expunge_all()
        return found


# --- staff writes ------------------------------------------------------------------------------

def test_a_staff_write_is_kept_with_its_change(app, client, world):
    no = submit(client, world).get_json()["issue"]["no"]
    assigned = act(client, world, "manager", no, "assign", {"deputy_id": world["ids"]["colleague"]}, prefix="manage")
    assert assigned.status_code == 200, assigned.get_json()
    [entry] = entries(app, action="manage_issues.assign")
    with app.app_context():
        manager = db.session.scalar(select(User).join(User.staff_account).filter_by(username="manager"))
        assert entry.actor_user_id == manager.id
    assert entry.actor_role == "station_manager" and entry.outcome == 200
    assert (entry.target_type, entry.target_id) == ("issue", no)
    assert entry.detail == {"method": "POST", "args": {"no": no}, "fields": ["deputy_id"]}
    assert entry.remote_addr == "127.0.0.1"
    assert entry.request_id == assigned.headers["X-Request-Id"]
    # A resident's and a deputy's writes are not staff actions (the issue's timeline has them).
    assert entries(app, action="issues.submit") == [] and len(entries(app)) == 1 + _sign_ins(app)


def _sign_ins(app) -> int:
    return len(entries(app, action="staff.sign_in"))


def test_a_refused_staff_write_is_kept_without_the_change(app, client, world):
    no = submit(client, world).get_json()["issue"]["no"]
    act(client, world, "deputy", no, "accept")
    refused = act(client, world, "manager", no, "release", prefix="manage")
    assert refused.status_code == 409
    [entry] = entries(app, action="manage_issues.release")
    assert entry.outcome == 409 and entry.target_id == no
    # Another station's manager probing the number: 404 for them, and on the record.
    assert act(client, world, "other-manager", no, "reject", {"reason": "不属于本站"},
               prefix="manage").status_code == 404
    assert [e.outcome for e in entries(app, action="manage_issues.reject")] == [404]


def test_sign_ins_are_kept_successful_or_not(app, client, world):
    clock.freeze(clock.now() + timedelta(minutes=1))
    for _ in range(5):
        assert client.post("/api/v1/manage/login", json={"username": "manager", "password": "wrong"}).status_code in (
            401, 423)
    assert client.post("/api/v1/manage/login", json={"username": "manager", "password": "wrong"}).status_code == 423
    client.post("/api/v1/manage/login", json={"username": "nobody", "password": "x"})
    outcomes = [(e.target_type, e.outcome) for e in entries(app, action="staff.sign_in")]
    # The fixture signed in three staff; then four failures, the fifth locking, one refused while locked.
    assert outcomes[:3] == [("staff_account", 200)] * 3
    assert outcomes[3:] == [("staff_account", 401)] * 4 + [("staff_account", 423)] * 2 + [(None, 401)]
    assert entries(app, action="staff.sign_in")[-1].detail == {"username": "nobody"}
    assert "wrong" not in json.dumps([e.detail for e in entries(app)])


def test_console_writes_name_fields_never_their_values(app, client):
    from tests.console_scene import build_scene

    build_scene(app)
    admin = app.test_client()
    token = signed_in(admin, "anji-admin")
    accounts = admin.get("/console/staff").get_data(as_text=True)
    account_id = re.search(r'href="/console/staff/(\d+)">dipu-manager<', accounts).group(1)
    admin.post(f"/console/staff/{account_id}/password", data={"csrf_token": token, "password": "New-password-2026"})
    [entry] = entries(app, action="console.staff_action")
    assert entry.actor_role == "region_admin" and entry.outcome == 200
    assert (entry.target_type, entry.target_id) == ("staff_account", account_id)
    assert entry.detail["fields"] == ["password"]
    stored = json.dumps([e.detail for e in entries(app)], ensure_ascii=False)
    assert "New-password-2026" not in stored and token not in stored
    # A refused console write: too short a password.
    admin.post(f"/console/staff/{account_id}/password", data={"csrf_token": token, "password": "short"})
    assert [e.outcome for e in entries(app, action="console.staff_action")] == [200, 400]
    assert sign_in(app.test_client(), "dipu-manager", "New-password-2026").status_code == 302


# --- views of personal data --------------------------------------------------------------------

def test_the_handling_deputy_sees_the_phone_on_the_issue_page_and_that_is_kept(app, client, world):
    no = submit(client, world, contact_phone="13812341234", share_phone=True).get_json()["issue"]["no"]
    # Before it is theirs the deputy sees the mask; accepting answers with the issue, now whole.
    assert client.get(f"/api/v1/issues/{no}", headers=auth(world["tokens"]["deputy"])).get_json()["issue"][
        "contact_phone"] == "138****1234"
    assert entries(app, action="personal_data.view") == []
    assert act(client, world, "deputy", no, "accept").get_json()["issue"]["contact_phone"] == "13812341234"
    assert len(entries(app, action="personal_data.view")) == 1
    inbox = client.get("/api/v1/deputy/inbox", headers=auth(world["tokens"]["deputy"])).get_json()
    assert inbox["items"][0]["contact_phone"] == "138****1234"  # lists show the mask
    assert len(entries(app, action="personal_data.view")) == 1
    page = client.get(f"/api/v1/issues/{no}", headers=auth(world["tokens"]["deputy"])).get_json()["issue"]
    assert page["contact_phone"] == "13812341234"
    views = entries(app, action="personal_data.view")
    assert len(views) == 2
    for entry in views:
        assert (entry.target_type, entry.target_id, entry.actor_role) == ("issue", no, "deputy")
        assert entry.detail == {"field": "contact_phone"}
    assert "13812341234" not in json.dumps([e.detail for e in entries(app)])


def _refuse_audit_inserts(connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS "
                                "$$ BEGIN RAISE EXCEPTION 'audit store down'; END $$"))
        connection.execute(text("CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log "
                                "FOR EACH ROW EXECUTE FUNCTION refuse_audit()"))
    else:
        connection.execute(text("CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log "
                                "BEGIN SELECT RAISE(ABORT, 'audit store down'); END"))


def test_no_whole_phone_goes_out_unrecorded(app, client, world):
    no = submit(client, world, contact_phone="13812341234", share_phone=True).get_json()["issue"]["no"]
    act(client, world, "deputy", no, "accept")
    with app.app_context():
        _refuse_audit_inserts(db.session.connection())
        db.session.commit()
    try:
        response = client.get(f"/api/v1/issues/{no}", headers=auth(world["tokens"]["deputy"]))
        assert response.status_code == 503
        assert response.get_json()["error"]["code"] == "service_unavailable"
        assert "13812341234" not in response.get_data(as_text=True)
        # What shows no personal data is answered as usual.
        assert client.get(f"/api/v1/issues/{no}", headers=auth(world["tokens"]["manager"])).status_code == 200
    finally:
        with app.app_context():
            db.session.execute(text("DROP TRIGGER refuse_audit" + (" ON audit_log" if db.engine.dialect.name
                                                                   == "postgresql" else "")))
            if db.engine.dialect.name == "postgresql":
                db.session.execute(text("DROP FUNCTION refuse_audit()"))
            db.session.commit()


def test_staff_views_of_deputies_phones_and_ledgers_are_kept(app, client, world):
    submit(client, world)
    deputy_id = world["ids"]["deputy"]
    shown = client.get(f"/api/v1/manage/deputies/{deputy_id}", headers=auth(world["tokens"]["manager"]))
    assert shown.status_code == 200
    ledger = client.get("/api/v1/manage/issues.xlsx", headers=auth(world["tokens"]["manager"]))
    assert ledger.status_code == 200
    views = [(e.target_type, e.target_id, e.detail) for e in entries(app, action="personal_data.view")]
    assert views == [("deputy", str(deputy_id), {"field": "phone"}),
                     ("issues", None, {"field": "ledger", "count": 1})]


# --- append-only, retention ----------------------------------------------------------------------

def test_the_log_cannot_be_changed_or_cut_short(app, client, world):
    with app.app_context():
        entry_id = db.session.scalar(select(AuditEntry.id).limit(1))
        for statement in ("UPDATE audit_log SET action = 'x' WHERE id = :id",
                          "DELETE FROM audit_log WHERE id = :id"):
            with pytest.raises(DatabaseError, match="append-only"):
                db.session.execute(text(statement), {"id": entry_id})
            db.session.rollback()
        # An entry past the legal minimum may go (the retention job does that).
        db.session.execute(text("INSERT INTO audit_log (at, actor_role, action, outcome) "
                                "VALUES (:at, 'system', 'old', 200)"), {"at": clock.now() - timedelta(days=400)})
        db.session.commit()
        assert db.session.execute(text("DELETE FROM audit_log WHERE action = 'old'")).rowcount == 1
        db.session.commit()


def test_retention_forgets_what_has_served(app, client, world):
    phone_issue = submit(client, world, contact_phone="13812341234").get_json()["issue"]["no"]
    recent = submit(client, world, contact_phone="13900001111").get_json()["issue"]["no"]
    now = clock.now()
    with app.app_context():
        from models import Deputy, Station

        old = db.session.scalar(select(Issue).filter_by(no=phone_issue))
        old.status, old.closed_at = old.status.closed, now - timedelta(days=400)
        db.session.scalar(select(Issue).filter_by(no=recent)).status = old.status.closed
        db.session.scalar(select(Issue).filter_by(no=recent)).closed_at = now - timedelta(days=30)
        station = db.session.get(Station, world["ids"]["station"])
        deputy = db.session.get(Deputy, world["ids"]["deputy"])
        create_check_in(station, deputy, (now - timedelta(days=400)).date()).lat = 30.6
        create_check_in(station, deputy, (now - timedelta(days=30)).date()).lat = 30.6
        db.session.scalar(select(User).filter_by(openid="fake-resident-1")).last_login_at = now - timedelta(days=8)
        db.session.add_all([AuditEntry(at=now - timedelta(days=days), actor_role="system", action=f"aged-{days}")
                            for days in (100, 200, 400)])
        db.session.commit()
        summary = housekeeping.run_housekeeping(now)
        assert summary["audit_log"] == {"deleted": 1}
        assert summary["personal_data"] == {"contact_phones": 1, "session_keys": 1, "check_in_places": 1}
        assert db.session.scalar(select(Issue.contact_phone_masked).filter_by(no=phone_issue)) is None
        assert db.session.scalar(select(Issue.contact_phone_encrypted).filter_by(no=phone_issue)) is None
        assert db.session.scalar(select(Issue.contact_phone_masked).filter_by(no=recent)) == "139****1111"
        assert sorted(db.session.scalars(select(CheckIn.lat)), key=str) == [30.6, None]
        assert sorted(db.session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("aged-%")))) == [
            "aged-100", "aged-200"]


def test_a_shorter_audit_retention_is_raised_to_the_legal_minimum(app):
    now = clock.now()
    with app.app_context():
        db.session.add_all([AuditEntry(at=now - timedelta(days=days), actor_role="system", action=f"aged-{days}")
                            for days in (100, 190)])
        db.session.commit()
        app.config["AUDIT_RETENTION_DAYS"] = 30
        try:
            assert housekeeping.run_housekeeping(now)["audit_log"] == {"deleted": 1}
        finally:
            app.config["AUDIT_RETENTION_DAYS"] = 365


# --- a resident deletes their personal data ----------------------------------------------------

def test_a_resident_deletes_their_account_and_their_issues_stay_anonymised(app, client, world):
    token = world["tokens"]["resident"]
    no = submit(client, world, contact_phone="13812341234", share_phone=True).get_json()["issue"]["no"]
    assert client.post(f"/api/v1/stations/{world['ids']['station']}/follow", headers=auth(token)).status_code in (
        200, 201)
    with app.app_context():
        user = db.session.scalar(select(User).filter_by(openid="fake-resident-1"))
        user_id = user.id
        db.session.add(SubscriptionGrant(user_id=user_id, template_id="tpl", available=1, accepted_total=1,
                                         last_status="accept"))
        db.session.add(OutboxMessage(recipient_id=user_id, template="issue_status", cause="x", template_id="tpl",
                                     openid="fake-resident-1", data={}, state=OutboxState.pending))
        db.session.commit()

    response = client.delete("/api/v1/auth/me", headers=auth(token))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["issues_anonymised"] == 1
    # The token is dead; the same WeChat user signing in again is a new, empty account.
    assert client.get("/api/v1/auth/me", headers=auth(token)).status_code == 401
    again = wx_login(client, "resident-1")
    assert again["user"]["id"] != user_id
    assert client.get("/api/v1/issues/mine", headers=auth(again["token"])).get_json()["total"] == 0
    with app.app_context():
        user = db.session.get(User, user_id)
        assert (user.openid, user.unionid, user.session_key, user.is_active) == (None, None, None, False)
        assert user.deleted_at is not None
        issue = db.session.scalar(select(Issue).filter_by(no=no))
        assert issue.is_anonymous and issue.contact_phone_encrypted is None and issue.contact_phone_masked is None
        assert db.session.scalars(select(StationFollow).filter_by(user_id=user_id)).all() == []
        assert db.session.scalars(select(SubscriptionGrant).filter_by(user_id=user_id)).all() == []
        message = db.session.scalar(select(OutboxMessage).filter_by(recipient_id=user_id))
        assert message.state == OutboxState.skipped and message.openid is None
    # The issue goes on: its deputy still handles it, and sees no sender.
    assert act(client, world, "deputy", no, "accept").status_code == 200
    page = client.get(f"/api/v1/issues/{no}", headers=auth(world["tokens"]["deputy"])).get_json()["issue"]
    assert page["anonymous"] is True and page["contact_phone"] is None
    [entry] = entries(app, action="resident.delete")
    assert entry.target_id == str(user_id) and entry.detail == {"issues_anonymised": 1}


def test_deputies_and_staff_cannot_delete_themselves(client, world):
    refused = client.delete("/api/v1/auth/me", headers=auth(world["tokens"]["deputy"]))
    assert refused.status_code == 409 and "不能自行注销" in refused.get_json()["error"]["message"]
    assert client.delete("/api/v1/auth/me", headers=auth(staff_login(client, "admin")["token"])).status_code == 403
    assert client.delete("/api/v1/auth/me").status_code == 401


def test_deputies_phones_are_encrypted_at_rest(app, client, world):
    with app.app_context():
        from models import Deputy

        db.session.get(Deputy, world["ids"]["deputy"]).phone = "13800001234"
        db.session.commit()
        raw = db.session.execute(text("SELECT phone FROM deputy WHERE id = :id"), {"id": world["ids"]["deputy"]})
        assert "13800001234" not in raw.scalar_one()
    shown = client.get(f"/api/v1/manage/deputies/{world['ids']['deputy']}", headers=auth(world["tokens"]["manager"]))
    assert shown.get_json()["deputy"]["phone"] == "13800001234"
