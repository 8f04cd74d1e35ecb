"""Query schemas of the staff issue queue and its Excel export."""
from __future__ import annotations

from datetime import date
from typing import Literal, get_args

from pydantic import Field, ValidationInfo, field_validator

from backend.services.issues.issue_queue import QueueFilter
from backend.services.issues.issue_schemas import PageQuery, StatusName
from backend.validation import MAX_ROW_ID, FilterQuery
from models import IssueStatus

# Dates before the system existed or far ahead are typos; they would also overflow when
# turned into instants at the edges of date.min and date.max.
EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 12, 31)

_STATUS_NAMES = get_args(StatusName)


class QueueFilterQuery(FilterQuery):
    status: str | None = Field(default=None, max_length=200, examples=["submitted,accepted"],
                               description="状态，可多选，用英文逗号分隔：" + "、".join(_STATUS_NAMES))
    category: str | None = Field(default=None, max_length=32, description="分类名称或分类 id")
    station: int | None = Field(default=None, ge=1, le=MAX_ROW_ID, description="联络站 id")
    region: str | None = Field(default=None, pattern=r"^[0-9]{12}$", examples=["330523000000"],
                               description="区域代码（12位统计用区划代码）：只看该区域内联络站的")
    deputy: int | None = Field(default=None, ge=1, le=MAX_ROW_ID, description="代表 id：点名给该代表或由其承办的")
    clock: Literal["green", "yellow", "red"] | None = Field(
        default=None, description="三色督办：red 已超期，yellow 剩余不超过1个工作日，green 其余计时中的；按期限从早到晚排序")
    date_from: date | None = Field(default=None, alias="from", ge=EARLIEST, le=LATEST,
                                   description="提交日期（北京时间）起，含当日")
    date_to: date | None = Field(default=None, alias="to", ge=EARLIEST, le=LATEST,
                                 description="提交日期（北京时间）止，含当日")
    q: str | None = Field(default=None, max_length=100, description="编号前缀或内容中的文字")
    escalated: bool | None = Field(default=None, description="true：只看转由站长办理的；false：不含这些")


    @field_validator("status")
    @classmethod
    def _known_statuses(cls, value: str | None) -> str | None:
        if value is None:
            return None
        names = [name.strip() for name in value.split(",") if name.strip()]
        unknown = [name for name in names if name not in _STATUS_NAMES]
        if unknown:
            raise ValueError(f"未知的状态：{'、'.join(unknown)}；取值应为：{'、'.join(_STATUS_NAMES)}")
        return ",".join(dict.fromkeys(names)) or None

    @field_validator("category", "q")
    @classmethod
    def _trimmed(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return value.strip() or None

    @field_validator("date_to")
    @classmethod
    def _not_before_from(cls, value: date | None, info: ValidationInfo) -> date | None:
        start = info.data.get("date_from")
        if value is not None and start is not None and value < start:
            raise ValueError("结束日期不能早于开始日期")
        return value

    def to_filter(self) -> QueueFilter:
        return QueueFilter(
            statuses=tuple(IssueStatus(name) for name in self.status.split(",")) if self.status else (),
            category=self.category, station_id=self.station, region_code=self.region, deputy_id=self.deputy,
            clock=self.clock,
            created_from=self.date_from, created_to=self.date_to, q=self.q, escalated=self.escalated,
        )


class QueueQuery(QueueFilterQuery, PageQuery):
    # Unbounded, page × per_page overflows PostgreSQL's bigint OFFSET: a 500 for bad input.
    page: int = Field(default=1, ge=1, le=1_000_000)
