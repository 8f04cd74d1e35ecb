"""The five jobs through `flask jobs run NAME --date D`, as an operator replays a day: each run is
recorded ok with its summary, and does what the day asks."""
from __future__ import annotations

from datetime import date

import pytest

from models import (
    DutyRoster,
    Issue,
    IssueStatus,
    JobRun,
    OutboxMessage,
    StationDayFigures,
    User,
    db,
)
from tests.factories import (
    create_categories,
    create_deputy,
    create_issue,
    create_region_tree,
    create_station,
)
from tests.job_helpers import bj


@pytest.fixture
def county(app):
    with app.app_context():
        create_categories()
        station = create_station(create_region_tree()["township"], scene="cli-a")
        deputy = create_deputy(stations=[station])
        user = User(openid="fake-cli-deputy")
        db.session.add(user)
        db.session.flush()
        deputy.user_id = user.id
        # Accept due on Wednesday 11 November: yellow on the 10th.
        create_issue(station, created_at=bj(2026, 11, 9), accept_due_on=date(2026, 11, 11))
        # Resolved on 1 November and never rated.
        create_issue(station, status=IssueStatus.resolved, created_at=bj(2026, 10, 30),
                     resolved_at=bj(2026, 11, 1, 10))
        return {"station": station.id, "user": user.id}


def replay(app, name: str, day: str) -> JobRun:
    result = app.test_cli_runner().invoke(args=["jobs", "run", name, "--date", day])
    assert result.exit_code == 0, result.output
    with app.app_context():
        run = db.session.scalar(db.select(JobRun).filter_by(job=name).order_by(JobRun.id.desc()))
        db.session.expunge(run)
        return run


def test_each_job_replays_a_day(app, county):
    escalation = replay(app, "escalation", "2026-11-10")
    assert escalation.status == "ok" and escalation.detail == {"yellow": 1, "red": 0, "planned": 1, "digests": 0}
    closing = replay(app, "auto-close", "2026-11-09")
    assert closing.status == "ok" and closing.detail == {"closed": 1, "skipped": 0}
    rollup = replay(app, "rollup", "2026-11-10")
    assert rollup.status == "ok" and (rollup.detail["from"], rollup.detail["to"]) == ("2026-11-02", "2026-11-09")
    housekeeping = replay(app, "housekeeping", "2026-11-10")
    assert housekeeping.status == "ok" and "error" not in str(housekeeping.detail)
    drafts = replay(app, "roster-drafting", "2026-11-20")
    assert drafts.status == "ok" and drafts.detail == {"drafted": 1, "month": "2026-12"}
    with app.app_context():
        assert db.session.scalar(db.select(OutboxMessage.recipient_id)) == county["user"]
        assert db.session.scalar(db.select(db.func.count(Issue.id)).filter_by(status=IssueStatus.closed)) == 1
        assert db.session.scalar(db.select(StationDayFigures.received).filter_by(day=date(2026, 11, 9))) == 1
        assert db.session.scalar(db.select(DutyRoster.month)) == date(2026, 12, 1)
