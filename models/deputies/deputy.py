from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Enum, ForeignKey, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import EncryptedString, db, utcnow
from models.enums import DeputyLevel

deputy_topic_group = Table(
    "deputy_topic_group",
    db.metadata,
    Column("deputy_id", Integer, ForeignKey("deputy.id"), primary_key=True),
    Column("topic_group_id", Integer, ForeignKey("topic_group.id"), primary_key=True),
)


class Deputy(db.Model):
    """人大代表. One person, who may hold seats at more than one level."""

    __tablename__ = "deputy"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(32))
    gender: Mapped[str | None] = mapped_column(String(8))
    photo_url: Mapped[str | None] = mapped_column(String(300))
    # What residents read on the profile: occupation and a short introduction.
    occupation: Mapped[str | None] = mapped_column(String(100))
    bio: Mapped[str | None] = mapped_column(Text)
    # Staff-only contact; never part of any public answer. Encrypted at rest; each time staff
    # are shown it, the audit log keeps that (audit.viewed).
    phone: Mapped[str | None] = mapped_column(EncryptedString())
    # The WeChat user who bound this deputy with an invite code.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), unique=True)
    retired_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    seats: Mapped[list[DeputySeat]] = relationship(back_populates="deputy", order_by="DeputySeat.id")
    memberships = relationship("StationMembership", back_populates="deputy")
    topic_groups: Mapped[list[TopicGroup]] = relationship(secondary=deputy_topic_group, order_by="TopicGroup.id")
    user = relationship("User", foreign_keys=[user_id])


class DeputySeat(db.Model):
    """A seat in one people's congress for one term (届次), with its dates (inclusive)."""

    __tablename__ = "deputy_seat"

    id: Mapped[int] = mapped_column(primary_key=True)
    deputy_id: Mapped[int] = mapped_column(ForeignKey("deputy.id"), index=True)
    level: Mapped[DeputyLevel] = mapped_column(Enum(DeputyLevel, native_enum=False, length=16))
    # e.g. "临安县人民代表大会", term 18 → 第十八届
    congress: Mapped[str] = mapped_column(String(100))
    term: Mapped[int]
    started_on: Mapped[date]
    ended_on: Mapped[date | None]

    deputy: Mapped[Deputy] = relationship(back_populates="seats")

    def is_current(self, on: date) -> bool:
        return self.started_on <= on and (self.ended_on is None or self.ended_on >= on)


class TopicGroup(db.Model):
    """专业小组: deputies grouped by theme (城乡建设, 教育医疗 …), shown on their profiles."""

    __tablename__ = "topic_group"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
