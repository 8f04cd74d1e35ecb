"""Reading the console's query strings and forms: one place for what a bad value answers (a 400
page naming the field, in Chinese) and for the scope pickers every page shows."""
from __future__ import annotations

from datetime import date

from flask import flash, g, request
from sqlalchemy import select

from backend.auth import Caller
from backend.errors import ApiError, InvalidInput
from backend.permissions import station_scope_clause
from backend.services.privacy import audit
from models import Region, Role, Station, db

# A picker longer than this is no help: beyond it staff narrow by region first.
MAX_STATION_CHOICES = 500


def date_arg(name: str, label: str, default: date | None = None) -> date | None:
    value = (request.values.get(name) or "").strip()
    return parse_date(value, name, label) if value else default


def parse_date(value: str, name: str = "date", label: str = "日期") -> date:
    """:raise 400 invalid_input: not a YYYY-MM-DD date."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput({name: f"{label}应为 YYYY-MM-DD 格式的日期"}, message=f"{label}格式有误：{value}") from None


def parse_month(value: str) -> date:
    """The first day of a YYYY-MM month. :raise 400 invalid_input: not one."""
    try:
        return date.fromisoformat(value + "-01")
    except ValueError:
        raise InvalidInput({"month": "月份应为 YYYY-MM 格式"}, message=f"月份格式有误：{value}") from None


def int_arg(name: str, label: str) -> int | None:
    value = (request.values.get(name) or "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) > 2**31 - 1:
        raise InvalidInput({name: f"{label}有误"}, message=f"{label}有误：{value}")
    return int(value)


def text_arg(name: str, max_length: int = 100) -> str | None:
    value = (request.values.get(name) or "").strip()
    return value[:max_length] or None


def period(default_start: date, default_end: date) -> tuple[date, date]:
    start = date_arg("from", "开始日期", default_start)
    end = date_arg("to", "结束日期", default_end)
    if start > end:
        raise InvalidInput({"from": "开始日期不能晚于结束日期"}, message="开始日期不能晚于结束日期")
    if (end - start).days > 366 * 5:
        raise InvalidInput({"from": "统计期间最长 5 年"}, message="统计期间最长 5 年，请缩短")
    return start, end


def station_choices(caller: Caller) -> list[Station]:
    return list(db.session.scalars(select(Station).where(station_scope_clause(caller))
                                   .order_by(Station.name, Station.id).limit(MAX_STATION_CHOICES)))


def region_choices(caller: Caller) -> list[Region]:
    """A region admin's region and the regions just below it; nothing for a station manager."""
    staff = caller.staff
    if not caller.has(Role.region_admin) or staff is None or staff.region is None:
        return []
    below = db.session.scalars(select(Region).where(Region.parent_id == staff.region.id).order_by(Region.code))
    return [staff.region, *below]


def error_text(error) -> str:
    """An ApiError as one line for a flash message: its message and each field's complaint."""
    fields = (getattr(error, "details", None) or {}).get("fields") or {}
    extra = "；".join(str(v) for v in fields.values() if v and str(v) not in error.message)
    # A refusal of several things at once (a bulk assignment) names each and why.
    each = (getattr(error, "details", None) or {}).get("issues") or {}
    extra = "；".join([extra] * bool(extra) + [f"{no}：{why}" for no, why in each.items()])
    return f"{error.message}（{extra}）" if extra else error.message


def attempt(action, success: str, failure: str = ""):
    """Run one change and commit it; flash how it went. Returns the change's result, or None
    when it was refused (a 404 is left to the error page: the thing is not the caller's)."""
    try:
        result = action()
        audit.staff_write(g.staff)
        db.session.commit()
    except ApiError as error:
        audit.refused_staff_write(g.staff, error.status)
        if error.status == 404:
            raise
        flash(failure + error_text(error), "error")
        return None
    flash(success(result) if callable(success) else success, "success")
    return result
