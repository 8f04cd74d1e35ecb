"""Reception days (逢六进站 and other rules): which Beijing dates a station receives residents.

A rule is data (`ReceptionRule`); a station uses its own, else the nearest one up its region
lineage, else the rule marked default. Single days are moved or cancelled by a
`ReceptionDayChange` keyed by the date the rule names. `held_days` (and `held_days_for`, for many
stations at once) applies both and is the one answer to "which days does this station hold":
the scan answer, rosters, schedules, check-ins and attendance all ask it.

Writes (setting rules, moving and cancelling days) live in `reception_days`; rosters in `rosters`.
"""
from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from backend import clock
from backend.services.reference import regions
from models import (
    DayChangeKind,
    DutyAssignment,
    DutyRoster,
    ReceptionDayChange,
    ReceptionRule,
    ReceptionRuleKind,
    Region,
    RosterStatus,
    Station,
    db,
)

# API.md: the next reception day is looked for this far ahead, else there is none.
LOOKAHEAD_DAYS = 60

# A day is moved at most this far from the date its rule names: enough for any holiday, and it
# bounds where the days held in a span can come from (the rule's dates just around the span).
MAX_MOVE_DAYS = 31

LABEL_MAX = 64  # reception_rule.label is String(64)

_CN_DIGITS = "零一二三四五六七八九十"
_WEEKDAY = {1: "一", 2: "二", 3: "三", 4: "四", 5: "五", 6: "六", 7: "日"}


# --- rules ---------------------------------------------------------------------------------------

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
                default.append(default_rule())
            rule = default[0]
        rules[station.id] = rule
    return rules


def default_rule() -> ReceptionRule | None:
    """The rule marked default: what applies where neither station nor region sets one."""
    return db.session.scalar(
        db.select(ReceptionRule).where(ReceptionRule.is_default.is_(True)).order_by(ReceptionRule.id).limit(1))


def rule_for(station: Station, lineage: list[Region] | None = None) -> ReceptionRule | None:
    chains = {station.region_id: lineage} if lineage is not None else None
    return rules_for([station], chains)[station.id]


@dataclass(frozen=True)
class RuleSource:
    """Where an owner's (a station's or a region's) effective rule comes from."""

    rule: ReceptionRule | None
    # "own": set on the owner itself; "region": inherited from `region`; "default": the
    # deployment's default; "none": no rule anywhere.
    source: str
    region: Region | None = None


def rule_source(own: ReceptionRule | None, ancestors: list[Region]) -> RuleSource:
    """`own`, else the nearest of `ancestors` (top first) with a rule, else the default."""
    if own is not None:
        return RuleSource(own, "own")
    for region in reversed(ancestors):
        if region.reception_rule is not None:
            return RuleSource(region.reception_rule, "region", region)
    default = default_rule()
    return RuleSource(default, "default" if default is not None else "none")


def validate_rule(kind: ReceptionRuleKind, days: Iterable[int]) -> list[int]:
    """The days sorted, or a Chinese sentence saying what is wrong.

    :raise ValueError: no day, a repeated one, or one outside 1..31 (monthly) or 1..7 (weekly).
    """
    days = list(days)
    if not days:
        raise ValueError("请至少选择一天")
    if len(set(days)) != len(days):
        raise ValueError("日期不能重复")
    top, what = (31, "每月的日期应在1至31之间") if kind == ReceptionRuleKind.monthly_days \
        else (7, "星期应在1至7之间（1为周一，7为周日）")
    if any(not isinstance(d, int) or isinstance(d, bool) or not 1 <= d <= top for d in days):
        raise ValueError(what)
    return sorted(days)


def _runs(days: list[int]) -> list[tuple[int, int]]:
    runs: list[list[int]] = []
    for d in days:
        if runs and d == runs[-1][1] + 1:
            runs[-1][1] = d
        else:
            runs.append([d, d])
    return [(a, b) for a, b in runs]


def rule_label(kind: ReceptionRuleKind, days: list[int]) -> str | None:
    """The Chinese name of a rule, as posters and the scan page print it; None when it would
    not fit `LABEL_MAX` (staff then name it themselves).

    [6, 16, 26] → 逢六（每月6日、16日、26日）; [10, 25] → 每月10日、25日; weekly [3] → 每周三;
    weekly [1..5] → 每周一至周五. Runs of three or more days are written 「至」.
    """
    days = sorted(days)
    if kind == ReceptionRuleKind.weekly:
        if days == list(range(1, 8)):
            return "每天"
        parts = [f"周{_WEEKDAY[a]}" if a == b else
                 (f"周{_WEEKDAY[a]}、周{_WEEKDAY[b]}" if b == a + 1 else f"周{_WEEKDAY[a]}至周{_WEEKDAY[b]}")
                 for a, b in _runs(days)]
        return "每" + "、".join(parts)
    if days == list(range(1, 32)):
        return "每天"
    listed = "每月" + "、".join(f"{a}日" if a == b else (f"{a}日、{b}日" if b == a + 1 else f"{a}日至{b}日")
                              for a, b in _runs(days))
    first = days[0]
    # 逢六: the days ending in one digit (6, 16, 26); 逢一 takes the 31st too, 逢十 is 10, 20, 30.
    if 1 <= first <= 10 and (days == list(range(first, 32, 10)) or days == [1, 11, 21]):
        label = f"逢{_CN_DIGITS[first]}（{listed}）"
        return label if len(label) <= LABEL_MAX else None
    return listed if len(listed) <= LABEL_MAX else None


def is_reception_date(rule: ReceptionRule, day: date) -> bool:
    """Whether `rule` names `day` (before any day is moved or cancelled: see `held_days`)."""
    if rule.kind == ReceptionRuleKind.monthly_days:
        return day.day in rule.days
    return day.isoweekday() in rule.days


def reception_dates(rule: ReceptionRule, start: date, end: date) -> list[date]:
    """Every date in [start, end] the rule names, in order (moved and cancelled days ignored)."""
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


# --- the days actually held ----------------------------------------------------------------------

@dataclass(frozen=True)
class HeldDay:
    """A reception day as the station holds it."""

    date: date  # the Beijing date it is held on
    rule_date: date  # the date its rule names; differs from `date` when the day was moved
    reason: str | None = None  # why it was moved

    @property
    def moved(self) -> bool:
        return self.date != self.rule_date


@dataclass(frozen=True)
class CancelledDay:
    rule_date: date
    reason: str


@dataclass
class StationDays:
    """A station's reception days in a span: those held (by the date held) and those
    cancelled (by the date the rule names)."""

    held: list[HeldDay]
    cancelled: list[CancelledDay]


def _apply_changes(rule: ReceptionRule | None, changes: dict[date, ReceptionDayChange],
                   start: date, end: date) -> StationDays:
    if rule is None or start > end:
        return StationDays([], [])
    held: dict[date, HeldDay] = {}
    cancelled: list[CancelledDay] = []
    # A change only counts while its date is still one the rule names: after the rule itself
    # changes, a change made for an old date no longer applies.
    for rule_date in reception_dates(rule, start - timedelta(MAX_MOVE_DAYS), end + timedelta(MAX_MOVE_DAYS)):
        change = changes.get(rule_date)
        if change is None:
            day = HeldDay(rule_date, rule_date)
        elif change.kind == DayChangeKind.cancelled:
            if start <= rule_date <= end:
                cancelled.append(CancelledDay(rule_date, change.reason))
            continue
        else:
            day = HeldDay(change.moved_to, rule_date, change.reason)
        # Two days on one date cannot be made by a move (refused), only by a later rule change
        # meeting an earlier move: the station holds that date once, the earlier rule date's.
        if start <= day.date <= end and day.date not in held:
            held[day.date] = day
    return StationDays(sorted(held.values(), key=lambda d: d.date), cancelled)


def _changes_for(station_ids: list[int], start: date, end: date) -> dict[int, dict[date, ReceptionDayChange]]:
    found: dict[int, dict[date, ReceptionDayChange]] = {sid: {} for sid in station_ids}
    if not station_ids or start > end:
        return found
    rows = db.session.scalars(db.select(ReceptionDayChange).where(
        ReceptionDayChange.station_id.in_(station_ids),
        ReceptionDayChange.rule_date.between(start - timedelta(MAX_MOVE_DAYS), end + timedelta(MAX_MOVE_DAYS))))
    for change in rows:
        found[change.station_id][change.rule_date] = change
    return found


def station_days_for(stations: list[Station], start: date, end: date,
                     rules: dict[int, ReceptionRule | None] | None = None) -> dict[int, StationDays]:
    """Held and cancelled days in [start, end] of each station (by station id). Three queries
    whatever the number of stations."""
    stations = list({s.id: s for s in stations}.values())
    if rules is None:
        rules = rules_for(stations)
    changes = _changes_for([s.id for s in stations], start, end)
    return {s.id: _apply_changes(rules[s.id], changes[s.id], start, end) for s in stations}


def held_days_for(stations: list[Station], start: date, end: date) -> dict[int, list[HeldDay]]:
    """The days each station actually holds in [start, end] (inclusive, Beijing dates), by
    station id, in date order: its rule's dates, less cancelled ones, moved ones at their new
    date (each with the `rule_date` it was moved from). Three queries for any number of stations.
    """
    return {sid: days.held for sid, days in station_days_for(stations, start, end).items()}


def held_days(station: Station, start: date, end: date) -> list[HeldDay]:
    """The days `station` actually holds in [start, end]; see `held_days_for`."""
    return held_days_for([station], start, end)[station.id]


def held_day(station: Station, day: date) -> HeldDay | None:
    """The reception day `station` holds on `day` (a Beijing date), or None."""
    found = held_days(station, day, day)
    return found[0] if found else None


def days_of_month(station: Station, month: date, rule: ReceptionRule | None = None) -> list[HeldDay]:
    """The held days whose rule date falls in `month` (any date in it): a roster's days. A day
    moved across the month's end (26 Jan → 2 Feb) belongs to the month its rule put it in."""
    first = month.replace(day=1)
    last = month.replace(day=calendar.monthrange(month.year, month.month)[1])
    rule = rule if rule is not None else rule_for(station)
    changes = _changes_for([station.id], first, last)[station.id]
    wide = _apply_changes(rule, changes, first - timedelta(MAX_MOVE_DAYS), last + timedelta(MAX_MOVE_DAYS))
    return [d for d in wide.held if first <= d.rule_date <= last]


def month_of(day: date) -> date:
    """The first day of `day`'s month: how rosters are keyed."""
    return day.replace(day=1)


# --- the next day, for the scan answer ------------------------------------------------------------

@dataclass
class NextReceptionDay:
    date: date
    on_duty: list[int]
    roster_published: bool
    rule_date: date | None = None


def next_reception_day(station: Station, rule: ReceptionRule | None,
                       at: datetime | None = None) -> NextReceptionDay | None:
    """Today until the station's closing time, else the next day it holds within 60 days, with
    who is on duty when that day's roster is published.

    Dates are Beijing dates whatever the server's zone: at 17:00 UTC it is already tomorrow there.
    """
    if rule is None:
        return None
    local = (at or clock.now()).astimezone(clock.BEIJING)
    today = local.date()
    start = today if local.time() < station.closes_at else today + timedelta(days=1)
    end = today + timedelta(days=LOOKAHEAD_DAYS)
    upcoming = _apply_changes(rule, _changes_for([station.id], start, end)[station.id], start, end).held
    if not upcoming:
        return None
    day = upcoming[0]
    published = db.session.scalar(db.select(DutyRoster.id).where(
        DutyRoster.station_id == station.id, DutyRoster.month == month_of(day.rule_date),
        DutyRoster.status == RosterStatus.published))
    on_duty: list[int] = []
    if published is not None:
        on_duty = list(db.session.scalars(
            db.select(DutyAssignment.deputy_id).where(DutyAssignment.roster_id == published,
                                                      DutyAssignment.duty_date == day.date)
            .order_by(DutyAssignment.id)))
    return NextReceptionDay(date=day.date, on_duty=on_duty, roster_published=published is not None,
                            rule_date=day.rule_date if day.moved else None)
