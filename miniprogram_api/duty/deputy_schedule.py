"""A deputy's coming duty days (我的排班), from published rosters."""
from __future__ import annotations

from backend.auth import Caller
from backend.services.duty import rosters
from backend.web.endpoint import ApiBlueprint
from miniprogram_api.duty.reception_schemas import DeputyRef, ScheduleItem, ScheduleOut, ScheduleStation
from models import Role

bp = ApiBlueprint("deputy_schedule", __name__, tag="代表办理")


@bp.get("/deputy/schedule", response=ScheduleOut, roles={Role.deputy})
def schedule(caller: Caller):
    """我的排班：今天及以后的值班日（仅已发布的排班），按日期

    改期的接待日给出原定日期；同列出同一天在该站值班的其他代表。
    """
    return ScheduleOut(items=[
        ScheduleItem(
            date=day.date,
            station=ScheduleStation(id=day.station.id, name=day.station.name, address=day.station.address),
            rule_date=day.rule_date,
            fellow_deputies=[DeputyRef(id=d.id, name=d.name) for d in day.fellows],
            replaces=DeputyRef(id=day.replaces.id, name=day.replaces.name) if day.replaces else None,
        )
        for day in rosters.deputy_schedule(caller.deputy_id)])
