"""Staff create, edit, close (停用) and reopen stations.

Who: region admins create, close and reopen stations within their region and may edit
everything; a station manager edits only the practical details of their own stations (address,
phone, opening hours, introduction). Stations outside the caller's reach are answered 404
(`access_managed_station`, shared with the reception pages), so ids cannot be probed.

A station is never deleted: issues, check-ins and rosters point at it. Closing sets
`is_active` False, which scan-to-find, the /s page, nearby, follows, submitting, check-ins,
reception records, public deputy pages, reminders and roster drafting already honour. Closing
also drops the duty the station will no longer hold (attendance would count it as missed) and
skips reception reminders already planned for it. A station with unfinished issues cannot be
closed: staff finish them first, so no resident's issue is left at a station nobody runs.

Caches need nothing here: Station and DutyAssignment are sources of the scan answer and Station
of the inbox pages, so the ORM hooks (`tagged_cache.watch`) retire them when this commits.
Stations have no audit columns; the log keeps who changed what, and why a station was closed.
"""
from __future__ import annotations

import logging
import math
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import time
from typing import Any

from sqlalchemy import and_, func, or_
from sqlalchemy.exc import IntegrityError

from backend import clock
from backend.auth import Caller
from backend.errors import Conflict, Forbidden, InvalidInput
from backend.permissions import station_scope_clause
from backend.services.duty import reminders
from backend.services.duty.attendance import ATTENDED
from backend.services.duty.reception_days import access_managed_station
from backend.services.reference.reference_data import clean_name
from models import (
    OPEN_STATUSES,
    DutyAssignment,
    Issue,
    IssueStatus,
    Region,
    Role,
    Station,
    StationKind,
    db,
)

__all__ = ["KIND_LABELS", "StationClosure", "access_managed_station", "close_station", "create_station",
           "reopen_station", "update_station"]

log = logging.getLogger(__name__)

NAME_MIN, NAME_MAX = 2, 100  # station.name is String(100)
ADDRESS_MIN, ADDRESS_MAX = 2, 200  # station.address is String(200)
PHONE_MAX = 32  # station.phone is String(32)
INTRO_MAX = 2000
REASON_MIN, REASON_MAX = 2, 200

# GCJ-02 is defined for mainland China only: the bounding box every GCJ-02 converter uses to
# decide "out of China" (coordinates outside it are WGS-84 unchanged, or a typo).
LAT_RANGE = (0.8293, 55.8271)
LNG_RANGE = (72.004, 137.8347)

# Scenes are random, never sequential: a printed code must not let anyone walk the stations.
# Lowercase base32, as the demo county's scenes: within `stations.SCENE_PATTERN`, and nothing a
# phone keyboard or a URL mangles.
SCENE_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
SCENE_LENGTH = 10  # 50 bits

KIND_LABELS = {
    StationKind.center: "中心联络站",
    StationKind.community: "社区联络站",
    StationKind.other: "其他（园区、企业等）",
}

# What a station manager may change; a region admin changes these and the rest.
MANAGER_FIELDS = frozenset({"address", "phone", "opens_at", "closes_at", "intro"})
ADMIN_FIELDS = MANAGER_FIELDS | {"name", "region_code", "region_id", "kind", "lat", "lng", "parent_station_id"}

# Unfinished issues: those under way, and those still held for review.
UNFINISHED = frozenset(OPEN_STATUSES | {IssueStatus.pending_review})

_PHONE = re.compile(r"^[0-9+()\- ]+$")
_HHMM = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")
_REGION_CODE = re.compile(r"^[0-9]{12}$")
_REGION_OUT_OF_REACH = "未找到该行政区划，或不在您的管辖范围内"
_PARENT_OUT_OF_REACH = "未找到该联络站，或不在您的管辖范围内"


@dataclass
class StationClosure:
    station: Station
    dropped_duty: int  # duty days removed from rosters (from today on, unless attended)
    skipped_reminders: int  # planned reception reminders that will not be sent


# --- who may ------------------------------------------------------------------------------------

def _admin_region(actor: Caller, doing: str) -> Region:
    """:raise 403 forbidden: not a region admin, or one whose account has no region."""
    staff = actor.staff
    if staff is None or not actor.has(Role.region_admin):
        raise Forbidden(f"只有区域管理员可以{doing}")
    if staff.region is None:
        raise Forbidden(f"该账号未设置所属行政区划，无法{doing}")
    return staff.region


# --- fields -------------------------------------------------------------------------------------

def _text(value: Any, *, min_length: int, max_length: int) -> str:
    if value is None:
        raise ValueError("必填")
    if not isinstance(value, str):
        raise TypeError("应为文本")
    return clean_name(value, min_length=min_length, max_length=max_length)


def _phone(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise TypeError("应为文本")
    value = " ".join(value.split())
    digits = sum(ch.isdigit() for ch in value)
    if len(value) > PHONE_MAX or not _PHONE.match(value) or not 5 <= digits <= 20:
        raise ValueError("电话格式不正确，例如 0572-5123456 或 13800001234")
    return value


def _intro(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise TypeError("应为文本")
    value = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    if any(unicodedata.category(ch).startswith("C") and ch != "\n" for ch in value):
        raise ValueError("不能包含控制字符或不可见字符")
    if len(value) > INTRO_MAX:
        raise ValueError(f"最多{INTRO_MAX}个字符")
    return value


def _kind(value: Any) -> StationKind:
    try:
        return StationKind(value)
    except ValueError:
        choices = "、".join(f"{label}（{kind.value}）" for kind, label in KIND_LABELS.items())
        raise ValueError(f"应为以下之一：{choices}") from None


def _time(value: Any) -> time:
    """A time of day, or "HH:MM" as a form sends it."""
    if isinstance(value, time):
        if value.tzinfo is not None:
            raise ValueError("应为北京时间，不带时区")
        return value.replace(second=0, microsecond=0)
    if isinstance(value, str) and (match := _HHMM.match(value.strip())):
        return time(int(match.group(1)), int(match.group(2)))
    if value is None:
        raise ValueError("必填")
    raise ValueError("时间格式应为 HH:MM，例如 09:00")


def _coordinate(value: Any, bounds: tuple[float, float], what: str) -> float:
    if value is None:
        raise ValueError("必填")
    if isinstance(value, bool):
        raise TypeError("应为数字")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError("应为数字") from None
    if not math.isfinite(number):
        raise ValueError("应为有限的数字")
    low, high = bounds
    if not low <= number <= high:
        raise ValueError(f"{what}应在{low}至{high}之间（中国境内的 GCJ-02 坐标）")
    return number


def _region(admin_region: Region, code: Any, region_id: Any) -> Region:
    """A region at or below the admin's own, by code or id (one message for missing and out of
    reach, so neither can be probed)."""
    region = None
    if code is not None:
        if isinstance(code, str) and _REGION_CODE.match(code.strip()):
            region = db.session.scalar(db.select(Region).where(Region.code == code.strip()))
        if region is not None and region_id is not None and region.id != region_id:
            raise ValueError("行政区划代码与编号不一致")
    elif isinstance(region_id, int) and not isinstance(region_id, bool) and 0 < region_id < 2**31:
        region = db.session.get(Region, region_id)
    if region is None or not region.code.startswith(admin_region.scope_prefix):
        raise ValueError(_REGION_OUT_OF_REACH)
    return region


def _parent(actor: Caller, parent_id: Any, station: Station | None) -> Station | None:
    """The center station the station sits under; never itself or one of its own descendants."""
    if parent_id is None:
        return None
    if isinstance(parent_id, bool) or not isinstance(parent_id, int) or not 0 < parent_id < 2**31:
        raise ValueError(_PARENT_OUT_OF_REACH)
    parent = db.session.scalar(db.select(Station).where(Station.id == parent_id, station_scope_clause(actor)))
    if parent is None:
        raise ValueError(_PARENT_OUT_OF_REACH)
    if station is not None:
        seen, node = set(), parent
        while node is not None and node.id not in seen:
            if node.id == station.id:
                raise ValueError("上级联络站不能是本站或本站的下级联络站")
            seen.add(node.id)
            node = db.session.get(Station, node.parent_station_id) if node.parent_station_id else None
    if parent.kind != StationKind.center:
        raise ValueError(f"上级联络站应为{KIND_LABELS[StationKind.center]}")
    if not parent.is_active:
        raise ValueError("上级联络站已停用")
    return parent


def _check(errors: dict[str, str], field: str, validate, *args):
    """`validate(*args)`, or None with the complaint recorded under `field`. Validators raise
    ValueError for a bad value and TypeError for one of the wrong type, both with a Chinese
    sentence."""
    try:
        return validate(*args)
    except (TypeError, ValueError) as exc:
        errors[field] = str(exc)
        return None


def _require_hours(errors: dict[str, str], opens_at: time | None, closes_at: time | None) -> None:
    if opens_at is not None and closes_at is not None and opens_at >= closes_at:
        errors["closes_at"] = "结束时间应晚于开始时间"


# --- names are unique within a region ------------------------------------------------------------

def _require_unique_name(region: Region, name: str, *, other_than: int | None = None) -> None:
    """:raise 409 conflict: a station of `region` (open or closed) already has this name.

    The region's row is locked until the transaction ends (PostgreSQL), so two staff members
    saving the same name in the same region at once are checked one after the other.
    """
    db.session.execute(db.select(Region.id).where(Region.id == region.id).with_for_update())
    query = db.select(func.count()).where(Station.region_id == region.id, Station.name == name)
    if other_than is not None:
        query = query.where(Station.id != other_than)
    if db.session.scalar(query):
        raise Conflict(f"「{region.name}」已有名为「{name}」的联络站")


def _new_scene() -> str:
    while True:
        scene = "".join(secrets.choice(SCENE_ALPHABET) for _ in range(SCENE_LENGTH))
        if db.session.scalar(db.select(func.count()).where(Station.scene == scene)) == 0:
            return scene


# --- create and edit ------------------------------------------------------------------------------

def create_station(actor: Caller, *, name: str, address: str, lat: float, lng: float, kind: StationKind | str,
                   opens_at: time | str, closes_at: time | str, region_code: str | None = None,
                   region_id: int | None = None, phone: str | None = None, intro: str | None = None,
                   parent_station_id: int | None = None) -> Station:
    """A new, open station in a region at or below the region admin's own, with a fresh random
    scene for its printed code. It follows its region's reception rule until given its own.

    :raise 403 forbidden: not a region admin, or one with no region.
    :raise 400 invalid_input: every bad field at once in `details.fields` (a region or parent
        station outside the admin's reach reads as not found).
    :raise 409 conflict: a station of that region already has this name.
    """
    admin_region = _admin_region(actor, "新建联络站")
    errors: dict[str, str] = {}
    region_field = "region_code" if region_code is not None or region_id is None else "region_id"
    if region_code is None and region_id is None:
        errors["region_code"] = "必填"
        region = None
    else:
        region = _check(errors, region_field, _region, admin_region, region_code, region_id)
    values = {
        "name": _check(errors, "name", lambda v: _text(v, min_length=NAME_MIN, max_length=NAME_MAX), name),
        "address": _check(errors, "address", lambda v: _text(v, min_length=ADDRESS_MIN, max_length=ADDRESS_MAX),
                          address),
        "lat": _check(errors, "lat", _coordinate, lat, LAT_RANGE, "纬度"),
        "lng": _check(errors, "lng", _coordinate, lng, LNG_RANGE, "经度"),
        "kind": _check(errors, "kind", _kind, kind),
        "opens_at": _check(errors, "opens_at", _time, opens_at),
        "closes_at": _check(errors, "closes_at", _time, closes_at),
        "phone": _check(errors, "phone", _phone, phone),
        "intro": _check(errors, "intro", _intro, intro),
    }
    parent = _check(errors, "parent_station_id", _parent, actor, parent_station_id, None)
    _require_hours(errors, values["opens_at"], values["closes_at"])
    if errors:
        raise InvalidInput(errors)
    _require_unique_name(region, values["name"])
    station = Station(scene=_new_scene(), region=region, parent_station_id=parent.id if parent else None,
                      is_active=True, **values)
    try:
        with db.session.begin_nested():
            db.session.add(station)
            db.session.flush()
    except IntegrityError:
        # Only the scene is unique: another station took the same 50 random bits meanwhile.
        raise Conflict("生成二维码编号时发生冲突，请重试") from None
    log.info("station %s 「%s」 (scene %s) created in region %s by user %s", station.id, station.name, station.scene,
             region.code, actor.user_id)
    return station


def update_station(actor: Caller, station: Station, **changes: Any) -> Station:
    """Change some of the station's details; a field left out stays as it is (None clears
    `phone`, `intro` and `parent_station_id`).

    A station manager may change `address`, `phone`, `opens_at`, `closes_at`, `intro` of their
    own stations; a region admin also `name`, `region_code` / `region_id` (within their
    region), `kind`, `lat`, `lng`, `parent_station_id`.

    :raise TypeError: a field that is not one of those (a programming error).
    :raise 404 station_not_found: the station is outside the caller's reach.
    :raise 403 forbidden: a station manager changing what only a region admin may.
    :raise 400 invalid_input: every bad field at once in `details.fields`.
    :raise 409 conflict: another station of the region already has the new name.
    """
    unknown = set(changes) - ADMIN_FIELDS
    if unknown:
        raise TypeError(f"update_station() got unexpected fields: {', '.join(sorted(unknown))}")
    station = access_managed_station(actor, station.id)
    is_admin = actor.has(Role.region_admin)
    if not is_admin and set(changes) - MANAGER_FIELDS:
        raise Forbidden("站长只能修改联络站的地址、电话、开放时间和简介，其他信息请联系区域管理员")

    errors: dict[str, str] = {}
    new: dict[str, Any] = {}
    validators = {
        "name": lambda v: _text(v, min_length=NAME_MIN, max_length=NAME_MAX),
        "address": lambda v: _text(v, min_length=ADDRESS_MIN, max_length=ADDRESS_MAX),
        "phone": _phone,
        "intro": _intro,
        "kind": _kind,
        "opens_at": _time,
        "closes_at": _time,
        "lat": lambda v: _coordinate(v, LAT_RANGE, "纬度"),
        "lng": lambda v: _coordinate(v, LNG_RANGE, "经度"),
    }
    for field, validate in validators.items():
        if field in changes:
            value = _check(errors, field, validate, changes[field])
            if field not in errors:
                new[field] = value
    region = None
    if "region_code" in changes or "region_id" in changes:
        field = "region_code" if changes.get("region_code") is not None else "region_id"
        if changes.get("region_code") is None and changes.get("region_id") is None:
            errors[field] = "不能为空"
        else:
            region = _check(errors, field, _region, _admin_region(actor, "调整联络站的行政区划"),
                            changes.get("region_code"), changes.get("region_id"))
    if "parent_station_id" in changes:
        parent = _check(errors, "parent_station_id", _parent, actor, changes["parent_station_id"], station)
        if "parent_station_id" not in errors:
            new["parent_station_id"] = parent.id if parent else None
    if new.get("kind", StationKind.center) != StationKind.center and station.kind == StationKind.center:
        children = db.session.scalar(db.select(func.count()).where(Station.parent_station_id == station.id))
        if children:
            errors["kind"] = f"本站下还有{children}个联络站，请先调整它们的上级联络站"
    if "opens_at" in changes or "closes_at" in changes:
        _require_hours(errors, new.get("opens_at", station.opens_at), new.get("closes_at", station.closes_at))
    if errors:
        raise InvalidInput(errors)

    changed = {field: value for field, value in new.items() if getattr(station, field) != value}
    if region is not None and region.id != station.region_id:
        changed["region_id"] = region.id
    if "name" in changed or "region_id" in changed:
        target = region if "region_id" in changed else db.session.get(Region, station.region_id)
        _require_unique_name(target, changed.get("name", station.name), other_than=station.id)
    if not changed:
        return station
    for field, value in changed.items():
        setattr(station, field, value)
    if "region_id" in changed:
        station.region = region
    db.session.flush()
    log.info("station %s changed by user %s: %s", station.id, actor.user_id,
             {field: value.isoformat() if isinstance(value, time) else value for field, value in changed.items()})
    return station


# --- close and reopen -----------------------------------------------------------------------------

def _lock(station: Station) -> Station:
    """The station's row, locked until the transaction ends and re-read, so a concurrent edit,
    close or reopen is seen."""
    return db.session.scalar(db.select(Station).where(Station.id == station.id).with_for_update(of=Station)
                             .execution_options(populate_existing=True))


def close_station(actor: Caller, station: Station, reason: str) -> StationClosure:
    """停用: residents no longer find, follow or reach the station, deputies no longer check in
    there, and nothing reminds anyone of its reception days. Its history stays, and staff keep
    seeing it; its deputies stay grouped into it, so reopening brings it back as it was (but
    for the duty dropped here: draft the roster again).

    Duty days from today on are dropped from its rosters (today's only if not yet attended),
    and its reception reminders not yet sent are skipped.

    :raise 403 forbidden: not a region admin, or one with no region.
    :raise 404 station_not_found: the station is outside the admin's region.
    :raise 400 invalid_input: no reason, or one over 200 characters.
    :raise 409 conflict: the station is closed already, or still has unfinished issues
        (submitted, under way, reopened or held for review) — finish those first.
    """
    _admin_region(actor, "停用联络站")
    station = _lock(access_managed_station(actor, station.id))
    try:
        reason = _text(reason, min_length=REASON_MIN, max_length=REASON_MAX)
    except (TypeError, ValueError) as exc:
        raise InvalidInput({"reason": str(exc)}, message=f"请填写停用原因（{REASON_MIN}至{REASON_MAX}个字）") from None
    if not station.is_active:
        raise Conflict(f"「{station.name}」已停用")
    unfinished = db.session.scalar(db.select(func.count()).where(
        Issue.station_id == station.id, Issue.status.in_(list(UNFINISHED))))
    if unfinished:
        raise Conflict(f"「{station.name}」还有{unfinished}条意见建议未办结（含待审核），"
                       "请先办结或不予受理后再停用，以免群众的诉求无人办理",
                       details={"unfinished_issues": unfinished})

    station.is_active = False
    dropped = _drop_duty_from_today(station)
    skipped = reminders.skip_planned(station.id, "联络站已停用，不再发送")
    db.session.flush()
    log.info("station %s 「%s」 closed by user %s: %s; %d duty days dropped, %d reminders skipped", station.id,
             station.name, actor.user_id, reason, dropped, skipped)
    return StationClosure(station=station, dropped_duty=dropped, skipped_reminders=skipped)


def reopen_station(actor: Caller, station: Station) -> Station:
    """Open a closed station again: residents find it at the same code. Its rosters from
    today on are empty (closing dropped them): draft them again.

    :raise 403 forbidden: not a region admin, or one with no region.
    :raise 404 station_not_found: the station is outside the admin's region.
    :raise 409 conflict: the station is open.
    """
    _admin_region(actor, "恢复联络站")
    station = _lock(access_managed_station(actor, station.id))
    if station.is_active:
        raise Conflict(f"「{station.name}」未停用")
    station.is_active = True
    db.session.flush()
    log.info("station %s 「%s」 reopened by user %s", station.id, station.name, actor.user_id)
    return station


def _drop_duty_from_today(station: Station) -> int:
    """Remove the station's duty it will not hold: every day after today, and today's unless the
    deputy has checked in already (that day happened). Deleted as ORM objects, so the caches
    that show rosters see each one go."""
    today = clock.beijing_today()
    rows = list(db.session.scalars(db.select(DutyAssignment).where(
        DutyAssignment.station_id == station.id,
        or_(DutyAssignment.duty_date > today, and_(DutyAssignment.duty_date == today, ~ATTENDED)))))
    for row in rows:
        db.session.delete(row)
    return len(rows)
