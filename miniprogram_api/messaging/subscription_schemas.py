"""Schemas of subscribe-message grants (订阅消息授权)."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from backend.services.messaging.subscriptions import MAX_TEMPLATES
from backend.validation import ApiModel

SubscribeStatus = Literal["accept", "reject", "ban", "filter"]
TemplateId = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class SubscriptionResultsIn(ApiModel):
    results: dict[TemplateId, SubscribeStatus] = Field(
        min_length=1, max_length=MAX_TEMPLATES,
        description="wx.requestSubscribeMessage 的 success 回调结果（去掉 errMsg）：模板 ID → "
                    "accept（同意）、reject（拒绝）、ban（已被后台封禁）、filter（被过滤）")

    @model_validator(mode="before")
    @classmethod
    def _without_err_msg(cls, data):
        # The callback's object carries errMsg beside the template ids; passed on as is, it is
        # not an answer about a template, so it is dropped rather than refused.
        if isinstance(data, dict) and isinstance(data.get("results"), dict):
            return {**data, "results": {k: v for k, v in data["results"].items() if k != "errMsg"}}
        return data


class SubscriptionGrantOut(ApiModel):
    template_id: str = Field(description="微信订阅消息模板 ID")
    template: str | None = Field(description="本系统对该模板的命名（如 reception_reminder 接待日提醒）；"
                                             "不是本小程序配置的模板时为 null")
    available: int = Field(description="尚未使用的一次性授权次数（每次“允许”加一，每条消息用掉一次，最多 100）")
    status: SubscribeStatus | None = Field(description="用户最近一次的选择；从未询问过为 null")


class SubscriptionGrantsOut(ApiModel):
    items: list[SubscriptionGrantOut]
