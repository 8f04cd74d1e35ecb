"""The duty record (履职档案) and its points ledger (履职积分): figures against a hand-made table,
the ledger summing to the points, reversals when a fact changes or a rule's points do, and a
sync that appends nothing when run again."""
from __future__ import annotations

import threading
from datetime import date, datetime

import pytest
import requests

from backend import clock
from backend.services.duty import points
from models import (
    Deputy,
    DutyAssignment,
    PointsEntry,
    Rating,
    RatingScore,
    ReceptionRecord,
    Reply,
    StaffRole,
    Station,
    User,
    db,
)
from tests.factories import (
    auth,
    bind_deputy_user,
    create_categories,
    create_check_in,
    create_deputy,
    create_duty,
    create_issue,
    create_leave,
    create_points_rules,
    create_region_tree,
    create_staff,
    create_station,
    staff_login,
)

MINE = "/api/v1/deputy/record"
RULES = "/api/v1/manage/points-rules"


def bj(y, m, d, hh=10, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=clock.BEIJING)


@pytest.fixture
def world(app, client):
    """Today is 16 March 2027; 张代表 of 递铺 (A):

    duties at A (published): 2026-12-16 (checked in), 1-06 (checked in), 1-16 (on leave 1-15..1-17),
      2-06 (missed), 3-16 (today, not yet), 3-26 (ahead); check-ins also 1-07 (extra visit)
    issues: I1 reply due 1-20, first answered by 张 at 23:00 on 1-20 (on time), again 2-01; rated
            unsatisfied 1-25, then basically satisfied 2-05
            I2 due 2-10, answered 2-11 (late); rated satisfied 2-20
            I3 answered only by 李 (on time), rated satisfied 3-01 — nothing of 张's
            I4 due 2026-12-31, answered 2026-12-30 (on time, last year)
    receptions: 张 3 + 2 residents in 2027, 4 in 2026; 李 7
    """
    clock.freeze(bj(2027, 3, 16, 15))
    with app.app_context():
        create_categories()
        create_points_rules()
        regions = create_region_tree()
        a = create_station(regions["township"], name="递铺联络站", scene="dr01")
        other = create_station(regions["other_county"], name="德清联络站", scene="dr02")
        zhang = create_deputy(name="张代表", stations=[a])
        li = create_deputy(name="李代表", stations=[a])
        duties = {day: create_duty(a, zhang, date.fromisoformat(day)).id
                  for day in ("2026-12-16", "2027-01-06", "2027-01-16", "2027-02-06", "2027-03-16", "2027-03-26")}
        for day in ("2026-12-16", "2027-01-06", "2027-01-07"):
            create_check_in(a, zhang, date.fromisoformat(day))
        create_leave(zhang, date(2027, 1, 15), date(2027, 1, 17))
        author = User()
        db.session.add(author)
        db.session.flush()

        def issue(due, replies, ratings=()):
            row = create_issue(a, reply_due_on=due, created_at=bj(2026, 12, 1))
            for deputy, at in replies:
                db.session.add(Reply(issue_id=row.id, author_id=author.id, deputy_id=deputy.id, content="已答复",
                                     created_at=at))
            for n, (score, at) in enumerate(ratings, start=1):
                db.session.add(Rating(issue_id=row.id, resolution_round=n, score=score, created_at=at))
            db.session.commit()
            return row.id

        issues = {
            "I1": issue(date(2027, 1, 20), [(zhang, bj(2027, 1, 20, 23)), (zhang, bj(2027, 2, 1))],
                        [(RatingScore.unsatisfied, bj(2027, 1, 25)), (RatingScore.basically_satisfied, bj(2027, 2, 5))]),
            "I2": issue(date(2027, 2, 10), [(zhang, bj(2027, 2, 11, 9))], [(RatingScore.satisfied, bj(2027, 2, 20))]),
            "I3": issue(date(2027, 3, 1), [(li, bj(2027, 2, 27))], [(RatingScore.satisfied, bj(2027, 3, 1))]),
            "I4": issue(date(2026, 12, 31), [(zhang, bj(2026, 12, 30))]),
        }
        for deputy, day, residents in ((zhang, "2027-01-06", 3), (zhang, "2027-02-06", 2), (zhang, "2026-12-16", 4),
                                       (li, "2027-01-06", 7)):
            db.session.add(ReceptionRecord(station_id=a.id, on_date=date.fromisoformat(day), deputy_id=deputy.id,
                                           recorded_by_id=author.id, residents=residents, topics="停车难"))
        db.session.commit()
        create_staff(username="a-manager", stations=[a])
        create_staff(username="other-manager", stations=[other])
        create_staff(username="anji-admin", role=StaffRole.region_admin, region=regions["county"])
        ids = {"a": a.id, "zhang": zhang.id, "li": li.id}
    tokens = {"zhang": bind_deputy_user(client, app, ids["zhang"], "dr-zhang")}
    for name in ("a-manager", "other-manager", "anji-admin"):
        tokens[name] = staff_login(client, name)["token"]
    return {"ids": ids, "duties": duties, "issues": issues, "tokens": tokens}


def my_record(client, world, query=""):
    response = client.get(MINE + query, headers=auth(world["tokens"]["zhang"]))
    assert response.status_code == 200, response.get_json()
    return response.get_json()["record"]


def lines(record) -> list[tuple]:
    return [(e["date"], e["rule_code"], e["points"], e["cause"]["type"]) for e in record["entries"]]


def ledger_rows(app) -> list[tuple]:
    with app.app_context():
        return [(e.id, e.deputy_id, e.year, e.occurred_on, e.rule_code, e.points, e.cause_type, e.cause_id,
                 e.reverses_id, e.note) for e in db.session.scalars(db.select(PointsEntry).order_by(PointsEntry.id))]


EXPECTED_2027 = [
    ("2027-01-06", "attended_duty", 2, "duty_assignment"),
    ("2027-01-07", "extra_visit", 1, "check_in"),
    ("2027-01-20", "answered_on_time", 1, "issue"),
    ("2027-02-06", "missed_duty", -1, "duty_assignment"),
    ("2027-02-20", "satisfied_rating", 1, "rating"),
]


def test_the_record_of_this_year_against_the_table(client, world):
    record = my_record(client, world)
    assert record["deputy"] == {"id": world["ids"]["zhang"], "name": "张代表"}
    assert record["year"] == 2027
    assert {k: record[k] for k in ("duty_days", "attended", "on_leave", "missed", "extra_visits", "check_ins")} == {
        "duty_days": 4, "attended": 1, "on_leave": 1, "missed": 1, "extra_visits": 1, "check_ins": 2}
    assert (record["residents_received"], record["receptions"]) == (5, 2)
    assert (record["issues_answered"], record["answered_on_time"], record["on_time_share"]) == (2, 1, 0.5)
    assert record["satisfaction"] == 0.6667  # I1 unsatisfied, I1 basically satisfied, I2 satisfied
    assert lines(record) == EXPECTED_2027
    assert record["points"] == 4 == sum(e["points"] for e in record["entries"])
    first = record["entries"][0]
    assert first["label"] == "按排班进站履职" and first["cause"]["id"] == world["duties"]["2027-01-06"]
    assert first["reverses_id"] is None and "递铺联络站" in first["note"]


def test_last_years_record(client, world):
    record = my_record(client, world, "?year=2026")
    assert lines(record) == [("2026-12-16", "attended_duty", 2, "duty_assignment"),
                             ("2026-12-30", "answered_on_time", 1, "issue")]
    assert (record["points"], record["duty_days"], record["residents_received"]) == (3, 1, 4)
    empty = my_record(client, world, "?year=2025")
    assert (empty["points"], empty["entries"], empty["on_time_share"], empty["satisfaction"]) == (0, [], None, None)


def test_reading_again_appends_nothing(app, client, world):
    first = my_record(client, world)
    rows = ledger_rows(app)
    assert my_record(client, world) == first
    assert ledger_rows(app) == rows
    with app.app_context():
        assert points.sync_points(world["ids"]["zhang"], 2027) == points.SyncResult(added=0, reversed=0)
        db.session.commit()
    assert ledger_rows(app) == rows


def test_a_check_in_on_a_day_later_unassigned_is_reversed_and_becomes_an_extra_visit(app, client, world):
    my_record(client, world)
    before = ledger_rows(app)
    with app.app_context():
        db.session.delete(db.session.get(DutyAssignment, world["duties"]["2027-01-06"]))
        db.session.commit()
    record = my_record(client, world)
    after = ledger_rows(app)
    assert after[: len(before)] == before  # nothing updated or deleted
    attended = next(r for r in before if r[4] == "attended_duty" and r[2] == 2027)
    reversal, extra = after[len(before):]
    assert reversal[4:9] == ("attended_duty", -2, "duty_assignment", attended[7], attended[0])
    assert reversal[3] == date(2027, 1, 6) and reversal[9].startswith("撤销")
    assert extra[4:6] == ("extra_visit", 1) and extra[6] == "check_in" and extra[8] is None
    assert record["points"] == 4 - 2 + 1 == sum(e["points"] for e in record["entries"])
    assert (record["duty_days"], record["attended"], record["extra_visits"]) == (3, 0, 2)
    assert my_record(client, world) == record  # and it settles


def test_leave_recorded_after_a_missed_day_reverses_the_penalty(app, client, world):
    my_record(client, world)
    with app.app_context():
        create_leave(db.session.get(Deputy, world["ids"]["zhang"]), date(2027, 2, 6), date(2027, 2, 6))
    record = my_record(client, world)
    # The reversal is dated as the fact it cancels, so it is listed beside it.
    assert lines(record)[3:5] == [("2027-02-06", "missed_duty", -1, "duty_assignment"),
                                  ("2027-02-06", "missed_duty", 1, "duty_assignment")]
    assert record["entries"][4]["reverses_id"] == record["entries"][3]["id"]
    assert record["points"] == 5 and (record["missed"], record["on_leave"]) == (0, 2)


def test_changing_a_rules_points_reverses_and_re_enters_at_the_new_points(app, client, world):
    assert my_record(client, world)["points"] == 4
    admin = auth(world["tokens"]["anji-admin"])
    changed = client.put(RULES, json={"items": [{"code": "attended_duty", "points": 3},
                                                {"code": "extra_visit", "is_active": False}]}, headers=admin)
    assert changed.status_code == 200, changed.get_json()
    listed = {r["code"]: (r["points"], r["is_active"]) for r in changed.get_json()["items"]}
    assert listed["attended_duty"] == (3, True) and listed["extra_visit"] == (1, False)
    record = my_record(client, world)
    assert sorted(lines(record)) == sorted(EXPECTED_2027 + [
        ("2027-01-06", "attended_duty", -2, "duty_assignment"), ("2027-01-06", "attended_duty", 3, "duty_assignment"),
        ("2027-01-07", "extra_visit", -1, "check_in")])
    assert record["points"] == 4 + 1 - 1 == sum(e["points"] for e in record["entries"])
    # Switched back on: the extra visit is entered again, once.
    client.put(RULES, json={"items": [{"code": "extra_visit", "is_active": True}]}, headers=admin)
    assert my_record(client, world)["points"] == 5
    assert my_record(client, world)["points"] == 5


def test_staff_read_the_record_of_a_deputy_of_their_stations(client, world):
    mine = my_record(client, world)
    path = f"/api/v1/manage/deputies/{world['ids']['zhang']}/record"
    for who in ("a-manager", "anji-admin"):
        response = client.get(path, headers=auth(world["tokens"][who]))
        assert response.status_code == 200 and response.get_json()["record"] == mine
    outside = client.get(path, headers=auth(world["tokens"]["other-manager"]))
    assert outside.status_code == 404 and outside.get_json()["error"]["code"] == "not_found"
    assert client.get("/api/v1/manage/deputies/999999/record", headers=auth(world["tokens"]["a-manager"])).status_code == 404
    assert client.get(path, headers=auth(world["tokens"]["zhang"])).status_code == 403


def test_bad_years_are_refused(client, world):
    for query in ("?year=1999", "?year=2101", "?year=今年"):
        response = client.get(MINE + query, headers=auth(world["tokens"]["zhang"]))
        assert response.status_code == 400 and "year" in response.get_json()["error"]["details"]["fields"]


def test_only_region_admins_edit_the_rules(client, world):
    admin, manager = auth(world["tokens"]["anji-admin"]), auth(world["tokens"]["a-manager"])
    listed = client.get(RULES, headers=admin).get_json()["items"]
    assert [(r["code"], r["points"]) for r in listed] == [
        ("attended_duty", 2), ("extra_visit", 1), ("answered_on_time", 1), ("satisfied_rating", 1), ("missed_duty", -1)]
    assert client.get(RULES, headers=manager).status_code == 403
    assert client.put(RULES, json={"items": [{"code": "extra_visit", "points": 5}]}, headers=manager).status_code == 403
    for body, field in (({"items": [{"code": "no_such_rule", "points": 1}]}, "items.0.code"),
                        ({"items": [{"code": "extra_visit", "points": 101}]}, "items.0.points"),
                        ({"items": [{"code": "extra_visit"}]}, "items.0"),
                        ({"items": [{"code": "extra_visit", "points": 1}, {"code": "extra_visit", "points": 2}]},
                         "items.1.code"),
                        ({"items": []}, "items")):
        response = client.put(RULES, json=body, headers=admin)
        assert response.status_code == 400, body
        assert field in response.get_json()["error"]["details"]["fields"], response.get_json()
    assert [(r["code"], r["points"]) for r in client.get(RULES, headers=admin).get_json()["items"]][1] == (
        "extra_visit", 1)  # nothing half-applied


def test_sync_is_a_plain_function_for_the_nightly_job(app, world):
    with app.app_context():
        result = points.sync_points(world["ids"]["zhang"], 2027)
        db.session.commit()
        assert result == points.SyncResult(added=5, reversed=0)
        assert db.session.scalar(db.select(db.func.sum(PointsEntry.points))
                                 .where(PointsEntry.deputy_id == world["ids"]["zhang"], PointsEntry.year == 2027)) == 4
        # 李 answered I3 on time and it was rated satisfied.
        assert points.sync_points(world["ids"]["li"], 2027) == points.SyncResult(added=2, reversed=0)
        db.session.commit()
        assert {(e.rule_code, e.points) for e in points.ledger(world["ids"]["li"], 2027)} == {
            ("answered_on_time", 1), ("satisfied_rating", 1)}
        assert db.session.get(Station, world["ids"]["a"]) is not None


def test_simultaneous_reads_append_each_entry_once(app, live_server, world):
    barrier = threading.Barrier(5)
    results: list = [None] * 5

    def run(i: int) -> None:
        barrier.wait()
        results[i] = requests.get(f"{live_server}{MINE}", headers=auth(world["tokens"]["zhang"]), timeout=20)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert [r.status_code for r in results] == [200] * 5, [r.text for r in results]
    assert {r.json()["record"]["points"] for r in results} == {4}
    assert len(ledger_rows(app)) == 5
