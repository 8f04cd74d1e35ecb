"""Subscribe-message grants (订阅消息授权): the mini-program reports what the user allowed."""
from __future__ import annotations

from backend.auth import Caller
from backend.services.messaging import subscriptions
from backend.web.endpoint import ApiBlueprint
from miniprogram_api.messaging.subscription_schemas import (
    SubscriptionGrantOut,
    SubscriptionGrantsOut,
    SubscriptionResultsIn,
)
from models import Role

bp = ApiBlueprint("subscriptions", __name__, tag="订阅消息")

_SUBSCRIBERS = {Role.resident, Role.deputy}


@bp.post("/subscriptions", body=SubscriptionResultsIn, response=SubscriptionGrantsOut, roles=_SUBSCRIBERS,
         errors=["invalid_input", "forbidden"])
def record(caller: Caller, body: SubscriptionResultsIn):
    """上报订阅消息授权结果

    把 wx.requestSubscribeMessage 的结果原样上报（去掉 errMsg）。每个 accept 为该模板增加一次可用授权（一次性订阅：一次授权可收一条消息），reject、ban、filter 清空该模板的可用授权。只接受本小程序配置的模板 ID。返回所上报模板的授权情况。
    """
    grants = subscriptions.record_results(caller.user, body.results, "miniprogram")
    return SubscriptionGrantsOut(items=[_grant_out(g.template_id, g) for g in grants])


@bp.get("/subscriptions", response=SubscriptionGrantsOut, roles=_SUBSCRIBERS, errors=["forbidden"])
def mine(caller: Caller):
    """我的订阅消息授权

    本小程序配置的每个模板一项（从未授权的 available 为 0、status 为 null），其后是其他模板的授权记录。
    """
    grants = {g.template_id: g for g in subscriptions.grants_of(caller.user_id)}
    configured = list(subscriptions.configured_templates())
    others = [tid for tid in grants if tid not in configured]
    return SubscriptionGrantsOut(items=[_grant_out(tid, grants.get(tid)) for tid in configured + others])


def _grant_out(template_id: str, grant) -> SubscriptionGrantOut:
    return SubscriptionGrantOut(template_id=template_id,
                                template=subscriptions.configured_templates().get(template_id),
                                available=grant.available if grant else 0,
                                status=grant.last_status if grant else None)
