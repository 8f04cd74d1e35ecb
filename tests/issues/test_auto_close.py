"""Auto-close: a resolution nobody rated is closed by the scheduler after seven days — not six —
and a rated resolution, or a fresh one after a reopening, never."""
from __future__ import annotations

from datetime import timedelta

import pytest

from backend.services.issues import auto_close
from backend.services.issues.auto_close import close_unrated
from models import Issue, IssueEvent, IssueStatus, RatingScore, Station, db
from tests.factories import (
    bind_deputy_user,
    create_categories,
    create_deputy,
    create_issue,
    create_region_tree,
    create_station,
    wx_login,
)
from tests.job_helpers import act, at, bj, rate, submit


@pytest.fixture
def world(app, client):
    at(bj(2026, 11, 2, 9))
    with app.app_context():
        create_categories()
        station = create_station(create_region_tree()["township"], scene="close01")
        deputy = create_deputy(stations=[station])
        ids = {"station": station.id, "deputy": deputy.id}
    tokens = {"deputy": bind_deputy_user(client, app, ids["deputy"], "close-deputy"),
              "resident": wx_login(client, "close-resident")["token"]}
    return {"ids": ids, "tokens": tokens}


def resolved_issue(client, world, moment) -> str:
    """An issue submitted, accepted and resolved at `moment`; its number."""
    at(moment)
    no = submit(client, world["tokens"]["resident"], "close01")
    act(client, world["tokens"]["deputy"], no, "accept")
    act(client, world["tokens"]["deputy"], no, "resolve", {"summary": "路灯已修复。"})
    return no


def close(app, moment):
    with app.app_context():
        return close_unrated(at(moment))


def status(app, no) -> IssueStatus:
    with app.app_context():
        return db.session.scalar(db.select(Issue.status).filter_by(no=no))


def test_closed_after_seven_days_not_six(app, client, world):
    resolved_at = bj(2026, 11, 2, 10)
    no = resolved_issue(client, world, resolved_at)
    assert close(app, resolved_at + timedelta(days=6, hours=23, minutes=59)) == {"closed": 0, "skipped": 0}
    assert status(app, no) == IssueStatus.resolved
    assert close(app, resolved_at + timedelta(days=7, minutes=1)) == {"closed": 1, "skipped": 0}
    assert status(app, no) == IssueStatus.closed
    with app.app_context():
        issue = db.session.scalar(db.select(Issue).filter_by(no=no))
        event = db.session.scalar(db.select(IssueEvent).filter_by(issue_id=issue.id).order_by(IssueEvent.id.desc()))
        assert (event.kind, event.actor_role, event.actor_id) == ("auto_closed", "scheduler", None)
        assert (event.from_status, event.to_status) == ("resolved", "closed")
        assert issue.closed_at == resolved_at + timedelta(days=7, minutes=1)
    # Run again (or by a second scheduler): nothing more to do.
    assert close(app, resolved_at + timedelta(days=8)) == {"closed": 0, "skipped": 0}


def test_catches_up_after_downtime(app, client, world):
    first = resolved_issue(client, world, bj(2026, 11, 2, 10))
    second = resolved_issue(client, world, bj(2026, 11, 4, 10))
    recent = resolved_issue(client, world, bj(2026, 11, 12, 10))
    assert close(app, bj(2026, 11, 13, 10)) == {"closed": 2, "skipped": 0}
    assert [status(app, no) for no in (first, second, recent)] == [
        IssueStatus.closed, IssueStatus.closed, IssueStatus.resolved]


def test_rated_resolutions_are_never_auto_closed(app, client, world):
    resolved_at = bj(2026, 11, 2, 10)
    no = resolved_issue(client, world, resolved_at)
    # Unsatisfied: reopened, resolved again five days later — a fresh resolution with its own week.
    at(resolved_at + timedelta(days=1))
    assert rate(client, world["tokens"]["resident"], no, "unsatisfied")["status"] == "reopened"
    at(resolved_at + timedelta(days=5))
    act(client, world["tokens"]["deputy"], no, "resolve", {"summary": "再次修复。"})
    assert close(app, resolved_at + timedelta(days=8))["closed"] == 0
    assert status(app, no) == IssueStatus.resolved
    assert close(app, resolved_at + timedelta(days=12, minutes=1))["closed"] == 1

    # A resolved issue whose current resolution has a rating (as the database could hold it
    # after a crash between two writes) is not the scheduler's to close; one whose *earlier*
    # resolution was rated is.
    with app.app_context():
        station = db.session.get(Station, world["ids"]["station"])
        old = resolved_at - timedelta(days=30)
        rated_now = create_issue(station, status=IssueStatus.resolved, created_at=old, resolved_at=old,
                                 ratings=[RatingScore.unsatisfied, RatingScore.satisfied])
        rated_before = create_issue(station, status=IssueStatus.resolved, created_at=old, resolved_at=old,
                                    ratings=[RatingScore.unsatisfied])
        rated_now.resolution_round, rated_before.resolution_round = 2, 2
        db.session.commit()
        ids = (rated_now.id, rated_before.id)
    assert close(app, resolved_at + timedelta(days=13)) == {"closed": 1, "skipped": 0}
    with app.app_context():
        assert [db.session.get(Issue, i).status for i in ids] == [IssueStatus.resolved, IssueStatus.closed]


def test_an_issue_moved_meanwhile_is_skipped(app, client, world, monkeypatch):
    """Between the job's read and its write the resident rates: the issue is skipped, not closed."""
    resolved_at = bj(2026, 11, 2, 10)
    no = resolved_issue(client, world, resolved_at)
    later = resolved_issue(client, world, resolved_at)
    with app.app_context():
        ids = [db.session.scalar(db.select(Issue.id).filter_by(no=n)) for n in (no, later)]
    read = auto_close.due_for_closing

    def read_then_rate(now):
        due = read(now)
        rate(client, world["tokens"]["resident"], no, "satisfied")
        return due

    monkeypatch.setattr(auto_close, "due_for_closing", read_then_rate)
    assert close(app, resolved_at + timedelta(days=8)) == {"closed": 1, "skipped": 1}
    assert ids and status(app, no) == IssueStatus.closed and status(app, later) == IssueStatus.closed
    with app.app_context():
        kinds = db.session.scalars(db.select(IssueEvent.kind).filter_by(issue_id=ids[0]).order_by(IssueEvent.id))
        assert list(kinds)[-1] == "rated"  # closed by the rating, not by the scheduler
