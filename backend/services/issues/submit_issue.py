"""A resident submits an issue (意见建议) to a station.

The text goes through WeChat's content check first: risky text is refused (422
`content_rejected`), and text the check wants reviewed — or could not judge because WeChat
was unavailable — is kept as `pending_review` for staff, never lost and never shown to the
station's deputies until released.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm.attributes import set_committed_value

from backend import clock
from backend.auth import Caller
from backend.caches import rate_limit, tagged_cache
from backend.crypto import encrypt_text, mask_phone
from backend.errors import ApiError, InvalidInput
from backend.rows import insert_row
from backend.services.content import content_check
from backend.services.content.uploads import owned_uploads
from backend.services.issues import issue_numbers, issue_page_cache
from backend.services.issues.issue_flow import ACCEPT_WITHIN_WORKDAYS
from backend.services.reference import workdays
from models import (
    Category,
    Deputy,
    Issue,
    IssueEvent,
    IssueImage,
    IssueStatus,
    Station,
    StationMembership,
    db,
)
from models.content.upload import MediaCheckStatus

# Per user, not per address: many residents share a carrier's address.
MAX_SUBMISSIONS_PER_HOUR = 10
RATE_BUCKET = "issue-submit"

# Categories change rarely, and every change bumps the generation of what issues show.
_categories = tagged_cache.ProcessMemo(issue_page_cache.EVERYTHING)


class ContentRejected(ApiError):
    status, code, message = 422, "content_rejected", "内容未通过安全检查，请修改后再提交"


@dataclass
class IssueDraft:
    station: Station
    category: str
    content: str
    deputy_id: int | None = None
    image_ids: tuple[int, ...] = ()
    anonymous: bool = False
    contact_phone: str | None = None
    share_phone: bool = False


def submit_issue(caller: Caller, draft: IssueDraft) -> Issue:
    """Create the issue, numbered, with its deadlines and its first event.

    The issue comes back outside the session with every relationship its answer shows already
    in hand (station, category, images, the one event, no replies, transfers or ratings), so
    answering it costs no further query.

    :raise 400 invalid_input: unknown category, a deputy not of this station, images not the caller's.
    :raise 422 content_rejected: the content check found the text risky.
    :raise 429 rate_limited: more than MAX_SUBMISSIONS_PER_HOUR in the last hour.
    """
    with rate_limit.reserve(RATE_BUCKET, caller.user_id, MAX_SUBMISSIONS_PER_HOUR, timedelta(hours=1),
                            count_in_db=lambda: _submitted_within(caller, timedelta(hours=1)),
                            message="提交过于频繁，每小时最多提交10条，请稍后再试"):
        category = _check_references(draft)
        uploads = _check_images(caller, draft.image_ids)
        verdict = content_check.check_text(caller.openid or "", draft.content)
        if verdict.suggest == "risky":
            raise ContentRejected()
        status = IssueStatus.submitted if verdict.suggest == "pass" else IssueStatus.pending_review

        today = clock.beijing_today()
        accept_due = workdays.add_workdays(today, ACCEPT_WITHIN_WORKDAYS)
        now = clock.now()
        issue = Issue(
            station_id=draft.station.id, category_id=category.id, content=draft.content,
            submitter_id=caller.user_id, is_anonymous=draft.anonymous,
            addressed_deputy_id=draft.deputy_id, status=status,
            content_check=verdict.suggest, content_check_trace_id=verdict.trace_id,
            accept_due_on=accept_due.date, deadline_estimated=accept_due.estimated, created_at=now)
        if draft.contact_phone:
            issue.contact_phone_encrypted = encrypt_text(draft.contact_phone)
            issue.contact_phone_masked = mask_phone(draft.contact_phone)
            issue.contact_phone_shared = draft.share_phone
        # The hottest write there is: one INSERT per row, the number drawn inside the first.
        number_sql, number_params = issue_numbers.number_for(today)
        insert_row(issue, number_sql, **number_params)
        event = insert_row(IssueEvent(
            issue_id=issue.id, kind="submitted", from_status=None, to_status=status.value,
            actor_id=caller.user_id, actor_role="resident", created_at=now,
            note=None if status == IssueStatus.submitted else "待审核"))
        images = []
        for position, upload in enumerate(uploads):
            image = insert_row(IssueImage(issue_id=issue.id, upload_id=upload.id, position=position))
            set_committed_value(image, "upload", upload)
            images.append(image)
        # What the answer shows, from what is in hand: the addressed deputy by name, nobody
        # assigned yet, no replies, transfers or ratings.
        addressed = db.session.get(Deputy, draft.deputy_id) if draft.deputy_id else None
        for name, value in (("station", draft.station), ("category", category), ("images", images),
                            ("events", [event]), ("replies", []), ("transfers", []), ("ratings", []),
                            ("addressed_deputy", addressed), ("assigned_deputy", None)):
            set_committed_value(issue, name, value)
        return issue


def _submitted_within(caller: Caller, window: timedelta) -> int:
    return db.session.scalar(db.select(db.func.count(Issue.id)).where(
        Issue.submitter_id == caller.user_id, Issue.created_at > clock.now() - window))


def _check_references(draft: IssueDraft) -> Category:
    """The draft's category, once it and the addressed deputy are known to be valid."""
    fields: dict[str, str] = {}
    category = _categories.get_row(draft.category, db.select(Category).where(
        Category.name == draft.category, Category.is_active))
    if category is None:
        fields["category"] = "请选择有效的分类"
    if draft.deputy_id is not None:
        member = db.session.scalar(db.select(StationMembership.id).where(
            StationMembership.station_id == draft.station.id, StationMembership.deputy_id == draft.deputy_id,
            StationMembership.current_on(clock.beijing_today())).limit(1))
        if member is None:
            fields["deputy_id"] = "该代表不属于本联络站"
    if fields:
        raise InvalidInput(fields)
    return category


def _check_images(caller: Caller, image_ids) -> list:
    """The caller's uploads to attach. An image WeChat found risky is refused; one still being
    checked is attached and stays visible only to its sender until the verdict comes.

    :raise 400 invalid_input: an image not the caller's, given twice, risky, or already used.
    """
    uploads = owned_uploads(caller.user_id, image_ids)
    for upload in uploads:
        if upload.media_check_status in (MediaCheckStatus.risky, MediaCheckStatus.review):
            raise InvalidInput({"images": "有图片未通过安全检查，请删除后再提交"})
    used = db.session.scalar(db.select(IssueImage.id).where(
        IssueImage.upload_id.in_([u.id for u in uploads])).limit(1)) if uploads else None
    if used is not None:
        raise InvalidInput({"images": "图片已用于其他意见建议，请重新上传"})
    return uploads
