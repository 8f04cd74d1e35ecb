"""Staff manage deputies' terms: read a deputy with every seat and grouping, group a deputy into
a station and end a grouping, and retire a deputy (离任)."""
from __future__ import annotations

from backend import clock
from backend.auth import Caller
from backend.permissions import access_managed_deputy
from backend.services.deputies import retirement, terms
from backend.services.deputies.terms import DeputyRecord
from backend.services.privacy import audit
from backend.web.endpoint import ApiBlueprint
from miniprogram_api.deputies.deputy_schemas import (
    DroppedDutyOut,
    ManagedDeputy,
    ManagedDeputyOut,
    ManagedMembership,
    ManagedSeat,
    MembershipCreate,
    MembershipEnd,
    MembershipOut,
    RetireIn,
    RetirementOut,
)
from miniprogram_api.schemas import StationRefOut
from miniprogram_api.serialize import term_label
from models import DEPUTY_LEVEL_LABEL, Role, StationMembership

bp = ApiBlueprint("manage_deputies", __name__, tag="代表管理")

STAFF = {Role.station_manager, Role.region_admin}
ADMIN = {Role.region_admin}


def _membership(membership: StationMembership, today, managed: bool) -> ManagedMembership:
    station = membership.station
    return ManagedMembership(id=membership.id, station=StationRefOut(id=station.id, scene=station.scene,
                                                                     name=station.name),
                             started_on=membership.started_on, ended_on=membership.ended_on,
                             is_leader=membership.is_leader, current=membership.is_current(today),
                             managed=managed)


def _deputy(caller: Caller, record: DeputyRecord) -> ManagedDeputy:
    deputy, today = record.deputy, record.today
    if deputy.phone:
        audit.viewed(caller, "phone", "deputy", deputy.id)
    return ManagedDeputy(
        id=deputy.id, name=deputy.name, gender=deputy.gender, occupation=deputy.occupation,
        photo_url=deputy.photo_url, phone=deputy.phone, wechat_bound=deputy.user_id is not None,
        retired=deputy.retired_at is not None, retired_at=deputy.retired_at,
        seats=[ManagedSeat(id=s.id, level=s.level.value, level_label=DEPUTY_LEVEL_LABEL[s.level], congress=s.congress,
                           term=s.term, term_label=term_label(s.term), started_on=s.started_on, ended_on=s.ended_on,
                           current=s.is_current(today)) for s in record.seats],
        memberships=[_membership(m, today, m.station_id in record.managed_station_ids) for m in record.memberships],
    )


@bp.get("/manage/deputies/<int:deputy_id>", response=ManagedDeputyOut, roles=STAFF, errors=["not_found"])
def deputy(caller: Caller, deputy_id: int):
    """代表详情（工作人员）：全部任期与编组，含已结束的和已离任的代表

    只能查看编入（或曾编入）本人管理的联络站（区域管理员：本区域）的代表。
    """
    found = access_managed_deputy(caller, deputy_id)
    return ManagedDeputyOut(deputy=_deputy(caller, terms.deputy_record(caller, found)))


@bp.post("/manage/stations/<int:station_id>/memberships", body=MembershipCreate, response=MembershipOut,
         status=201, roles=STAFF, idempotent=True, errors=["station_not_found", "conflict"])
def add_membership(caller: Caller, station_id: int, body: MembershipCreate):
    """将代表编入联络站（进站）

    站长：本人管理的联络站；区域管理员：本区域的联络站。代表须已编入（或曾编入）调用者管理的联络站，
    或尚未编入任何联络站（新当选）。同一代表在同一联络站的编组日期不能重叠；已离任的代表不能编入。
    支持 `Idempotency-Key`。
    """
    station = terms.managed_station(caller, station_id)
    membership = terms.add_membership(caller, station, body.deputy_id, body.started_on, body.is_leader)
    return MembershipOut(membership=_membership(membership, clock.beijing_today(), True))


@bp.post("/manage/stations/<int:station_id>/memberships/<int:membership_id>/end", body=MembershipEnd,
         response=MembershipOut, roles=STAFF, errors=["station_not_found", "not_found", "conflict"])
def end_membership(caller: Caller, station_id: int, membership_id: int, body: MembershipEnd):
    """结束代表在联络站的编组（出站）

    结束日期当天代表仍属该站；此后在该站的排班随之取消（已过去的保留）。已结束的编组不能再次结束。
    """
    station = terms.managed_station(caller, station_id)
    membership, dropped = terms.end_membership(caller, station, membership_id, body.ended_on)
    return MembershipOut(membership=_membership(membership, clock.beijing_today(), True),
                         dropped_duty_days=len(dropped))


@bp.post("/manage/deputies/<int:deputy_id>/retire", body=RetireIn, response=RetirementOut, roles=ADMIN,
         errors=["not_found", "conflict"])
def retire(caller: Caller, deputy_id: int, body: RetireIn):
    """代表离任：结束任期和编组，取消此后的排班，未办结的意见建议转交站长，解除微信绑定

    仅区域管理员，且代表当前所在的联络站都须在其管辖区域内。离任日期默认今天，不能晚于今天；
    当天仍在任。居民扫码和代表公开信息中不再显示该代表；已有的意见建议、答复、签到等记录全部保留。
    已离任的代表再次办理返回 409。
    """
    done = retirement.retire_deputy(caller, deputy_id, body.retired_on, body.reason)
    return RetirementOut(
        deputy=_deputy(caller, terms.deputy_record(caller, done.deputy)), retired_on=done.retired_on,
        handed_over_issues=len(done.handed_over), handed_over_issue_nos=[i.no for i in done.handed_over],
        dropped_duty_days=len(done.dropped_duty),
        dropped_duty=[DroppedDutyOut(station_id=d.station_id, date=d.duty_date, roster_published=d.roster_published)
                      for d in done.dropped_duty],
        expired_invites=done.expired_invites,
    )
