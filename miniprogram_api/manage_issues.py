"""Staff act on issues of their stations: release or reject what awaits review, assign."""
from __future__ import annotations

from backend.auth import Caller
from backend.endpoint import ApiBlueprint
from backend.errors import InvalidInput
from backend.services import issue_access, issue_flow
from backend.services.issue_flow import Actor
from models import Deputy, Role, db

from .issue_schemas import AssignIn, IssueOut, ReasonIn
from .issue_serialize import issue_detail

bp = ApiBlueprint("manage_issues", __name__, tag="工作人员")

STAFF = {Role.station_manager, Role.region_admin}
VERB_ERRORS = ["issue_not_found", "invalid_transition"]


def _verb(caller: Caller, no: str, action) -> IssueOut:
    issue = issue_access.access_issue(caller, no)
    role = Role.region_admin if caller.has(Role.region_admin) else Role.station_manager
    action(issue, Actor(caller.user, role))
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
