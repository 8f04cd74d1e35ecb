from __future__ import annotations

from sqlalchemy import Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import db
from .enums import REGION_CODE_PREFIX, RegionLevel


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

    parent: Mapped[Region | None] = relationship(remote_side="Region.id", lazy="joined", join_depth=5)
    reception_rule = relationship("ReceptionRule", lazy="joined")

    @property
    def scope_prefix(self) -> str:
        return self.code[: REGION_CODE_PREFIX[self.level]]

    def lineage(self) -> list[Region]:
        """This region and its ancestors, province first."""
        chain: list[Region] = []
        node: Region | None = self
        while node is not None:
            chain.append(node)
            node = node.parent
        return list(reversed(chain))
