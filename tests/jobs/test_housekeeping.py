"""Housekeeping: old idempotency records, old issue-number sequences (PostgreSQL, strictly by name),
uploads never attached, images WeChat never took for checking, old sign-in attempts, throttle
counts and console sessions — each part on
its own, a failing part not stopping the others."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from backend.jobs import housekeeping
from backend.jobs.housekeeping import run_housekeeping
from backend.services.issues import issue_numbers
from backend.storage import get_storage, new_key
from models import ConsoleSession, IdempotencyRecord, LoginAttempt, MediaCheckStatus, ThrottleHit, Upload, User, db
from tests import images
from tests.job_helpers import at, bj

NOW = bj(2026, 11, 9, 3)  # Monday, 03:00 Beijing


def user(openid: str | None = "fake-house") -> User:
    row = User(openid=openid)
    db.session.add(row)
    db.session.commit()
    return row


def upload(owner: User, age: timedelta, *, trace_id: str | None = None,
           status: MediaCheckStatus = MediaCheckStatus.pending) -> int:
    key = new_key("images", "jpg")
    data = images.jpeg()
    get_storage().save(key, data, "image/jpeg")
    row = Upload(owner_id=owner.id, storage_key=key, content_type="image/jpeg", size_bytes=len(data),
                 sha256="0" * 64, width=32, height=32, created_at=NOW - age, media_check_trace_id=trace_id,
                 media_check_status=status)
    db.session.add(row)
    db.session.commit()
    return row.id


def test_each_part_clears_only_what_is_old(app, ctx, fake_wechat):
    at(NOW)
    resident = user()
    for age in (timedelta(hours=25), timedelta(hours=23)):
        db.session.add(IdempotencyRecord(user_id=resident.id, key=f"k-{age}", request_hash="0" * 64,
                                         response_status=201, response_body="{}", created_at=NOW - age))
    for age in (timedelta(days=91), timedelta(days=89)):
        db.session.add(LoginAttempt(username="manager", attempted_at=NOW - age, succeeded=False))
        db.session.add(ConsoleSession(sid_hash=f"{age.days:064d}", user_id=resident.id, created_at=NOW - age))
    for age in (timedelta(hours=25), timedelta(hours=23)):
        db.session.add(ThrottleHit(bucket="follow", key=str(resident.id), at=NOW - age))
    db.session.commit()
    checked = upload(resident, timedelta(hours=2), trace_id="trace-old", status=MediaCheckStatus.pass_)
    never_taken = upload(resident, timedelta(minutes=10))
    just_now = upload(resident, timedelta(minutes=2))  # its own request may still be under way
    asked_already = upload(resident, timedelta(minutes=30), trace_id="trace-waiting")
    staff_image = upload(user(openid=None), timedelta(minutes=30))  # no openid: WeChat cannot check it
    forgotten = upload(resident, timedelta(hours=25), trace_id="trace-gone", status=MediaCheckStatus.pass_)

    summary = run_housekeeping(NOW)
    # On PostgreSQL, what other tests' submissions left (see the sequence test below).
    assert set(summary.pop("issue_number_sequences")) == {"dropped"}
    assert summary == {
        "idempotency_records": {"deleted": 1},
        "unattached_uploads": {"deleted": 1},
        "media_checks": {"asked": 2, "taken": 1, "due": 2},
        "login_attempts": {"deleted": 1},
        "throttle_hits": {"deleted": 1},
        "console_sessions": {"deleted": 1},
        # Retention's own test is tests/privacy/test_audit_and_privacy.py: nothing here is old enough.
        "audit_log": {"deleted": 0},
        "personal_data": {"contact_phones": 0, "session_keys": 0, "check_in_places": 0},
    }
    db.session.expire_all()
    assert [r.created_at for r in db.session.scalars(db.select(IdempotencyRecord))] == [NOW - timedelta(hours=23)]
    assert [r.attempted_at for r in db.session.scalars(db.select(LoginAttempt))] == [NOW - timedelta(days=89)]
    assert [r.at for r in db.session.scalars(db.select(ThrottleHit))] == [NOW - timedelta(hours=23)]
    assert [r.created_at for r in db.session.scalars(db.select(ConsoleSession))] == [NOW - timedelta(days=89)]
    assert db.session.get(Upload, forgotten) is None
    taken = db.session.get(Upload, never_taken)
    assert taken.media_check_trace_id == fake_wechat.media_checks()[0]["trace_id"]
    assert [c["openid"] for c in fake_wechat.media_checks()] == ["fake-house"]
    assert db.session.get(Upload, just_now).media_check_trace_id is None
    assert db.session.get(Upload, asked_already).media_check_trace_id == "trace-waiting"
    assert db.session.get(Upload, staff_image).media_check_status == MediaCheckStatus.error
    assert db.session.get(Upload, checked).media_check_status == MediaCheckStatus.pass_

    again = run_housekeeping(NOW + timedelta(minutes=1))
    assert again["idempotency_records"] == again["login_attempts"] == again["unattached_uploads"] == {"deleted": 0}
    assert again["media_checks"] == {"asked": 0, "taken": 0, "due": 0}


def test_media_checks_stop_at_the_first_refusal(app, ctx, fake_wechat):
    """WeChat busy: one image is asked about, the rest wait for the next run."""
    at(NOW)
    resident = user()
    ids = [upload(resident, timedelta(minutes=10 + n)) for n in range(3)]
    fake_wechat.fail("/wxa/media_check_async", errcode=-1, times=10)
    assert run_housekeeping(NOW)["media_checks"] == {"asked": 1, "taken": 0, "due": 3}
    fake_wechat.reset()
    assert run_housekeeping(NOW + timedelta(hours=1))["media_checks"] == {"asked": 3, "taken": 3, "due": 3}
    db.session.expire_all()
    assert all(db.session.get(Upload, i).media_check_trace_id for i in ids)


def test_a_failing_part_does_not_stop_the_others(app, ctx, monkeypatch):
    at(NOW)
    resident = user()
    db.session.add(LoginAttempt(username="manager", attempted_at=NOW - timedelta(days=100), succeeded=False))
    db.session.add(IdempotencyRecord(user_id=resident.id, key="k", request_hash="0" * 64,
                                     created_at=NOW - timedelta(days=2)))
    db.session.commit()

    def broken(now):
        db.session.execute(text("SELECT * FROM no_such_table"))

    parts = list(housekeeping.PARTS)
    parts.insert(1, ("broken", broken))
    monkeypatch.setattr(housekeeping, "PARTS", tuple(parts))
    summary = run_housekeeping(NOW)
    assert summary["broken"]["error"].startswith("OperationalError") or summary["broken"]["error"].startswith(
        "ProgrammingError")
    assert summary["idempotency_records"] == {"deleted": 1}
    assert summary["login_attempts"] == {"deleted": 1}


@pytest.mark.postgres
def test_issue_number_sequences_of_old_days_are_dropped_and_nothing_else(app, client, ctx):
    odd = ["issue_no_2026110", "issue_no_20261301", "issue_no_20261101_x", "issue_no_2026-1101", "h3_other_seq"]
    days = ["20261101", "20261105", "20261106", "20261107", "20261108"]
    for name in odd + [f"issue_no_{d}" for d in days]:
        db.session.execute(text(f'CREATE SEQUENCE IF NOT EXISTS "{name}"'))
    db.session.commit()
    try:
        # Today's sequence, made by a submission and known to this process.
        at(bj(2026, 11, 9, 9))
        issue_numbers._ensure_sequence(NOW.date())
        known = {name for _url, name in issue_numbers._known_sequences}
        assert "issue_no_20261109" in known
        issue_numbers._known_sequences.add((str(db.engine.url), "issue_no_20261101"))

        def existing():
            return set(db.session.scalars(text("SELECT sequencename FROM pg_sequences "
                                               "WHERE schemaname = current_schema()")))

        # Those of the 1st, 5th and 6th, and any older day's that other tests left.
        old = {n for n in existing() if n.startswith("issue_no_") and n[9:].isdigit() and len(n) == 17
               and n[9:] < "20261107"}
        assert {"issue_no_20261101", "issue_no_20261105", "issue_no_20261106"} <= old
        summary = run_housekeeping(at(bj(2026, 11, 9, 3)))
        assert summary["issue_number_sequences"] == {"dropped": len(old)}
        left = existing()
        assert old.isdisjoint(left)
        # Two Beijing days back and later stay, and whatever is not exactly a day's name.
        assert {"issue_no_20261107", "issue_no_20261108", "issue_no_20261109", *odd} <= left
        assert (str(db.engine.url), "issue_no_20261101") not in issue_numbers._known_sequences
        assert run_housekeeping(NOW)["issue_number_sequences"] == {"dropped": 0}
    finally:
        db.session.rollback()
        for name in odd:
            db.session.execute(text(f'DROP SEQUENCE IF EXISTS "{name}"'))
        db.session.commit()


def test_sequence_names_are_parsed_strictly():
    from datetime import date

    assert issue_numbers.day_of_sequence("issue_no_20261109") == date(2026, 11, 9)
    for name in ("issue_no_2026110", "issue_no_20261301", "issue_no_20260230", "issue_no_20261109_x",
                 "xissue_no_20261109", "issue_no_２０２６１１０９", "ISSUE_NO_20261109", "issue_no_20261109\n"):
        assert issue_numbers.day_of_sequence(name) is None, name
