"""审计日志: region admins review who did what and who saw whose personal data, within their
region (`services/privacy/audit_log` decides which entries that is), filter and page them, and
export the filtered entries to Excel."""
from __future__ import annotations

from datetime import timedelta

from flask import Response, g, render_template, request, url_for

from backend import clock
from backend.console import forms
from backend.console.blueprint import bp
from backend.console.security import admin_only
from backend.services.privacy import audit_log
from backend.web.downloads import attachment

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Counted up to a cap, as the issue queue is: nobody pages past two hundred pages of a log.
COUNT_CAP = 10_000


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
    total = min(audit_log.count_entries(g.staff, filters), COUNT_CAP + 1)
    pages = max(1, -(-min(total, COUNT_CAP) // audit_log.PER_PAGE))
    page = min(forms.int_arg("page", "页码") or 1, pages)
    args = {key: value for key, value in request.args.items() if value and key != "page"}
    return render_template(
        "console/audit.html", rows=audit_log.page_of_entries(g.staff, filters, page), filters=filters,
        total=total, capped=total > COUNT_CAP, page=page, pages=pages, args=args, kinds=audit_log.KIND_LABELS,
        targets=audit_log.TARGET_LABELS, roles=audit_log.ROLE_LABELS, describe=audit_log.describe,
        target_text=audit_log.target_text, kind_of=audit_log.kind_of,
        export_url=url_for("console.audit_xlsx", **args))


@bp.get("/audit.xlsx")
@admin_only
def audit_xlsx():
    data = audit_log.export_workbook(g.staff, _filters())
    today = clock.beijing_today()
    response = Response(data, mimetype=XLSX)
    response.headers["Content-Disposition"] = attachment(audit_log.filename(today), f"audit-log-{today}.xlsx")
    return response
