"""Sign-in routes: wx-login, bind-deputy, staff login, and who am I."""
from __future__ import annotations

from flask import request

from backend.auth import Caller, issue_token
from backend.services.accounts import signin
from backend.services.privacy import account_deletion
from backend.web.endpoint import ApiBlueprint
from miniprogram_api.schemas import AccountDeletedOut, BindDeputyIn, LoginOut, ManageLoginIn, MeOut, WxLoginIn
from miniprogram_api.serialize import user_out
from models import Role

bp = ApiBlueprint("auth", __name__, tag="登录")


def _login_out(caller: Caller) -> LoginOut:
    token, expires_in = issue_token(caller.user)
    return LoginOut(token=token, expires_in=expires_in, user=user_out(caller))


@bp.post("/auth/wx-login", body=WxLoginIn, response=LoginOut, errors=["wechat_unavailable"])
def wx_login(body: WxLoginIn):
    """微信登录：用 wx.login() 的 code 换取本系统的令牌

    首次登录即创建居民账号。微信的 session_key 只保存在服务器，从不返回。
    """
    return _login_out(signin.wx_login(body.code))


@bp.post("/auth/bind-deputy", body=BindDeputyIn, response=LoginOut, roles={Role.resident},
         errors=["invite_invalid", "invite_used", "conflict"])
def bind_deputy(caller: Caller, body: BindDeputyIn):
    """代表绑定：用邀请码把当前微信账号绑定为代表身份，返回新的令牌"""
    return _login_out(signin.bind_deputy(caller, body.invite_code))


@bp.post("/manage/login", body=ManageLoginIn, response=LoginOut, errors=["unauthorized", "account_locked"])
def manage_login(body: ManageLoginIn):
    """工作人员登录（站长、区域管理员）

    15 分钟内连续 5 次密码错误，账号临时锁定。
    """
    return _login_out(signin.staff_login(body.username, body.password, request.remote_addr))


@bp.get("/auth/me", response=MeOut, auth=True)
def me(caller: Caller):
    """当前登录用户及其角色"""
    return MeOut(user=user_out(caller))


@bp.delete("/auth/me", response=AccountDeletedOut, roles={Role.resident}, errors=["conflict"])
def delete_me(caller: Caller):
    """注销账号：删除本人的个人信息

    删除微信身份、联系电话、关注的联络站、订阅授权和待发消息；本人提交的意见建议匿名保留（仍计入统计、
    继续办理，但不再通知本人）。令牌随即失效；再次登录将是一个新账号。代表和工作人员不能自行注销。
    """
    done = account_deletion.delete_resident(caller)
    return AccountDeletedOut(deleted_at=done.deleted_at, issues_anonymised=done.issues_anonymised)
