"""The inbox's UNION of index walks answers exactly what the plain OR query answers."""
from __future__ import annotations

import random
from datetime import datetime, timedelta

from backend import clock
from backend.services.issues.inbox import deputy_inbox
from backend.services.issues.issue_access import deputy_clause
from models import Issue, IssueStatus, db
from tests.factories import create_categories, create_deputy, create_issue, create_region_tree, create_station


def _plain(deputy_id, station_ids, status):
    where = [deputy_clause(deputy_id, station_ids)]
    if status is not None:
        where.append(Issue.status == status)
    query = db.select(Issue.id).where(*where).order_by(Issue.created_at.desc(), Issue.id.desc())
    return list(db.session.scalars(query))


def test_every_page_equals_the_plain_query(ctx):
    rng = random.Random(20261123)
    create_categories()
    regions = create_region_tree()
    stations = [create_station(regions["township"], scene=f"inbox{n}") for n in range(4)]
    me = create_deputy(name="本人", stations=stations[:2])
    others = [create_deputy(name=f"代表{n}", stations=[stations[n % 4]]) for n in range(3)]
    start = datetime(2026, 1, 5, 9, 0, tzinfo=clock.BEIJING)
    for n in range(160):
        # Few distinct times, so rows tie on created_at and the id must break the tie.
        created = start + timedelta(hours=rng.randrange(40))
        create_issue(rng.choice(stations), created_at=created, status=rng.choice(list(IssueStatus)),
                     addressed_deputy=rng.choice([None, None, me, others[0]]),
                     assigned_deputy=rng.choice([None, me, others[1], others[2]]))
    station_ids = [stations[0].id, stations[1].id]
    for status in (None, IssueStatus.submitted, IssueStatus.accepted, IssueStatus.pending_review):
        expected = _plain(me.id, station_ids, status)
        assert status is IssueStatus.pending_review or expected  # the data exercises every branch
        for per_page in (1, 7, 20, 100):
            seen = []
            for page in range(1, len(expected) // per_page + 3):
                issues, total = deputy_inbox(me.id, station_ids, status, page, per_page)
                assert total == len(expected)
                seen.extend(issue.id for issue in issues)
            assert seen == expected, (status, per_page)


def test_a_deputy_of_no_station_still_sees_what_is_addressed_or_assigned(ctx):
    create_categories()
    station = create_station(create_region_tree()["township"], scene="inbox9")
    me = create_deputy(name="无站代表", stations=[])
    addressed = create_issue(station, addressed_deputy=me)
    assigned = create_issue(station, assigned_deputy=me, status=IssueStatus.accepted)
    create_issue(station)
    create_issue(station, addressed_deputy=me, status=IssueStatus.pending_review)
    issues, total = deputy_inbox(me.id, [], None, 1, 20)
    assert total == 2 and {i.id for i in issues} == {addressed.id, assigned.id}
