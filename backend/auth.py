"""Bearer tokens and the caller they stand for.

A token is signed (itsdangerous) and carries only the user id and the user's token version —
never WeChat's session_key, never roles. Roles are derived from the database — through the
identity cache, which every change to them invalidates at commit — so a retired deputy or a
disabled account loses access at once, and bumping `token_version` revokes every older token.
"""
from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable

from flask import current_app, g, request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import joinedload

from models import Deputy, Role, StaffAccount, StationMembership, User, db

from . import clock, identity_cache
from .errors import TokenExpired, Unauthorized

_SALT = "lianluozhan.api-token.v1"


class Caller:
    """Who is calling, and as what.

    Built either from the database or from the identity cache (`backend/identity_cache.py`),
    so it holds ids; the `user`, `deputy` and `staff` objects are loaded only when a service
    needs them (hot read paths such as the deputy inbox need none).
    """

    def __init__(self, user_id: int, roles: list[Role], *, openid: str | None = None, deputy_id: int | None = None,
                 staff_id: int | None = None, station_ids: Iterable[int] = (),
                 deputy_station_ids: Iterable[int] = (), user: User | None = None,
                 deputy: Deputy | None = None, staff: StaffAccount | None = None):
        self.user_id = user_id
        self.roles = roles
        # The mini-program's id of the user (a resident's), which WeChat's content check asks for.
        self.openid = openid
        self.deputy_id = deputy_id
        self.staff_id = staff_id
        # The stations a staff member manages (a station manager's own; empty for others).
        self.station_ids = set(station_ids)
        # The stations the deputy is grouped into today.
        self.deputy_station_ids = sorted(deputy_station_ids)
        self._user, self._deputy, self._staff = user, deputy, staff

    @property
    def user(self) -> User:
        if self._user is None:
            self._user = db.session.get(User, self.user_id)
        return self._user

    @property
    def deputy(self) -> Deputy | None:
        if self._deputy is None and self.deputy_id is not None:
            self._deputy = db.session.get(Deputy, self.deputy_id)
        return self._deputy

    @property
    def staff(self) -> StaffAccount | None:
        if self._staff is None and self.staff_id is not None:
            self._staff = db.session.get(StaffAccount, self.staff_id)
        return self._staff

    def has(self, *roles: Role) -> bool:
        return any(role in self.roles for role in roles)


def _serializer() -> URLSafeTimedSerializer:
    # One per app: building it derives keys, a measurable share of a cached inbox call.
    serializer = current_app.extensions.get("api_token_serializer")
    if serializer is None:
        serializer = URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)
        current_app.extensions["api_token_serializer"] = serializer
    return serializer


def issue_token(user: User) -> tuple[str, int]:
    """A fresh token for `user` and its lifetime in seconds."""
    # `jti` makes every token distinct, so "a fresh token" is fresh even within one second.
    token = _serializer().dumps({"uid": user.id, "ver": user.token_version, "jti": secrets.token_hex(4)})
    return token, current_app.config["TOKEN_TTL_SECONDS"]


def roles_of(user: User, deputy: Deputy | None) -> list[Role]:
    """What `user` may act as, derived from the facts: an openid, a bound deputy (not retired),
    an active staff account."""
    roles: list[Role] = []
    if user.openid:
        roles.append(Role.resident)
    if deputy is not None:
        roles.append(Role.deputy)
    if user.staff_account is not None and user.staff_account.is_active:
        roles.append(Role(user.staff_account.role.value))
    return roles


def _load_user(user_id: int) -> tuple[User | None, Deputy | None]:
    """The user and their current deputy record, in one query."""
    row = db.session.execute(
        db.select(User, Deputy).outerjoin(Deputy, (Deputy.user_id == User.id) & Deputy.retired_at.is_(None))
        .where(User.id == user_id).options(joinedload(User.staff_account)).limit(1)
    ).first()
    return (row[0], row[1]) if row is not None else (None, None)


def caller_for(user: User, deputy: Deputy | None = None, *, find_deputy: bool = True) -> Caller:
    if deputy is None and find_deputy:
        deputy = db.session.scalar(db.select(Deputy).where(Deputy.user_id == user.id, Deputy.retired_at.is_(None)))
    roles = roles_of(user, deputy)
    staff = user.staff_account if Role.station_manager in roles or Role.region_admin in roles else None
    deputy_stations: list[int] = []
    if deputy is not None:
        deputy_stations = list(db.session.scalars(db.select(StationMembership.station_id).where(
            StationMembership.deputy_id == deputy.id, StationMembership.current_on(clock.beijing_today()))))
    return Caller(user.id, roles, openid=user.openid, deputy_id=deputy.id if deputy else None, staff_id=staff.id if staff else None,
                  station_ids={station.id for station in staff.stations} if staff is not None else (),
                  deputy_station_ids=deputy_stations, user=user, deputy=deputy, staff=staff)


def current_caller(required: bool = True, prefetch: Callable[[int], str] | None = None) -> Caller | None:
    """The caller of this request from its `Authorization: Bearer` header.

    `prefetch(user_id)` names a cached answer to read with the identity in one round trip; what
    was found is left in `g.prefetched` as (key, value or None) for the view.

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
    uid, version = payload["uid"], payload.get("ver")
    also = prefetch(uid) if prefetch is not None else None
    identity, found, extra = identity_cache.lookup(uid, also)
    if also is not None:
        g.prefetched = (also, extra)
    if identity is not None and identity.get("ver") == version:
        g.caller = Caller(uid, [Role(r) for r in identity["roles"]], openid=identity.get("openid"),
                          deputy_id=identity.get("deputy"), staff_id=identity.get("staff"),
                          station_ids=identity.get("stations", ()),
                          deputy_station_ids=identity.get("deputy_stations", ()))
        return g.caller
    user, deputy = _load_user(uid)
    # An inactive user is never cached: there is nothing to answer them but this refusal.
    if user is None or not user.is_active or user.token_version != version:
        raise Unauthorized("登录凭证已失效，请重新登录")
    caller = g.caller = caller_for(user, deputy, find_deputy=False)
    identity_cache.store(found, uid, {
        "ver": user.token_version, "roles": [r.value for r in caller.roles], "openid": caller.openid,
        "deputy": caller.deputy_id, "staff": caller.staff_id, "stations": sorted(caller.station_ids),
        "deputy_stations": caller.deputy_station_ids})
    return caller
