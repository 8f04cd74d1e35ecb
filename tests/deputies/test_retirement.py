"""A deputy retires (离任) over HTTP: terms and groupings end on the day, later duty goes, open
issues go to the station manager, the WeChat account loses the deputy at once, residents stop
seeing the deputy — and everything that happened stays."""
from __future__ import annotations

import threading
from datetime import date, datetime

import pytest
import requests

from backend import clock
from backend.services.accounts.signin import create_invite
from models import (
    CheckIn,
    Deputy,
    DeputyLevel,
    DeputySeat,
    DutyAssignment,
    DutyRoster,
    InviteCode,
    Issue,
    IssueEvent,
    IssueStatus,
    Reply,
    RosterStatus,
    StaffRole,
    StationMembership,
    User,
    db,
)
from tests.factories import (
    auth,
    bind_deputy_user,
    count_queries,
    create_categories,
    create_deputy,
    create_issue,
    create_region_tree,
    create_staff,
    create_station,
    staff_login,
    wx_login,
)

API = "/api/v1"
TODAY = date(2026, 11, 9)  # a Monday
S = IssueStatus


@pytest.fixture
def world(app, client):
    """Two stations of 安吉县 and one of 德清县. 王代表 (county and township seats) belongs to both
    安吉 stations, 李代表 to the first; rosters for November (published at the first station,
    draft at the second) and December; issues in every state; a check-in and a reply."""
    clock.freeze(datetime(2026, 11, 9, 10, 0, tzinfo=clock.BEIJING))
    with app.app_context():
        create_categories()
        regions = create_region_tree()
        first = create_station(regions["community"], scene="ret01", name="古城社区联络站")
        second = create_station(regions["township"], scene="ret02", name="递铺街道联络站")
        elsewhere = create_station(regions["other_county"], scene="ret03", name="德清联络站")
        planned = create_station(regions["township"], scene="ret04", name="递铺工业园联络站")
        wang = create_deputy(name="王代表", levels=[DeputyLevel.county, DeputyLevel.township],
                             stations=[first, second])
        li = create_deputy(name="李代表", stations=[first])
        create_deputy(name="外县代表", stations=[elsewhere])
        # A grouping planned for next month: it never takes effect.
        db.session.add(StationMembership(station_id=planned.id, deputy_id=wang.id, started_on=date(2026, 12, 1)))
        db.session.commit()
        create_staff(username="manager", stations=[first])
        create_staff(username="admin", role=StaffRole.region_admin, region=regions["county"])
        create_staff(username="city-admin", role=StaffRole.region_admin, region=regions["city"])
        create_staff(username="other-admin", role=StaffRole.region_admin, region=regions["other_county"])

        november_first = DutyRoster(station_id=first.id, month=date(2026, 11, 1), status=RosterStatus.published,
                                    published_at=clock.now())
        november_second = DutyRoster(station_id=second.id, month=date(2026, 11, 1))
        december_first = DutyRoster(station_id=first.id, month=date(2026, 12, 1))
        db.session.add_all([november_first, november_second, december_first])
        db.session.flush()
        for roster, station, day, deputy in [
            (november_first, first, date(2026, 11, 6), wang),  # held: stays
            (november_first, first, date(2026, 11, 16), wang),
            (november_first, first, date(2026, 11, 26), wang),
            (november_first, first, date(2026, 11, 16), li),  # someone else's: stays
            (november_second, second, date(2026, 11, 16), wang),
            (december_first, first, date(2026, 12, 6), wang),
        ]:
            db.session.add(DutyAssignment(roster_id=roster.id, station_id=station.id, duty_date=day,
                                          deputy_id=deputy.id))
        db.session.add(CheckIn(deputy_id=wang.id, station_id=first.id, on_date=date(2026, 11, 6),
                               on_reception_day=True))
        db.session.commit()

        resident = User(openid="fake-ret-resident")
        db.session.add(resident)
        db.session.commit()
        issues = {
            "submitted_addressed": create_issue(first, status=S.submitted, addressed_deputy=wang, submitter=resident),
            "pending_addressed": create_issue(first, status=S.pending_review, addressed_deputy=wang),
            "accepted": create_issue(first, status=S.accepted, addressed_deputy=wang, assigned_deputy=wang),
            "replied": create_issue(second, status=S.replied, assigned_deputy=wang),
            "transferred": create_issue(first, status=S.transferred, assigned_deputy=wang),
            "reopened": create_issue(first, status=S.reopened, assigned_deputy=wang),
            "resolved": create_issue(first, status=S.resolved, assigned_deputy=wang, submitter=resident),
            "closed": create_issue(first, status=S.closed, assigned_deputy=wang),
            "rejected": create_issue(first, status=S.rejected, addressed_deputy=wang),
            "li_handles": create_issue(first, status=S.accepted, addressed_deputy=wang, assigned_deputy=li),
            "nobodys": create_issue(first, status=S.submitted),
        }
        replied = issues["replied"]
        db.session.add(Reply(issue_id=replied.id, author_id=resident.id, deputy_id=wang.id, content="已联系街道处理。"))
        db.session.add(IssueEvent(issue_id=replied.id, kind="replied", from_status="accepted", to_status="replied",
                                  actor_role="deputy", note="王代表答复"))
        db.session.commit()
        ids = {"wang": wang.id, "li": li.id, "first": first.id, "second": second.id, "elsewhere": elsewhere.id,
               "planned": planned.id,
               "issues": {name: (issue.id, issue.no) for name, issue in issues.items()}}
    return {"ids": ids, "tokens": _Tokens(client, app, ids)}


class _Tokens(dict):
    """Signs each person in on first use (staff passwords are hashed slowly on purpose)."""

    def __init__(self, client, app, ids):
        super().__init__()
        self._client, self._app, self._ids = client, app, ids

    def __missing__(self, who: str) -> str:
        if who == "wang":
            token = bind_deputy_user(self._client, self._app, self._ids["wang"], "ret-wang")
        elif who == "li":
            token = bind_deputy_user(self._client, self._app, self._ids["li"], "ret-li")
        elif who == "resident":
            token = wx_login(self._client, "ret-resident")["token"]
        else:
            token = staff_login(self._client, who)["token"]
        self[who] = token
        return token


def retire(client, world, who="admin", body=None, deputy="wang"):
    deputy_id = world["ids"][deputy] if isinstance(deputy, str) else deputy
    return client.post(f"{API}/manage/deputies/{deputy_id}/retire", json=body if body is not None else {},
                       headers=auth(world["tokens"][who]))


def error_of(response, status, code) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == code and any("\u4e00" <= ch <= "\u9fff" for ch in error["message"]), error
    return error


def scan_names(client, scene="ret01") -> list[str]:
    response = client.get(f"{API}/stations/scan/{scene}")
    assert response.status_code == 200
    return [d["name"] for d in response.get_json()["deputies"]]


# --- what a retirement does -------------------------------------------------------------------

def test_retirement_ends_terms_drops_later_duty_and_hands_open_issues_to_the_manager(client, app, world):
    response = retire(client, world, body={"reason": "调离本县"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    issues = world["ids"]["issues"]
    handed = ["submitted_addressed", "pending_addressed", "accepted", "replied", "transferred", "reopened"]
    assert body["handed_over_issues"] == 6
    assert sorted(body["handed_over_issue_nos"]) == sorted(issues[name][1] for name in handed)
    assert body["dropped_duty_days"] == 4
    assert {(d["date"], d["roster_published"]) for d in body["dropped_duty"]} == {
        ("2026-11-16", True), ("2026-11-26", True), ("2026-11-16", False), ("2026-12-06", False)}
    assert body["retired_on"] == "2026-11-09" and body["expired_invites"] == 0
    deputy = body["deputy"]
    assert deputy["retired"] is True and deputy["retired_at"].startswith("2026-11-09T10:00")
    assert deputy["wechat_bound"] is False
    assert {(s["level"], s["ended_on"], s["current"]) for s in deputy["seats"]} == {
        ("county", "2026-11-09", True), ("township", "2026-11-09", True)}  # still in office today
    assert [(m["station"]["name"], m["ended_on"]) for m in deputy["memberships"]] == [
        ("递铺街道联络站", "2026-11-09"), ("古城社区联络站", "2026-11-09")]

    with app.app_context():
        wang, li = world["ids"]["wang"], world["ids"]["li"]
        assert db.session.get(Deputy, wang).retired_at is not None
        assert {m.ended_on for m in db.session.scalars(
            db.select(StationMembership).where(StationMembership.deputy_id == wang))} == {TODAY}
        # The grouping planned for December never took effect: gone, not ended.
        assert db.session.scalar(db.select(StationMembership).where(
            StationMembership.deputy_id == wang, StationMembership.station_id == world["ids"]["planned"])) is None
        assert {s.ended_on for s in db.session.scalars(db.select(DeputySeat).where(DeputySeat.deputy_id == wang))} \
            == {TODAY}
        duty = {(a.deputy_id, a.duty_date) for a in db.session.scalars(db.select(DutyAssignment))}
        assert duty == {(wang, date(2026, 11, 6)), (li, date(2026, 11, 16))}
        # The rosters themselves stay, published or not.
        assert db.session.scalar(db.select(db.func.count(DutyRoster.id))) == 3
        assert db.session.scalar(db.select(db.func.count(CheckIn.id)).where(CheckIn.deputy_id == wang)) == 1

        by_name = {name: db.session.get(Issue, issue_id) for name, (issue_id, _no) in issues.items()}
        for name in handed:
            issue = by_name[name]
            assert issue.escalated_to_manager is True, name
            assert issue.assigned_deputy_id is None, name
            event = issue.events[-1]
            assert (event.kind, event.actor_role) == ("handed_to_manager", "region_admin"), name
            assert event.from_status == event.to_status == issue.status.value, name
            assert "王代表" in event.note and "2026-11-09" in event.note and "调离本县" in event.note, name
        # Unaccepted ones are no longer addressed to the deputy; accepted ones keep the resident's choice.
        assert by_name["submitted_addressed"].addressed_deputy_id is None
        assert by_name["pending_addressed"].addressed_deputy_id is None
        assert by_name["accepted"].addressed_deputy_id == wang
        assert [i.status for i in (by_name["submitted_addressed"], by_name["accepted"])] == [S.submitted, S.accepted]
        # Finished ones, and one another deputy handles, are untouched.
        for name, status in [("resolved", S.resolved), ("closed", S.closed), ("rejected", S.rejected)]:
            issue = by_name[name]
            assert issue.status == status and not issue.escalated_to_manager and issue.events == [], name
        assert by_name["resolved"].assigned_deputy_id == wang and by_name["rejected"].addressed_deputy_id == wang
        assert by_name["li_handles"].assigned_deputy_id == li and not by_name["li_handles"].escalated_to_manager
        assert by_name["nobodys"].events == [] and not by_name["nobodys"].escalated_to_manager


def test_history_still_names_the_deputy(client, app, world):
    assert retire(client, world).status_code == 200
    _id, no = world["ids"]["issues"]["replied"]
    detail = client.get(f"{API}/issues/{no}", headers=auth(world["tokens"]["admin"])).get_json()["issue"]
    assert detail["replies"][0]["deputy"]["name"] == "王代表"
    assert [e["kind"] for e in detail["events"]] == ["replied", "handed_to_manager"]
    assert detail["events"][0]["note"] == "王代表答复"
    assert detail["escalated_to_manager"] is True and detail["assigned_deputy"] is None
    _id, no = world["ids"]["issues"]["accepted"]
    detail = client.get(f"{API}/issues/{no}", headers=auth(world["tokens"]["manager"])).get_json()["issue"]
    assert detail["addressed_deputy"]["name"] == "王代表"
    # Staff still read the retired deputy's whole record.
    record = client.get(f"{API}/manage/deputies/{world['ids']['wang']}", headers=auth(world["tokens"]["manager"]))
    assert record.status_code == 200 and record.get_json()["deputy"]["retired"] is True


def test_handed_over_issues_are_in_the_station_managers_queue(client, world):
    assert retire(client, world).status_code == 200
    response = client.get(f"{API}/manage/issues?escalated=true&per_page=100", headers=auth(world["tokens"]["manager"]))
    assert response.status_code == 200
    items = response.get_json()["items"]
    issues = world["ids"]["issues"]
    # The manager runs the first station; the second station's issue is its own manager's (here: the admin's).
    expected = {issues[n][1] for n in ("submitted_addressed", "pending_addressed", "accepted", "transferred",
                                       "reopened")}
    assert {i["no"] for i in items} == expected
    assert all(i["escalated_to_manager"] and i["assigned_deputy"] is None for i in items)
    everything = client.get(f"{API}/manage/issues?per_page=100", headers=auth(world["tokens"]["manager"])).get_json()
    assert everything["total"] == 10  # nothing disappeared from the queue
    rest = client.get(f"{API}/manage/issues?escalated=false&per_page=100",
                      headers=auth(world["tokens"]["manager"])).get_json()
    assert rest["total"] == 5 and not {i["no"] for i in rest["items"]} & expected
    admin = client.get(f"{API}/manage/issues?escalated=true&per_page=100", headers=auth(world["tokens"]["admin"]))
    assert admin.get_json()["total"] == 6


def test_the_old_token_loses_the_deputy_at_once(client, app, world):
    token = world["tokens"]["wang"]
    assert client.get(f"{API}/deputy/inbox", headers=auth(token)).status_code == 200
    with app.app_context():
        spare = create_invite(db.session.get(Deputy, world["ids"]["wang"])).code
        db.session.commit()
    response = retire(client, world)
    assert response.get_json()["expired_invites"] == 1
    refused = client.get(f"{API}/deputy/inbox", headers=auth(token))
    error_of(refused, 401, "unauthorized")
    # Signing in again gives a resident, not a deputy; the spare invite no longer binds anyone.
    again = wx_login(client, "ret-wang")
    assert again["user"]["roles"] == ["resident"] and again["user"]["deputy_id"] is None
    assert client.get(f"{API}/deputy/inbox", headers=auth(again["token"])).status_code == 403
    bind = client.post(f"{API}/auth/bind-deputy", json={"invite_code": spare}, headers=auth(again["token"]))
    error_of(bind, 400, "invite_invalid")
    with app.app_context():
        assert db.session.get(Deputy, world["ids"]["wang"]).user_id is None
        invite = db.session.scalar(db.select(InviteCode).where(InviteCode.code == spare))
        assert invite.used_at is None and invite.expires_at <= clock.now()


def test_residents_no_longer_see_the_deputy(client, world):
    assert sorted(scan_names(client)) == ["李代表", "王代表"]
    assert client.get(f"{API}/deputies/{world['ids']['wang']}").status_code == 200
    assert retire(client, world).status_code == 200
    assert scan_names(client) == ["李代表"]
    assert scan_names(client, "ret02") == []
    error_of(client.get(f"{API}/deputies/{world['ids']['wang']}"), 404, "not_found")
    assert client.get(f"{API}/deputies/{world['ids']['li']}").status_code == 200


def test_a_reopened_issue_of_a_retired_deputy_goes_to_the_manager(client, app, world):
    assert retire(client, world).status_code == 200
    _id, no = world["ids"]["issues"]["resolved"]
    response = client.post(f"{API}/issues/{no}/rating", json={"score": "unsatisfied", "comment": "没解决"},
                           headers=auth(world["tokens"]["resident"]))
    assert response.status_code == 200, response.get_json()
    issue = response.get_json()["issue"]
    assert issue["status"] == "reopened" and issue["escalated_to_manager"] is True
    assert issue["assigned_deputy"] is None


def test_retiring_twice_is_a_conflict(client, app, world):
    assert retire(client, world).status_code == 200
    error = error_of(retire(client, world, body={"retired_on": "2026-11-01"}), 409, "conflict")
    assert "已" in error["message"] and "离任" in error["message"]
    with app.app_context():
        # Nothing was handed over twice.
        assert db.session.scalar(db.select(db.func.count(IssueEvent.id)).where(
            IssueEvent.kind == "handed_to_manager")) == 6


# --- the retirement date ----------------------------------------------------------------------

def test_a_past_retirement_date_ends_spans_then_and_keeps_duty_already_held(client, app, world):
    with app.app_context():
        roster = db.session.scalar(db.select(DutyRoster).where(DutyRoster.month == date(2026, 11, 1),
                                                               DutyRoster.station_id == world["ids"]["first"]))
        db.session.add(DutyAssignment(roster_id=roster.id, station_id=roster.station_id, duty_date=TODAY,
                                      deputy_id=world["ids"]["wang"]))
        db.session.commit()
    response = retire(client, world, body={"retired_on": "2026-11-01"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["retired_on"] == "2026-11-01"
    assert {m["ended_on"] for m in body["deputy"]["memberships"]} == {"2026-11-01"}
    assert {s["ended_on"] for s in body["deputy"]["seats"]} == {"2026-11-01"}
    assert body["dropped_duty_days"] == 4
    with app.app_context():
        kept = {a.duty_date for a in db.session.scalars(
            db.select(DutyAssignment).where(DutyAssignment.deputy_id == world["ids"]["wang"]))}
        assert kept == {date(2026, 11, 6), TODAY}  # already held (or being held): the record


@pytest.mark.parametrize("retired_on, field_hint", [
    ("2026-11-10", "晚于今天"),
    ("2020-01-01", "2021-10-01"),  # a typo for 2026: the groupings began in 2021
    ("2026-13-01", "日期"),
    ("1999-12-31", "2000"),
])
def test_a_bad_retirement_date_changes_nothing(client, app, world, retired_on, field_hint):
    response = retire(client, world, body={"retired_on": retired_on})
    error = error_of(response, 400, "invalid_input")
    assert field_hint in error["details"]["fields"]["retired_on"]
    with app.app_context():
        wang = db.session.get(Deputy, world["ids"]["wang"])
        assert wang.retired_at is None
        assert db.session.scalar(db.select(db.func.count(DutyAssignment.id))) == 6
        assert all(m.ended_on is None for m in db.session.scalars(
            db.select(StationMembership).where(StationMembership.deputy_id == wang.id)))
        assert db.session.scalar(db.select(db.func.count(IssueEvent.id))) == 1


def test_bad_bodies_are_400(client, world):
    fields = error_of(retire(client, world, body={"reason": "很" * 201}), 400, "invalid_input")["details"]["fields"]
    assert "reason" in fields
    response = client.post(f"{API}/manage/deputies/{world['ids']['wang']}/retire", data="x",
                           headers={**auth(world["tokens"]["admin"]), "Content-Type": "application/json"})
    error_of(response, 400, "invalid_input")
    # A blank reason is no reason.
    assert retire(client, world, body={"reason": "  "}).status_code == 200


# --- who may ----------------------------------------------------------------------------------

def test_who_may_retire_a_deputy(client, app, world):
    error_of(retire(client, world, who="other-admin"), 404, "not_found")
    error_of(retire(client, world, who="manager"), 403, "forbidden")
    error_of(retire(client, world, who="resident"), 403, "forbidden")
    error_of(retire(client, world, who="li"), 403, "forbidden")
    error_of(retire(client, world, who="wang"), 403, "forbidden")
    error_of(client.post(f"{API}/manage/deputies/{world['ids']['wang']}/retire", json={}), 401, "unauthorized")
    for unknown in (424242, 2**31):
        error_of(retire(client, world, deputy=unknown), 404, "not_found")
    with app.app_context():
        assert db.session.get(Deputy, world["ids"]["wang"]).retired_at is None


def test_a_deputy_grouped_beyond_the_admins_region_needs_a_higher_admin(client, app, world):
    with app.app_context():
        db.session.add(StationMembership(station_id=world["ids"]["elsewhere"], deputy_id=world["ids"]["wang"],
                                         started_on=date(2025, 1, 1)))
        db.session.commit()
    error = error_of(retire(client, world, who="admin"), 403, "forbidden")
    assert "德清联络站" in error["message"]
    assert retire(client, world, who="city-admin").status_code == 200


# --- caches -----------------------------------------------------------------------------------

@pytest.mark.redis
def test_cached_scan_identity_and_inbox_answers_follow_the_retirement(client, app, world):
    token, li_token = world["tokens"]["wang"], world["tokens"]["li"]
    # Warm: the scan answer, both deputies' identities and the other deputy's inbox.
    scan_names(client)
    _, warm = count_queries(app, lambda: scan_names(client))
    assert warm == 0
    for _ in range(2):
        assert client.get(f"{API}/deputy/inbox", headers=auth(token)).status_code == 200
        li_inbox = client.get(f"{API}/deputy/inbox?per_page=100", headers=auth(li_token)).get_json()
    _, warm = count_queries(app, lambda: client.get(f"{API}/deputy/inbox?per_page=100", headers=auth(li_token)))
    assert warm == 0
    assert not any(i["escalated_to_manager"] for i in li_inbox["items"])

    assert retire(client, world).status_code == 200
    assert scan_names(client) == ["李代表"]
    error_of(client.get(f"{API}/deputy/inbox", headers=auth(token)), 401, "unauthorized")
    li_inbox = client.get(f"{API}/deputy/inbox?per_page=100", headers=auth(li_token)).get_json()
    escalated = {i["no"] for i in li_inbox["items"] if i["escalated_to_manager"]}
    issues = world["ids"]["issues"]
    assert escalated == {issues[n][1] for n in ("submitted_addressed", "accepted", "transferred", "reopened")}


# --- two at once ------------------------------------------------------------------------------

@pytest.mark.postgres
def test_two_retirements_at_once_one_wins(app, live_server, world):
    token = world["tokens"]["admin"]
    barrier = threading.Barrier(2)
    results: list = [None, None]

    def run(i: int) -> None:
        barrier.wait()
        results[i] = requests.post(f"{live_server}{API}/manage/deputies/{world['ids']['wang']}/retire",
                                   json={}, headers=auth(token), timeout=30)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(r.status_code for r in results) == [200, 409], [r.text for r in results]
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(IssueEvent.id)).where(
            IssueEvent.kind == "handed_to_manager")) == 6
