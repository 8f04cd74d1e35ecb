from __future__ import annotations

from sqlalchemy import JSON, Enum, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import db
from models.enums import ReceptionRuleKind


class ReceptionRule(db.Model):
    """When a station receives residents (逢六进站 and its variants), as data.

    A station uses its own rule, else the nearest region's up its lineage, else the rule marked
    default. No rule is hard-coded: 逢六 is only what the seed data marks default.
    """

    __tablename__ = "reception_rule"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[ReceptionRuleKind] = mapped_column(Enum(ReceptionRuleKind, native_enum=False, length=16))
    # monthly_days: days of the month (a day past the month's end is skipped that month);
    # weekly: ISO weekdays, 1 = Monday.
    days: Mapped[list[int]] = mapped_column(JSON)
    label: Mapped[str] = mapped_column(String(64))
    is_default: Mapped[bool] = mapped_column(default=False)
