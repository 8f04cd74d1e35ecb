"""提醒: the subscribe messages about the caller's stations — each one's state (sent, no grant,
deferred to tomorrow's quota, unknown …) — and whether the scheduler and the senders are
working (services/reporting/monitoring.py, the same figures /metrics exposes)."""
from __future__ import annotations

from flask import g, redirect, render_template, request, url_for

from backend.console import forms
from backend.console.blueprint import bp
from backend.console.security import admin_only
from backend.errors import InvalidInput
from backend.services.duty.attendance import scoped_station_ids
from backend.services.messaging import outbox, unknowns
from backend.services.reporting import monitoring
from backend.wechat.templates import TEMPLATES
from models import OutboxState

PER_PAGE = 50
STATE_LABELS = {
    "pending": "待发送", "sending": "发送中", "sent": "已送达微信", "no_grant": "用户未授权", "deferred": "今日额度已满，明天发送",
    "failed": "发送失败", "unknown": "结果未知", "skipped": "已无需发送",
}
JOB_STATUS_LABELS = {"ok": "成功", "failed": "失败", "running": "运行中", None: "尚未运行"}


@bp.get("/reminders")
def reminders():
    state = forms.text_arg("state", 16)
    template = forms.text_arg("template", 32)
    if state is not None and state not in STATE_LABELS:
        raise InvalidInput({"state": "未知的状态"}, message=f"未知的状态：{state}")
    if template is not None and template not in TEMPLATES:
        raise InvalidInput({"template": "未知的消息类型"}, message=f"未知的消息类型：{template}")
    ids = scoped_station_ids(g.staff)
    rows, total = monitoring.station_messages(ids, state=state, template=template, page=1, per_page=PER_PAGE)
    pages = max(1, -(-total // PER_PAGE))
    page = min(forms.int_arg("page", "页码") or 1, pages)
    if page > 1:
        rows, total = monitoring.station_messages(ids, state=state, template=template, page=page, per_page=PER_PAGE)
    args = {key: value for key, value in request.args.items() if value and key != "page"}
    return render_template(
        "console/reminders.html", rows=rows, total=total, page=page, pages=pages, args=args,
        counts=outbox.counts_by_state(ids), health=monitoring.snapshot(), states=STATE_LABELS,
        state_order=[s.value for s in OutboxState], templates=TEMPLATES, job_status=JOB_STATUS_LABELS,
        decisions=unknowns.DECISION_LABELS)


# A region admin's decision on an `unknown` message (services/messaging/unknowns.py): one
# address per decision, so the audit entry's action names which was taken.
@bp.post("/reminders/<int:message_id>/resend")
@admin_only
def resend_unknown(message_id: int):
    return _decide(message_id, unknowns.RESEND, "已重新安排发送这条消息")


@bp.post("/reminders/<int:message_id>/close")
@admin_only
def close_unknown(message_id: int):
    return _decide(message_id, unknowns.NOT_RESENT, "已确认不再发送这条消息")


def _decide(message_id: int, decision: str, success: str):
    forms.attempt(lambda: unknowns.decide(message_id, decision, by_user_id=g.staff.user_id,
                                          station_ids=scoped_station_ids(g.staff)), success)
    return redirect(url_for("console.reminders", state="unknown"))
