"""The demo county: seeded into a real database, it must look like a county a deputy would
recognise and satisfy what the scan page and staff console rely on."""
from __future__ import annotations

import json
from collections import Counter
from datetime import datetime

import pytest
from werkzeug.security import check_password_hash

from backend import clock, create_app
from backend.demo.county import COUNTY_CENTER, COUNTY_CODE, COUNTY_SPREAD_DEG, DemoAlreadySeeded, seed_demo
from backend.services.reference.regions import lineage
from backend.services.stations.stations import SCENE_PATTERN, current_seats, station_deputies
from models import (
    REGION_CODE_PREFIX,
    Deputy,
    DeputyLevel,
    DeputySeat,
    InviteCode,
    ReceptionRule,
    Region,
    StaffAccount,
    StaffRole,
    Station,
    StationKind,
    StationMembership,
    db,
)


def build_app(path):
    # SQLite in tmp_path whatever TEST_DATABASE_URL says: this test owns its databases.
    app = create_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}", TESTING=True, SECRET_KEY="test-secret")
    with app.app_context():
        db.create_all()
    return app


def seeded(path, seed=2026):
    app = build_app(path)
    with app.app_context():
        summary = seed_demo(seed=seed)
        db.session.commit()
    return app, summary


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    app, summary = seeded(tmp_path_factory.mktemp("demo") / "t.db")
    with app.app_context():
        yield summary
        db.session.remove()


def test_summary_is_json_and_matches_the_database(demo):
    json.dumps(demo, ensure_ascii=False)
    assert demo["county"] == "安吉县" and demo["region_code"] == COUNTY_CODE
    assert 25 <= len(demo["stations"]) <= 40
    assert demo["deputy_count"] == len(demo["deputies"]) == db.session.scalar(db.select(db.func.count(Deputy.id)))
    assert len(demo["stations"]) == db.session.scalar(db.select(db.func.count(Station.id)))
    assert all(s["url_path"] == f"/s/{s['scene']}" for s in demo["stations"])
    assert 120 <= demo["deputy_count"] <= 180


def test_regions_form_a_county_tree_with_statistical_codes(demo):
    county = db.session.scalar(db.select(Region).where(Region.code == COUNTY_CODE))
    assert [r.name for r in lineage(county)] == ["浙江省", "湖州市", "安吉县"]
    below = db.session.scalars(db.select(Region).where(Region.code.startswith(county.scope_prefix),
                                                       Region.id != county.id)).all()
    levels = Counter(r.level.value for r in below)
    assert levels["township"] >= 8 and levels["community"] >= 2 * levels["township"]
    for region in below:
        assert len(region.code) == 12 and region.code.isdigit()
        parent = region.parent
        assert region.code[:REGION_CODE_PREFIX[parent.level]] == parent.scope_prefix
        assert region.code[REGION_CODE_PREFIX[region.level]:] == "0" * (12 - REGION_CODE_PREFIX[region.level])


def test_reception_rules_are_data(demo):
    county = db.session.scalar(db.select(Region).where(Region.code == COUNTY_CODE))
    assert county.reception_rule.label == "逢六（每月6日、16日、26日）"
    assert county.reception_rule.days == [6, 16, 26] and county.reception_rule.is_default
    labels = {r.label: r for r in db.session.scalars(db.select(ReceptionRule))}
    assert labels["每周三"].kind.value == "weekly" and labels["每周三"].days == [3]
    assert labels["每月10日、25日"].days == [10, 25]
    own_rules = Counter(s.reception_rule.label for s in db.session.scalars(db.select(Station))
                        if s.reception_rule is not None)
    assert own_rules == {"每周三": 1, "每月10日、25日": 1}


def test_stations_are_well_formed(demo):
    stations = db.session.scalars(db.select(Station)).all()
    scenes = [s.scene for s in stations]
    assert len(set(scenes)) == len(scenes)
    assert all(SCENE_PATTERN.match(scene) and len(scene) <= 32 for scene in scenes)
    lat0, lng0 = COUNTY_CENTER
    for s in stations:
        assert abs(s.lat - lat0) <= COUNTY_SPREAD_DEG and abs(s.lng - lng0) <= COUNTY_SPREAD_DEG, s.name
        assert s.address.startswith("浙江省湖州市安吉县") and s.phone.startswith("0572-5") and s.intro
        assert s.opens_at < s.closes_at
    kinds = Counter(s.kind for s in stations)
    assert kinds[StationKind.center] >= 8 and kinds[StationKind.community] >= 10 and kinds[StationKind.other] >= 1
    by_id = {s.id: s for s in stations}
    for s in stations:
        if s.kind is StationKind.community:
            parent = by_id[s.parent_station_id]
            assert parent.kind is StationKind.center
            assert s.region.parent_id == parent.region_id  # the village lies in the center's township


def test_deputies_hold_seats_at_every_level(demo):
    today = clock.beijing_today()
    deputies = db.session.scalars(db.select(Deputy)).all()
    current = {d.id: current_seats(d, today) for d in deputies}
    assert all(current.values())
    levels = Counter(seat.level for seats in current.values() for seat in seats)
    assert set(levels) == set(DeputyLevel)
    assert 1 <= levels[DeputyLevel.national] <= 2 and levels[DeputyLevel.county] >= 40
    assert levels[DeputyLevel.township] >= 50
    assert sum(len({s.level for s in seats}) == 2 for seats in current.values()) >= 5
    names = [d.name for d in deputies]
    assert len(set(names)) == len(names)
    assert all(2 <= len(d.name) <= 3 and d.gender in ("男", "女") and d.occupation and d.bio for d in deputies)
    assert all(1 <= len(d.topic_groups) <= 2 for d in deputies)
    # 届次 history: an ended seat of an earlier term beside a current one.
    ended = db.session.scalars(db.select(DeputySeat).where(DeputySeat.ended_on.is_not(None))).all()
    assert ended and all(any(s.term > e.term and s.ended_on is None for s in e.deputy.seats) for e in ended)
    summary_levels = {d["id"]: d["levels"] for d in demo["deputies"]}
    assert summary_levels == {d.id: [s.level.value for s in current[d.id]] for d in deputies}


def test_every_station_has_current_deputies_and_one_leader(demo):
    today = clock.beijing_today()
    for station in db.session.scalars(db.select(Station)):
        assert station_deputies(station, today), station.name
        leaders = [m for m in station.memberships if m.is_current(today) and m.is_leader]
        assert len(leaders) == 1, station.name
    grouped = db.session.scalars(db.select(StationMembership.deputy_id).where(StationMembership.ended_on.is_(None)))
    assert set(grouped) == {d["id"] for d in demo["deputies"]}
    assert db.session.scalar(db.select(db.func.count()).where(StationMembership.ended_on.is_not(None))) >= 1


def test_staff_accounts_sign_in_and_manage_their_stations(demo):
    accounts = {a.username: a for a in db.session.scalars(db.select(StaffAccount))}
    assert {s["username"] for s in demo["staff"]} == set(accounts)
    admin = accounts["admin"]
    assert admin.role is StaffRole.region_admin and admin.region.code == COUNTY_CODE
    all_stations = set()
    for entry in demo["staff"]:
        account = accounts[entry["username"]]
        assert check_password_hash(account.password_hash, entry["password"])
        assert not check_password_hash(account.password_hash, entry["password"] + "x")
        assert account.user is not None and account.user.openid is None
        assert [s.id for s in account.stations] == sorted(entry["stations"])
        if account.role is StaffRole.station_manager:
            centers = [s for s in account.stations if s.kind is StationKind.center]
            assert len(centers) == 1
            assert all(s is centers[0] or s.parent_station_id == centers[0].id for s in account.stations)
            all_stations |= {s.id for s in account.stations}
    assert all_stations == {s["id"] for s in demo["stations"]}  # every station has a manager


def test_every_deputy_has_an_open_invite(demo):
    invites = {i.deputy_id: i for i in db.session.scalars(db.select(InviteCode))}
    for entry in demo["deputies"]:
        invite = invites[entry["id"]]
        assert invite.code == entry["invite_code"] and invite.used_at is None
        assert invite.expires_at > clock.now()


def test_each_invite_says_which_stations_its_deputy_serves(demo):
    current = {}
    for membership in db.session.scalars(db.select(StationMembership).where(StationMembership.ended_on.is_(None))):
        current.setdefault(membership.deputy_id, set()).add(membership.station_id)
    names = {s["id"]: (s["name"], s["scene"]) for s in demo["stations"]}
    for entry in demo["deputies"]:
        assert entry["stations"], entry["name"]  # every deputy serves somewhere
        assert {s["id"] for s in entry["stations"]} == current[entry["id"]]
        assert all((s["name"], s["scene"]) == names[s["id"]] for s in entry["stations"])


def test_second_run_is_refused(demo):
    with pytest.raises(DemoAlreadySeeded, match="演示数据已存在"):
        seed_demo()
    db.session.rollback()


def test_same_seed_same_county_but_fresh_secrets(demo, tmp_path):
    _app, again = seeded(tmp_path / "again.db")
    assert [s["scene"] for s in again["stations"]] == [s["scene"] for s in demo["stations"]]
    assert [d["name"] for d in again["deputies"]] == [d["name"] for d in demo["deputies"]]
    # Anyone can read the seed, so the credentials must not follow from it.
    assert {s["password"] for s in again["staff"]}.isdisjoint(s["password"] for s in demo["staff"])
    assert {d["invite_code"] for d in again["deputies"]}.isdisjoint(d["invite_code"] for d in demo["deputies"])
    _app, other = seeded(tmp_path / "other.db", seed=7)
    assert {s["scene"] for s in other["stations"]}.isdisjoint(s["scene"] for s in demo["stations"])


def test_six_months_of_activity_for_the_console(tmp_path):
    """The demo's issues, duty and roll-ups: each issue's timeline ends in its status, and the
    console's dashboard shows the figures of /api/v1/manage/stats."""
    import re

    from backend.demo.activity import seed_activity
    from models import Issue, IssueEvent, StationDayFigures
    from tests.factories import create_categories

    app = build_app(tmp_path / "activity.db")
    clock.freeze(datetime(2026, 11, 20, 15, tzinfo=clock.BEIJING))
    with app.app_context():
        create_categories()
        summary = seed_demo()
        db.session.commit()
        made = seed_activity()
        assert made["issues"] > 100 and made["duty_days"] > 500
        for issue in db.session.scalars(db.select(Issue)):
            last = db.session.scalar(db.select(IssueEvent).where(IssueEvent.issue_id == issue.id)
                                     .order_by(IssueEvent.id.desc()).limit(1))
            assert last.to_status == issue.status.value, issue.no
        assert db.session.scalar(db.select(db.func.count(StationDayFigures.id))) > 0
    admin = summary["staff"][0]
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/console/login").get_data(as_text=True))
    client.post("/console/login", data={"username": admin["username"], "password": admin["password"],
                                        "csrf_token": token.group(1)})
    page = client.get("/console/").get_data(as_text=True)
    api = client.post("/api/v1/manage/login", json={"username": admin["username"], "password": admin["password"]})
    stats = client.get("/api/v1/manage/stats?from=2026-01-01&to=2026-11-20",
                       headers={"Authorization": f"Bearer {api.get_json()['token']}"}).get_json()["stats"]
    for name in ("received", "accepted", "resolved", "overdue", "check_ins"):
        assert int(re.search(rf'data-figure="{name}"[^>]*>(\d+)<', page).group(1)) == stats[name], name
