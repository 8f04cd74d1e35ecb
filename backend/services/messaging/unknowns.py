"""Deciding on `unknown` messages: the outbox's at-most-once leaves them to a person.

A message is `unknown` when its request reached WeChat and no answer came back (or its sender
died between the call and the commit): WeChat may or may not have delivered it, and
`subscribe/send` has no idempotency key, so nothing resends it by itself. A region admin looks
at whom it concerned and decides, once:
- `resend`: a new message, planned now with the same recipient, template and content, its
  `resend_of_id` pointing back (at most one per unknown message, held by a unique key); the
  sender sends it like any other — and it may itself end unknown, to be decided on again;
- `not_resent`: closed as not resent.
The decision (which, by whom, when) stays on the unknown row; the console's write adds the
audit entry in the same transaction.
"""
from __future__ import annotations

from sqlalchemy import func, select, text, update

from backend import clock
from backend.errors import ApiError, NotFound
from backend.services.messaging.outbox import NOTIFY_CHANNEL
from models import OutboxMessage, OutboxState, db

RESEND = "resent"
NOT_RESENT = "not_resent"
DECISION_LABELS = {RESEND: "已重新发送", NOT_RESENT: "已确认不再发送"}


class AlreadyDecided(ApiError):
    status, code, message = 409, "conflict", "这条消息已有处理决定，请刷新页面查看"


class NoLongerWorthSending(ApiError):
    status, code, message = 409, "conflict", "这条提醒已过时效（如接待日已过），不能重新发送，可选择不再发送"


def decide(message_id: int, decision: str, *, by_user_id: int, station_ids) -> OutboxMessage:
    """Record `decision` (RESEND or NOT_RESENT) on the unknown message `message_id` of one of the
    stations `station_ids` (a select of ids: the caller's scope); for RESEND, plan the new message.
    Returns the new message for RESEND, the decided one otherwise. The caller commits.

    :raise 404 not_found: no unknown message of that id about the caller's stations.
    :raise 409 conflict: decided already (by someone else meanwhile, too), or a resend of a
        message whose time has passed.
    """
    if decision not in (RESEND, NOT_RESENT):
        raise ValueError(decision)
    message = db.session.scalar(select(OutboxMessage).where(
        OutboxMessage.id == message_id, OutboxMessage.state == OutboxState.unknown,
        OutboxMessage.station_id.in_(station_ids)))
    if message is None:
        raise NotFound()
    now = clock.now()
    if decision == RESEND and message.expires_at is not None and message.expires_at <= now:
        raise NoLongerWorthSending()
    # Conditional: of two admins deciding at once, one wins and the other is told.
    decided = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.decision.is_(None))
        .values(decision=decision, decided_by_id=by_user_id, decided_at=now)
        .execution_options(synchronize_session=False))
    if decided.rowcount != 1:
        raise AlreadyDecided()
    db.session.refresh(message)
    if decision == NOT_RESENT:
        return message
    again = OutboxMessage(
        recipient_id=message.recipient_id, template=message.template, cause=f"resend:{message.id}",
        template_id=message.template_id, station_id=message.station_id, openid=message.openid, page=message.page,
        data=message.data, state=OutboxState.pending, not_before=now, expires_at=message.expires_at, attempts=0,
        created_at=now, resend_of_id=message.id)
    db.session.add(again)
    db.session.flush()
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))  # senders wake at commit
    return again


def resends_of(message_ids: list[int]) -> dict[int, OutboxMessage]:
    """The resent message of each of `message_ids` that has one."""
    if not message_ids:
        return {}
    return {m.resend_of_id: m for m in db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.resend_of_id.in_(message_ids)))}


def undecided_count() -> int:
    """Unknown messages nobody has decided on yet: what an operator's alert should watch."""
    return db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.state == OutboxState.unknown, OutboxMessage.decision.is_(None)))
