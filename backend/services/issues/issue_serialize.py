"""Issues → response schemas, shaped for the viewer.

An anonymous issue shows deputies and staff nothing of its sender; a contact phone is masked
for everyone except the deputy handling it, on the issue's own page, and only when the resident
consented (that view is audited).
"""
from __future__ import annotations

from backend import clock
from backend.auth import Caller
from backend.crypto import decrypt_text
from backend.services.content.uploads import media_url
from backend.services.issues.issue_schemas import (
    ImageOut,
    IssueDetail,
    IssueEventOut,
    IssueSummary,
    NamedRef,
    RatingOut,
    ReplyOut,
    TransferOut,
)
from backend.services.privacy import audit
from backend.services.reference import workdays
from models import Issue, IssueStatus

STATUS_LABEL = {
    IssueStatus.pending_review: "待审核",
    IssueStatus.submitted: "待受理",
    IssueStatus.accepted: "已受理",
    IssueStatus.replied: "已答复",
    IssueStatus.transferred: "已交办",
    IssueStatus.resolved: "已办结",
    IssueStatus.closed: "已关闭",
    IssueStatus.rejected: "不予受理",
    IssueStatus.reopened: "重新办理",
}


def _ref(obj) -> NamedRef | None:
    return NamedRef(id=obj.id, name=obj.name) if obj is not None else None


def current_due(issue: Issue):
    """The deadline the issue's clock runs against now, if one runs."""
    if issue.status == IssueStatus.submitted:
        return issue.accept_due_on
    if issue.status == IssueStatus.accepted and issue.first_response_at is None:
        return issue.reply_due_on
    if issue.status == IssueStatus.transferred and issue.transfers:
        return issue.transfers[-1].due_on
    return None


def _phone(issue: Issue, caller: Caller, reveal: bool) -> str | None:
    """The mask, or — on the issue's own page, to the deputy handling it, with the resident's
    consent — the whole number, which is a view of personal data and audited. Lists show only
    the mask: a list is glanced at, and the inbox's cached pages would bypass the audit."""
    if issue.contact_phone_masked is None:
        return None
    if not reveal:
        return issue.contact_phone_masked
    handling = caller.deputy_id is not None and issue.assigned_deputy_id == caller.deputy_id
    if (handling and issue.contact_phone_shared and issue.contact_phone_encrypted
            and issue.submitter_id != caller.user_id):
        whole = decrypt_text(issue.contact_phone_encrypted)
        if whole is not None:
            audit.viewed(caller, "contact_phone", "issue", issue.no)
            return whole
    return issue.contact_phone_masked


def _summary_fields(issue: Issue, caller: Caller, reveal_phone: bool = False) -> dict:
    due = current_due(issue)
    rated_this_round = any(r.resolution_round == issue.resolution_round for r in issue.ratings)
    return dict(
        no=issue.no, status=issue.status.value, status_label=STATUS_LABEL[issue.status],
        category=issue.category.name, content=issue.content, station=_ref(issue.station),
        anonymous=issue.is_anonymous, addressed_deputy=_ref(issue.addressed_deputy),
        assigned_deputy=_ref(issue.assigned_deputy), escalated_to_manager=issue.escalated_to_manager,
        contact_phone=_phone(issue, caller, reveal_phone),
        created_at=issue.created_at, accepted_at=issue.accepted_at, first_response_at=issue.first_response_at,
        resolved_at=issue.resolved_at, closed_at=issue.closed_at, accept_due_on=issue.accept_due_on,
        reply_due_on=issue.reply_due_on, deadline_estimated=issue.deadline_estimated,
        clock=workdays.clock_colour(due, clock.beijing_today()) if due else None,
        resolution_summary=issue.resolution_summary, reject_reason=issue.reject_reason,
        can_rate=(issue.submitter_id == caller.user_id and issue.status == IssueStatus.resolved
                  and not rated_this_round),
    )


def issue_summary(issue: Issue, caller: Caller) -> IssueSummary:
    return IssueSummary(**_summary_fields(issue, caller))


def _images(issue: Issue, caller: Caller, media_base: str | None) -> list[ImageOut]:
    moderator = caller.staff_id is not None
    images = []
    for image in issue.images:
        url = media_url(image.upload, caller.user_id, moderator=moderator, base=media_base)
        if url is not None:
            images.append(ImageOut(id=image.upload_id, url=url, media_check=image.upload.media_check_status.value))
    return images


def issue_detail(issue: Issue, caller: Caller, *, media_base: str | None = None) -> IssueDetail:
    """`media_base`: what image links start with (see `uploads.media_url`); the console gives its
    own root, as its pages may be served on another address than PUBLIC_BASE_URL."""
    return IssueDetail(
        **_summary_fields(issue, caller, reveal_phone=True),
        images=_images(issue, caller, media_base),
        events=[IssueEventOut(kind=e.kind, from_status=e.from_status, to_status=e.to_status,
                              actor_role=e.actor_role, note=e.note, created_at=e.created_at) for e in issue.events],
        replies=[ReplyOut(id=r.id, kind=r.kind, content=r.content, public=r.is_public,
                          deputy=_ref(r.deputy) if r.deputy_id else None, created_at=r.created_at)
                 for r in issue.replies],
        transfers=[TransferOut(department=t.department_name, deadline=t.due_on, created_at=t.created_at,
                               result_at=t.result_at) for t in issue.transfers],
        ratings=[RatingOut(score=r.score.value, comment=r.comment, created_at=r.created_at) for r in issue.ratings],
    )
