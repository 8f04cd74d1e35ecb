"""Models → response schemas. Public answers never carry a phone number or a session key."""
from __future__ import annotations

from datetime import date

from backend.auth import Caller
from backend.services.duty.reception import NextReceptionDay
from backend.services.stations.stations import current_seats
from miniprogram_api.schemas import (
    DeputyBriefOut,
    DeputyProfileOut,
    NextReceptionDayOut,
    ReceptionRuleOut,
    RegionOut,
    SeatOut,
    StationOut,
    StationRefOut,
    UserOut,
)
from models import DEPUTY_LEVEL_LABEL, Deputy, ReceptionRule, Station

_CN_DIGITS = "零一二三四五六七八九"


def term_label(term: int) -> str:
    """18 → 第十八届 (terms run well under 100)."""
    tens, ones = divmod(term, 10)
    text = ("" if tens == 0 else ("十" if tens == 1 else _CN_DIGITS[tens] + "十")) + (_CN_DIGITS[ones] if ones else "")
    return f"第{text or '零'}届"


def user_out(caller: Caller) -> UserOut:
    staff = caller.staff
    return UserOut(
        id=caller.user_id,
        roles=[role.value for role in caller.roles],
        deputy_id=caller.deputy_id,
        display_name=staff.display_name if staff else (caller.deputy.name if caller.deputy else None),
        station_ids=sorted(caller.station_ids),
    )


def station_out(station: Station, region_path: list[str], rule: ReceptionRule | None,
                cls=StationOut, **extra) -> StationOut:
    return cls(
        id=station.id, scene=station.scene, name=station.name, kind=station.kind.value,
        address=station.address, lat=station.lat, lng=station.lng,
        region=RegionOut(code=station.region.code, name=station.region.name, path=region_path),
        reception_rule=ReceptionRuleOut(label=rule.label, kind=rule.kind.value, days=list(rule.days)) if rule else None,
        open_hours=station.open_hours,
        phone=station.phone, intro=station.intro, **extra,
    )


def deputy_brief_out(deputy: Deputy, on: date) -> DeputyBriefOut:
    seats = current_seats(deputy, on)
    levels = list(dict.fromkeys(seat.level.value for seat in seats))
    return DeputyBriefOut(id=deputy.id, name=deputy.name, level=levels[0], levels=levels,
                          photo_url=deputy.photo_url, groups=[g.name for g in deputy.topic_groups])


def deputy_profile_out(deputy: Deputy, stations: list[Station], on: date) -> DeputyProfileOut:
    seats = current_seats(deputy, on)
    brief = deputy_brief_out(deputy, on)
    return DeputyProfileOut(
        id=deputy.id, name=deputy.name, gender=deputy.gender, photo_url=deputy.photo_url,
        occupation=deputy.occupation, bio=deputy.bio, level=brief.level, levels=brief.levels,
        seats=[SeatOut(level=s.level.value, level_label=DEPUTY_LEVEL_LABEL[s.level], congress=s.congress,
                       term=s.term, term_label=term_label(s.term), started_on=s.started_on, ended_on=s.ended_on)
               for s in seats],
        groups=brief.groups,
        stations=[StationRefOut(id=s.id, scene=s.scene, name=s.name) for s in stations],
    )


def next_day_out(day: NextReceptionDay | None) -> NextReceptionDayOut | None:
    if day is None:
        return None
    return NextReceptionDayOut(date=day.date, on_duty=day.on_duty, roster_published=day.roster_published)
