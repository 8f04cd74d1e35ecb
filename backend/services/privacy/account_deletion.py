"""注销账号: a resident's request to delete their personal data (PIPL 第四十七条).

What identifies the resident goes: their WeChat ids and session key, the phone numbers they gave
on issues, the stations they follow, their message grants, the openid on messages planned or
sent to them, their stored request replays. Their issues stay — a problem reported to a people's
congress is part of its public work and of the figures it reports — but anonymised: marked
anonymous, no phone, submitted by an emptied account that identifies no one. Images they
uploaded and never attached are purged by housekeeping within a day, as anyone's are; images on
issues stay with the issue.

Deputies and staff cannot delete themselves: a deputy's account is undone by retirement
(`retirement`), a staff account by its region admin.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update

from backend import clock
from backend.auth import Caller
from backend.errors import Conflict
from backend.services.privacy import audit
from models import (
    IdempotencyRecord,
    Issue,
    OutboxMessage,
    OutboxState,
    StationFollow,
    SubscriptionEvent,
    SubscriptionGrant,
    User,
    db,
)


class NotSelfDeletable(Conflict):
    message = "代表和工作人员的账号不能自行注销，请联系联络站工作人员办理"


@dataclass(frozen=True)
class Deletion:
    deleted_at: datetime
    issues_anonymised: int


def delete_resident(caller: Caller) -> Deletion:
    """Delete the calling resident's personal data; flushed, committed by the request.

    :raise 409 conflict: the caller is a deputy or staff.
    """
    if caller.deputy_id is not None or caller.staff_id is not None:
        raise NotSelfDeletable()
    user = db.session.scalar(select(User).where(User.id == caller.user_id).with_for_update())
    now = clock.now()
    anonymised = db.session.execute(
        update(Issue).where(Issue.submitter_id == user.id)
        .values(is_anonymous=True, contact_phone_encrypted=None, contact_phone_masked=None,
                contact_phone_shared=False)
        .execution_options(synchronize_session=False)).rowcount
    db.session.execute(delete(StationFollow).where(StationFollow.user_id == user.id))
    db.session.execute(delete(SubscriptionGrant).where(SubscriptionGrant.user_id == user.id))
    db.session.execute(update(SubscriptionEvent).where(SubscriptionEvent.user_id == user.id).values(openid=None))
    db.session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.user_id == user.id))
    # Nothing more goes to them. A message a sender holds right now keeps its openid: the
    # sender records the outcome of a call already made (skipping it would lose that).
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.recipient_id == user.id, OutboxMessage.state.in_([OutboxState.pending,
                                                                                OutboxState.deferred]))
        .values(state=OutboxState.skipped, finished_at=now, last_error="居民已注销账号")
        .execution_options(synchronize_session=False))
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.recipient_id == user.id, OutboxMessage.state != OutboxState.sending)
        .values(openid=None).execution_options(synchronize_session=False))
    user.openid = user.unionid = user.session_key = None
    user.is_active = False
    user.token_version += 1  # every token they hold stops working
    user.deleted_at = now
    audit.record("resident.delete", user_id=user.id, role="resident", target_type="user", target_id=user.id,
                 detail={"issues_anonymised": anonymised})
    db.session.flush()
    return Deletion(deleted_at=now, issues_anonymised=anonymised)
