"""Sign-in routes: wx-login, bind-deputy, staff login, and who am I."""
from __future__ import annotations

from backend.auth import Caller, issue_token
from backend.services.accounts import signin
from backend.services.privacy import account_deletion
from backend.client_address import client_address
from backend.web.endpoint import ApiBlueprint
from miniprogram_api.schemas import AccountDeletedOut, BindDeputyIn, LoginOut, ManageLoginIn, MeOut, WxLoginIn
from miniprogram_api.serialize import user_out
from models import Role

bp = ApiBlueprint("auth", __name__, tag="登录")


def _login_out(caller: Caller) -> LoginOut:
    token, expires_in = issue_token(caller.user)
    return LoginOut(token=token, expires_in=expires_in, user=user_out(caller))


@bp.post("/auth/wx-login", body=WxLoginIn, response=LoginOut, errors=["wechat_unavailable", "rate_limited"])
def wx_login(body: WxLoginIn):
    """微信登录：用 wx.login() 的 code 换取本系统的令牌

    首次登录即创建居民账号。微信的 session_key 只保存在服务器，从不返回。同一地址每分钟的登录次数有上限
    （超出时 429，Retry-After 给出等待秒数）。
    """
    return _login_out(signin.wx_login(body.code, client_address()))


@bp.post("/auth/bind-deputy", body=BindDeputyIn, response=LoginOut, roles={Role.resident},
         errors=["invite_invalid", "invite_used", "conflict", "rate_limited"])
def bind_deputy(caller: Caller, body: BindDeputyIn):
    """代表绑定：用邀请码把当前微信账号绑定为代表身份，返回新的令牌

    每个账号、每个地址每小时输错邀请码的次数有上限（超出时 429，Retry-After 给出等待秒数）。
    """
    return _login_out(signin.bind_deputy_limited(caller, body.invite_code, client_address()))


@bp.post("/manage/login", body=ManageLoginIn, response=LoginOut,
         errors=["unauthorized", "account_locked", "rate_limited"])
def manage_login(body: ManageLoginIn):
    """工作人员登录（站长、区域管理员）

    15 分钟内从同一地址对同一用户名连续 5 次密码错误，该用户名在这个地址临时锁定（423；从其他地址仍可登录）。
    同一地址 15 分钟内密码错误过多（不论用户名）时暂停该地址的登录（429，Retry-After）。
    """
    return _login_out(signin.staff_login(body.username, body.password, client_address()))


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
