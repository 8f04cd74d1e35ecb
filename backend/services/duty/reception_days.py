"""Staff change reception days: a station's or a region's rule, and single days moved or
cancelled (节假日顺延, 台风取消) with a reason.

Rules are shared rows (the default, a region's, several stations' may be the same row), so a
rule in use is never edited: setting one points the owner at an identical row or a new one.
Whatever changes the days a station holds carries its duty along (`rosters`): a moved day's
deputies move with it, a cancelled day's are dropped, duty left off the new rule's days goes.

Who: a station's own staff and the region admins above it for a station; region admins for
a region within theirs. Anything outside is answered 404, so ids cannot be probed.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, timedelta

from backend import clock
from backend.auth import Caller
from backend.errors import Conflict, Forbidden, InvalidInput, NotFound, StationNotFound
from backend.permissions import station_scope_clause
from backend.services.duty import reception, reminders, rosters
from backend.services.duty.reception import MAX_MOVE_DAYS, HeldDay, RuleSource
from backend.services.reference import regions
from backend.services.reference.reference_data import clean_name
from backend.validation import MAX_ROW_ID
from models import (
    DayChangeKind,
    DutyAssignment,
    ReceptionDayChange,
    ReceptionRule,
    ReceptionRuleKind,
    Region,
    Role,
    Station,
    db,
)

log = logging.getLogger(__name__)

REASON_MAX = 200
_REGION_CODE = re.compile(r"[0-9]{12}")


class RegionNotFound(NotFound):
    message = "未找到该行政区划"


class DayNotFound(NotFound):
    message = "该日不是本站的接待日"


# --- who may ------------------------------------------------------------------------------------

def access_managed_station(caller: Caller, station_id: int) -> Station:
    """A station the staff member manages (a station manager's own; any in a region admin's
    region).

    :raise 403 forbidden: not staff.
    :raise 404 station_not_found: no such station, or one outside the caller's reach.
    """
    clause = station_scope_clause(caller)
    station = db.session.scalar(db.select(Station).where(Station.id == station_id, clause)) \
        if 0 < station_id <= MAX_ROW_ID else None
    if station is None:
        raise StationNotFound("未找到该联络站，或不在您的管理范围内")
    return station


def managed_stations(caller: Caller) -> list[Station]:
    """Every station the staff member manages, by id."""
    return list(db.session.scalars(db.select(Station).where(station_scope_clause(caller)).order_by(Station.id)))


def access_managed_region(caller: Caller, code: str) -> Region:
    """A region within the region admin's own (itself or below).

    :raise 403 forbidden: not a region admin, or one whose account has no region.
    :raise 404 not_found: no region with that code within the admin's region.
    """
    staff = caller.staff
    if staff is None or not caller.has(Role.region_admin):
        raise Forbidden("只有区域管理员可以设置行政区划的接待日")
    if staff.region is None:
        raise Forbidden("该账号未设置所属行政区划，无法设置接待日")
    region = db.session.scalar(db.select(Region).where(Region.code == code)) if _REGION_CODE.fullmatch(code) else None
    if region is None or not region.code.startswith(staff.region.scope_prefix):
        raise RegionNotFound()
    return region


# --- rules --------------------------------------------------------------------------------------

def station_rule(station: Station) -> RuleSource:
    """The station's rule and where it comes from (its own, a region's, the default)."""
    lineage = regions.lineage(station.region)
    return reception.rule_source(station.reception_rule, lineage)


def region_rule(region: Region) -> RuleSource:
    lineage = regions.lineage(region)
    return reception.rule_source(region.reception_rule, lineage[:-1])


def _shared_rule(kind: ReceptionRuleKind, days: list[int], label: str) -> ReceptionRule:
    """A row holding exactly this rule: an existing one (rules are few), else a new one."""
    for rule in db.session.scalars(db.select(ReceptionRule).order_by(ReceptionRule.id)):
        if rule.kind == kind and sorted(rule.days) == days and rule.label == label:
            return rule
    rule = ReceptionRule(kind=kind, days=days, label=label, is_default=False)
    db.session.add(rule)
    return rule


def build_rule(kind: ReceptionRuleKind, days: list[int], label: str | None) -> ReceptionRule:
    """The rule row for a rule as staff entered it, its label generated when not given.

    :raise 400 invalid_input: no day, a repeated day, a day out of range, or a label that is
        empty, too long, or (when not given) a rule too long to name automatically.
    """
    try:
        days = reception.validate_rule(kind, days)
    except ValueError as exc:
        raise InvalidInput({"days": str(exc)}) from None
    if label is None:
        label = reception.rule_label(kind, days)
        if label is None:
            raise InvalidInput({"label": f"接待日较多，请填写接待日名称（最多{reception.LABEL_MAX}个字符）"})
    else:
        try:
            label = clean_name(label, max_length=reception.LABEL_MAX)
        except ValueError as exc:
            raise InvalidInput({"label": str(exc)}) from None
    return _shared_rule(kind, days, label)


def set_station_rule(caller: Caller, station: Station, rule: ReceptionRule | None) -> RuleSource:
    """Give the station its own rule, or with None let it inherit its region's again."""
    station.reception_rule = rule
    db.session.flush()
    dropped = rosters.drop_duty_off_held_days(DutyAssignment.station_id == station.id)
    log.info("reception rule of station %s set to %s by user %s (%d duty assignments dropped)",
             station.id, rule.label if rule else "inherited", caller.user_id, dropped)
    return station_rule(station)


def set_region_rule(caller: Caller, region: Region, rule: ReceptionRule | None) -> RuleSource:
    """Give the region its own rule (stations and regions below without one of their own follow
    it), or with None let it inherit from above again."""
    region.reception_rule = rule
    db.session.flush()
    below = db.select(Station.id).join(Region, Station.region_id == Region.id) \
        .where(Region.code.startswith(region.scope_prefix))
    dropped = rosters.drop_duty_off_held_days(DutyAssignment.station_id.in_(below))
    log.info("reception rule of region %s set to %s by user %s (%d duty assignments dropped)",
             region.code, rule.label if rule else "inherited", caller.user_id, dropped)
    return region_rule(region)


# --- single days --------------------------------------------------------------------------------

@dataclass
class DayRef:
    """A reception day named by staff: by the date it is held on, or (cancelled, or moved away)
    by the date its rule names."""

    rule_date: date
    held_on: date | None  # None: cancelled
    change: ReceptionDayChange | None

    @property
    def current(self) -> date:
        return self.held_on if self.held_on is not None else self.rule_date

    def held(self) -> HeldDay:
        return HeldDay(self.current, self.rule_date, self.change.reason if self.change else None)


def _days_around(station: Station, day: date) -> reception.StationDays:
    around = timedelta(MAX_MOVE_DAYS)
    return reception.station_days_for([station], day - around, day + around)[station.id]


def locate_day(station: Station, day: date) -> DayRef:
    """The reception day held on `day`, else the one whose rule date is `day` (moved away or
    cancelled).

    :raise 404 not_found: the station has no reception day there.
    """
    days = _days_around(station, day)
    ref = next((DayRef(h.rule_date, h.date, None) for h in days.held if h.date == day), None) \
        or next((DayRef(h.rule_date, h.date, None) for h in days.held if h.rule_date == day), None) \
        or next((DayRef(c.rule_date, None, None) for c in days.cancelled if c.rule_date == day), None)
    if ref is None:
        raise DayNotFound()
    ref.change = _change(station, ref.rule_date)
    return ref


def _change(station: Station, rule_date: date) -> ReceptionDayChange | None:
    return db.session.scalar(db.select(ReceptionDayChange).where(
        ReceptionDayChange.station_id == station.id, ReceptionDayChange.rule_date == rule_date))


def _reason(reason: str | None) -> str:
    if reason is None or not reason.strip():
        raise InvalidInput({"reason": "请说明调整原因，如「国庆假期顺延」"})
    try:
        return clean_name(reason, max_length=REASON_MAX)
    except ValueError as exc:
        raise InvalidInput({"reason": str(exc)}) from None


def _require_not_over(ref: DayRef) -> None:
    if ref.current < clock.beijing_today():
        raise Conflict("该接待日已过去，不能调整")


def _require_free(station: Station, ref: DayRef, target: date) -> None:
    """:raise 409 conflict: the station holds another reception day on `target`."""
    for held in _days_around(station, target).held:
        if held.date == target and held.rule_date != ref.rule_date:
            raise Conflict(f"{target.isoformat()}已是本站的接待日，不能调整到这一天")


def _save_change(user_id: int, station: Station, ref: DayRef, kind: DayChangeKind, moved_to: date | None,
                 reason: str) -> None:
    change = ref.change or _change(station, ref.rule_date)
    if change is None:
        change = ReceptionDayChange(station_id=station.id, rule_date=ref.rule_date)
        db.session.add(change)
    change.kind, change.moved_to, change.reason = kind, moved_to, reason
    change.changed_by_id, change.changed_at = user_id, clock.now()
    rosters.flush_or_conflict("该接待日正在被他人调整，请刷新后重试")


def move_day(user_id: int, station: Station, ref: DayRef, to: date, reason: str | None) -> date:
    """Hold the day on `to` instead, its duty moving with it; returns `to`. Moving it back to
    its rule date restores it.

    :raise 400 invalid_input: no reason, a date already over, or more than 31 days from the
        date its rule names.
    :raise 409 conflict: the day is over, or the station holds another day on `to`.
    """
    reason = _reason(reason)
    _require_not_over(ref)
    if to < clock.beijing_today():
        raise InvalidInput({"move_to": "不能调整到已过去的日期"})
    if abs((to - ref.rule_date).days) > MAX_MOVE_DAYS:
        raise InvalidInput({"move_to": f"只能调整到原定日期（{ref.rule_date.isoformat()}）前后{MAX_MOVE_DAYS}天以内"})
    if to == ref.rule_date:
        return restore_day(user_id, station, ref)
    _require_free(station, ref, to)
    _save_change(user_id, station, ref, DayChangeKind.moved, to, reason)
    if ref.held_on is not None and ref.held_on != to:
        rosters.move_duty(station.id, ref.held_on, to)
        # Reminders of the new date are planned in their time; those of the old one must not go.
        reminders.skip_planned(station.id, f"接待日已改到{to.isoformat()}", ref.held_on)
    log.info("reception day %s of station %s moved to %s by user %s: %s", ref.rule_date, station.id, to,
             user_id, reason)
    return to


def cancel_day(user_id: int, station: Station, ref: DayRef, reason: str | None) -> date:
    """Cancel the day (its duty is dropped); returns its rule date, where it is listed.

    :raise 400 invalid_input: no reason.
    :raise 409 conflict: the day is over.
    """
    reason = _reason(reason)
    _require_not_over(ref)
    _save_change(user_id, station, ref, DayChangeKind.cancelled, None, reason)
    if ref.held_on is not None:
        rosters.move_duty(station.id, ref.held_on, None)
        reminders.skip_planned(station.id, "接待日已取消", ref.held_on)
    log.info("reception day %s of station %s cancelled by user %s: %s", ref.rule_date, station.id, user_id, reason)
    return ref.rule_date


def restore_day(user_id: int, station: Station, ref: DayRef) -> date:
    """Undo a move or a cancellation: the day is held on its rule date again (a moved day's
    duty comes back with it). Returns the rule date.

    :raise 409 conflict: the day or its rule date is over, or another day is held on the rule date.
    """
    if ref.change is None and ref.held_on == ref.rule_date:
        return ref.rule_date
    _require_not_over(ref)
    if ref.rule_date < clock.beijing_today():
        raise Conflict("原定日期已过去，不能恢复")
    _require_free(station, ref, ref.rule_date)
    change = ref.change or _change(station, ref.rule_date)
    if change is not None:
        db.session.delete(change)
        db.session.flush()
    if ref.held_on is not None and ref.held_on != ref.rule_date:
        rosters.move_duty(station.id, ref.held_on, ref.rule_date)
        reminders.skip_planned(station.id, f"接待日已恢复到{ref.rule_date.isoformat()}", ref.held_on)
    log.info("reception day %s of station %s restored by user %s", ref.rule_date, station.id, user_id)
    return ref.rule_date


def change_day(user_id: int, station: Station, ref: DayRef, *, deputy_ids: list[int] | None = None,
               move_to: date | None = None, cancel: bool = False, restore: bool = False,
               reason: str | None = None) -> date:
    """One change to a reception day, as staff ask it (the API's PUT and the console's forms):
    set its deputies, move it, cancel it, or restore it. Returns the date it is listed under now.

    :raise 400 invalid_input: deputies for a cancelled day, or what the chosen change refuses.
    :raise 409 conflict: as move_day, cancel_day and restore_day; the station is closed.
    """
    rosters.require_open(station)
    if deputy_ids is not None:
        if ref.held_on is None:
            raise InvalidInput({"deputy_ids": "该接待日已取消，请先恢复再排班"})
        rosters.set_day_deputies(user_id, station, ref.held(), deputy_ids)
        return ref.held_on
    if move_to is not None:
        return move_day(user_id, station, ref, move_to, reason)
    if cancel:
        return cancel_day(user_id, station, ref, reason)
    if restore:
        return restore_day(user_id, station, ref)
    raise InvalidInput({"action": "请选择设置值班代表、改期、取消或恢复中的一项"})
