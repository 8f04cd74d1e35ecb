"""审计日志: region admins review who did what and who saw whose personal data, within their
region (`services/privacy/audit_log` decides which entries that is), filter and page them, and
export the filtered entries to Excel."""
from __future__ import annotations

from datetime import timedelta

from flask import Response, current_app, g, render_template, request, url_for

from backend import clock
from backend.console import forms
from backend.console.blueprint import bp
from backend.console.issues import VERBS
from backend.console.security import admin_only
from backend.services.privacy import audit_log
from backend.web.downloads import attachment

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Counted up to a cap, as the issue queue is: nobody pages past two hundred pages of a log.
COUNT_CAP = 10_000


# The console's own writes, as staff name them (the API's routes carry their summary as docstring).
CONSOLE_ACTIONS = {
    "console.change_reception_day": "调整接待日", "console.close_station": "停用联络站",
    "console.edit_station": "修改联络站信息", "console.generate_roster": "生成排班草稿",
    "console.import_deputies": "导入代表名册", "console.import_stations": "导入联络站",
    "console.invite_deputy": "生成代表邀请码", "console.new_station": "新建联络站", "console.logout": "退出登录",
    "console.publish_roster": "发布排班", "console.reopen_station": "恢复启用联络站",
    "console.retire_deputy": "办理代表离任", "console.staff_action": "管理工作人员账号",
    "console.staff_list": "新建站长账号",
}


def action_label(entry) -> str:
    """What an entry's action was, in the words of the page or API route it came from; the
    route's name where it has none (an auditor can still search by it)."""
    action = entry.action
    if action == "console.act":
        verb = ((entry.detail or {}).get("args") or {}).get("verb")
        return f"意见建议·{VERBS[verb][0]}" if verb in VERBS else "办理意见建议"
    if action in CONSOLE_ACTIONS:
        return CONSOLE_ACTIONS[action]
    view = current_app.view_functions.get(action)
    summary = ((view.__doc__ or "").strip().splitlines() or [""])[0] if view is not None else ""
    if not summary or summary.isascii():
        return action
    for mark in ("：", "（", "，"):
        summary = summary.split(mark, 1)[0]
    return summary[:30]


def _filters() -> audit_log.AuditFilter:
    today = clock.beijing_today()
    start, end = forms.period(today - timedelta(days=29), today)
    return audit_log.AuditFilter(start=start, end=end, actor=forms.text_arg("actor", 64),
                                 kind=forms.text_arg("kind", 16), action=forms.text_arg("action", 64),
                                 target_type=forms.text_arg("target_type", 24),
                                 target_id=forms.text_arg("target_id", 64))


@bp.get("/audit")
@admin_only
def audit_entries():
    filters = _filters()
    total = audit_log.count_entries(g.staff, filters, cap=COUNT_CAP)
    pages = max(1, -(-min(total, COUNT_CAP) // audit_log.PER_PAGE))
    page = min(forms.int_arg("page", "页码") or 1, pages)
    args = {key: value for key, value in request.args.items() if value and key != "page"}
    return render_template(
        "console/audit.html", rows=audit_log.page_of_entries(g.staff, filters, page), filters=filters,
        total=total, capped=total > COUNT_CAP, page=page, pages=pages, args=args, kinds=audit_log.KIND_LABELS,
        targets=audit_log.TARGET_LABELS, roles=audit_log.ROLE_LABELS, describe=audit_log.describe,
        target_text=audit_log.target_text, kind_of=audit_log.kind_of, action_label=action_label,
        export_url=url_for("console.audit_xlsx", **args))


@bp.get("/audit.xlsx")
@admin_only
def audit_xlsx():
    data = audit_log.export_workbook(g.staff, _filters(), action_label=action_label)
    today = clock.beijing_today()
    response = Response(data, mimetype=XLSX)
    response.headers["Content-Disposition"] = attachment(audit_log.filename(today), f"audit-log-{today}.xlsx")
    return response
