"""审计日志 (audit log): who did what, and who saw whose personal data (PIPL, 等保 2.0).

Three kinds of entry, all in `AuditEntry` (append-only, kept at least AUDIT_MIN_DAYS):
- every staff write — through the API (`backend/web/endpoint.py`) or the console
  (`backend/console/forms.py`): written in the same transaction as the change it records, so a
  change is never without its entry; a refused attempt (4xx) is written on its own;
- staff sign-ins, successful or not (`signin.staff_login`);
- views of personal data (`viewed`): a deputy shown a resident's whole phone number, staff shown
  deputies' phone numbers, a ledger exported. These happen in GETs, which commit nothing, so
  they are kept in `g` and written after the answer is made (`write_views`), only if it succeeded.

An entry names the target and the fields, never their values: the log must not become a second
copy of the personal data it guards.
"""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, g, has_request_context, request
from sqlalchemy.exc import SQLAlchemyError

from backend import clock
from backend.errors import ServiceUnavailable, error_response
from backend.observability import logs
from backend.client_address import client_address
from models import AuditEntry, Role, db

log = logging.getLogger(__name__)

# Path arguments that name what a request acts on, most specific first.
_TARGET_ARGS = (("no", "issue"), ("account_id", "staff_account"), ("deputy_id", "deputy"),
                ("membership_id", "membership"), ("leave_id", "leave"), ("category_id", "category"),
                ("department_id", "department"), ("station_id", "station"), ("code", "region"),
                ("message_id", "outbox_message"))
# Form and body fields whose names are not worth keeping.
_SKIPPED_FIELDS = {"csrf_token"}


def role_of(caller) -> str:
    """The capacity a `Caller` acts in: its highest role."""
    for role in (Role.region_admin, Role.station_manager, Role.deputy, Role.resident):
        if caller is not None and caller.has(role):
            return role.value
    return "anonymous"


def _request_fields() -> dict:
    """Where the request came from, and its id (the one in its log lines and its answer's
    X-Request-Id header, backend/observability/middleware.py), so an entry leads to the logs."""
    if not has_request_context():
        return {}
    request_id = logs.request_id.get()
    return {"remote_addr": client_address(), "request_id": request_id[:64] if request_id else None}


def record(action: str, *, user_id: int | None, role: str, target_type: str | None = None,
           target_id: Any = None, outcome: int = 200, detail: dict | None = None) -> AuditEntry:
    """Add an entry to the session: it is committed (or rolled back) with the caller's change."""
    entry = AuditEntry(at=clock.now(), actor_user_id=user_id, actor_role=role, action=action[:64],
                       target_type=target_type, target_id=None if target_id is None else str(target_id)[:64],
                       outcome=outcome, detail=detail or None, **_request_fields())
    db.session.add(entry)
    return entry


def _request_target() -> tuple[str | None, str | None]:
    args = request.view_args or {}
    for name, kind in _TARGET_ARGS:
        if args.get(name) is not None:
            return kind, str(args[name])
    return None, None


def _request_detail() -> dict:
    """The path's arguments and the names (not values) of the fields sent: enough to tell what
    was done — the issue's own timeline keeps the rest — and never a password or a phone."""
    detail: dict[str, Any] = {"method": request.method}
    args = {name: str(value) for name, value in (request.view_args or {}).items()}
    if args:
        detail["args"] = args
    fields = set(request.form.keys()) if request.form else set()
    if request.is_json:
        body = request.get_json(silent=True)
        if isinstance(body, dict):
            fields |= set(body)
    fields -= _SKIPPED_FIELDS
    if fields:
        detail["fields"] = sorted(str(name)[:40] for name in fields)[:30]
    # The console's issue page posts every move to one address; the verb says which.
    verb = request.form.get("verb") if request.form else None
    if verb:
        detail["verb"] = verb[:32]
    return detail


def staff_write(caller, outcome: int = 200) -> AuditEntry | None:
    """Add the entry of the current request, if it is a staff member's write."""
    if caller is None or caller.staff_id is None or request.method in ("GET", "HEAD", "OPTIONS"):
        return None
    target_type, target_id = _request_target()
    return record(request.endpoint or request.path, user_id=caller.user_id, role=role_of(caller),
                  target_type=target_type, target_id=target_id, outcome=outcome, detail=_request_detail())


def refused_staff_write(caller, status: int) -> None:
    """Keep a refused staff write (the change itself was rolled back). Never raises: the
    refusal the caller gets matters more than its entry, which is logged if it cannot be kept."""
    if caller is None or caller.staff_id is None:
        return
    try:
        db.session.rollback()
        if staff_write(caller, status) is not None:
            db.session.commit()
    except Exception:  # any failure: the original error is what the caller must see
        db.session.rollback()
        log.exception("audit: could not record a refused staff write to %s", request.path)


def viewed(caller, field: str, target_type: str, target_id: Any = None, *, count: int | None = None) -> None:
    """Note that `caller` was shown personal data (`field`) of `target`; written after the answer."""
    detail = {"field": field}
    if count is not None:
        detail["count"] = count
    pending = g.setdefault("audit_views", [])
    pending.append({"action": "personal_data.view", "user_id": caller.user_id, "role": role_of(caller),
                    "target_type": target_type, "target_id": target_id, "detail": detail})


def write_views(response: Response) -> Response:
    """After a request: write the views it noted, if the answer shows them (2xx). Personal data
    is not shown without its entry: if the entry cannot be written, the answer becomes a 503."""
    pending = g.pop("audit_views", None)
    if not pending or response.status_code >= 300:
        return response
    try:
        for view in pending:
            record(**view)
        db.session.commit()
    except Exception:  # whatever failed, the data must not go out unrecorded
        try:
            db.session.rollback()
        except SQLAlchemyError:  # the database went away: raising here would make the 503 a 500
            pass
        log.exception("audit: could not record %d views of personal data; answer withheld", len(pending))
        return error_response(ServiceUnavailable())
    return response


def init_app(app: Flask) -> None:
    app.after_request(write_views)
