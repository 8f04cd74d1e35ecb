"""Deputies answer residents' issues: the inbox and the state machine's verbs."""
from __future__ import annotations

from flask import Response

from backend.auth import Caller
from backend.services.issues import issue_access, issue_flow, issue_page_cache
from backend.services.issues.inbox import deputy_inbox
from backend.services.issues.issue_flow import Actor
from backend.services.issues.issue_schemas import (
    DepartmentResultIn,
    InboxQuery,
    IssueOut,
    IssuePage,
    ReasonIn,
    ReplyIn,
    ResolveIn,
    TransferIn,
)
from backend.services.issues.issue_serialize import issue_detail, issue_summary
from backend.web.endpoint import ApiBlueprint
from models import IssueStatus, Role

bp = ApiBlueprint("deputy_issues", __name__, tag="代表办理")

VERB_ERRORS = ["issue_not_found", "invalid_transition"]


def _actor(caller: Caller) -> Actor:
    return Actor(caller.user, Role.deputy, caller.deputy)


@bp.get("/deputy/inbox", query=InboxQuery, response=IssuePage, roles={Role.deputy},
        prefetch=issue_page_cache.INBOX.prefetch_key)
def inbox(caller: Caller, query: InboxQuery):
    """代表待办：本人所在联络站的、点名给本人的、分派给本人的意见建议（不含待审核），最新的在前"""
    def compute() -> bytes:
        issues, total = deputy_inbox(caller.deputy_id, caller.deputy_station_ids,
                                     IssueStatus(query.status) if query.status else None, query.page, query.per_page)
        return IssuePage(items=[issue_summary(i, caller) for i in issues], page=query.page,
                         per_page=query.per_page, total=total).model_dump_json().encode()

    body = issue_page_cache.INBOX.page(caller, query.status, query.page, query.per_page, compute)
    return Response(body, mimetype="application/json")


def _verb(caller: Caller, no: str, action) -> IssueOut:
    issue = issue_access.access_issue(caller, no)
    action(issue, _actor(caller))
    return IssueOut(issue=issue_detail(issue, caller))


@bp.post("/deputy/issues/<no>/accept", response=IssueOut, roles={Role.deputy}, errors=VERB_ERRORS)
def accept(caller: Caller, no: str):
    """受理（分派给点名的代表，未点名则分派给本人）"""
    return _verb(caller, no, issue_flow.accept_issue)


@bp.post("/deputy/issues/<no>/reject", body=ReasonIn, response=IssueOut, roles={Role.deputy}, errors=VERB_ERRORS)
def reject(caller: Caller, no: str, body: ReasonIn):
    """不予受理（须说明理由）"""
    return _verb(caller, no, lambda issue, actor: issue_flow.reject_issue(issue, actor, body.reason))


@bp.post("/deputy/issues/<no>/reply", body=ReplyIn, response=IssueOut, roles={Role.deputy}, errors=VERB_ERRORS)
def reply(caller: Caller, no: str, body: ReplyIn):
    """答复居民（可多次答复；首次答复计入首次响应时间）"""
    return _verb(caller, no, lambda issue, actor: issue_flow.reply_to_issue(issue, actor, body.content, body.public))


@bp.post("/deputy/issues/<no>/transfer", body=TransferIn, response=IssueOut, roles={Role.deputy},
         errors=VERB_ERRORS)
def transfer(caller: Caller, no: str, body: TransferIn):
    """交办承办单位，并设定办理期限"""
    return _verb(caller, no, lambda issue, actor: issue_flow.transfer_issue(issue, actor, body.department,
                                                                          body.deadline))


@bp.post("/deputy/issues/<no>/department-result", body=DepartmentResultIn, response=IssueOut,
         roles={Role.deputy}, errors=VERB_ERRORS)
def department_result(caller: Caller, no: str, body: DepartmentResultIn):
    """登记承办单位的办理结果（同时作为一次答复）"""
    return _verb(caller, no, lambda issue, actor: issue_flow.record_department_result(issue, actor, body.content))


@bp.post("/deputy/issues/<no>/resolve", body=ResolveIn, response=IssueOut, roles={Role.deputy},
         errors=VERB_ERRORS)
def resolve(caller: Caller, no: str, body: ResolveIn):
    """办结（附办理情况说明），居民随后可评价"""
    return _verb(caller, no, lambda issue, actor: issue_flow.resolve_issue(issue, actor, body.summary))
