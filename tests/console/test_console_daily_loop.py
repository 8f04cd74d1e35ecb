"""A station manager's daily loop in the console (issue 19): 催办 (urge) through the outbox,
recorded in the timeline and refused when repeated too soon; bulk assignment, all or nothing;
the queue's filters kept when coming back from an issue or after a move."""
from __future__ import annotations

from datetime import timedelta

import re

import pytest

from backend import clock
from backend.services.issues import issue_flow
from models import Deputy, Issue, IssueEvent, OutboxMessage, User, db
from tests.console.test_console_http import signed_in, text_of
from tests.console_scene import TODAY, bj, build_scene


@pytest.fixture
def scene(app):
    return build_scene(app)


def bind(app, deputy_id: int, openid: str) -> int:
    with app.app_context():
        user = User(openid=openid)
        db.session.add(user)
        db.session.flush()
        db.session.get(Deputy, deputy_id).user_id = user.id
        db.session.commit()
        return user.id


def urge(client, token, no):
    response = client.post(f"/console/issues/{no}/urge", data={"csrf_token": token})
    assert response.status_code == 302
    return text_of(client.get(response.headers["Location"]))


def test_urging_reminds_the_assigned_deputy_once_in_a_while(app, client, scene):
    user_id = bind(app, scene.deputies["zhang"], "o-zhang")
    token = signed_in(client, "dipu-manager")
    no = scene.issues["transferred-oct"]  # red, held by 张建国
    assert 'data-verb="urge"' in client.get(f"/console/issues/{no}").get_data(as_text=True)
    page = urge(client, token, no)
    assert "已催办" in page and "催办 站长 张建国" in page  # in the timeline, naming the deputy
    assert "催办未成功" in urge(client, token, no) and "小时内不再重复催办" in urge(client, token, no)
    with app.app_context():
        issue = db.session.scalar(db.select(Issue).filter_by(no=no))
        messages = db.session.scalars(db.select(OutboxMessage).filter_by(template="issue_escalation")).all()
        assert [(m.recipient_id, m.openid, m.data["thing4"]["value"]) for m in messages] == [
            (user_id, "o-zhang", "站长催办，请尽快办理")]
        assert messages[0].data["character_string1"]["value"] == no
        urged = [e for e in issue.events if e.kind == "urged"]
        assert len(urged) == 1 and messages[0].cause == f"issue:{issue.id}:urged:{urged[0].id}"
    clock.freeze(bj(TODAY, 15) + issue_flow.URGE_INTERVAL + timedelta(minutes=1))
    assert "已催办" in urge(client, token, no)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(OutboxMessage.id)).filter_by(
            template="issue_escalation")) == 2


def test_urging_needs_a_deputy_who_can_hear_it(app, client, scene):
    token = signed_in(client, "dipu-manager")
    no = scene.issues["transferred-oct"]
    assert "尚未绑定微信" in urge(client, token, no)  # 张建国 has no WeChat account: told, nothing kept
    unassigned = scene.issues["overdue-accept"]
    assert 'data-verb="urge"' not in client.get(f"/console/issues/{unassigned}").get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(IssueEvent.id)).filter_by(kind="urged")) == 0
        assert db.session.scalar(db.select(db.func.count(OutboxMessage.id))) == 0


def test_bulk_assignment_is_all_or_nothing(app, client, scene):
    token = signed_in(client, "anji-admin")
    a_issues = [scene.issues["overdue-accept"], scene.issues["submitted-today"]]
    b_issue = scene.issues["replied-oct"]  # 古城社区: 王芳 is not one of its deputies
    closed = scene.issues["closed-aug"]
    response = client.post("/console/issues/assign", data={
        "csrf_token": token, "deputy_id": str(scene.deputies["wang"]), "no": [*a_issues, b_issue, closed]})
    page = text_of(client.get(response.headers["Location"]))
    assert "批量分派未成功" in page and "4 件，其中 2 件不能分派" in page
    assert f"{b_issue}：该代表不属于本联络站" in page and f"{closed}：已结案或不予受理，不能分派" in page
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(IssueEvent.id)).filter_by(kind="assigned")) == 0
        assert not db.session.scalar(db.select(Issue).filter_by(no=a_issues[0])).assigned_deputy_id
    response = client.post("/console/issues/assign", data={
        "csrf_token": token, "deputy_id": str(scene.deputies["wang"]), "no": [*a_issues, a_issues[0]]})
    assert "已将 2 件意见建议分派给王芳" in text_of(client.get(response.headers["Location"]))  # ticked twice: once
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(IssueEvent.id)).filter_by(kind="assigned")) == 2
        for no in a_issues:
            issue = db.session.scalar(db.select(Issue).filter_by(no=no))
            assert issue.assigned_deputy_id == scene.deputies["wang"] and issue.events[-1].kind == "assigned"


def test_bulk_assignment_refuses_nothing_chosen_and_strangers_issues(app, client, scene):
    token = signed_in(client, "dipu-manager")
    response = client.post("/console/issues/assign", data={"csrf_token": token, "deputy_id": str(scene.deputies["wang"])})
    assert "请先勾选" in text_of(client.get(response.headers["Location"]))
    response = client.post("/console/issues/assign", data={
        "csrf_token": token, "deputy_id": str(scene.deputies["wang"]),
        "no": [scene.issues["overdue-accept"], scene.issues["other-county"]]})
    assert response.status_code == 404  # not their station's: as for one issue
    response = client.post("/console/issues/assign", data={
        "csrf_token": token, "deputy_id": "abc", "no": [scene.issues["overdue-accept"]]})
    assert "批量分派未成功" in text_of(client.get(response.headers["Location"]))
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(IssueEvent.id)).filter_by(kind="assigned")) == 0


def test_the_queue_keeps_its_filters_back_from_an_issue_and_after_a_move(client, scene):
    token = signed_in(client, "anji-admin")
    client.get("/console/issues?clock=red&station=&q=")
    page = client.get(f"/console/issues/{scene.issues['overdue-accept']}").get_data(as_text=True)
    assert 'href="/console/issues?clock=red" data-back' in page
    response = client.post("/console/issues/assign", data={
        "csrf_token": token, "deputy_id": str(scene.deputies["wang"]), "no": [scene.issues["overdue-accept"]]})
    assert response.headers["Location"] == "/console/issues?clock=red"


def test_the_to_do_page_of_a_station_manager(app, client, scene):
    from datetime import date

    from models import Station
    from tests.factories import create_check_in, create_duty

    with app.app_context():
        a, b = db.session.get(Station, scene.stations["a"]), db.session.get(Station, scene.stations["b"])
        zhang, wang = db.session.get(Deputy, scene.deputies["zhang"]), db.session.get(Deputy, scene.deputies["wang"])
        create_check_in(a, zhang, date(2026, 11, 18), is_far=True)
        create_check_in(a, wang, date(2026, 11, 1), is_far=True)  # too long ago
        create_check_in(b, db.session.get(Deputy, scene.deputies["li"]), date(2026, 11, 19), is_far=True)  # not theirs
        create_duty(b, db.session.get(Deputy, scene.deputies["li"]), date(2026, 11, 26))
    signed_in(client, "dipu-manager")
    page = client.get("/console/todo")
    text = text_of(page)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    counts = dict(re.findall(r'data-count="(\w+)">(\d+)<', html))
    assert counts == {"red": "2", "yellow": "0", "reviews": "1", "far": "1", "days": "1"}
    assert re.findall(r'data-urge="([\d-]+)"', html) == [scene.issues["transferred-oct"]]  # held by a deputy
    assert scene.issues["overdue-accept"] in text and scene.issues["pending"] in text
    assert "张建国" in text and "2026-11-26 递铺街道人大代表联络站" in text
    # 催办 from the list comes back to it.
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    bind(app, scene.deputies["zhang"], "o-zhang")
    response = client.post(f"/console/issues/{scene.issues['transferred-oct']}/urge",
                           data={"csrf_token": token, "next": "/console/todo"})
    assert response.headers["Location"] == "/console/todo"
    assert "已催办" in text_of(client.get("/console/todo"))


def test_a_station_manager_lands_on_the_to_do_page(client, scene):
    from tests.console.test_console_http import sign_in

    assert sign_in(client, "dipu-manager").headers["Location"] == "/console/todo"
    assert sign_in(client, "anji-admin").headers["Location"] == "/console/"


# --- the dashboard's figures add up on screen ---------------------------------------------------

def test_the_dashboard_shows_the_terms_of_each_rate(client, scene):
    import json

    from tests.factories import staff_login
    from tests.factories import auth as bearer

    signed_in(client, "anji-admin")
    html = client.get("/console/?from=2026-08-01&to=2026-11-20").get_data(as_text=True)
    stats = client.get("/api/v1/manage/stats?from=2026-08-01&to=2026-11-20",
                       headers=bearer(staff_login(client, "anji-admin")["token"])).get_json()["stats"]
    figure = dict(re.findall(r'data-figure="(\w+)"[^>]*>([^<]+)<', html))
    terms = {name: re.sub(r"\s+", " ", text) for name, text in re.findall(r'data-terms="(\w+)">([^<]+)<', html)}
    assert figure["rejected"] == "1"  # rejected-oct: why the rate is not resolved ÷ received
    resolved, received, rejected, pending = (int(n) for n in re.findall(
        r"\d+", terms["resolution_rate"].replace("办结", "").replace("收集", "")))
    assert (received, resolved) == (stats["received"], stats["resolved"])
    assert figure["resolution_rate"] == f"{resolved / (received - rejected - pending) * 100:.1f}%"
    assert terms["resolution_rate"] == f"办结 {resolved} ÷（收集 {received} − 不予受理 {rejected} − 待审核 {pending}）"
    assert re.fullmatch(r"满意和基本满意 \d+ ÷ 评价 \d+", terms["satisfaction_rate"])
    assert re.fullmatch(r"到岗 \d+ ÷ 排班 \d+ 天次", terms["attendance_rate"])
    assert "四舍五入保留一位小数" in html
    # The ranking is the roll-ups' (today's submission is not in it): it says so, since its
    # stations' 收集 add up to less than the headline's.
    ranked = sum(int(n) for n in re.findall(r"<tr><td>[^<]+</td><td>(\d+)</td>", html.split("联络站排行 <small")[1]
                                                                            .split("</table>")[0]))
    assert ranked == received - 1 and "今天收到的尚未计入" in html
    # 超期 is the live chart's red, and its link lists exactly those.
    clocks = json.loads(re.search(r'id="chart-data">([^<]+)<', html).group(1))["clocks"]
    assert int(figure["overdue_now"]) == clocks["red"] == 2 and figure["overdue"] == str(stats["overdue"])
    link = re.search(r'href="([^"]+)" data-link="overdue"', html).group(1).replace("&amp;", "&")
    assert len(re.findall(r'<tr data-no="', client.get(link).get_data(as_text=True))) == clocks["red"]


def test_the_dashboards_links_keep_its_filters(client, scene):
    signed_in(client, "anji-admin")
    station = scene.stations["b"]
    html = client.get(f"/console/?from=2026-09-01&to=2026-11-20&station={station}").get_data(as_text=True)
    links = {name: href.replace("&amp;", "&") for href, name in re.findall(r'href="([^"]+)" data-link="(\w+)"', html)}
    assert links["overdue"] == f"/console/issues?clock=red&station={station}"
    assert links["received"] == f"/console/issues?station={station}&from=2026-09-01&to=2026-11-20"
    assert f'href="/console/issues?clock=yellow&amp;station={station}"' in html
    received = re.search(r'data-figure="received">(\d+)<', html).group(1)
    assert len(re.findall(r'<tr data-no="', client.get(links["received"]).get_data(as_text=True))) == int(received)


def test_the_dashboards_links_keep_its_region(client, scene):
    """A region chosen on the dashboard narrows the queue its links open to the same stations,
    so the number clicked is the number of issues listed."""
    signed_in(client, "anji-admin")
    community = "330523001001"  # 古城社区: station b only, not the township's station a
    html = client.get(f"/console/?from=2026-01-01&to=2026-11-20&region={community}").get_data(as_text=True)
    links = {name: href.replace("&amp;", "&") for href, name in re.findall(r'href="([^"]+)" data-link="(\w+)"', html)}
    assert links["received"] == f"/console/issues?region={community}&from=2026-01-01&to=2026-11-20"
    assert links["overdue"] == f"/console/issues?clock=red&region={community}"
    received = int(re.search(r'data-figure="received">(\d+)<', html).group(1))
    listed = client.get(links["received"]).get_data(as_text=True)
    assert len(re.findall(r'<tr data-no="', listed)) == received
    assert received < int(re.search(r'data-figure="received">(\d+)<', client.get(
        "/console/?from=2026-01-01&to=2026-11-20").get_data(as_text=True)).group(1))
    # The queue's own filter form offers the dashboard's regions and keeps the chosen one.
    township = "330523001000"
    assert f'<option value="{township}" selected>' in client.get(f"/console/issues?region={township}").get_data(
        as_text=True)


def test_percentages_are_rounded_half_up():
    from backend.console.labels import percent

    assert (percent(0.0285), percent(0.7778), percent(None), percent(1.0)) == ("2.9%", "77.8%", "—", "100.0%")
