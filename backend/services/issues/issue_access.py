"""Who may see which issue. Anything outside the caller's reach is `issue_not_found`, so
tracking numbers cannot be probed.

- a resident: the issues they submitted;
- a deputy: issues of the stations they are grouped into now, and issues addressed or assigned
  to them — but never one held for review (pending_review) until staff release it;
- staff: issues of the stations they manage (a region admin: every station in the region).
"""
from __future__ import annotations

from sqlalchemy import false, or_

from backend.auth import Caller
from backend.errors import NotFound
from backend.permissions import station_scope_clause
from models import Issue, IssueStatus, Station, db


class IssueNotFound(NotFound):
    code, message = "issue_not_found", "未找到该意见建议"


def deputy_clause(deputy_id: int, station_ids):
    """What a deputy sees: issues of their stations (`station_ids`, those they are grouped into
    today) and issues addressed or assigned to them, except those still held for review."""
    # The station ids are given as a list, not a subquery: with a subquery inside the OR,
    # PostgreSQL scans every issue; with literals it combines three index scans (BitmapOr).
    return (Issue.status != IssueStatus.pending_review) & (
        Issue.station_id.in_(station_ids) | (Issue.addressed_deputy_id == deputy_id)
        | (Issue.assigned_deputy_id == deputy_id))


def visible_clause(caller: Caller):
    """A WHERE clause on Issue: what this caller may see, in any of their roles."""
    clauses = [Issue.submitter_id == caller.user_id]
    if caller.deputy_id is not None:
        clauses.append(deputy_clause(caller.deputy_id, caller.deputy_station_ids))
    if caller.staff_id is not None:
        clauses.append(Issue.station_id.in_(db.select(Station.id).where(station_scope_clause(caller))))
    return or_(*clauses) if clauses else false()


def access_issue(caller: Caller, no: str) -> Issue:
    """The issue numbered `no`, if the caller may see it.

    :raise 404 issue_not_found: no such issue, or one the caller may not see.
    """
    query = db.select(Issue).where(Issue.no == no, visible_clause(caller))
    issue = db.session.scalar(query)
    if issue is None:
        raise IssueNotFound()
    return issue
