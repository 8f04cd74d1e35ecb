"""Schemas of residents' issues: what is submitted, and what each viewer is shown."""
from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, field_validator, model_validator

from backend.crypto import MOBILE
from backend.validation import ApiModel, BeijingDateTime, RowId

StatusName = Literal["pending_review", "submitted", "accepted", "replied", "transferred", "resolved",
                     "closed", "rejected", "reopened"]
ScoreName = Literal["satisfied", "basically_satisfied", "unsatisfied"]


class CategoryOut(ApiModel):
    id: int
    name: str


class CategoryList(ApiModel):
    items: list[CategoryOut]


class IssueCreate(ApiModel):
    scene: str | None = Field(default=None, max_length=32, description="扫码得到的联络站 scene（与 station_id 二选一）")
    station_id: RowId | None = None
    category: str = Field(min_length=1, max_length=32, description="分类名称，如「城乡建设」")
    content: str = Field(min_length=5, max_length=2000)
    deputy_id: RowId | None = Field(default=None, description="指定本站某位代表")
    images: list[RowId] = Field(default_factory=list, max_length=9, description="先上传得到的图片 id")
    anonymous: bool = False
    contact_phone: str | None = Field(default=None, description="手机号，加密保存，仅脱敏显示")
    share_phone: bool = Field(default=False, description="同意向办理代表显示完整手机号")

    @field_validator("content")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if len(value.strip()) < 5:
            raise ValueError("至少5个字符")
        return value

    @field_validator("contact_phone")
    @classmethod
    def _mobile(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        value = value.strip().replace(" ", "").replace("-", "")
        if not MOBILE.match(value):
            raise ValueError("请填写11位手机号")
        return value

    @model_validator(mode="after")
    def _one_station(self):
        if (self.scene is None) == (self.station_id is None):
            raise ValueError("请提供 scene 或 station_id 之一")
        return self


class PageQuery(ApiModel):
    page: int = Field(default=1, ge=1, le=1_000_000)
    per_page: int = Field(default=20, ge=1, le=100)


class InboxQuery(PageQuery):
    status: StatusName | None = None


class NamedRef(ApiModel):
    id: int
    name: str


class IssueEventOut(ApiModel):
    kind: str
    from_status: str | None
    to_status: str | None
    actor_role: str
    note: str | None
    created_at: BeijingDateTime


class ReplyOut(ApiModel):
    id: int
    kind: Literal["reply", "department_result"]
    content: str
    public: bool
    deputy: NamedRef | None
    created_at: BeijingDateTime


class TransferOut(ApiModel):
    department: str
    deadline: date
    created_at: BeijingDateTime
    result_at: BeijingDateTime | None


class RatingOut(ApiModel):
    score: ScoreName
    comment: str | None
    created_at: BeijingDateTime


class IssueSummary(ApiModel):
    no: str
    status: StatusName
    status_label: str
    category: str
    content: str
    station: NamedRef
    anonymous: bool
    addressed_deputy: NamedRef | None
    assigned_deputy: NamedRef | None
    escalated_to_manager: bool = Field(description="由站长亲自办理（二次不满意，或承办代表离任后转交）")
    contact_phone: str | None = Field(description="脱敏号码；仅办理代表在居民同意时可见完整号码")
    created_at: BeijingDateTime
    accepted_at: BeijingDateTime | None
    first_response_at: BeijingDateTime | None
    resolved_at: BeijingDateTime | None
    closed_at: BeijingDateTime | None
    accept_due_on: date | None
    reply_due_on: date | None
    deadline_estimated: bool
    clock: Literal["green", "yellow", "red"] | None = Field(description="三色督办：仅未办结时有")
    resolution_summary: str | None
    reject_reason: str | None
    can_rate: bool


class ImageOut(ApiModel):
    id: int
    url: str = Field(description="带签名、会过期的图片地址")
    media_check: Literal["pending", "pass", "review", "risky", "error"]


class IssueDetail(IssueSummary):
    images: list[ImageOut] = Field(description="审核通过前仅提交人（及审核的工作人员）可见")
    events: list[IssueEventOut]
    replies: list[ReplyOut]
    transfers: list[TransferOut]
    ratings: list[RatingOut]


class IssueOut(ApiModel):
    issue: IssueDetail


class IssuePage(ApiModel):
    items: list[IssueSummary]
    page: int
    per_page: int
    total: int


class RatingIn(ApiModel):
    score: ScoreName
    comment: str | None = Field(default=None, max_length=500)


class ReasonIn(ApiModel):
    reason: str = Field(min_length=2, max_length=500)


class ReplyIn(ApiModel):
    content: str = Field(min_length=2, max_length=2000)
    public: bool = False


class TransferIn(ApiModel):
    department: str = Field(min_length=2, max_length=100)
    deadline: date


class DepartmentResultIn(ApiModel):
    content: str = Field(min_length=2, max_length=2000)


class ResolveIn(ApiModel):
    summary: str = Field(min_length=2, max_length=2000)


class EmptyIn(ApiModel):
    pass


class AssignIn(ApiModel):
    deputy_id: RowId
