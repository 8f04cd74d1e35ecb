"""The console's words for the codes it shows: timeline events, roles, ratings — and the
`beijing` filter that shows a stored UTC moment as Beijing time."""
from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from flask import g

from backend import clock
from backend.console.blueprint import bp
from models import Role

EVENT_LABELS = {
    "submitted": "提交", "held_for_review": "待审核", "released": "审核通过", "rejected": "不予受理",
    "accepted": "受理", "replied": "答复", "transferred": "交办", "department_result": "登记办理结果",
    "resolved": "办结", "rated": "评价", "assigned": "分派", "handed_to_manager": "转站长办理",
    "auto_closed": "逾期未评价，自动结案", "urged": "催办",
}
ROLE_LABELS = {"resident": "居民", "deputy": "代表", "station_manager": "站长", "region_admin": "区域管理员",
               "scheduler": "系统"}
RATING_LABELS = {"satisfied": "满意", "basically_satisfied": "基本满意", "unsatisfied": "不满意"}


def beijing(value: datetime | None, pattern: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return ""
    return value.astimezone(clock.BEIJING).strftime(pattern)


def _is_admin() -> bool:
    staff = g.get("staff")
    return staff is not None and staff.has(Role.region_admin)


def percent(value: float | None) -> str:
    """A rate (a fraction, 4 decimals: stats.py) as a percentage rounded half up to 0.1% — as the
    page says (0.7775 → 77.8%, where binary floating point could give 77.7%)."""
    if value is None:
        return "—"
    return f"{(Decimal(str(value)) * 100).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}%"


bp.add_app_template_filter(beijing, "beijing")
bp.add_app_template_filter(percent, "percent")
bp.app_context_processor(lambda: {"event_labels": EVENT_LABELS, "role_labels": ROLE_LABELS,
                                  "rating_labels": RATING_LABELS, "is_admin": _is_admin()})

