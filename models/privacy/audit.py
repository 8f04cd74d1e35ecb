from __future__ import annotations

from datetime import datetime

from sqlalchemy import DDL, JSON, BigInteger, Index, Integer, String, event
from sqlalchemy.orm import Mapped, mapped_column

from models.base import db, utcnow

# The law asks that logs be kept at least six months (网络安全法 第二十一条; 等保 2.0 audit). The
# database itself refuses to forget an entry younger than this, whatever the app is told.
AUDIT_MIN_DAYS = 180


class AuditEntry(db.Model):
    """审计日志: one staff action, sign-in or view of someone's personal data.

    Append-only: the app never updates an entry, and the database refuses UPDATE, and DELETE of
    entries younger than AUDIT_MIN_DAYS (triggers below, and in migration 0008). Entries hold
    what was done to what — never the personal data itself.
    """

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_actor_at", "actor_user_id", "at"),
        Index("ix_audit_log_target", "target_type", "target_id"),
    )

    # 64-bit: a province records every view of a phone number, for years.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    # Who: a user (staff, deputy, resident) or None for the scheduler; the role they acted in.
    actor_user_id: Mapped[int | None]
    actor_role: Mapped[str] = mapped_column(String(24))
    # What: `staff.sign_in`, `personal_data.view`, `issues.export`, or the request's endpoint
    # (`manage_issues.assign`, `console.station_close` …) for staff writes.
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(24))
    target_id: Mapped[str | None] = mapped_column(String(64))
    # The HTTP status the attempt ended with: refused attempts are kept too.
    outcome: Mapped[int] = mapped_column(default=200)
    detail: Mapped[dict | None] = mapped_column(JSON)
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))


# No percent sign in these: DDL() formats its text with the table's name.
GUARD_POSTGRESQL = (
    f"""
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND OLD.at < now() - interval '{AUDIT_MIN_DAYS} days' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION USING MESSAGE = 'audit_log is append-only: ' || TG_OP || ' refused',
        ERRCODE = 'insufficient_privilege';
END $$""",
    """
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""",
)
# SQLite stores the UTC time as text ("2026-11-27 10:00:00.000000"), which compares in order
# with datetime('now', …).
GUARD_SQLITE = (
    """
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused'); END""",
    f"""
CREATE TRIGGER audit_log_no_early_delete BEFORE DELETE ON audit_log
WHEN OLD.at >= datetime('now', '-{AUDIT_MIN_DAYS} days')
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused'); END""",
)

for _statement in GUARD_POSTGRESQL:
    event.listen(AuditEntry.__table__, "after_create", DDL(_statement).execute_if(dialect="postgresql"))
for _statement in GUARD_SQLITE:
    event.listen(AuditEntry.__table__, "after_create", DDL(_statement).execute_if(dialect="sqlite"))
event.listen(AuditEntry.__table__, "before_drop",
             DDL("DROP FUNCTION IF EXISTS audit_log_append_only() CASCADE").execute_if(dialect="postgresql"))
