"""Residents' issues (意见建议): submit, follow, rate."""
from __future__ import annotations

from flask import Response

from backend.auth import Caller
from backend.permissions import get_station
from backend.services.issues import issue_access, issue_flow, issue_page_cache
from backend.services.issues.inbox import SUMMARY_LOADS
from backend.services.issues.issue_flow import Actor
from backend.services.issues.issue_schemas import (
    CategoryList,
    CategoryOut,
    IssueCreate,
    IssueOut,
    IssuePage,
    PageQuery,
    RatingIn,
)
from backend.services.issues.issue_serialize import issue_detail, issue_summary
from backend.services.issues.submit_issue import IssueDraft, submit_issue
from backend.services.stations import stations
from backend.web.endpoint import ApiBlueprint
from models import Category, Issue, RatingScore, Role, db

bp = ApiBlueprint("issues", __name__, tag="意见建议")


@bp.get("/categories", response=CategoryList)
def categories():
    """意见建议的分类（工作人员可调整）"""
    rows = db.session.scalars(db.select(Category).where(Category.is_active).order_by(Category.sort_order, Category.id))
    return CategoryList(items=[CategoryOut(id=c.id, name=c.name) for c in rows])


@bp.post("/issues", body=IssueCreate, response=IssueOut, status=201, roles={Role.resident}, idempotent=True,
         errors=["station_not_found", "content_rejected", "rate_limited"])
def create(caller: Caller, body: IssueCreate):
    """提交意见建议

    文字先经微信内容安全检查：有风险的拒绝（422），需人工审核或检查不可用时进入「待审核」，
    审核通过前只有提交人和工作人员可见。支持 `Idempotency-Key`。
    """
    station = (stations.find_station_by_scene(body.scene) if body.scene is not None
               else get_station(body.station_id))
    issue = submit_issue(caller, IssueDraft(
        station=station, category=body.category, content=body.content, deputy_id=body.deputy_id,
        image_ids=tuple(body.images), anonymous=body.anonymous, contact_phone=body.contact_phone,
        share_phone=body.share_phone))
    return IssueOut(issue=issue_detail(issue, caller))


@bp.get("/issues/mine", query=PageQuery, response=IssuePage, roles={Role.resident},
        prefetch=issue_page_cache.MINE.prefetch_key)
def mine(caller: Caller, query: PageQuery):
    """我提交的意见建议，最新的在前"""
    def compute() -> bytes:
        where = Issue.submitter_id == caller.user_id
        return page_of(db.select(Issue).where(where).order_by(Issue.created_at.desc(), Issue.id.desc()),
                       query, caller).model_dump_json().encode()

    return Response(issue_page_cache.MINE.page(caller, None, query.page, query.per_page, compute),
                    mimetype="application/json")


@bp.get("/issues/<no>", response=IssueOut, auth=True, errors=["issue_not_found"])
def detail(caller: Caller, no: str):
    """意见建议详情：办理过程和答复（提交人、本站代表、本站工作人员可见）"""
    return IssueOut(issue=issue_detail(issue_access.access_issue(caller, no), caller))


@bp.post("/issues/<no>/rating", body=RatingIn, response=IssueOut, roles={Role.resident},
         errors=["issue_not_found", "invalid_transition"])
def rate(caller: Caller, no: str, body: RatingIn):
    """满意度测评：满意、基本满意则关闭；不满意则重新办理（每次办结只能评价一次）"""
    issue = issue_access.access_issue(caller, no)
    if issue.submitter_id != caller.user_id:
        raise issue_access.IssueNotFound()
    issue_flow.rate_issue(issue, Actor(caller.user, Role.resident), RatingScore(body.score), body.comment)
    return IssueOut(issue=issue_detail(issue, caller))


def page_of(query, page: PageQuery, caller: Caller) -> IssuePage:
    total = db.session.scalar(db.select(db.func.count()).select_from(query.order_by(None).subquery()))
    issues = db.session.scalars(query.options(*SUMMARY_LOADS)
                                .limit(page.per_page).offset((page.page - 1) * page.per_page)).unique().all()
    return IssuePage(items=[issue_summary(i, caller) for i in issues], page=page.page, per_page=page.per_page,
                     total=total)
