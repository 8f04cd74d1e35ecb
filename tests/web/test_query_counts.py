"""SQL statements per request on the hot paths: a fixed budget each, and the same count whether a
list holds a few rows or many — an N+1 (a query per row) fails here before it reaches a province.

Counted without Redis (the caches would hide the database's work); the cached paths' own tests
count their hits.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from backend import clock
from models import DeputyLevel, IssueStatus, RatingScore, StaffRole, User, db
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

S = IssueStatus


@pytest.fixture
def scene(app, client):
    if app.extensions.get("redis") is not None:
        app.extensions["redis_saved"] = app.extensions.pop("redis")  # count the database's work
    clock.freeze(datetime(2026, 11, 18, 10, 0, tzinfo=clock.BEIJING))
    with app.app_context():
        create_categories()
        regions = create_region_tree()
        station = create_station(regions["township"], scene="count01")
        deputy = create_deputy(name="张代表", levels=[DeputyLevel.county, DeputyLevel.township], stations=[station])
        create_staff(username="manager", stations=[station])
        create_staff(username="admin", role=StaffRole.region_admin, region=regions["county"])
        ids = {"station": station.id, "deputy": deputy.id, "township": regions["township"].id}
    tokens = {"deputy": bind_deputy_user(client, app, ids["deputy"], "count-deputy"),
              "resident": wx_login(client, "count-resident")["token"],
              "manager": staff_login(client, "manager")["token"], "admin": staff_login(client, "admin")["token"]}
    yield {"ids": ids, "tokens": tokens}
    if "redis_saved" in app.extensions:
        app.extensions["redis"] = app.extensions.pop("redis_saved")


def grow(app, scene, n: int) -> None:
    """`n` more of everything the lists show: deputies, stations, issues in every state with
    transfers and ratings, the resident's and the deputy's among them."""
    from models import Deputy, Region, Station

    with app.app_context():
        station = db.session.get(Station, scene["ids"]["station"])
        deputy = db.session.get(Deputy, scene["ids"]["deputy"])
        township = db.session.get(Region, scene["ids"]["township"])
        resident = db.session.scalar(select(User).filter_by(openid="fake-count-resident"))
        for k in range(n):
            other = create_deputy(name=f"代表{k}", levels=[DeputyLevel.township], stations=[station])
            create_station(township, lat=30.63 + k * 0.001)
            when = clock.now() - timedelta(days=k % 20, hours=k)
            for status, extra in ((S.submitted, {}), (S.accepted, {"assigned_deputy": deputy}),
                                  (S.transferred, {"assigned_deputy": other,
                                                   "transfers": [("县住建局", when.date() + timedelta(days=9))]}),
                                  (S.closed, {"assigned_deputy": deputy, "ratings": [RatingScore.satisfied]})):
                create_issue(station, status=status, created_at=when, submitter=resident,
                             accept_due_on=when.date() + timedelta(days=2),
                             reply_due_on=when.date() + timedelta(days=7), addressed_deputy=other, **extra)


PATHS = [
    # (name, who, path, budget): budgets as measured when written, with a little room.
    ("scan", None, "/api/v1/stations/scan/count01", 10),
    ("nearby", None, "/api/v1/stations/nearby?lat=30.63&lng=119.68&limit=3", 6),
    ("my issues", "resident", "/api/v1/issues/mine?per_page=100", 8),
    ("inbox", "deputy", "/api/v1/deputy/inbox?per_page=100", 10),
    ("queue", "manager", "/api/v1/manage/issues?per_page=100", 12),
    ("stats", "admin", "/api/v1/manage/stats", 16),
    ("ledger", "manager", "/api/v1/manage/issues.xlsx", 14),
]


@pytest.mark.parametrize("name, who, path, budget", PATHS, ids=[p[0] for p in PATHS])
def test_a_hot_path_runs_the_same_statements_for_few_rows_and_many(app, client, scene, name, who, path, budget):
    headers = auth(scene["tokens"][who]) if who else {}

    def get():
        response = client.get(path, headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        return response

    grow(app, scene, 2)
    get()  # the first request warms what any first request would (the identity, the calendar)
    _, few = count_queries(app, get)
    grow(app, scene, 10)
    _, many = count_queries(app, get)
    assert few == many, f"{name}: {few} statements with few rows, {many} with many (a query per row?)"
    assert many <= budget, f"{name}: {many} statements, over its budget of {budget}"


def test_the_issue_page_does_not_grow_with_its_timeline(app, client, scene):
    grow(app, scene, 1)
    with app.app_context():
        from models import Issue

        no = db.session.scalar(select(Issue.no).where(Issue.status == S.transferred))
    headers = auth(scene["tokens"]["manager"])

    def page():
        response = client.get(f"/api/v1/issues/{no}", headers=headers)
        assert response.status_code == 200
        return response

    page()
    _, few = count_queries(app, page)
    with app.app_context():
        from models import IssueEvent, Reply

        issue = db.session.scalar(select(Issue).filter_by(no=no))
        for k in range(12):
            db.session.add(IssueEvent(issue_id=issue.id, kind="replied", from_status="accepted", to_status="replied",
                                      actor_role="deputy", created_at=clock.now()))
            db.session.add(Reply(issue_id=issue.id, author_id=issue.submitter_id, content=f"答复{k}",
                                 created_at=clock.now()))
        db.session.commit()
    _, many = count_queries(app, page)
    assert few == many <= 14


def test_the_console_dashboard_and_queue_do_not_grow_with_the_data(app, client, scene):
    from tests.console.test_console_http import signed_in

    console = app.test_client()
    signed_in(console, "admin")
    grow(app, scene, 2)
    for path in ("/console/", "/console/issues"):
        assert console.get(path).status_code == 200
        _, few = count_queries(app, lambda path=path: console.get(path))
        grow(app, scene, 6)
        _, many = count_queries(app, lambda path=path: console.get(path))
        assert few == many, f"{path}: {few} statements with few rows, {many} with many"
