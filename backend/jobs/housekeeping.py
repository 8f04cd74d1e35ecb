"""Housekeeping (日常清理): the daily job that throws away what has served its purpose and asks
WeChat again about images it never took for checking.

Parts, each in its own transaction; one that fails is logged and named in the summary, and the
others run all the same:
- idempotency records past 24 hours (`Idempotency-Key` replays are answered for a day);
- PostgreSQL's per-day issue-number sequences of days more than two Beijing days back;
- uploaded images never attached to an issue after 24 hours;
- images still `pending` with no trace id five minutes after upload (WeChat was busy when
  asked): asked again, at most MEDIA_RECHECK_MAX a run, stopping at the first refusal;
- staff sign-in attempts older than 90 days (the lockout looks back 15 minutes; the audit log
  keeps sign-ins longer);
- the audit log and personal data past their retention (`retention`).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from backend import clock
from backend.caches import rate_limit
from backend.services.accounts import console_sessions
from backend.services.content import uploads
from backend.services.issues import issue_numbers
from backend.services.privacy import retention
from backend.web import idempotency
from models import LoginAttempt, MediaCheckStatus, Upload, db

log = logging.getLogger(__name__)

SEQUENCES_KEPT_DAYS = 2
MEDIA_RECHECK_AFTER = timedelta(minutes=5)
MEDIA_RECHECK_MAX = 200
LOGIN_ATTEMPTS_KEPT = timedelta(days=90)


def purge_idempotency_records(now: datetime) -> dict:
    return {"deleted": idempotency.purge_expired()}


def drop_old_number_sequences(now: datetime) -> dict:
    keep_from = now.astimezone(clock.BEIJING).date() - timedelta(days=SEQUENCES_KEPT_DAYS)
    dropped = issue_numbers.drop_sequences_before(keep_from)
    if dropped:
        log.info("housekeeping: dropped issue-number sequences %s", ", ".join(dropped))
    return {"dropped": len(dropped)}


def purge_unattached_uploads(now: datetime) -> dict:
    return {"deleted": uploads.purge_unattached_uploads()}


def recheck_pending_media(now: datetime) -> dict:
    """Ask WeChat again about images it never took (no trace id), oldest first."""
    ids = db.session.scalars(
        select(Upload.id).where(Upload.media_check_status == MediaCheckStatus.pending,
                                Upload.media_check_trace_id.is_(None), Upload.created_at < now - MEDIA_RECHECK_AFTER)
        .order_by(Upload.id).limit(MEDIA_RECHECK_MAX)).all()
    db.session.rollback()
    asked = taken = 0
    for upload_id in ids:
        upload = db.session.get(Upload, upload_id)
        if upload is None:  # purged meanwhile
            continue
        asked += 1
        taken += uploads.request_media_check(upload)
        db.session.commit()
        if upload.media_check_status == MediaCheckStatus.pending and upload.media_check_trace_id is None:
            # WeChat is busy or unreachable: the next run asks again rather than waiting out a
            # timeout for each image now.
            break
    return {"asked": asked, "taken": taken, "due": len(ids)}


def purge_login_attempts(now: datetime) -> dict:
    result = db.session.execute(delete(LoginAttempt).where(LoginAttempt.attempted_at < now - LOGIN_ATTEMPTS_KEPT))
    return {"deleted": result.rowcount}


PARTS: tuple[tuple[str, Callable[[datetime], dict]], ...] = (
    ("idempotency_records", purge_idempotency_records),
    ("issue_number_sequences", drop_old_number_sequences),
    ("unattached_uploads", purge_unattached_uploads),
    ("media_checks", recheck_pending_media),
    ("login_attempts", purge_login_attempts),
    ("throttle_hits", rate_limit.purge_throttle_hits),
    ("console_sessions", console_sessions.purge),
    ("audit_log", retention.purge_audit_log),
    ("personal_data", retention.forget_personal_data),
)


def run_housekeeping(now: datetime) -> dict:
    """The `housekeeping` job: every part, each committed on its own."""
    summary: dict = {}
    for name, part in PARTS:
        try:
            summary[name] = part(now)
            db.session.commit()
        except Exception as exc:  # one part's failure must not stop the others
            db.session.rollback()
            log.exception("housekeeping: %s failed", name)
            summary[name] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
    return summary
