"""督办: issues whose clock turns yellow remind the deputy who must act; red ones remind them again
and the station's managers (or the nearest region admins); a daily digest from 09:00 to the staff
with yellow or red issues in scope. Each reminder once per deadline, colour and recipient."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from backend import clock
from backend.services.issues.escalation import run_escalation
from models import Deputy, Issue, OutboxState, StaffAccount, StaffRole, Transfer, db
from tests.factories import (
    bind_deputy_user,
    count_queries,
    create_categories,
    create_deputy,
    create_issue,
    create_region_tree,
    create_staff,
    create_station,
    wx_login,
)
from tests.job_helpers import act, assert_within_wechat_limits, at, bj, planned, submit

LONG_NAME = "递铺街道古城社区人大代表联络站（中心联络站）"


@pytest.fixture
def world(app, client):
    """Monday 9 November 2026. Station A (township) has 张, 李 (bound to WeChat), 王 (never bound),
    钱 (bound, retired) and a manager; B (community) has 孙 and no manager — the county admin
    answers for it; C (another county) has 周 and a manager. A province admin sees everything.

    Issues submitted Monday 10:00 (accept due Wednesday 11th): i1 at A, i2 at A addressed to 李,
    i3 at A accepted at once by 张 (reply due the 18th), i4 at B, i6 at A addressed to 王.
    """
    at(bj(2026, 11, 9, 10))
    with app.app_context():
        create_categories()
        regions = create_region_tree()
        a = create_station(regions["township"], name=LONG_NAME, scene="esc-a")
        b = create_station(regions["community"], name="古城社区联络站", scene="esc-b")
        c = create_station(regions["other_county"], name="德清联络站", scene="esc-c")
        deputies = {"zhang": create_deputy(name="张代表", stations=[a]), "li": create_deputy(name="李代表", stations=[a]),
                    "wang": create_deputy(name="王代表", stations=[a]), "qian": create_deputy(name="钱代表", stations=[a]),
                    "sun": create_deputy(name="孙代表", stations=[b]), "zhou": create_deputy(name="周代表", stations=[c])}
        staff = {"a-manager": create_staff(username="esc-a-manager", stations=[a]),
                 "c-manager": create_staff(username="esc-c-manager", stations=[c]),
                 "county": create_staff(username="esc-county", role=StaffRole.region_admin, region=regions["county"]),
                 "province": create_staff(username="esc-province", role=StaffRole.region_admin,
                                          region=regions["province"])}
        ids = {name: d.id for name, d in deputies.items()}
        users = {name: s.user_id for name, s in staff.items()}
    tokens = {name: bind_deputy_user(client, app, ids[name], f"esc-{name}")
              for name in ("zhang", "li", "qian", "sun", "zhou")}
    tokens["resident"] = wx_login(client, "esc-resident")["token"]
    with app.app_context():
        db.session.get(Deputy, ids["qian"]).retired_at = clock.now()
        users.update({name: db.session.get(Deputy, ids[name]).user_id for name in ids})
        db.session.commit()
    nos = {
        "i1": submit(client, tokens["resident"], "esc-a"),
        "i2": submit(client, tokens["resident"], "esc-a", deputy_id=ids["li"]),
        "i3": submit(client, tokens["resident"], "esc-a"),
        "i4": submit(client, tokens["resident"], "esc-b"),
        "i6": submit(client, tokens["resident"], "esc-a", deputy_id=ids["wang"]),
    }
    act(client, tokens["zhang"], nos["i3"], "accept")
    with app.app_context():
        issue_ids = {name: db.session.scalar(db.select(Issue.id).filter_by(no=no)) for name, no in nos.items()}
    return {"tokens": tokens, "users": users, "nos": nos, "issues": issue_ids, "deputies": ids}


def run(app, moment):
    with app.app_context():
        return run_escalation(at(moment))


def by_cause(app, template="issue_escalation") -> dict[str, set[int]]:
    """Recipients (user ids) of each cause planned so far."""
    with app.app_context():
        found: dict[str, set[int]] = {}
        for row in planned(template):
            found.setdefault(row.cause, set()).add(row.recipient_id)
        return found


def test_yellow_reminds_the_deputies_who_must_act_once(app, client, world):
    # Tuesday: i1, i2, i4, i6 have one working day left; C's issue, submitted today, is green.
    at(bj(2026, 11, 10, 9))
    submit(client, world["tokens"]["resident"], "esc-c")
    summary = run(app, bj(2026, 11, 10, 9, 30))
    assert summary == {"yellow": 4, "red": 0, "planned": 5, "digests": 3}
    u, i = world["users"], world["issues"]
    assert by_cause(app) == {
        # Nobody addressed: every bound, serving deputy of A — not 王 (unbound), not 钱 (retired).
        f"issue:{i['i1']}:accept:2026-11-11:yellow:deputy": {u["zhang"], u["li"]},
        f"issue:{i['i2']}:accept:2026-11-11:yellow:deputy": {u["li"]},
        f"issue:{i['i4']}:accept:2026-11-11:yellow:deputy": {u["sun"]},
        # Addressed to 王, who cannot be reached: the manager hears of it before it turns red.
        f"issue:{i['i6']}:accept:2026-11-11:yellow:manager": {u["a-manager"]},
    }
    with app.app_context():
        rows = planned("issue_escalation")
        for row in rows:
            assert_within_wechat_limits(row)
            assert row.state == OutboxState.pending and row.not_before == clock.now()
            # Stale once the due day is over: it is red then, and a red reminder says so.
            assert row.expires_at == bj(2026, 11, 12, 0)
        li = next(r for r in rows if r.recipient_id == u["li"] and f":{i['i2']}:" in r.cause)
        assert li.openid == "fake-esc-li"
        assert li.page == f"pages/deputy/issue?no={world['nos']['i2']}"
        assert li.data == {
            "character_string1": {"value": world["nos"]["i2"]},
            "thing2": {"value": "交通出行：小区门口的路灯坏了三个月，晚…"},
            "date3": {"value": "2026年11月11日"},
            "thing4": {"value": "即将到期，请尽快办理"},
        }
        manager = next(r for r in rows if r.recipient_id == u["a-manager"])
        assert manager.openid is None  # staff have no openid yet: the sender marks it skipped
        assert manager.page == f"pages/manage/issue?no={world['nos']['i6']}"
    # Every hour again: nothing new.
    assert run(app, bj(2026, 11, 10, 15)) == {"yellow": 4, "red": 0, "planned": 0, "digests": 0}
    # The due day: still yellow, nothing again — only C's issue, due tomorrow, has turned yellow.
    assert run(app, bj(2026, 11, 11, 10)) == {"yellow": 5, "red": 0, "planned": 1, "digests": 4}


def test_red_reminds_the_deputy_again_and_the_managers(app, client, world):
    at(bj(2026, 11, 10, 9))
    submit(client, world["tokens"]["resident"], "esc-c")  # accept due Thursday 12th
    run(app, bj(2026, 11, 10, 9, 30))
    summary = run(app, bj(2026, 11, 12, 10))
    assert summary == {"yellow": 1, "red": 4, "planned": 9, "digests": 4}
    u, i = world["users"], world["issues"]
    causes = by_cause(app)
    assert {c: r for c, r in causes.items() if c.endswith(("red:deputy", "red:manager"))} == {
        f"issue:{i['i1']}:accept:2026-11-11:red:deputy": {u["zhang"], u["li"]},
        f"issue:{i['i1']}:accept:2026-11-11:red:manager": {u["a-manager"]},
        f"issue:{i['i2']}:accept:2026-11-11:red:deputy": {u["li"]},
        f"issue:{i['i2']}:accept:2026-11-11:red:manager": {u["a-manager"]},
        f"issue:{i['i4']}:accept:2026-11-11:red:deputy": {u["sun"]},
        # B has no manager: the admins of the nearest region that has any (the county), not
        # the province's.
        f"issue:{i['i4']}:accept:2026-11-11:red:manager": {u["county"]},
        f"issue:{i['i6']}:accept:2026-11-11:red:manager": {u["a-manager"]},
    }
    # C's issue is due today: yellow, to 周.
    yellow_c = [c for c in causes if c.endswith(":2026-11-12:yellow:deputy")]
    assert len(yellow_c) == 1 and causes[yellow_c[0]] == {u["zhou"]}
    with app.app_context():
        rows = [r for r in planned("issue_escalation") if r.cause.endswith(":red:manager")]
        assert {r.data["thing4"]["value"] for r in rows} == {"本站意见建议已超期"}
        assert all(r.expires_at is None for r in rows)
        deputy_red = next(r for r in planned("issue_escalation") if r.cause.endswith(":red:deputy"))
        assert deputy_red.data["thing4"] == {"value": "已超期，请立即办理"}
    assert run(app, bj(2026, 11, 12, 16))["planned"] == 0


def test_digest_from_nine_to_staff_with_yellow_or_red_in_scope(app, client, world):
    at(bj(2026, 11, 10, 2))
    submit(client, world["tokens"]["resident"], "esc-c")
    night = run(app, bj(2026, 11, 10, 2, 30))
    assert night["planned"] == 5 and night["digests"] == 0
    with app.app_context():
        # Planned in the night, sent from 08:00.
        assert {r.not_before for r in planned("issue_escalation")} == {bj(2026, 11, 10, 8)}
    assert run(app, bj(2026, 11, 10, 8, 59))["digests"] == 0
    assert run(app, bj(2026, 11, 10, 9, 0)) == {"yellow": 4, "red": 0, "planned": 0, "digests": 3}
    assert run(app, bj(2026, 11, 10, 18, 0))["digests"] == 0
    u = world["users"]
    with app.app_context():
        digests = {r.recipient_id: r for r in planned("manager_digest")}
        # C's manager has only a green issue: no digest.
        assert set(digests) == {u["a-manager"], u["county"], u["province"]}
        assert {r.cause for r in digests.values()} == {"digest:2026-11-10"}
        for row in digests.values():
            assert_within_wechat_limits(row)
            assert row.page == "pages/manage/queue"
        assert digests[u["a-manager"]].data == {
            "thing1": {"value": LONG_NAME[:19] + "…"}, "number2": {"value": "4"}, "number3": {"value": "0"},
            "date4": {"value": "2026年11月10日"}}
        assert digests[u["county"]].data["thing1"] == {"value": "安吉县"}
        assert digests[u["county"]].data["number2"] == {"value": "5"}  # A's four and B's one
        assert digests[u["province"]].data["number2"] == {"value": "6"}  # and C's
    # Thursday: four overdue; C's manager now has a yellow issue.
    run(app, bj(2026, 11, 12, 9, 5))
    with app.app_context():
        today = {r.recipient_id: r for r in planned("manager_digest") if r.cause == "digest:2026-11-12"}
        assert set(today) == {u["a-manager"], u["county"], u["province"], u["c-manager"]}
        assert today[u["a-manager"]].data["number3"] == {"value": "3"}  # i1, i2, i6
        assert today[u["county"]].data["number3"] == {"value": "4"}  # and i4 at B
        assert today[u["c-manager"]].data["thing1"] == {"value": "德清联络站"}
        assert today[u["c-manager"]].data["number3"] == {"value": "0"}


def transfer_ids(app, issue_id: int) -> list[int]:
    with app.app_context():
        return list(db.session.scalars(db.select(Transfer.id).filter_by(issue_id=issue_id).order_by(Transfer.id)))


def test_a_new_deadline_reminds_anew(app, client, world):
    at(bj(2026, 11, 12, 10))
    no = world["nos"]["i3"]
    zhang = world["tokens"]["zhang"]
    act(client, zhang, no, "transfer", {"department": "县住建局", "deadline": "2026-11-13"})
    first_transfer = transfer_ids(app, world["issues"]["i3"])[0]
    run(app, bj(2026, 11, 12, 10, 30))
    i3 = world["issues"]["i3"]
    assert by_cause(app)[f"issue:{i3}:transfer:{first_transfer}:2026-11-13:yellow:deputy"] == {world["users"]["zhang"]}
    assert run(app, bj(2026, 11, 12, 11))["planned"] == 0
    # The department answers; the deputy hands it on again, with the same date: a new deadline.
    act(client, zhang, no, "department-result", {"content": "住建局已安排检修。"})
    act(client, zhang, no, "transfer", {"department": "县交通运输局", "deadline": "2026-11-13"})
    second_transfer = transfer_ids(app, world["issues"]["i3"])[1]
    assert run(app, bj(2026, 11, 12, 11, 30))["planned"] == 1
    assert f"issue:{i3}:transfer:{second_transfer}:2026-11-13:yellow:deputy" in by_cause(app)


def test_answered_issues_are_left_alone(app, client, world):
    tokens, nos = world["tokens"], world["nos"]
    at(bj(2026, 11, 10, 9))
    act(client, tokens["zhang"], nos["i1"], "accept")
    act(client, tokens["zhang"], nos["i1"], "reply", {"content": "已联系物业。"})
    act(client, tokens["li"], nos["i2"], "reject", {"reason": "不属于人大代表职责范围"})
    summary = run(app, bj(2026, 11, 10, 9, 30))
    assert summary["yellow"] == 2  # i4 and i6 only
    i = world["issues"]
    assert not [c for c in by_cause(app) if f":{i['i1']}:" in c or f":{i['i2']}:" in c]


def test_queries_do_not_grow_with_the_issues(app, client, world):
    """A county has thousands of open issues: the job reads them in a fixed number of queries."""
    def one_run(moment):
        with app.app_context():
            return count_queries(app, lambda: run_escalation(at(moment)))

    def more_stations(numbers):
        with app.app_context():
            county = db.session.scalar(db.select(StaffAccount).filter_by(username="esc-county")).region
            for n in numbers:
                station = create_station(county, scene=f"esc-more{n}")
                create_deputy(stations=[station])
                create_staff(username=f"esc-more-manager{n}", stations=[station])
                for _ in range(3):  # due tomorrow, today (yellow) or yesterday (red)
                    create_issue(station, accept_due_on=date(2026, 11, 13) - timedelta(days=n % 3),
                                 created_at=bj(2026, 11, 9))

    more_stations(range(3))
    first, queries = one_run(bj(2026, 11, 12, 10))
    more_stations(range(3, 15))
    second, more_queries = one_run(bj(2026, 11, 12, 10, 30))
    assert second["yellow"] + second["red"] == first["yellow"] + first["red"] + 36
    assert second["planned"] == 36 and second["digests"] == 12  # a manager each, reminded and told
    # The same statements whatever the number of issues (an INSERT per shape of row at most:
    # the first run planned deputies' and managers' reminders, the second managers' only).
    assert more_queries <= queries
