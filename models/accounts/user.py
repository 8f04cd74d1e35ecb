from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Enum, ForeignKey, Index, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import db, utcnow
from models.enums import StaffRole

staff_station = Table(
    "staff_station",
    db.metadata,
    Column("staff_account_id", Integer, ForeignKey("staff_account.id"), primary_key=True),
    Column("station_id", Integer, ForeignKey("station.id"), primary_key=True),
)


class User(db.Model):
    """Whoever holds a token: a WeChat user (resident, perhaps a deputy) or a staff member.

    Roles are not stored here but derived from facts (an openid, a bound deputy, a staff
    account), so they cannot drift from those facts.
    """

    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    openid: Mapped[str | None] = mapped_column(String(64), unique=True)
    unionid: Mapped[str | None] = mapped_column(String(64))
    # WeChat's session key stays on the server: it decrypts wx.getPhoneNumber data later.
    session_key: Mapped[str | None] = mapped_column(String(64))
    # Bumped to revoke every token issued before (unbinding, retirement, password reset).
    token_version: Mapped[int] = mapped_column(default=1)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    # A resident who asked for their personal data to be deleted (PIPL 第四十七条): the row stays,
    # emptied, so their issues keep a submitter that identifies no one.
    deleted_at: Mapped[datetime | None]

    deputy = relationship("Deputy", primaryjoin="User.id == Deputy.user_id", uselist=False, viewonly=True)
    staff_account: Mapped[StaffAccount | None] = relationship(back_populates="user", uselist=False)


class StaffAccount(db.Model):
    """站长 / 联络员 and region admins: sign in with a username and password."""

    __tablename__ = "staff_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), unique=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    display_name: Mapped[str] = mapped_column(String(64))
    role: Mapped[StaffRole] = mapped_column(Enum(StaffRole, native_enum=False, length=24))
    # A region admin sees everything under this region; a station manager their stations.
    region_id: Mapped[int | None] = mapped_column(ForeignKey("region.id"))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(back_populates="staff_account")
    region = relationship("Region")
    stations = relationship("Station", secondary=staff_station, order_by="Station.id")


class LoginAttempt(db.Model):
    """One staff sign-in try. The lockout counts failures here, so it holds across workers."""

    __tablename__ = "login_attempt"
    # By username (the lockout) and by address (password spraying: one address, many usernames).
    __table_args__ = (Index("ix_login_attempt_username_at", "username", "attempted_at"),
                      Index("ix_login_attempt_remote_addr_at", "remote_addr", "attempted_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)
    succeeded: Mapped[bool]
    remote_addr: Mapped[str | None] = mapped_column(String(64))


class ConsoleSession(db.Model):
    """One signed-in console session. The cookie carries a random id whose hash is kept here, so
    signing out ends the session on the server — every copy of its cookie — not only in the
    browser that held it."""

    __tablename__ = "console_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    # SHA-256 of the cookie's id: the table read alone signs nobody in.
    sid_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    # Why it ended: logout, password-reset, disabled, expired.
    ended_reason: Mapped[str | None] = mapped_column(String(32))


class InviteCode(db.Model):
    """A one-time code staff give a deputy to bind their WeChat account (bind-deputy)."""

    __tablename__ = "invite_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    deputy_id: Mapped[int] = mapped_column(ForeignKey("deputy.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))

    deputy = relationship("Deputy")
