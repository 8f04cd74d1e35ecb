"""The working-day calendar kept per process under a Redis generation: a committed staff edit
reaches the next request of every worker, an uncommitted one only its own context."""
from __future__ import annotations

from datetime import date

import pytest

from backend.services.reference import workdays
from models import db
from tests.issues.test_issue_lifecycle import submit, world  # noqa: F401  (fixture)

pytestmark = pytest.mark.redis


def test_a_committed_override_moves_the_next_deadline(client, app, world):
    # Monday 9 November 2026: two working days on is Wednesday the 11th.
    assert submit(client, world).get_json()["issue"]["accept_due_on"] == "2026-11-11"
    with app.app_context():
        workdays.set_override(date(2026, 11, 10), False, "临时停工")
        db.session.commit()
    assert submit(client, world).get_json()["issue"]["accept_due_on"] == "2026-11-12"
    with app.app_context():
        workdays.remove_override(date(2026, 11, 10))
        db.session.commit()
    assert submit(client, world).get_json()["issue"]["accept_due_on"] == "2026-11-11"


def test_an_edit_rolled_back_never_reaches_the_process_copy(client, app, world):
    submit(client, world)
    with app.app_context():
        workdays.set_override(date(2026, 11, 10), False, "不会保存")
        assert workdays.add_workdays(date(2026, 11, 9), 2).date == date(2026, 11, 12)
        db.session.rollback()
    assert submit(client, world).get_json()["issue"]["accept_due_on"] == "2026-11-11"
