"""Staff act on issues of their stations: the queue and its Excel ledger; release or reject
what awaits review, assign."""
from __future__ import annotations

from flask import Response, request

from backend import clock
from backend.auth import Caller
from backend.errors import InvalidInput
from backend.services.issues import issue_flow, issue_queue
from backend.services.issues.issue_schemas import AssignIn, IssueOut, IssuePage, ReasonIn
from backend.services.issues.issue_serialize import STATUS_LABEL, issue_detail
from backend.services.issues.queue_schemas import QueueFilterQuery, QueueQuery
from backend.web.downloads import attachment
from backend.web.endpoint import ApiBlueprint
from miniprogram_api.issues.issues import page_of
from models import Deputy, Role, db

bp = ApiBlueprint("manage_issues", __name__, tag="工作人员")

STAFF = {Role.station_manager, Role.region_admin}
VERB_ERRORS = ["issue_not_found", "invalid_transition"]


def _verb(caller: Caller, no: str, action) -> IssueOut:
    issue = issue_queue.access_managed_issue(caller, no)
    action(issue, issue_flow.staff_actor(caller))
    return IssueOut(issue=issue_detail(issue, caller))


@bp.post("/manage/issues/<no>/release", response=IssueOut, roles=STAFF, errors=VERB_ERRORS)
def release(caller: Caller, no: str):
    """审核通过：待审核的意见建议进入待受理"""
    return _verb(caller, no, issue_flow.release_issue)


@bp.post("/manage/issues/<no>/reject", body=ReasonIn, response=IssueOut, roles=STAFF, errors=VERB_ERRORS)
def reject(caller: Caller, no: str, body: ReasonIn):
    """不予受理（待审核或待受理的），须说明理由"""
    return _verb(caller, no, lambda issue, actor: issue_flow.reject_issue(issue, actor, body.reason))


@bp.post("/manage/issues/<no>/assign", body=AssignIn, response=IssueOut, roles=STAFF, errors=VERB_ERRORS)
def assign(caller: Caller, no: str, body: AssignIn):
    """分派给本站另一位代表（已关闭、不予受理的除外）"""
    deputy = db.session.get(Deputy, body.deputy_id)
    if deputy is None:
        raise InvalidInput({"deputy_id": "代表不存在"})
    return _verb(caller, no, lambda issue, actor: issue_flow.reassign_issue(issue, actor, deputy))


# --- the queue ---

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _single_status_parameter() -> None:
    # Query parsing keeps the first of repeated parameters; silently dropping the others
    # would show a queue narrower than the one asked for.
    if len(request.args.getlist("status")) > 1:
        raise InvalidInput({"status": "多个状态请用英文逗号分隔，如 status=submitted,accepted"})


@bp.get("/manage/issues", query=QueueQuery, response=IssuePage, roles=STAFF)
def queue(caller: Caller, query: QueueQuery):
    """意见建议队列：本人管理的联络站（区域管理员：本区域）的意见建议，可筛选

    含待审核的（由工作人员审核放行）。默认最新的在前；按督办颜色筛选时，期限最早的在前。
    匿名提交的不显示提交人，手机号脱敏。
    """
    _single_status_parameter()
    return page_of(issue_queue.queue_select(caller, query.to_filter()), query, caller)


@bp.get("/manage/issues.xlsx", query=QueueFilterQuery, roles=STAFF,
        produces={XLSX: "意见建议台账（Excel），第一行为表头"})
def queue_xlsx(caller: Caller, query: QueueFilterQuery):
    """导出意见建议台账（Excel），筛选条件同队列

    单次最多导出 10000 条，超过时返回 400，请缩小筛选范围。
    """
    _single_status_parameter()
    data = issue_queue.export_ledger(caller, query.to_filter(), status_label=STATUS_LABEL)
    filename = issue_queue.ledger_filename(clock.beijing_today())
    response = Response(data, mimetype=XLSX)
    # RFC 6266: an ASCII name for old clients, the Chinese one as RFC 5987 UTF-8 for the rest.
    response.headers["Content-Disposition"] = attachment(filename, "issue-ledger-" + filename.rsplit("-", 1)[1])
    # Residents' words and deputies' names: no shared cache may keep a copy.
    response.headers["Cache-Control"] = "no-store"
    return response
