from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import (
    Enum,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import db, utcnow
from models.enums import StationKind


class Station(db.Model):
    """代表联络站 / 代表之家: where deputies receive residents."""

    __tablename__ = "station"
    __table_args__ = (Index("ix_station_lat_lng", "lat", "lng"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The short public id printed inside the station's code (≤ 32 chars, WeChat's scene limit).
    scene: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[StationKind] = mapped_column(Enum(StationKind, native_enum=False, length=16),
                                              default=StationKind.community)
    address: Mapped[str] = mapped_column(String(200))
    # GCJ-02, as the mini-program's wx.getLocation({type: 'gcj02'}) and Chinese maps give them.
    lat: Mapped[float] = mapped_column(Float)
    lng: Mapped[float] = mapped_column(Float)
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"), index=True)
    parent_station_id: Mapped[int | None] = mapped_column(ForeignKey("station.id"))
    opens_at: Mapped[time] = mapped_column(Time, default=time(9, 0))
    closes_at: Mapped[time] = mapped_column(Time, default=time(17, 0))
    phone: Mapped[str | None] = mapped_column(String(32))
    intro: Mapped[str | None] = mapped_column(Text)
    reception_rule_id: Mapped[int | None] = mapped_column(ForeignKey("reception_rule.id"))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    region = relationship("Region", lazy="joined")
    reception_rule = relationship("ReceptionRule", lazy="joined")
    memberships: Mapped[list[StationMembership]] = relationship(back_populates="station")

    @property
    def open_hours(self) -> str:
        return f"{self.opens_at:%H:%M}-{self.closes_at:%H:%M}"


class StationMembership(db.Model):
    """编组 / 进站: a deputy grouped into a station for a span of dates (inclusive)."""

    __tablename__ = "station_membership"
    __table_args__ = (Index("ix_station_membership_station_dates", "station_id", "started_on", "ended_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    deputy_id: Mapped[int] = mapped_column(ForeignKey("deputy.id"), index=True)
    started_on: Mapped[date]
    ended_on: Mapped[date | None]
    # 站长代表: the deputy who leads the station's group, listed first among equals.
    is_leader: Mapped[bool] = mapped_column(default=False)

    station: Mapped[Station] = relationship(back_populates="memberships")
    deputy = relationship("Deputy", back_populates="memberships")

    def is_current(self, on: date) -> bool:
        return self.started_on <= on and (self.ended_on is None or self.ended_on >= on)

    @classmethod
    def current_on(cls, on: date):
        """The same test as `is_current`, as a WHERE clause."""
        return (cls.started_on <= on) & (cls.ended_on.is_(None) | (cls.ended_on >= on))


class StationFollow(db.Model):
    """A resident who wants reminding of this station's next reception day."""

    __tablename__ = "station_follow"
    __table_args__ = (UniqueConstraint("user_id", "station_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
