"""Planning many messages at once (a reception day's reminders): on PostgreSQL they go in by COPY,
a few by INSERT; either way each (recipient, template, cause) is planned once, with its values."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backend import clock
from backend.services.messaging import outbox
from backend.wechat import templates
from models import OutboxMessage, OutboxState, User, db

NOW = datetime(2027, 1, 5, 10, 0, tzinfo=UTC)


def _rows(users: list[User], cause: str) -> list[dict]:
    rows = []
    for n, user in enumerate(users):
        rows.append({
            "recipient_id": user.id, "template": "reception_reminder", "cause": cause,
            "openid": user.openid,
            # Quotes, braces and backslashes: what COPY's text format must escape.
            "data": {"thing1": {"value": f'站"{n}"{{\\}}\t'}, "date2": {"value": "2027年1月6日"}},
            "expires_at": None if n % 2 else NOW + timedelta(hours=n % 7),
            "not_before": NOW + timedelta(minutes=n % 3) if n % 5 == 0 else None,
        })
    return rows


@pytest.mark.parametrize("count", [3, 700])
def test_many_messages_are_planned_once_with_their_values(ctx, count):
    clock.freeze(NOW)
    users = [User(openid=f"plan-{n}" if n % 4 else None) for n in range(count)]
    db.session.add_all(users)
    db.session.commit()
    assert outbox.enqueue_many(_rows(users, "day-1")) == count
    # Again, with half of them under a new cause: only those are new, in the same transaction.
    again = _rows(users, "day-1") + _rows(users[: count // 2], "day-2")
    assert outbox.enqueue_many(again) == count // 2
    db.session.commit()
    assert outbox.enqueue_many(_rows(users, "day-1")) == 0
    db.session.commit()

    planned = {(m.recipient_id, m.cause): m for m in db.session.scalars(db.select(OutboxMessage))}
    assert len(planned) == count + count // 2
    for n, user in enumerate(users):
        message = planned[(user.id, "day-1")]
        assert message.openid == user.openid
        assert message.data["thing1"]["value"] == f'站"{n}"{{\\}}\t'
        assert message.expires_at == (None if n % 2 else NOW + timedelta(hours=n % 7))
        assert message.not_before == (NOW + timedelta(minutes=n % 3) if n % 5 == 0 else NOW)
        assert message.state == OutboxState.pending and message.attempts == 0
        assert message.template_id == templates.template_id("reception_reminder")
        assert message.page == templates.TEMPLATES["reception_reminder"].page
