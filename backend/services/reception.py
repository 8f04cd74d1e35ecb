"""Reception days (逢六进站 and other rules): which Beijing dates a station receives residents.

A rule is data (`ReceptionRule`); a station uses its own, else the nearest one up its region
lineage, else the rule marked default. Moving and cancelling single days, and duty rosters,
extend this module in the duty issue.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from models import ReceptionRule, ReceptionRuleKind, Region, Station, db

from .. import clock
from . import regions

# API.md: the next reception day is looked for this far ahead, else there is none.
LOOKAHEAD_DAYS = 60


def rules_for(stations: list[Station], chains: dict[int, list[Region]] | None = None) -> dict[int, ReceptionRule | None]:
    """Each station's rule: its own, else the nearest region's up its lineage, else the default.

    Two queries whatever the number of stations (lineages unless given, then the default rule
    if needed).
    """
    if chains is None:
        chains = regions.lineages(s.region for s in stations)
    rules: dict[int, ReceptionRule | None] = {}
    default: list[ReceptionRule | None] = []
    for station in stations:
        rule = station.reception_rule or next(
            (r.reception_rule for r in reversed(chains[station.region_id]) if r.reception_rule is not None), None)
        if rule is None:
            if not default:
                default.append(db.session.scalar(
                    db.select(ReceptionRule).where(ReceptionRule.is_default.is_(True)).order_by(ReceptionRule.id).limit(1)))
            rule = default[0]
        rules[station.id] = rule
    return rules


def rule_for(station: Station, lineage: list[Region] | None = None) -> ReceptionRule | None:
    chains = {station.region_id: lineage} if lineage is not None else None
    return rules_for([station], chains)[station.id]


def is_reception_date(rule: ReceptionRule, day: date) -> bool:
    if rule.kind == ReceptionRuleKind.monthly_days:
        return day.day in rule.days
    return day.isoweekday() in rule.days


def reception_dates(rule: ReceptionRule, start: date, end: date) -> list[date]:
    """Every date in [start, end] the rule names, in order."""
    if rule.kind == ReceptionRuleKind.monthly_days:
        dates = []
        year, month = start.year, start.month
        while (year, month) <= (end.year, end.month):
            last = calendar.monthrange(year, month)[1]
            # A day the month does not have (the 30th in February) is simply not a reception day.
            dates += [date(year, month, d) for d in sorted(set(rule.days)) if d <= last]
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return [d for d in dates if start <= d <= end]
    return [start + timedelta(n) for n in range((end - start).days + 1)
            if is_reception_date(rule, start + timedelta(n))]


@dataclass
class NextReceptionDay:
    date: date
    on_duty: list[int]
    roster_published: bool


def next_reception_day(station: Station, rule: ReceptionRule | None,
                       at: datetime | None = None) -> NextReceptionDay | None:
    """Today until the station's closing time, else the next day by its rule within 60 days.

    Dates are Beijing dates whatever the server's zone: at 17:00 UTC it is already tomorrow there.
    """
    if rule is None:
        return None
    local = (at or clock.now()).astimezone(clock.BEIJING)
    today = local.date()
    start = today if local.time() < station.closes_at else today + timedelta(days=1)
    upcoming = reception_dates(rule, start, today + timedelta(days=LOOKAHEAD_DAYS))
    if not upcoming:
        return None
    # Rosters are published in the duty issue; until then nobody is named on duty.
    return NextReceptionDay(date=upcoming[0], on_duty=[], roster_published=False)
