"""Subscribe-message grants (订阅消息授权): what users allowed us to send, counted per template.

A one-time template lets one message through per "accept" the user taps in
wx.requestSubscribeMessage. The mini-program reports each answer (`record_results`); every accept
adds one to `available`, every reject / ban / filter empties it (the user said no). The outbox
takes one before it calls WeChat (`consume_grant`), gives it back when WeChat did not send
(`return_grant`), and empties it when WeChat says the user has none (`revoke_grants`, 43101).
WeChat keeps the real count; ours saves calls we know would be refused, and is capped at
GRANT_CEILING: WeChat documents no ceiling of its own, and a mini-program stuck in a loop of
requests must not make us believe in hundreds of grants that WeChat may never have recorded.

WeChat's push callback reports answers too (`record_pushed`): refusals empty the grant, but an
accept from the popup event is only recorded, because the mini-program reports that same tap
through `record_results` and counting both would give two grants for one.

Everything acts in the current transaction and flushes; the caller commits.
"""
from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy import bindparam, case, select, update
from sqlalchemy.dialects import postgresql, sqlite

from backend import clock
from backend.errors import InvalidInput
from models import OutboxMessage, SubscriptionEvent, SubscriptionGrant, User, db

log = logging.getLogger(__name__)

STATUSES = ("accept", "reject", "ban", "filter")
SOURCES = ("miniprogram", "popup_event", "change_event")
GRANT_CEILING = 100
# wx.requestSubscribeMessage asks about at most 3 templates at once; 20 leaves room and no more.
MAX_TEMPLATES = 20

G = SubscriptionGrant


def configured_templates() -> dict[str, str]:
    """WeChat template id → our template name, for the templates this deployment configured."""
    return {tid: name for name, tid in current_app.config["SUBSCRIBE_TEMPLATE_IDS"].items() if tid}


def record_results(user: User, results: dict[str, str], source: str = "miniprogram") -> list[SubscriptionGrant]:
    """Record the user's answers ({template id: accept|reject|ban|filter}); the grants after them,
    in the order given.

    :raise 400 invalid_input: a template this mini-program does not use (`details.fields`
        names each as `results.<template id>`), a status not listed, or more than MAX_TEMPLATES.
    """
    known = configured_templates()
    fields = {f"results.{tid}": "不是本小程序的订阅消息模板" for tid in results if tid not in known}
    fields.update({f"results.{tid}": "取值应为：accept、reject、ban 或 filter"
                   for tid, status in results.items() if status not in STATUSES})
    if len(results) > MAX_TEMPLATES:
        fields["results"] = f"最多{MAX_TEMPLATES}项"
    if fields:
        raise InvalidInput(fields)
    now = clock.now()
    db.session.add_all(SubscriptionEvent(user_id=user.id, openid=user.openid, template_id=tid, status=status,
                                         source=source, created_at=now) for tid, status in results.items())
    for tid, status in results.items():
        _answer(user.id, tid, status, now)
    db.session.flush()
    by_id = {g.template_id: g for g in grants_of(user.id, list(results))}
    return [by_id[tid] for tid in results]


def grants_of(user_id: int, template_ids: list[str] | None = None) -> list[SubscriptionGrant]:
    """The user's grant rows (of these templates), as stored now."""
    query = select(G).where(G.user_id == user_id).order_by(G.template_id)
    if template_ids is not None:
        query = query.where(G.template_id.in_(template_ids))
    # The UPDATEs here bypass the ORM: reload rows the session may already hold.
    return list(db.session.scalars(query.execution_options(populate_existing=True)))


def consume_grant(user_id: int, template_id: str) -> bool:
    """Take one of the user's grants for a message about to be sent; False when none is left.

    One conditional UPDATE: of two senders at once on the last grant, the second waits for the
    first's transaction and then finds `available` at 0 (PostgreSQL re-checks the condition).
    """
    taken = db.session.execute(_CONSUME, {"user": user_id, "template": template_id, "now": clock.now()}).rowcount
    return taken == 1


# Built once: the outbox's senders run it for every message.
_GRANTS = SubscriptionGrant.__table__
_CONSUME = (update(_GRANTS)
            .where(_GRANTS.c.user_id == bindparam("user"), _GRANTS.c.template_id == bindparam("template"),
                   _GRANTS.c.available > 0)
            .values(available=_GRANTS.c.available - 1, used_total=_GRANTS.c.used_total + 1,
                    updated_at=bindparam("now")))


def return_grant(user_id: int, template_id: str) -> None:
    """Give back the grant `consume_grant` took: WeChat did not send the message.

    Not when the user's last answer since was a refusal: that empties the grant for good.
    """
    db.session.execute(
        update(G).where(G.user_id == user_id, G.template_id == template_id, G.last_status == "accept")
        .values(available=case((G.available >= GRANT_CEILING, GRANT_CEILING), else_=G.available + 1),
                used_total=case((G.used_total > 0, G.used_total - 1), else_=0), updated_at=clock.now())
        .execution_options(synchronize_session=False))


def revoke_grants(user_id: int, template_id: str, status: str = "reject") -> None:
    """WeChat says the user has no grant (43101), or the user refused: nothing is available."""
    db.session.execute(
        update(G).where(G.user_id == user_id, G.template_id == template_id)
        .values(available=0, last_status=status, updated_at=clock.now())
        .execution_options(synchronize_session=False))


def record_pushed(openid: str | None, entries: list[tuple[str, str]], source: str) -> int:
    """Record answers WeChat pushed (popup or settings events): (template id, status) each.

    Every answer becomes an event (with no user when the openid is unknown); a refusal empties the
    user's grant, an accept counts nothing (see the module docstring). Returns the events recorded.
    """
    user_id = db.session.scalar(select(User.id).where(User.openid == openid)) if openid else None
    now = clock.now()
    recorded = 0
    for template_id, status in entries:
        if status not in STATUSES or not template_id or len(template_id) > 128:
            log.info("subscription push: ignored entry %r %r from %s", template_id, status, source)
            continue
        db.session.add(SubscriptionEvent(user_id=user_id, openid=(openid or "")[:64] or None,
                                         template_id=template_id, status=status, source=source, created_at=now))
        recorded += 1
        if user_id is not None and status != "accept":
            _answer(user_id, template_id, status, now)
    db.session.flush()
    return recorded


def record_delivery_reports(reports: list[tuple[str, int, str]]) -> int:
    """WeChat's word on messages it accepted (the sent event): (msgid, errcode, status) each.
    A failure is noted on the outbox message (its state stays: WeChat did take the call).
    Returns the messages noted."""
    noted = 0
    for msgid, errcode, status in reports:
        if errcode == 0 or not msgid or not -2**31 <= errcode < 2**31:
            continue
        noted += db.session.execute(
            update(OutboxMessage).where(OutboxMessage.wechat_msgid == str(msgid))
            .values(last_errcode=errcode, last_error=f"微信投递失败：{status}"[:500])
            .execution_options(synchronize_session=False)).rowcount
    return noted


def _answer(user_id: int, template_id: str, status: str, now) -> None:
    """Apply one answer to the user's grant row, creating it if needed, in one statement (two
    requests at once for the same template must not both insert)."""
    accepted = status == "accept"
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    insert = dialect.insert(G).values(user_id=user_id, template_id=template_id, available=int(accepted),
                                      accepted_total=int(accepted), used_total=0, last_status=status,
                                      updated_at=now)
    if accepted:
        changes = {"available": case((G.available >= GRANT_CEILING, GRANT_CEILING), else_=G.available + 1),
                   "accepted_total": G.accepted_total + 1}
    else:
        changes = {"available": 0}
    db.session.execute(insert.on_conflict_do_update(
        index_elements=["user_id", "template_id"],
        set_={**changes, "last_status": status, "updated_at": now}))
