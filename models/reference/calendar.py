"""What staff know about working days (工作日) beyond the chinese_calendar package.

The State Council publishes each year's holidays late in the year before, often after the
package's last release; staff enter them here. backend/services/reference/workdays.py reads these tables.
"""
from __future__ import annotations

# The module, not its classes: a column named `date` would otherwise shadow the type.
import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import db, utcnow


class CalendarOverride(db.Model):
    """One date declared a working day or a day off, over whatever the package says.

    An override wins over the package too, so a wrong package date can be corrected.
    """

    __tablename__ = "calendar_override"

    id: Mapped[int] = mapped_column(primary_key=True)
    date: Mapped[dt.date] = mapped_column(unique=True)
    is_workday: Mapped[bool]
    # Where it comes from, e.g. 国办发明电〔2026〕号 春节调休.
    note: Mapped[str] = mapped_column(String(200), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CalendarYear(db.Model):
    """A year staff have entered in full from the official notice.

    Only then are its unlisted days trusted as plain weekdays and weekends; a year with a few
    overrides and no such mark is still counted as an estimate.
    """

    __tablename__ = "calendar_year"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    is_complete: Mapped[bool] = mapped_column(default=False)
    note: Mapped[str] = mapped_column(String(200), default="")
