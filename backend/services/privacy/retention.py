"""保存期限 (retention): personal data is kept only as long as it serves, logs as long as the
law asks. Parts of the daily `housekeeping` job:

- the audit log: entries older than AUDIT_RETENTION_DAYS (default 365) go; never sooner than
  AUDIT_MIN_DAYS (180) — the setting is raised to that, and the database refuses anyway;
- residents' contact phones on issues finished (closed, or rejected) more than
  PERSONAL_DATA_RETENTION_DAYS (default 365) ago: the number served the deputy who answered; the mask goes
  too, since seven of eleven digits still narrow a person down;
- WeChat session keys of users not seen for SESSION_KEY_RETENTION: the key only decrypts data
  WeChat sends right after a login;
- where deputies stood when checking in (the coordinates), after PERSONAL_DATA_RETENTION_DAYS:
  the check-in and whether it was far stay, for attendance figures.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, or_, update

from models import AUDIT_MIN_DAYS, AuditEntry, CheckIn, Issue, IssueStatus, User, db

log = logging.getLogger(__name__)

SESSION_KEY_RETENTION = timedelta(days=7)


def audit_retention_days() -> int:
    days = current_app.config["AUDIT_RETENTION_DAYS"]
    if days < AUDIT_MIN_DAYS:
        log.warning("AUDIT_RETENTION_DAYS=%d is below the legal minimum; keeping %d days", days, AUDIT_MIN_DAYS)
        return AUDIT_MIN_DAYS
    return days


def purge_audit_log(now: datetime) -> dict:
    cutoff = now - timedelta(days=audit_retention_days())
    return {"deleted": db.session.execute(delete(AuditEntry).where(AuditEntry.at < cutoff)).rowcount}


def forget_personal_data(now: datetime) -> dict:
    cutoff = now - timedelta(days=current_app.config["PERSONAL_DATA_RETENTION_DAYS"])
    phones = db.session.execute(
        update(Issue)
        .where(Issue.contact_phone_masked.is_not(None),
               or_((Issue.status == IssueStatus.closed) & (Issue.closed_at < cutoff),
                   # Rejection comes within days of submission: counted from submission.
               (Issue.status == IssueStatus.rejected) & (Issue.created_at < cutoff)))
        .values(contact_phone_encrypted=None, contact_phone_masked=None, contact_phone_shared=False)
        .execution_options(synchronize_session=False)).rowcount
    session_keys = db.session.execute(
        update(User)
        .where(User.session_key.is_not(None),
               or_(User.last_login_at < now - SESSION_KEY_RETENTION, User.last_login_at.is_(None)))
        .values(session_key=None).execution_options(synchronize_session=False)).rowcount
    places = db.session.execute(
        update(CheckIn).where(CheckIn.lat.is_not(None), CheckIn.checked_in_at < cutoff)
        .values(lat=None, lng=None).execution_options(synchronize_session=False)).rowcount
    return {"contact_phones": phones, "session_keys": session_keys, "check_in_places": places}
