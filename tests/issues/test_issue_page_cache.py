"""The identity and issue-list caches in Redis: a repeated inbox or list of one's own issues
costs no query, and every change that matters — to the issues, the names shown, the deputy's
roles or stations — shows at once."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import update

from backend import create_app
from backend.auth import issue_token
from backend.caches import tagged_cache
from models import Category, Deputy, Issue, IssueStatus, Station, StationMembership, User, db
from tests.factories import auth, count_queries, redis_commands
from tests.issues.test_issue_lifecycle import act, submit, world  # noqa: F401  (fixture)

pytestmark = pytest.mark.redis


def page(client, world, path, who, **query):
    response = client.get(path, query_string=query, headers=auth(world["tokens"][who]))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def inbox(client, world, who="deputy", **query):
    return page(client, world, "/api/v1/deputy/inbox", who, **query)


def mine(client, world, who="resident", **query):
    return page(client, world, "/api/v1/issues/mine", who, **query)


@pytest.mark.parametrize("path, who", [("/api/v1/deputy/inbox", "deputy"), ("/api/v1/issues/mine", "resident")])
def test_a_repeated_page_runs_no_query(client, app, world, path, who):
    submit(client, world)
    first, cold = count_queries(app, lambda: page(client, world, path, who))
    second, warm = count_queries(app, lambda: page(client, world, path, who))
    assert cold > 0 and warm == 0
    assert first == second and first["total"] == 1


def test_each_step_of_my_issue_shows_in_my_list_at_once(client, world):
    assert mine(client, world)["total"] == 0
    no = submit(client, world).get_json()["issue"]["no"]
    assert [i["status"] for i in mine(client, world)["items"]] == ["submitted"]
    for verb, body, status in [("accept", None, "accepted"), ("reply", {"content": "已联系物业。"}, "replied"),
                               ("resolve", {"summary": "路灯已修复。"}, "resolved")]:
        assert act(client, world, "deputy", no, verb, body).status_code == 200
        assert [i["status"] for i in mine(client, world)["items"]] == [status]
    assert mine(client, world)["items"][0]["can_rate"] is True
    rated = client.post(f"/api/v1/issues/{no}/rating", json={"score": "satisfied"},
                        headers=auth(world["tokens"]["resident"]))
    assert rated.status_code == 200
    assert [(i["status"], i["can_rate"]) for i in mine(client, world)["items"]] == [("closed", False)]
    # Pages are the resident's own: another resident's list is not theirs.
    assert mine(client, world, "stranger")["total"] == 0


def test_another_residents_issue_leaves_my_cached_list_alone(client, app, world):
    submit(client, world)
    mine(client, world)
    stranger = client.post("/api/v1/issues", headers=auth(world["tokens"]["stranger"]), json={
        "scene": "issue01", "category": "交通出行", "content": "公交站的雨棚漏雨，请尽快维修。"})
    assert stranger.status_code == 201
    _, queries = count_queries(app, lambda: mine(client, world))
    assert queries == 0
    assert mine(client, world, "stranger")["total"] == 1


def test_a_renamed_station_shows_in_my_cached_list(client, app, world):
    submit(client, world)
    assert mine(client, world)["items"][0]["station"]["name"] != "改名后的联络站"
    with app.app_context():
        db.session.get(Station, world["ids"]["station"]).name = "改名后的联络站"
        db.session.commit()
    assert mine(client, world)["items"][0]["station"]["name"] == "改名后的联络站"


def test_a_repeated_inbox_is_one_redis_round_trip(client, app, world):
    submit(client, world)
    inbox(client, world)
    page, commands = redis_commands(app, lambda: inbox(client, world))
    assert page["total"] == 1
    assert commands == ["EVAL"] or commands == ["EVALSHA"]


def test_an_unusual_spelling_of_the_page_is_answered_the_same(client, world):
    submit(client, world)
    plain = inbox(client, world, page=1)
    assert inbox(client, world, page="01") == plain
    assert inbox(client, world, page="01") == plain


def test_a_new_issue_and_each_move_show_at_once(client, world):
    assert inbox(client, world)["total"] == 0
    assert inbox(client, world, "colleague")["total"] == 0
    no = submit(client, world).get_json()["issue"]["no"]
    assert [i["status"] for i in inbox(client, world)["items"]] == ["submitted"]
    assert inbox(client, world, status="submitted")["total"] == 1
    act(client, world, "deputy", no, "accept")
    # Another deputy of the station sees the move made by the first.
    assert [i["status"] for i in inbox(client, world, "colleague")["items"]] == ["accepted"]
    assert inbox(client, world, status="submitted")["total"] == 0


def test_taking_an_issue_away_from_its_deputy_shows_in_their_inbox(client, app, world):
    """A deputy who left the station still sees what is assigned to them — until staff hand it on."""
    no = submit(client, world).get_json()["issue"]["no"]
    act(client, world, "deputy", no, "accept")
    with app.app_context():
        db.session.execute(update(StationMembership).where(StationMembership.deputy_id == world["ids"]["deputy"])
                           .values(ended_on=date(2026, 1, 1)))
        db.session.commit()
    assert [i["no"] for i in inbox(client, world)["items"]] == [no]
    moved = act(client, world, "manager", no, "assign", {"deputy_id": world["ids"]["colleague"]}, prefix="manage")
    assert moved.status_code == 200
    assert inbox(client, world)["total"] == 0
    assert [i["assigned_deputy"]["name"] for i in inbox(client, world, "colleague")["items"]] == ["李代表"]


def test_a_renamed_category_shows_in_cached_pages(client, app, world):
    submit(client, world)
    assert inbox(client, world)["items"][0]["category"] == "交通出行"
    with app.app_context():
        db.session.scalar(db.select(Category).filter_by(name="交通出行")).name = "道路交通"
        db.session.commit()
    assert inbox(client, world)["items"][0]["category"] == "道路交通"


def test_a_bulk_update_of_issues_that_names_none_retires_every_page(client, app, world):
    submit(client, world)
    inbox(client, world)
    with app.app_context():
        db.session.execute(update(Issue).values(status=IssueStatus.closed))
        db.session.commit()
    assert inbox(client, world)["items"][0]["status"] == "closed"


def test_a_retired_deputy_loses_the_inbox_at_once(client, app, world):
    inbox(client, world)
    with app.app_context():
        db.session.get(Deputy, world["ids"]["deputy"]).retired_at = db.func.now()
        db.session.commit()
    response = client.get("/api/v1/deputy/inbox", headers=auth(world["tokens"]["deputy"]))
    assert response.status_code == 403


def test_a_revoked_token_is_refused_at_once(client, app, world):
    inbox(client, world)
    with app.app_context():
        deputy = db.session.get(Deputy, world["ids"]["deputy"])
        deputy.user.token_version += 1
        db.session.commit()
    response = client.get("/api/v1/deputy/inbox", headers=auth(world["tokens"]["deputy"]))
    assert response.status_code == 401


def test_a_membership_ended_by_bulk_update_takes_the_station_away(client, app, world):
    submit(client, world)
    assert inbox(client, world)["total"] == 1
    with app.app_context():
        db.session.execute(update(StationMembership).where(StationMembership.deputy_id == world["ids"]["deputy"])
                           .values(ended_on=date(2026, 1, 1)))
        db.session.commit()
    assert inbox(client, world)["total"] == 0


def test_a_page_computed_before_a_change_is_never_served_after_it(app, world):
    """The race a delete-on-change cache loses: read, change and bump, then store the old page."""
    with app.app_context():
        found = tagged_cache.lookup(["issues:gen:station:1"], "probe")
        assert found.value is None
        tagged_cache.bump(["issues:gen:station:1"])
        tagged_cache.store(found, "probe", b"old page", 60)
        assert tagged_cache.lookup(["issues:gen:station:1"], "probe").value is None
        fresh = tagged_cache.lookup(["issues:gen:station:1"], "probe")
        tagged_cache.store(fresh, "probe", b"new page", 60)
        assert tagged_cache.lookup(["issues:gen:station:1"], "probe").value == b"new page"


def test_without_redis_the_inbox_still_answers(app, world, database_url, fake_wechat):
    down = create_app(TESTING=True, SECRET_KEY="test-secret", SQLALCHEMY_DATABASE_URI=database_url,
                      REDIS_URL="redis://127.0.0.1:1/0", WECHAT_FAKE=True, WECHAT_API_BASE=fake_wechat.base_url)
    with down.app_context():
        user = db.session.get(Deputy, world["ids"]["deputy"]).user
        token, _ = issue_token(db.session.get(User, user.id))
    response = down.test_client().get("/api/v1/deputy/inbox", headers=auth(token))
    assert response.status_code == 200 and response.get_json()["total"] == 0
