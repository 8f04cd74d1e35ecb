"""Request and response schemas, named for their use (`WxLoginIn`, `ScanOut` …).

They validate requests, shape answers, and are the OpenAPI document's components.
"""
from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field

from backend.validation import ApiModel, BeijingDateTime

Level = Literal["national", "provincial", "municipal", "county", "township"]
RoleName = Literal["resident", "deputy", "station_manager", "region_admin"]


# --- sign-in -------------------------------------------------------------------------------

class WxLoginIn(ApiModel):
    code: str = Field(min_length=1, max_length=128, description="wx.login() 得到的临时登录凭证")


class BindDeputyIn(ApiModel):
    invite_code: str = Field(min_length=4, max_length=16, description="联络站工作人员提供的邀请码")


class ManageLoginIn(ApiModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=128)


class UserOut(ApiModel):
    id: int
    roles: list[RoleName]
    deputy_id: int | None
    display_name: str | None = None
    station_ids: list[int] = Field(default_factory=list, description="站长所管理的联络站")


class LoginOut(ApiModel):
    token: str
    expires_in: int = Field(description="有效期（秒）")
    user: UserOut


class MeOut(ApiModel):
    user: UserOut


class AccountDeletedOut(ApiModel):
    deleted_at: BeijingDateTime = Field(description="注销时间")
    issues_anonymised: int = Field(description="已匿名化保留的意见建议条数")


# --- stations and deputies -----------------------------------------------------------------

class RegionOut(ApiModel):
    code: str
    name: str
    path: list[str] = Field(description="从省级开始的各级名称")


class ReceptionRuleOut(ApiModel):
    label: str
    kind: Literal["monthly_days", "weekly"]
    days: list[int] = Field(description="monthly_days：每月几号；weekly：星期几（1=周一）")


class StationOut(ApiModel):
    id: int
    scene: str
    name: str
    kind: Literal["center", "community", "other"]
    address: str
    lat: float
    lng: float
    region: RegionOut
    reception_rule: ReceptionRuleOut | None
    open_hours: str
    phone: str | None = None
    intro: str | None = None


class NearbyStationOut(StationOut):
    distance_m: int


class DeputyBriefOut(ApiModel):
    id: int
    name: str
    level: Level
    levels: list[Level]
    photo_url: str | None
    groups: list[str]


class NextReceptionDayOut(ApiModel):
    date: date
    on_duty: list[int]
    roster_published: bool


class ScanOut(ApiModel):
    station: StationOut
    deputies: list[DeputyBriefOut]
    next_reception_day: NextReceptionDayOut | None


class NearbyQuery(ApiModel):
    lat: float = Field(ge=-90, le=90, description="纬度（GCJ-02）")
    lng: float = Field(ge=-180, le=180, description="经度（GCJ-02）")
    limit: int = Field(default=10, ge=1, le=50)


class NearbyOut(ApiModel):
    items: list[NearbyStationOut]


class SeatOut(ApiModel):
    level: Level
    level_label: str
    congress: str
    term: int
    term_label: str
    started_on: date
    ended_on: date | None


class StationRefOut(ApiModel):
    id: int
    scene: str
    name: str


class DeputyProfileOut(ApiModel):
    id: int
    name: str
    gender: str | None
    photo_url: str | None
    occupation: str | None
    bio: str | None
    level: Level
    levels: list[Level]
    seats: list[SeatOut]
    groups: list[str]
    stations: list[StationRefOut]


class DeputyOut(ApiModel):
    deputy: DeputyProfileOut


class FollowDetail(ApiModel):
    station_id: int
    following: bool
    followed_at: BeijingDateTime | None


class FollowOut(ApiModel):
    follow: FollowDetail


# --- staff ---------------------------------------------------------------------------------

class InviteDetail(ApiModel):
    invite_code: str
    expires_at: BeijingDateTime
    deputy_id: int


class InviteOut(ApiModel):
    invite: InviteDetail


# --- health --------------------------------------------------------------------------------

class HealthOut(ApiModel):
    status: Literal["ok"]


class ReadyOut(ApiModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, Literal["ok", "unavailable", "not_configured"]]
