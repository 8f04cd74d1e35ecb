from __future__ import annotations

from sqlalchemy import Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import db
from models.enums import REGION_CODE_PREFIX, RegionLevel


class Region(db.Model):
    """行政区划: province → city → county → township/street → community."""

    __tablename__ = "region"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The 12-digit statistical division code; its first REGION_CODE_PREFIX[level] digits are
    # shared by every region below, which is how region scopes are queried.
    code: Mapped[str] = mapped_column(String(12), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    level: Mapped[RegionLevel] = mapped_column(Enum(RegionLevel, native_enum=False, length=16))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("region.id"), index=True)
    reception_rule_id: Mapped[int | None] = mapped_column(ForeignKey("reception_rule.id"))

    parent: Mapped[Region | None] = relationship(remote_side="Region.id")
    reception_rule = relationship("ReceptionRule", lazy="joined")

    @property
    def scope_prefix(self) -> str:
        """The code digits every region below this one shares."""
        return self.code[: REGION_CODE_PREFIX[self.level]]

    def lineage_codes(self) -> list[str]:
        """Codes of this region and its ancestors, province first: the division code itself
        names them (330523001001 → 330000000000, 330500000000, 330523000000, 330523001000, …)."""
        own = REGION_CODE_PREFIX[self.level]
        return [self.code[:n].ljust(12, "0") for n in sorted(set(REGION_CODE_PREFIX.values())) if n <= own]
