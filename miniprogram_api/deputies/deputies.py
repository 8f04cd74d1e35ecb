"""Deputies' public profiles, and the staff call that invites a deputy to bind WeChat."""
from __future__ import annotations

from backend import clock
from backend.auth import Caller
from backend.permissions import access_managed_deputy
from backend.services.accounts import signin
from backend.services.deputies import deputies
from backend.web.endpoint import ApiBlueprint
from miniprogram_api.schemas import DeputyOut, InviteDetail, InviteOut
from miniprogram_api.serialize import deputy_profile_out
from models import Role

bp = ApiBlueprint("deputies", __name__, tag="代表")


@bp.get("/deputies/<int:deputy_id>", response=DeputyOut, errors=["not_found"])
def profile(deputy_id: int):
    """代表公开信息（不含电话）"""
    today = clock.beijing_today()
    deputy, stations = deputies.public_deputy(deputy_id, today)
    return DeputyOut(deputy=deputy_profile_out(deputy, stations, today))


@bp.post("/manage/deputies/<int:deputy_id>/invite", response=InviteOut, status=201,
         roles={Role.station_manager, Role.region_admin}, errors=["not_found", "conflict"])
def invite(caller: Caller, deputy_id: int):
    """为代表生成一次性邀请码，代表在小程序中凭码绑定身份"""
    deputy = access_managed_deputy(caller, deputy_id)
    code = signin.create_invite(deputy, created_by=caller.user)
    return InviteOut(invite=InviteDetail(invite_code=code.code, expires_at=code.expires_at, deputy_id=deputy.id))
