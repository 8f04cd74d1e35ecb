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
from sqlalchemy import bindparam

from backend import clock
from backend.caches import identity_cache
from backend.errors import TokenExpired, Unauthorized
from models import (
    Deputy,
    Role,
    StaffAccount,
    StaffRole,
    StationMembership,
    User,
    db,
    staff_station,
)

_SALT = "lianluozhan.api-token.v1"


class Caller:
    """Who is calling, and as what.

    Built either from the database or from the identity cache (`backend/caches/identity_cache.py`),
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


def roles_of(*, openid: str | None, deputy_id: int | None, staff_role: StaffRole | None,
             staff_active: bool = False) -> list[Role]:
    """What a user may act as, derived from the facts: an openid, a bound deputy (not retired),
    an active staff account."""
    roles: list[Role] = []
    if openid:
        roles.append(Role.resident)
    if deputy_id is not None:
        roles.append(Role.deputy)
    if staff_role is not None and staff_active:
        roles.append(Role(staff_role.value))
    return roles


# Built once with parameters: they run for every caller the identity cache has not seen.
_FACTS = (
    db.select(User.openid, User.is_active, User.token_version, Deputy.id.label("deputy_id"),
              StaffAccount.id.label("staff_id"), StaffAccount.role, StaffAccount.is_active.label("staff_active"))
    .select_from(User)
    .outerjoin(Deputy, (Deputy.user_id == User.id) & Deputy.retired_at.is_(None))
    .outerjoin(StaffAccount, StaffAccount.user_id == User.id)
    .where(User.id == bindparam("user_id")).limit(1)
)
_DEPUTY_STATIONS = db.select(StationMembership.station_id).where(
    StationMembership.deputy_id == bindparam("deputy_id"), StationMembership.current_on(bindparam("today")))
_MANAGED_STATIONS = db.select(staff_station.c.station_id).where(
    staff_station.c.staff_account_id == bindparam("staff_id"))


def _caller(user_id: int, *, openid: str | None, deputy_id: int | None, staff_id: int | None,
            staff_role: StaffRole | None, staff_active: bool, **objects) -> Caller:
    roles = roles_of(openid=openid, deputy_id=deputy_id, staff_role=staff_role, staff_active=staff_active)
    if Role.station_manager not in roles and Role.region_admin not in roles:
        staff_id = None
    connection = db.session.connection()
    deputy_stations = connection.scalars(_DEPUTY_STATIONS, {"deputy_id": deputy_id, "today": clock.beijing_today()}
                                         ).all() if deputy_id is not None else ()
    managed = connection.scalars(_MANAGED_STATIONS, {"staff_id": staff_id}).all() if staff_id is not None else ()
    return Caller(user_id, roles, openid=openid, deputy_id=deputy_id, staff_id=staff_id, station_ids=managed,
                  deputy_station_ids=deputy_stations, **objects)


def caller_for(user: User) -> Caller:
    """The caller `user` is now (after signing in, binding a deputy, …)."""
    deputy = db.session.scalar(db.select(Deputy).where(Deputy.user_id == user.id, Deputy.retired_at.is_(None)))
    staff = user.staff_account
    return _caller(user.id, openid=user.openid, deputy_id=deputy.id if deputy else None,
                   staff_id=staff.id if staff else None, staff_role=staff.role if staff else None,
                   staff_active=staff is not None and staff.is_active, user=user, deputy=deputy)


def _load_caller(user_id: int, version) -> Caller:
    """The caller from the database: one query for the facts (plus one for a deputy's or a staff
    member's stations), columns only — this runs for every caller the cache has not seen.

    :raise 401 unauthorized: no such user, disabled, or the token's version revoked.
    """
    row = db.session.connection().execute(_FACTS, {"user_id": user_id}).first()
    if row is None or not row.is_active or row.token_version != version:
        raise Unauthorized("登录凭证已失效，请重新登录")
    return _caller(user_id, openid=row.openid, deputy_id=row.deputy_id, staff_id=row.staff_id,
                   staff_role=row.role, staff_active=bool(row.staff_active))


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
    g.caller = identify(uid, version, prefetch)
    return g.caller


def identify(uid: int, version, prefetch: Callable[[int], str] | None = None) -> Caller:
    """The caller user `uid` is now, if `version` is still their token version — for a bearer
    token and for a console session alike, through the identity cache.

    :raise 401 unauthorized: no such user, disabled, or the version revoked since.
    """
    also = prefetch(uid) if prefetch is not None else None
    identity, found, extra = identity_cache.lookup(uid, also)
    if also is not None:
        g.prefetched = (also, extra)
    if identity is not None and identity.get("ver") == version:
        return Caller(uid, [Role(r) for r in identity["roles"]], openid=identity.get("openid"),
                      deputy_id=identity.get("deputy"), staff_id=identity.get("staff"),
                      station_ids=identity.get("stations", ()),
                      deputy_station_ids=identity.get("deputy_stations", ()))
    # An inactive user is never cached: there is nothing to answer them but the refusal.
    caller = _load_caller(uid, version)
    identity_cache.store(found, uid, {
        "ver": version, "roles": [r.value for r in caller.roles], "openid": caller.openid,
        "deputy": caller.deputy_id, "staff": caller.staff_id, "stations": sorted(caller.station_ids),
        "deputy_stations": caller.deputy_station_ids})
    return caller
