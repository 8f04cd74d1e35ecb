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
from backend.errors import (
    AccountLocked,
    ApiError,
    Conflict,
    InviteInvalid,
    InviteUsed,
    WeChatUnavailableError,
)
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


def wx_login(code: str) -> Caller:
    """Exchange a wx.login code for our user (created on first sign-in).

    :raise 400 invalid_input: WeChat refused the code (40029 and the like).
    :raise 503 wechat_unavailable: WeChat did not answer, or answered busy.
    """
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


def staff_login(username: str, password: str, remote_addr: str | None) -> Caller:
    """Check a staff member's password.

    :raise 423 account_locked: LOGIN_MAX_FAILURES failures within the lock window; no check is
        made while locked, so guessing cannot go on.
    :raise 401 unauthorized: wrong username or password (one message for both).
    """
    cfg = current_app.config
    now = clock.now()
    window_start = now - timedelta(seconds=cfg["LOGIN_LOCK_WINDOW_SECONDS"])
    last_success = db.session.scalar(
        db.select(func.max(LoginAttempt.attempted_at))
        .where(LoginAttempt.username == username, LoginAttempt.succeeded.is_(True))
    )
    since = max(window_start, last_success) if last_success else window_start
    failures = db.session.scalar(
        db.select(func.count()).where(LoginAttempt.username == username, LoginAttempt.succeeded.is_(False),
                                      LoginAttempt.attempted_at > since)
    )
    account = db.session.scalar(db.select(StaffAccount).where(StaffAccount.username == username))
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
