"""Auto-close (自动办结关闭): a resolution nobody rated within AUTO_CLOSE_DAYS days is closed by the
scheduler, as API.md's state machine says, so issues do not stay "resolved" for ever.

What is due is read from the issues themselves (resolved, resolved more than seven days ago, no
rating of the current resolution), so a run after downtime closes everything that came due
meanwhile and a second run finds nothing. One issue per transaction: a resident who rates or a
deputy who acts at the same moment wins (`issue_flow` guards the move in the database) and the
issue is skipped.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import exists, select

from backend.services.issues.issue_flow import AUTO_CLOSE_DAYS, InvalidTransition, auto_close_issue
from models import Issue, IssueStatus, Rating, db

log = logging.getLogger(__name__)


def _due(now: datetime):
    """Resolved, more than AUTO_CLOSE_DAYS days before `now`, and the resolution not rated."""
    rated = exists().where(Rating.issue_id == Issue.id, Rating.resolution_round == Issue.resolution_round)
    return (Issue.status == IssueStatus.resolved, Issue.resolved_at < now - timedelta(days=AUTO_CLOSE_DAYS), ~rated)


def due_for_closing(now: datetime) -> list[int]:
    """Ids of the issues to close at `now`, oldest resolution first."""
    return list(db.session.scalars(select(Issue.id).where(*_due(now)).order_by(Issue.resolved_at, Issue.id)))


def close_unrated(now: datetime) -> dict:
    """The `auto-close` job. An issue that fails for another reason is logged and left for the
    next run; the others are closed all the same."""
    ids = due_for_closing(now)
    # End the read before the first write (SQLite cannot upgrade a read begun before another
    # writer committed).
    db.session.rollback()
    closed = skipped = failed = 0
    for issue_id in ids:
        try:
            # Judged again on the locked row: reopened and resolved anew since the read, it is a
            # fresh resolution the resident has seven days to rate.
            issue = db.session.scalar(select(Issue).where(Issue.id == issue_id, *_due(now)).with_for_update(of=Issue)
                                      .execution_options(populate_existing=True))
            if issue is None:
                raise InvalidTransition()
            auto_close_issue(issue)
            db.session.commit()
            closed += 1
        except InvalidTransition:
            # Rated, reopened or closed since it was read.
            db.session.rollback()
            skipped += 1
        except Exception:
            db.session.rollback()
            log.exception("auto-close: issue %s could not be closed", issue_id)
            failed += 1
    summary = {"closed": closed, "skipped": skipped}
    if failed:
        summary["failed"] = failed
    return summary
