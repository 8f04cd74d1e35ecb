"""Sign-in: WeChat residents (wx-login), deputies binding with an invite (bind-deputy), and staff
with a username and password (manage/login), with the lockout after repeated failures."""
from __future__ import annotations

import secrets
from datetime import timedelta
from functools import cache

from flask import current_app
from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from backend import clock
from backend.auth import Caller, caller_for
from backend.caches import rate_limit
from backend.errors import (
    AccountLocked,
    ApiError,
    Conflict,
    InviteInvalid,
    InviteUsed,
    RateLimited,
    WeChatUnavailableError,
)
from backend.services.accounts import lockout
from backend.services.privacy import audit
from backend.wechat import get_gateway
from backend.wechat.errors import WeChatCodeInvalid, WeChatError, WeChatUnavailable
from models import Deputy, InviteCode, LoginAttempt, StaffAccount, User, db

# No 0/O, 1/I/L: invite codes are read aloud and typed on phones.
INVITE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
INVITE_LENGTH = 8


class LoginCodeInvalid(ApiError):
    status, code, message = 400, "invalid_input", "微信登录凭证无效或已过期，请重新进入小程序"

    def __init__(self):
        super().__init__(details={"fields": {"code": "登录凭证无效"}})


class BadCredentials(ApiError):
    status, code, message = 401, "unauthorized", "用户名或密码错误"


def wx_login(code: str, remote_addr: str | None = None) -> Caller:
    """Exchange a wx.login code for our user (created on first sign-in).

    :raise 429 rate_limited: WX_LOGIN_PER_ADDRESS_PER_MINUTE calls from the client's address in the
        last minute (each is a WeChat call; a burst of them is someone flooding, not residents).
    :raise 400 invalid_input: WeChat refused the code (40029 and the like).
    :raise 503 wechat_unavailable: WeChat did not answer, or answered busy.
    """
    if remote_addr is not None:
        rate_limit.attempt("wx-login-addr", remote_addr, current_app.config["WX_LOGIN_PER_ADDRESS_PER_MINUTE"],
                           timedelta(minutes=1), message="登录过于频繁，请稍后再试")
    try:
        session = get_gateway().code_to_session(code)
    except WeChatCodeInvalid:
        raise LoginCodeInvalid() from None
    except (WeChatUnavailable, WeChatError):
        raise WeChatUnavailableError() from None
    user = db.session.scalar(db.select(User).where(User.openid == session.openid))
    if user is None:
        user = User(openid=session.openid)
        try:
            with db.session.begin_nested():
                db.session.add(user)
        except IntegrityError:
            # The same person's first sign-in arrived twice at once; the other request made the user.
            user = db.session.scalar(db.select(User).where(User.openid == session.openid))
    if not user.is_active:
        raise BadCredentials("该账号已停用")
    user.session_key = session.session_key
    user.unionid = session.unionid or user.unionid
    user.last_login_at = clock.now()
    db.session.flush()
    return caller_for(user)


def create_invite(deputy: Deputy, created_by: User | None = None) -> InviteCode:
    """A fresh one-time invite code for `deputy`, valid INVITE_TTL_DAYS days.

    :raise 409 conflict: the deputy has retired.
    """
    if deputy.retired_at is not None:
        raise Conflict("该代表已离任，不能生成邀请码")
    ttl = timedelta(days=current_app.config["INVITE_TTL_DAYS"])
    while True:
        code = "".join(secrets.choice(INVITE_ALPHABET) for _ in range(INVITE_LENGTH))
        if db.session.scalar(db.select(func.count()).where(InviteCode.code == code)) == 0:
            break
    invite = InviteCode(code=code, deputy_id=deputy.id, created_by_id=created_by.id if created_by else None,
                        expires_at=clock.now() + ttl)
    db.session.add(invite)
    db.session.flush()
    return invite


def bind_deputy(caller: Caller, invite_code: str) -> Caller:
    """Bind the caller's WeChat account to the deputy the invite names.

    The invite is spent with a conditional UPDATE, so two binds with one code cannot both win.
    :raise 400 invite_invalid: unknown or expired code, or a deputy who has retired.
    :raise 409 invite_used: the code was used before.
    :raise 409 conflict: the caller is already bound to another deputy.
    """
    code = invite_code.strip().upper()
    invite = db.session.scalar(db.select(InviteCode).where(InviteCode.code == code))
    now = clock.now()
    if invite is None or invite.deputy.retired_at is not None:
        raise InviteInvalid()
    if invite.used_at is not None:
        if invite.used_by_id == caller.user_id and caller.deputy_id == invite.deputy_id:
            return caller  # a retried bind by the same person: already done
        raise InviteUsed()
    if invite.expires_at <= now:
        raise InviteInvalid("邀请码已过期，请联系联络站工作人员重新生成")
    if caller.deputy_id is not None and caller.deputy_id != invite.deputy_id:
        raise Conflict("您的微信已绑定其他代表身份，请联系联络站工作人员处理")
    spent = db.session.execute(
        update(InviteCode).where(InviteCode.id == invite.id, InviteCode.used_at.is_(None))
        .values(used_at=now, used_by_id=caller.user_id)
    ).rowcount
    if spent != 1:
        raise InviteUsed()
    deputy = invite.deputy
    previous = deputy.user
    if previous is not None and previous.id != caller.user_id:
        # The deputy moves to a new phone: the old WeChat account loses the deputy role now.
        previous.token_version += 1
    deputy.user_id = caller.user_id
    db.session.flush()
    db.session.expire(caller.user)
    return caller_for(caller.user)


# Wrong invite codes are counted per user and per address for an hour.
BIND_WINDOW = timedelta(hours=1)
BIND_REFUSAL = "邀请码输错次数过多，请稍后再试或联系联络站工作人员"


def bind_deputy_limited(caller: Caller, invite_code: str, remote_addr: str | None) -> Caller:
    """`bind_deputy`, with wrong codes limited: an invite code is 8 characters of 31, guessable
    only by trying without end, so BIND_MAX_FAILURES_PER_USER failures of one user and
    BIND_MAX_FAILURES_PER_ADDRESS of one address in an hour stop them. Only failures count, so a
    training session binding every deputy from one office address is never stopped.

    :raise 429 rate_limited: too many wrong codes; `Retry-After` says when to try again.
    :raise: as `bind_deputy`.
    """
    cfg = current_app.config
    keys = [("bind-fail-user", caller.user_id, cfg["BIND_MAX_FAILURES_PER_USER"])]
    if remote_addr is not None:
        keys.append(("bind-fail-addr", remote_addr, cfg["BIND_MAX_FAILURES_PER_ADDRESS"]))
    for bucket, key, limit in keys:
        rate_limit.refuse_if_full(bucket, key, limit, BIND_WINDOW, message=BIND_REFUSAL)
    try:
        return bind_deputy(caller, invite_code)
    except (InviteInvalid, InviteUsed):
        # Counted apart from the request's transaction, which the refusal rolls back.
        db.session.rollback()
        for bucket, key, _limit in keys:
            rate_limit.note(bucket, key, BIND_WINDOW)
        raise


def staff_login(username: str, password: str, remote_addr: str | None) -> Caller:
    """Check a staff member's password; `remote_addr` is the client's address
    (`backend/web/client_address.py`).

    :raise 429 rate_limited: LOGIN_ADDRESS_MAX_FAILURES failures from this address within the
        lock window, whatever the usernames (password spraying); no check is made.
    :raise 423 account_locked: LOGIN_MAX_FAILURES failures for this username from this address
        within the lock window (`lockout`); no check is made while locked, so guessing cannot go
        on — and the owner signing in from another address is not stopped.
    :raise 401 unauthorized: wrong username or password (one message for both).
    """
    cfg = current_app.config
    now = clock.now()
    account = db.session.scalar(db.select(StaffAccount).where(StaffAccount.username == username))
    if lockout.address_failures(remote_addr) >= cfg["LOGIN_ADDRESS_MAX_FAILURES"]:
        _audit_sign_in(account, username, 429)
        db.session.commit()
        window = cfg["LOGIN_LOCK_WINDOW_SECONDS"]
        raise RateLimited("登录失败次数过多，请稍后再试", details={"retry_after": window},
                          headers={"Retry-After": str(window)})
    failures = lockout.failures(username, remote_addr)
    if failures >= cfg["LOGIN_MAX_FAILURES"]:
        _audit_sign_in(account, username, 423)
        db.session.commit()
        raise AccountLocked()
    ok = (account is not None and account.is_active and account.user.is_active
          and check_password_hash(account.password_hash, password))
    if account is None:
        # Same work as a real check, so response time does not reveal which usernames exist.
        check_password_hash(_dummy_hash(), password)
    db.session.add(LoginAttempt(username=username, attempted_at=now, succeeded=ok, remote_addr=remote_addr))
    locks = not ok and failures + 1 >= cfg["LOGIN_MAX_FAILURES"]
    _audit_sign_in(account, username, 200 if ok else 423 if locks else 401)
    if not ok:
        # The failure must count even though the request fails: commit it before raising.
        db.session.commit()
        if locks:
            raise AccountLocked()
        raise BadCredentials()
    account.user.last_login_at = now
    db.session.flush()
    return caller_for(account.user)


def _audit_sign_in(account: StaffAccount | None, username: str, outcome: int) -> None:
    if account is None:  # no such account: keep the name tried, which is what an auditor looks for
        audit.record("staff.sign_in", user_id=None, role="anonymous", outcome=outcome,
                     detail={"username": username[:64]})
    else:
        audit.record("staff.sign_in", user_id=account.user_id, role=account.role.value,
                     target_type="staff_account", target_id=account.id, outcome=outcome)


def hash_password(password: str) -> str:
    return generate_password_hash(password)


@cache
def _dummy_hash() -> str:
    return generate_password_hash(secrets.token_hex(16))
