"""SQLAlchemy models and enums. Imports nothing from backend/ or miniprogram_api/."""
from .base import Base, UTCDateTime, db, utcnow
from .deputy import Deputy, DeputySeat, TopicGroup, deputy_topic_group
from .enums import (
    DEPUTY_LEVEL_LABEL,
    DEPUTY_LEVEL_ORDER,
    REGION_CODE_PREFIX,
    DeputyLevel,
    ReceptionRuleKind,
    RegionLevel,
    Role,
    StaffRole,
    StationKind,
)
from .reception import ReceptionRule
from .region import Region
from .station import Station, StationFollow, StationMembership
from .user import InviteCode, LoginAttempt, StaffAccount, User, staff_station
from .wechat import WeChatAccessToken

__all__ = [
    "Base", "UTCDateTime", "db", "utcnow",
    "Deputy", "DeputySeat", "TopicGroup", "deputy_topic_group",
    "DEPUTY_LEVEL_LABEL", "DEPUTY_LEVEL_ORDER", "REGION_CODE_PREFIX",
    "DeputyLevel", "ReceptionRuleKind", "RegionLevel", "Role", "StaffRole", "StationKind",
    "ReceptionRule", "Region", "Station", "StationFollow", "StationMembership",
    "InviteCode", "LoginAttempt", "StaffAccount", "User", "staff_station",
    "WeChatAccessToken",
]
