"""Bearer tokens and the caller they stand for.

A token is signed (itsdangerous) and carries only the user id and the user's token version —
never WeChat's session_key, never roles. Roles are read from the database on every request, so
a retired deputy or a disabled account loses access at once, and bumping `token_version`
revokes every older token.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from flask import current_app, g, request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import selectinload

from models import Deputy, Role, StaffAccount, User, db

from .errors import TokenExpired, Unauthorized

_SALT = "lianluozhan.api-token.v1"


@dataclass
class Caller:
    user: User
    roles: list[Role]
    deputy: Deputy | None = None
    staff: StaffAccount | None = None
    station_ids: set[int] = field(default_factory=set)

    @property
    def deputy_id(self) -> int | None:
        return self.deputy.id if self.deputy else None

    def has(self, *roles: Role) -> bool:
        return any(role in self.roles for role in roles)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def issue_token(user: User) -> tuple[str, int]:
    """A fresh token for `user` and its lifetime in seconds."""
    # `jti` makes every token distinct, so "a fresh token" is fresh even within one second.
    token = _serializer().dumps({"uid": user.id, "ver": user.token_version, "jti": secrets.token_hex(4)})
    return token, current_app.config["TOKEN_TTL_SECONDS"]


def roles_of(user: User) -> tuple[list[Role], Deputy | None, StaffAccount | None]:
    """What `user` may act as, derived from the facts: an openid, a bound deputy, a staff account."""
    roles: list[Role] = []
    if user.openid:
        roles.append(Role.resident)
    deputy = db.session.scalar(
        db.select(Deputy).where(Deputy.user_id == user.id, Deputy.retired_at.is_(None))
    )
    if deputy is not None:
        roles.append(Role.deputy)
    staff = user.staff_account if user.staff_account and user.staff_account.is_active else None
    if staff is not None:
        roles.append(Role(staff.role.value))
    return roles, deputy, staff


def caller_for(user: User) -> Caller:
    roles, deputy, staff = roles_of(user)
    station_ids = {station.id for station in staff.stations} if staff is not None else set()
    return Caller(user=user, roles=roles, deputy=deputy, staff=staff, station_ids=station_ids)


def current_caller(required: bool = True) -> Caller | None:
    """The caller of this request from its `Authorization: Bearer` header.

    :raise 401 unauthorized: no token, a forged one, or one revoked since.
    :raise 401 token_expired: a genuine token past its lifetime.
    """
    if "caller" in g:
        return g.caller
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        if required:
            raise Unauthorized()
        return None
    try:
        payload = _serializer().loads(token.strip(), max_age=current_app.config["TOKEN_TTL_SECONDS"])
    except SignatureExpired:
        raise TokenExpired() from None
    except BadSignature:
        raise Unauthorized("登录凭证无效，请重新登录") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("uid"), int):
        raise Unauthorized("登录凭证无效，请重新登录")
    user = db.session.get(User, payload["uid"], options=[selectinload(User.staff_account)])
    if user is None or not user.is_active or user.token_version != payload.get("ver"):
        raise Unauthorized("登录凭证已失效，请重新登录")
    g.caller = caller_for(user)
    return g.caller
