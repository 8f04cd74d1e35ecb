"""Residents' issues over HTTP: every transition of API.md's table and every refusal."""
from __future__ import annotations

from datetime import date, datetime

import pytest

from backend import clock
from models import DeputyLevel, IssueEvent, StaffRole, db
from tests.factories import (
    auth,
    bind_deputy_user,
    create_categories,
    create_deputy,
    create_region_tree,
    create_staff,
    create_station,
    staff_login,
    wx_login,
)


@pytest.fixture
def world(app, client):
    """A station with two deputies (one bound to WeChat), its manager, a resident."""
    # A Monday in an ordinary week: deadlines are easy to read.
    clock.freeze(datetime(2026, 11, 9, 10, 0, tzinfo=clock.BEIJING))
    with app.app_context():
        create_categories()
        regions = create_region_tree()
        station = create_station(regions["township"], scene="issue01")
        other_station = create_station(regions["other_county"], scene="issue02")
        deputy = create_deputy(name="张代表", levels=[DeputyLevel.county], stations=[station])
        colleague = create_deputy(name="李代表", levels=[DeputyLevel.township], stations=[station])
        outsider = create_deputy(name="外站代表", stations=[other_station])
        create_staff(username="manager", stations=[station])
        create_staff(username="other-manager", stations=[other_station])
        create_staff(username="admin", role=StaffRole.region_admin, region=regions["county"])
        ids = {"station": station.id, "deputy": deputy.id, "colleague": colleague.id, "outsider": outsider.id}
    # Requests run outside the app context above: each gets its own, as in production.
    tokens = {
        "deputy": bind_deputy_user(client, app, ids["deputy"], "deputy-zhang"),
        "colleague": bind_deputy_user(client, app, ids["colleague"], "deputy-li"),
        "outsider": bind_deputy_user(client, app, ids["outsider"], "deputy-out"),
    }
    tokens["resident"] = wx_login(client, "resident-1")["token"]
    tokens["stranger"] = wx_login(client, "resident-2")["token"]
    tokens["manager"] = staff_login(client, "manager")["token"]
    tokens["other-manager"] = staff_login(client, "other-manager")["token"]
    tokens["admin"] = staff_login(client, "admin")["token"]
    return {"ids": ids, "tokens": tokens}


def submit(client, world, **overrides):
    body = {"scene": "issue01", "category": "交通出行", "content": "小区门口的路灯坏了三个月，晚上很黑。"} | overrides
    return client.post("/api/v1/issues", json=body, headers=auth(world["tokens"]["resident"]))


def act(client, world, who, no, verb, body=None, prefix="deputy"):
    return client.post(f"/api/v1/{prefix}/issues/{no}/{verb}", json=body if body is not None else {},
                       headers=auth(world["tokens"][who]))


def test_submit_creates_a_numbered_issue_with_deadline(client, world):
    response = submit(client, world)
    assert response.status_code == 201, response.get_json()
    issue = response.get_json()["issue"]
    assert issue["no"] == "20261109-000001"
    assert issue["status"] == "submitted" and issue["status_label"] == "待受理"
    assert issue["accept_due_on"] == "2026-11-11"  # two working days after a Monday
    assert issue["clock"] == "green" and issue["deadline_estimated"] is False
    assert [e["kind"] for e in issue["events"]] == ["submitted"]
    assert submit(client, world).get_json()["issue"]["no"] == "20261109-000002"


def test_the_whole_happy_path(client, world):
    no = submit(client, world).get_json()["issue"]["no"]
    accepted = act(client, world, "deputy", no, "accept")
    assert accepted.status_code == 200, accepted.get_json()
    issue = accepted.get_json()["issue"]
    assert issue["status"] == "accepted" and issue["assigned_deputy"]["name"] == "张代表"
    assert issue["reply_due_on"] == "2026-11-18"  # seven working days after Monday 9th

    replied = act(client, world, "deputy", no, "reply", {"content": "已联系物业，本周内修复。"}).get_json()["issue"]
    assert replied["status"] == "replied" and replied["first_response_at"]
    transferred = act(client, world, "deputy", no, "transfer",
                      {"department": "县住建局", "deadline": "2026-11-30"}).get_json()["issue"]
    assert transferred["status"] == "transferred" and transferred["transfers"][0]["department"] == "县住建局"
    result = act(client, world, "deputy", no, "department-result", {"content": "路灯已更换。"}).get_json()["issue"]
    assert result["status"] == "replied" and result["transfers"][0]["result_at"]
    resolved = act(client, world, "deputy", no, "resolve", {"summary": "路灯已全部修复。"}).get_json()["issue"]
    assert resolved["status"] == "resolved" and resolved["clock"] is None

    mine = client.get(f"/api/v1/issues/{no}", headers=auth(world["tokens"]["resident"])).get_json()["issue"]
    assert mine["can_rate"] is True
    rated = client.post(f"/api/v1/issues/{no}/rating", json={"score": "satisfied", "comment": "谢谢"},
                        headers=auth(world["tokens"]["resident"]))
    assert rated.status_code == 200
    closed = rated.get_json()["issue"]
    assert closed["status"] == "closed" and closed["can_rate"] is False
    assert [e["kind"] for e in closed["events"]] == [
        "submitted", "accepted", "replied", "transferred", "department_result", "resolved", "rated"]
    assert [r["kind"] for r in closed["replies"]] == ["reply", "department_result"]


def test_unsatisfied_goes_back_then_to_the_manager_then_closes(client, world):
    no = submit(client, world).get_json()["issue"]["no"]
    act(client, world, "deputy", no, "accept")
    for round_no, expected in enumerate(["reopened", "reopened", "closed"], start=1):
        assert act(client, world, "deputy", no, "resolve", {"summary": f"第{round_no}次办结"}).status_code == 200
        rated = client.post(f"/api/v1/issues/{no}/rating", json={"score": "unsatisfied"},
                            headers=auth(world["tokens"]["resident"]))
        assert rated.get_json()["issue"]["status"] == expected
        again = client.post(f"/api/v1/issues/{no}/rating", json={"score": "satisfied"},
                            headers=auth(world["tokens"]["resident"]))
        assert again.status_code == 409  # once per resolution
    assert act(client, world, "deputy", no, "reply", {"content": "再看看"}).status_code == 409


@pytest.mark.parametrize("verb, body", [
    ("reply", {"content": "答复"}), ("transfer", {"department": "县交通局", "deadline": "2026-12-01"}),
    ("department-result", {"content": "结果"}), ("resolve", {"summary": "办结"}),
])
def test_moves_not_in_the_table_are_invalid_transition(client, world, verb, body):
    no = submit(client, world).get_json()["issue"]["no"]
    # A submitted issue can only be accepted or rejected; the deputy is not yet assigned, so the
    # station's staff (who may act on any issue of the station) see the state refusal.
    response = client.post(f"/api/v1/deputy/issues/{no}/{verb}", json=body,
                           headers=auth(world["tokens"]["deputy"]))
    assert response.status_code in (403, 409)
    act(client, world, "deputy", no, "accept")
    act(client, world, "deputy", no, "resolve", {"summary": "办结"})
    again = act(client, world, "deputy", no, verb, body)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "invalid_transition"


def test_rating_only_when_resolved(client, world):
    no = submit(client, world).get_json()["issue"]["no"]
    response = client.post(f"/api/v1/issues/{no}/rating", json={"score": "satisfied"},
                           headers=auth(world["tokens"]["resident"]))
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "invalid_transition"


def test_reject_needs_a_reason_and_is_final(client, world):
    no = submit(client, world).get_json()["issue"]["no"]
    assert act(client, world, "deputy", no, "reject", {}).status_code == 400
    rejected = act(client, world, "deputy", no, "reject", {"reason": "不属于人大代表职责范围"})
    assert rejected.get_json()["issue"]["status"] == "rejected"
    assert rejected.get_json()["issue"]["reject_reason"] == "不属于人大代表职责范围"
    assert act(client, world, "deputy", no, "accept").status_code == 409


def test_staff_reassign_to_another_deputy_of_the_station(client, world):
    no = submit(client, world).get_json()["issue"]["no"]
    act(client, world, "deputy", no, "accept")
    outsider = act(client, world, "manager", no, "assign", {"deputy_id": world["ids"]["outsider"]}, prefix="manage")
    assert outsider.status_code == 400 and "deputy_id" in outsider.get_json()["error"]["details"]["fields"]
    moved = act(client, world, "manager", no, "assign", {"deputy_id": world["ids"]["colleague"]}, prefix="manage")
    assert moved.status_code == 200 and moved.get_json()["issue"]["assigned_deputy"]["name"] == "李代表"
    # Now only the colleague (or staff) may answer it.
    assert act(client, world, "deputy", no, "reply", {"content": "我来答复"}).status_code == 403
    assert act(client, world, "colleague", no, "reply", {"content": "我来答复"}).status_code == 200


def test_addressed_deputy_gets_it_whoever_accepts(client, world):
    no = submit(client, world, deputy_id=world["ids"]["colleague"]).get_json()["issue"]["no"]
    issue = act(client, world, "deputy", no, "accept").get_json()["issue"]
    assert issue["assigned_deputy"]["name"] == "李代表"


def test_accepting_keeps_the_deputy_staff_assigned(client, world):
    # Staff assigned the issue before anyone accepted it: accepting (by another deputy of the
    # station, or by staff) must not take it from the deputy who was told it is theirs.
    no = submit(client, world).get_json()["issue"]["no"]
    act(client, world, "manager", no, "assign", {"deputy_id": world["ids"]["colleague"]}, prefix="manage")
    issue = act(client, world, "deputy", no, "accept").get_json()["issue"]
    assert issue["status"] == "accepted" and issue["assigned_deputy"]["name"] == "李代表"


def test_addressed_deputy_must_belong_to_the_station(client, world):
    response = submit(client, world, deputy_id=world["ids"]["outsider"])
    assert response.status_code == 400 and "deputy_id" in response.get_json()["error"]["details"]["fields"]


def test_visibility_matrix(client, world):
    no = submit(client, world).get_json()["issue"]["no"]
    expectations = {"resident": 200, "deputy": 200, "colleague": 200, "manager": 200, "admin": 200,
                    "stranger": 404, "outsider": 404, "other-manager": 404}
    for who, status in expectations.items():
        response = client.get(f"/api/v1/issues/{no}", headers=auth(world["tokens"][who]))
        assert response.status_code == status, who
        if status == 404:
            assert response.get_json()["error"]["code"] == "issue_not_found"
    assert client.get("/api/v1/issues/20991231-999999", headers=auth(world["tokens"]["resident"])).status_code == 404
    # Acting on an issue one cannot see is the same 404, never a 403 that confirms it exists.
    assert act(client, world, "outsider", no, "accept").status_code == 404
    assert act(client, world, "other-manager", no, "release", prefix="manage").status_code == 404


def test_inbox_and_my_issues(client, world):
    first = submit(client, world).get_json()["issue"]["no"]
    second = submit(client, world, content="公交站台缺少遮雨棚，下雨天等车很不方便。").get_json()["issue"]["no"]
    inbox = client.get("/api/v1/deputy/inbox", headers=auth(world["tokens"]["deputy"])).get_json()
    assert [i["no"] for i in inbox["items"]] == [second, first] and inbox["total"] == 2
    assert client.get("/api/v1/deputy/inbox", headers=auth(world["tokens"]["outsider"])).get_json()["total"] == 0
    act(client, world, "deputy", first, "accept")
    accepted = client.get("/api/v1/deputy/inbox?status=accepted", headers=auth(world["tokens"]["deputy"])).get_json()
    assert [i["no"] for i in accepted["items"]] == [first]
    mine = client.get("/api/v1/issues/mine?per_page=1", headers=auth(world["tokens"]["resident"])).get_json()
    assert mine["total"] == 2 and mine["per_page"] == 1 and [i["no"] for i in mine["items"]] == [second]
    assert client.get("/api/v1/issues/mine?per_page=101", headers=auth(world["tokens"]["resident"])).status_code == 400
    assert client.get("/api/v1/deputy/inbox", headers=auth(world["tokens"]["resident"])).status_code == 403


def test_anonymous_and_phone_privacy(client, world):
    issue = submit(client, world, anonymous=True, contact_phone="13812341234", share_phone=True).get_json()["issue"]
    assert issue["contact_phone"] == "138****1234"
    no = issue["no"]
    assert client.get(f"/api/v1/issues/{no}", headers=auth(world["tokens"]["manager"])).get_json()["issue"][
        "contact_phone"] == "138****1234"
    act(client, world, "deputy", no, "accept")
    handling = client.get(f"/api/v1/issues/{no}", headers=auth(world["tokens"]["deputy"])).get_json()["issue"]
    assert handling["contact_phone"] == "13812341234"
    colleague = client.get(f"/api/v1/issues/{no}", headers=auth(world["tokens"]["colleague"])).get_json()["issue"]
    assert colleague["contact_phone"] == "138****1234"
    # Without consent even the handling deputy sees the mask.
    private = submit(client, world, contact_phone="13900001111").get_json()["issue"]["no"]
    act(client, world, "deputy", private, "accept")
    assert client.get(f"/api/v1/issues/{private}", headers=auth(world["tokens"]["deputy"])).get_json()["issue"][
        "contact_phone"] == "139****1111"


def test_phone_is_encrypted_at_rest(client, world, app):
    submit(client, world, contact_phone="13812341234")
    with app.app_context():
        from models import Issue
        stored = db.session.scalar(db.select(Issue))
        assert "13812341234" not in (stored.contact_phone_encrypted or "")
        assert stored.contact_phone_masked == "138****1234"


@pytest.mark.parametrize("body, field", [
    ({"content": "短"}, "content"),
    ({"content": "字" * 2001}, "content"),
    ({"content": "     \n   "}, "content"),
    ({"category": "不存在的分类"}, "category"),
    ({"contact_phone": "12345"}, "contact_phone"),
    ({"images": list(range(10))}, "images"),
])
def test_bad_submissions_are_refused_and_nothing_is_written(client, world, app, body, field):
    response = submit(client, world, **body)
    assert response.status_code == 400, response.get_json()
    assert field in response.get_json()["error"]["details"]["fields"]
    with app.app_context():
        from models import Issue
        assert db.session.scalar(db.select(db.func.count(Issue.id))) == 0


def test_station_is_needed_exactly_once(client, world):
    both = submit(client, world, station_id=world["ids"]["station"])
    assert both.status_code == 400
    neither = client.post("/api/v1/issues", json={"category": "其他", "content": "没有联络站的意见建议"},
                          headers=auth(world["tokens"]["resident"]))
    assert neither.status_code == 400
    unknown = submit(client, world, scene="nosuch01")
    assert unknown.status_code == 404 and unknown.get_json()["error"]["code"] == "station_not_found"


def test_text_is_stored_verbatim(client, world):
    for text in ("😀 小区电梯老化 🚧 需要更换", "社區電梯老舊，請盡快處理", "'; DROP TABLE issue; --",
                 "<script>alert('x')</script><b>粗体</b>"):
        issue = submit(client, world, content=text).get_json()["issue"]
        assert issue["content"] == text
        assert client.get(f"/api/v1/issues/{issue['no']}",
                          headers=auth(world["tokens"]["resident"])).get_json()["issue"]["content"] == text


def test_events_are_append_only_and_name_the_actor_role(client, world, app):
    no = submit(client, world).get_json()["issue"]["no"]
    act(client, world, "manager", no, "assign", {"deputy_id": world["ids"]["deputy"]}, prefix="manage")
    act(client, world, "deputy", no, "accept")
    events = client.get(f"/api/v1/issues/{no}", headers=auth(world["tokens"]["resident"])).get_json()["issue"]["events"]
    assert [(e["kind"], e["actor_role"]) for e in events] == [
        ("submitted", "resident"), ("assigned", "station_manager"), ("accepted", "deputy")]
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(IssueEvent.id))) == 3


def test_transfer_deadline_cannot_be_in_the_past(client, world):
    no = submit(client, world).get_json()["issue"]["no"]
    act(client, world, "deputy", no, "accept")
    response = act(client, world, "deputy", no, "transfer", {"department": "县水利局", "deadline": "2026-11-01"})
    assert response.status_code == 400 and "deadline" in response.get_json()["error"]["details"]["fields"]
    assert date(2026, 11, 1) < clock.beijing_today()


def test_a_transfer_links_the_department_of_the_stations_own_county(client, app, world):
    """Names are unique only within a region: 德清县's 县住建局 (made first) is not 安吉县's."""
    from models import Department, Region, Transfer
    from tests.factories import create_department

    with app.app_context():
        by_name = {r.name: r for r in db.session.scalars(db.select(Region))}
        create_department(by_name["德清县"], "县住建局")
        create_department(by_name["安吉县"], "县住建局")
        db.session.commit()
        own_county = by_name["安吉县"].id
    no = submit(client, world).get_json()["issue"]["no"]
    act(client, world, "deputy", no, "accept")
    assert act(client, world, "deputy", no, "transfer", {"department": "县住建局", "deadline": "2026-11-30"}
               ).status_code == 200
    with app.app_context():
        transfer = db.session.scalar(db.select(Transfer))
        assert db.session.get(Department, transfer.department_id).region_id == own_county


@pytest.mark.parametrize("overrides, field", [
    ({"scene": None, "station_id": 2**31}, "station_id"),
    ({"deputy_id": 2**31}, "deputy_id"),
    ({"images": [10**20]}, "images"),
])
def test_ids_beyond_any_row_are_refused_on_submission(client, world, overrides, field):
    """2**31 and beyond are no PostgreSQL integer: a clear 400, never the database's error."""
    response = submit(client, world, **overrides)
    assert response.status_code == 400, response.get_json()
    fields = response.get_json()["error"]["details"]["fields"]
    assert [message for name, message in fields.items() if name.split(".")[0] == field] == ["不能大于2147483647"]


def test_assigning_to_a_deputy_id_beyond_any_row_is_refused(client, world):
    no = submit(client, world).get_json()["issue"]["no"]
    response = act(client, world, "manager", no, "assign", {"deputy_id": 6402373705728000}, prefix="manage")
    assert response.status_code == 400, response.get_json()
    assert "deputy_id" in response.get_json()["error"]["details"]["fields"]
