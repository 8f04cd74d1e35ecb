"""Region admins run the staff accounts of their region: station managers (站长 / 联络员) of its
stations, and region admins of the regions below it.

Reach: a region admin manages their own account (but cannot disable it), the station managers
whose region or any of whose stations lie within their region, and the region admins of regions
strictly below theirs — never a peer of the same region or anyone above. Anything else is
answered 404, so ids cannot be probed. A station manager's stations outside the admin's region
are left as they are when the admin sets the ones within it.

Revocation: disabling an account or resetting its password bumps the user's `token_version`,
and closes the user's console sessions (`console_sessions.end_all`), so every token issued before
and every console cookie stop working at once (`auth._load_caller` compares it; the
identity cache drops the user at commit because the User row changed). Station changes reach
the identity cache the same way: changing `StaffAccount.stations` makes the account dirty, and
its ORM hook bumps the user's generation.

Lockout after a reset, and unlocking: `lockout` counts failures only after the username's last
boundary. A reset, and an admin's unlock (`unlock_account`), write a `LoginAttempt` with
`succeeded=True` and `remote_addr="password-reset:<admin user id>"` / `"unlock:<admin user id>"`
as that boundary — the row says truthfully that the failures before it no longer count and who
decided so; it is not a sign-in, and no address looks like it. Old failures stay on record.

Accounts have no audit columns; the log keeps who did what to which account.
"""
from __future__ import annotations

import logging
import re
import unicodedata
from typing import Any

from sqlalchemy import or_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from backend.auth import Caller
from backend.errors import Conflict, Forbidden, InvalidInput, NotFound
from backend.services.accounts import console_sessions, lockout
from backend.services.accounts.signin import hash_password
from backend.services.reference.reference_data import clean_name
from backend.validation import MAX_ROW_ID
from models import (
    Region,
    Role,
    StaffAccount,
    StaffRole,
    Station,
    User,
    db,
    staff_station,
)

log = logging.getLogger(__name__)

USERNAME = re.compile(r"^[a-z0-9_.-]{3,32}$")
DISPLAY_NAME_MAX = 64  # staff_account.display_name is String(64)
PASSWORD_MIN, PASSWORD_MAX = 10, 128

class AccountNotFound(NotFound):
    message = "未找到该账号"


# --- who may ------------------------------------------------------------------------------------

def _admin_region(actor: Caller) -> Region:
    """:raise 403 forbidden: not a region admin, or one whose account has no region."""
    staff = actor.staff
    if staff is None or not actor.has(Role.region_admin):
        raise Forbidden("只有区域管理员可以管理工作人员账号")
    if staff.region is None:
        raise Forbidden("该账号未设置所属行政区划，无法管理工作人员账号")
    return staff.region


def _regions_within(region: Region):
    return db.select(Region.id).where(Region.code.startswith(region.scope_prefix))


def _reach_clause(actor: Caller, region: Region):
    """A WHERE clause on StaffAccount for the accounts this region admin manages."""
    within = _regions_within(region)
    has_station_within = StaffAccount.id.in_(
        db.select(staff_station.c.staff_account_id).join(Station, Station.id == staff_station.c.station_id)
        .where(Station.region_id.in_(within)))
    managers = (StaffAccount.role == StaffRole.station_manager) & (
        StaffAccount.region_id.in_(within) | has_station_within)
    admins_below = ((StaffAccount.role == StaffRole.region_admin) & StaffAccount.region_id.in_(within)
                    & (StaffAccount.region_id != region.id))
    return or_(StaffAccount.id == actor.staff_id, managers, admins_below)


def access_managed_account(actor: Caller, account_id: int) -> StaffAccount:
    """A staff account within the region admin's reach (see the module's docstring).

    :raise 403 forbidden: not a region admin, or one with no region.
    :raise 404 not_found: no such account, or one outside the admin's reach.
    """
    region = _admin_region(actor)
    account = db.session.scalar(
        db.select(StaffAccount).where(StaffAccount.id == account_id, _reach_clause(actor, region))
    ) if isinstance(account_id, int) and 0 < account_id <= MAX_ROW_ID else None
    if account is None:
        raise AccountNotFound()
    return account


def list_accounts(actor: Caller) -> list[StaffAccount]:
    """The accounts the region admin manages, their own included, with their regions and
    stations loaded: region admins first, then by username.

    :raise 403 forbidden: not a region admin, or one with no region.
    """
    region = _admin_region(actor)
    return list(db.session.scalars(
        db.select(StaffAccount).where(_reach_clause(actor, region))
        .options(selectinload(StaffAccount.stations), selectinload(StaffAccount.region))
        .order_by(StaffAccount.role, StaffAccount.username)))


# --- fields -------------------------------------------------------------------------------------

def _username(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("必填")
    value = value.strip()
    if not USERNAME.match(value):
        raise ValueError("用户名应为3至32位，只能包含小写字母、数字和 _ . -")
    return value


def _display_name(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("必填")
    return clean_name(value, max_length=DISPLAY_NAME_MAX)


def password_problem(password: Any, username: str | None) -> str | None:
    """What is wrong with `password` as a staff password, in Chinese, or None: at least 10
    characters with both letters and digits, not containing the username."""
    if not isinstance(password, str) or not password:
        return "必填"
    if len(password) < PASSWORD_MIN:
        return f"密码至少{PASSWORD_MIN}位"
    if len(password) > PASSWORD_MAX:
        return f"密码最多{PASSWORD_MAX}位"
    if any(unicodedata.category(ch).startswith("C") for ch in password):
        return "密码不能包含控制字符或不可见字符"
    if not (any(ch.isascii() and ch.isalpha() for ch in password) and any(ch.isdigit() for ch in password)):
        return "密码须同时包含英文字母和数字"
    if username and username.lower() in password.lower():
        return "密码不能包含用户名"
    return None


def _stations_within(region: Region, station_ids: Any, errors: dict[str, str]) -> list[Station]:
    """The stations of `station_ids`, each within `region` (one message for missing and out of
    reach)."""
    if not isinstance(station_ids, (list, tuple, set, frozenset)) or not station_ids:
        errors["station_ids"] = "请至少选择一个联络站"
        return []
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in station_ids):
        errors["station_ids"] = "应为联络站编号的列表"
        return []
    wanted = set(station_ids)
    found = list(db.session.scalars(
        db.select(Station).where(Station.id.in_([i for i in wanted if 0 < i <= MAX_ROW_ID]),
                                 Station.region_id.in_(_regions_within(region))).order_by(Station.id)))
    missing = sorted(wanted - {s.id for s in found})
    if missing:
        errors["station_ids"] = f"未找到联络站，或不在您的管辖范围内：{'、'.join(map(str, missing))}"
    return found


def _sub_region(admin_region: Region, region_code: Any, region_id: Any) -> Region:
    region = None
    if isinstance(region_code, str) and re.fullmatch(r"[0-9]{12}", region_code.strip()):
        region = db.session.scalar(db.select(Region).where(Region.code == region_code.strip()))
    elif region_code is None and isinstance(region_id, int) and 0 < region_id <= MAX_ROW_ID:
        region = db.session.get(Region, region_id)
    if region is None or not region.code.startswith(admin_region.scope_prefix):
        raise ValueError("未找到该行政区划，或不在您的管辖范围内")
    if region.id == admin_region.id:
        raise ValueError("只能为下级行政区划设置区域管理员")
    return region


def _save_new(account: StaffAccount) -> None:
    """Add the account in a savepoint; a username taken meanwhile is a 409, not a 500."""
    try:
        with db.session.begin_nested():
            db.session.add(account)
            db.session.flush()
    except IntegrityError:
        raise _username_taken(account.username) from None


def _username_taken(username: str) -> Conflict:
    return Conflict(f"用户名「{username}」已被使用，请换一个")


def _new_account(role: StaffRole, username: Any, display_name: Any, password: Any,
                 errors: dict[str, str]) -> dict | None:
    """The checked fields of a new account, or None with `errors` filled."""
    username = _check(errors, "username", _username, username)
    display_name = _check(errors, "display_name", _display_name, display_name)
    problem = password_problem(password, username)
    if problem:
        errors["password"] = problem
    if errors:
        return None
    if db.session.scalar(db.select(StaffAccount.id).where(StaffAccount.username == username)) is not None:
        raise _username_taken(username)
    return {"username": username, "display_name": display_name, "password_hash": hash_password(password),
            "role": role}


def _check(errors: dict[str, str], field: str, validate, value):
    """`validate(value)`, or None with its Chinese complaint (ValueError, TypeError) recorded."""
    try:
        return validate(value)
    except (TypeError, ValueError) as exc:
        errors[field] = str(exc)
        return None


# --- accounts -----------------------------------------------------------------------------------

def create_station_manager(actor: Caller, *, username: str, display_name: str, password: str,
                           station_ids: list[int]) -> StaffAccount:
    """A new station manager of the given stations, each within the admin's region. The account
    belongs to the admin's region, so it stays within their reach whatever its stations become.

    :raise 403 forbidden: not a region admin, or one with no region.
    :raise 400 invalid_input: every bad field at once in `details.fields` (a weak password, a
        station outside the region …).
    :raise 409 conflict: the username is taken.
    """
    region = _admin_region(actor)
    errors: dict[str, str] = {}
    stations = _stations_within(region, station_ids, errors)
    fields = _new_account(StaffRole.station_manager, username, display_name, password, errors)
    if fields is None:
        raise InvalidInput(errors)
    account = StaffAccount(user=User(), region=region, stations=stations, is_active=True, **fields)
    _save_new(account)
    log.info("station manager %s 「%s」 (account %s) created by user %s for stations %s", account.username,
             account.display_name, account.id, actor.user_id, [s.id for s in stations])
    return account


def create_region_admin(actor: Caller, *, username: str, display_name: str, password: str,
                        region_code: str | None = None, region_id: int | None = None) -> StaffAccount:
    """A new region admin of a region strictly below the admin's own (a township's for a county).

    :raise 403 forbidden: not a region admin, or one with no region.
    :raise 400 invalid_input: every bad field at once in `details.fields`.
    :raise 409 conflict: the username is taken.
    """
    admin_region = _admin_region(actor)
    errors: dict[str, str] = {}
    region_field = "region_code" if region_code is not None or region_id is None else "region_id"
    region = None
    try:
        region = _sub_region(admin_region, region_code, region_id)
    except ValueError as exc:
        errors[region_field] = str(exc)
    fields = _new_account(StaffRole.region_admin, username, display_name, password, errors)
    if fields is None:
        raise InvalidInput(errors)
    account = StaffAccount(user=User(), region=region, is_active=True, **fields)
    _save_new(account)
    log.info("region admin %s 「%s」 (account %s) of region %s created by user %s", account.username,
             account.display_name, account.id, region.code, actor.user_id)
    return account


def set_stations(actor: Caller, account: StaffAccount, station_ids: list[int]) -> StaffAccount:
    """Make `station_ids` the manager's stations within the admin's region; stations outside it
    (another county's) stay as they are. The manager's tokens keep working and their callers
    see the new stations at once (the identity cache is told at commit).

    :raise 404 not_found: the account is outside the admin's reach.
    :raise 409 conflict: the account is a region admin's (they manage a region, not stations).
    :raise 400 invalid_input: no station given, or one outside the admin's region.
    """
    region = _admin_region(actor)
    account = access_managed_account(actor, account.id)
    if account.role != StaffRole.station_manager:
        raise Conflict("区域管理员按行政区划管理，不分配联络站")
    errors: dict[str, str] = {}
    given = _stations_within(region, station_ids, errors)
    if errors:
        raise InvalidInput(errors)
    within = set(db.session.scalars(_regions_within(region)))
    kept = [s for s in account.stations if s.region_id not in within]
    before = [s.id for s in account.stations]
    after = sorted({s.id: s for s in [*kept, *given]}.values(), key=lambda s: s.id)
    if [s.id for s in after] != before:
        # Assigned through the relationship, so the account is dirty and the identity cache's
        # hook sees the change (a statement on staff_station would go unseen).
        account.stations = after
        db.session.flush()
        log.info("stations of account %s (%s) set by user %s: %s → %s", account.id, account.username, actor.user_id,
                 before, [s.id for s in after])
    return account


def reset_password(actor: Caller, account: StaffAccount, new_password: str) -> StaffAccount:
    """Give the account a new password: every token issued before is revoked, and a lockout from
    earlier failures is lifted (see the module's docstring).

    :raise 404 not_found: the account is outside the admin's reach.
    :raise 400 invalid_input: a password that breaks the policy (`password_problem`).
    """
    _admin_region(actor)
    account = access_managed_account(actor, account.id)
    problem = password_problem(new_password, account.username)
    if problem:
        raise InvalidInput({"password": problem})
    account.password_hash = hash_password(new_password)
    account.user.token_version += 1
    console_sessions.end_all(account.user_id, "password-reset")
    lockout.boundary(account.username, lockout.RESET_MARKER.format(user_id=actor.user_id))
    db.session.flush()
    log.info("password of account %s (%s) reset by user %s; tokens revoked, lockout lifted", account.id,
             account.username, actor.user_id)
    return account


def disable_account(actor: Caller, account: StaffAccount) -> StaffAccount:
    """停用: the account can no longer sign in, and its tokens stop working at once.

    :raise 404 not_found: the account is outside the admin's reach.
    :raise 403 forbidden: the admin's own account (someone must stay able to sign in).
    :raise 409 conflict: the account is disabled already.
    """
    _admin_region(actor)
    account = access_managed_account(actor, account.id)
    if account.id == actor.staff_id:
        raise Forbidden("不能停用自己的账号，请由上级区域管理员办理")
    if not account.is_active:
        raise Conflict(f"账号「{account.username}」已停用")
    account.is_active = False
    account.user.token_version += 1
    console_sessions.end_all(account.user_id, "disabled")
    db.session.flush()
    log.info("account %s (%s) disabled by user %s", account.id, account.username, actor.user_id)
    return account


def enable_account(actor: Caller, account: StaffAccount) -> StaffAccount:
    """启用 a disabled account again: it signs in with its password as before.

    :raise 404 not_found: the account is outside the admin's reach.
    :raise 409 conflict: the account is enabled already.
    """
    _admin_region(actor)
    account = access_managed_account(actor, account.id)
    if account.is_active:
        raise Conflict(f"账号「{account.username}」未停用")
    account.is_active = True
    db.session.flush()
    log.info("account %s (%s) enabled by user %s", account.id, account.username, actor.user_id)
    return account


def lock_states(accounts: list[StaffAccount]) -> dict[int, lockout.LockState]:
    """Whether each account is locked now (failed sign-ins), by account id, for the staff pages."""
    states = lockout.lock_states([account.username for account in accounts])
    return {account.id: states[account.username] for account in accounts}


def unlock_account(actor: Caller, account: StaffAccount) -> StaffAccount:
    """解除锁定: earlier failed sign-ins stop counting, from every address; password, tokens and
    console sessions are left as they are.

    :raise 404 not_found: the account is outside the admin's reach.
    :raise 409 conflict: the account is not locked.
    """
    _admin_region(actor)
    account = access_managed_account(actor, account.id)
    if not lockout.lock_states([account.username])[account.username].locked:
        raise Conflict(f"账号「{account.username}」未被锁定")
    lockout.boundary(account.username, lockout.UNLOCK_MARKER.format(user_id=actor.user_id))
    db.session.flush()
    log.info("account %s (%s) unlocked by user %s", account.id, account.username, actor.user_id)
    return account
