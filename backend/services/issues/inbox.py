"""A deputy's inbox (代表待办): issues of the stations they are grouped into, and issues
addressed or assigned to them elsewhere — never one still held for review.

The obvious WHERE (`station_id IN … OR addressed_deputy_id = d OR assigned_deputy_id = d`)
defeats every index: PostgreSQL reads all issues, then sorts. So the inbox is asked as disjoint
branches — one per station, then "addressed to me at another station", then "assigned to me at
another station and not addressed to me" — each walking its own (column, created_at, id) index
backwards and stopping after the page's last row, merged with UNION ALL. The total is the sum
of the branches' counts, read from the (column, status) indexes.
"""
from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, literal_column, or_, union_all
from sqlalchemy.orm import joinedload, selectinload

from models import Deputy, Issue, IssueStatus, Station, db

# What a list item shows, loaded per page rather than per issue: of a station and a deputy,
# only the id and name. Whole rows would drag in the station's own eager joins (its region, the
# region's and its reception rules): a ten-table join whose planning alone took 6 ms a page,
# ten times its execution; and each deputy's phone decrypted for nothing.
SUMMARY_LOADS = (joinedload(Issue.station).load_only(Station.id, Station.name).lazyload("*"),
                 joinedload(Issue.addressed_deputy).load_only(Deputy.id, Deputy.name),
                 joinedload(Issue.assigned_deputy).load_only(Deputy.id, Deputy.name),
                 selectinload(Issue.ratings), selectinload(Issue.transfers))


def _branches(deputy_id: int, station_ids: Sequence[int], status: IssueStatus | None) -> list:
    shown = [Issue.status != IssueStatus.pending_review]
    if status is not None:
        shown.append(Issue.status == status)
    elsewhere = Issue.station_id.not_in(station_ids) if station_ids else None
    branches = [[Issue.station_id == station_id] for station_id in station_ids]
    branches.append([Issue.addressed_deputy_id == deputy_id])
    branches.append([Issue.assigned_deputy_id == deputy_id,
                     or_(Issue.addressed_deputy_id.is_(None), Issue.addressed_deputy_id != deputy_id)])
    for branch in branches[len(station_ids):]:
        if elsewhere is not None:
            branch.append(elsewhere)
    return [branch + shown for branch in branches]


def deputy_inbox(deputy_id: int, station_ids: Sequence[int], status: IssueStatus | None,
                 page: int, per_page: int) -> tuple[list[Issue], int]:
    """One page of the inbox, newest first, and the inbox's total."""
    branches = _branches(deputy_id, station_ids, status)
    depth = page * per_page  # no branch can contribute rows beyond the page's last
    newest = (Issue.created_at.desc(), Issue.id.desc())
    heads = [db.select(Issue.id, Issue.created_at).where(*where).order_by(*newest).limit(depth).subquery()
             for where in branches]
    merged = union_all(*(db.select(head.c.id, head.c.created_at) for head in heads)).subquery()
    ids = list(db.session.scalars(
        db.select(merged.c.id).order_by(merged.c.created_at.desc(), merged.c.id.desc())
        .limit(per_page).offset(depth - per_page)))
    counts = union_all(*(db.select(func.count().label("n")).select_from(Issue).where(*where) for where in branches))
    total = db.session.scalar(db.select(func.coalesce(func.sum(literal_column("n")), 0)).select_from(
        counts.subquery()))
    if not ids:
        return [], int(total)
    found = {issue.id: issue for issue in db.session.scalars(
        db.select(Issue).where(Issue.id.in_(ids)).options(*SUMMARY_LOADS)).unique()}
    return [found[i] for i in ids], int(total)
