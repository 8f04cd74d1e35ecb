"""Roster drafts: from the 20th, each open station with current members and no roster for next
month gets a draft by fair rotation — once, whatever the number of runs."""
from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from backend.services.duty.roster_drafting import draft_next_month
from models import (
    Deputy,
    DutyAssignment,
    DutyRoster,
    RosterStatus,
    StationMembership,
    db,
)
from tests.factories import create_deputy, create_region_tree, create_station
from tests.job_helpers import at, bj


@pytest.fixture
def stations(ctx):
    """A: two serving members. B: none. C: closed. D: its only member retired. E: December's
    roster published already. F: its member's grouping ended in October."""
    township = create_region_tree()["township"]
    made = {name: create_station(township, scene=f"draft-{name}", is_active=name != "C") for name in "ABCDEF"}
    for name in "ACDE":
        create_deputy(stations=[made[name]])
    create_deputy(stations=[made["A"]])
    retired = db.session.scalar(db.select(Deputy).join(StationMembership).where(
        StationMembership.station_id == made["D"].id))
    retired.retired_at = bj(2026, 10, 1)
    create_deputy(stations=[made["F"]], membership_ended_on=date(2026, 10, 31))
    db.session.add(DutyRoster(station_id=made["E"].id, month=date(2026, 12, 1), status=RosterStatus.published))
    db.session.commit()
    return {name: s.id for name, s in made.items()}


def rosters() -> dict[tuple[int, date], DutyRoster]:
    db.session.expire_all()
    return {(r.station_id, r.month): r for r in db.session.scalars(db.select(DutyRoster))}


def test_drafts_next_month_from_the_twentieth_once(stations):
    assert draft_next_month(at(bj(2026, 11, 19, 23, 59))) == {"drafted": 0}
    assert len(rosters()) == 1  # E's only

    summary = draft_next_month(at(bj(2026, 11, 20, 0, 30)))
    assert summary == {"drafted": 1, "month": "2026-12"}
    found = rosters()
    assert set(found) == {(stations["A"], date(2026, 12, 1)), (stations["E"], date(2026, 12, 1))}
    draft = found[(stations["A"], date(2026, 12, 1))]
    assert draft.status == RosterStatus.draft and draft.published_at is None
    days = db.session.scalars(db.select(DutyAssignment.duty_date).filter_by(roster_id=draft.id)).all()
    # 逢六, both members each day (two on duty per day by default).
    assert sorted(days) == [date(2026, 12, d) for d in (6, 6, 16, 16, 26, 26)]
    assert found[(stations["E"], date(2026, 12, 1))].status == RosterStatus.published

    assert draft_next_month(at(bj(2026, 11, 21, 1))) == {"drafted": 0, "month": "2026-12"}
    assert draft_next_month(at(bj(2026, 11, 30, 23))) == {"drafted": 0, "month": "2026-12"}
    assert len(rosters()) == 2


def test_twentieth_is_a_beijing_date(stations):
    # 19 November 16:30 UTC is already the 20th in Beijing.
    assert draft_next_month(at(datetime(2026, 11, 19, 16, 30, tzinfo=UTC)))["drafted"] == 1
    # December's twentieth drafts January.
    assert draft_next_month(at(bj(2026, 12, 20, 8)))["month"] == "2027-01"
