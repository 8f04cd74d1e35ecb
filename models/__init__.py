"""SQLAlchemy models and enums. Imports nothing from backend/ or miniprogram_api/."""
from .base import Base, UTCDateTime, db, utcnow
from .calendar import CalendarOverride, CalendarYear
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
from .issue import (
    OPEN_STATUSES,
    Category,
    Department,
    IdempotencyRecord,
    Issue,
    IssueEvent,
    IssueImage,
    IssueNumberCounter,
    IssueStatus,
    Rating,
    RatingScore,
    Reply,
    Transfer,
)
from .reception import ReceptionRule
from .region import Region
from .station import Station, StationFollow, StationMembership
from .upload import MediaCheckStatus, Upload
from .user import InviteCode, LoginAttempt, StaffAccount, User, staff_station
from .wechat import WeChatAccessToken

__all__ = [
    "Base", "UTCDateTime", "db", "utcnow",
    "CalendarOverride", "CalendarYear",
    "Deputy", "DeputySeat", "TopicGroup", "deputy_topic_group",
    "DEPUTY_LEVEL_LABEL", "DEPUTY_LEVEL_ORDER", "REGION_CODE_PREFIX",
    "DeputyLevel", "ReceptionRuleKind", "RegionLevel", "Role", "StaffRole", "StationKind",
    "ReceptionRule", "Region", "Station", "StationFollow", "StationMembership",
    "InviteCode", "LoginAttempt", "StaffAccount", "User", "staff_station",
    "WeChatAccessToken",
    "MediaCheckStatus", "Upload",
    "OPEN_STATUSES", "Category", "Department", "IdempotencyRecord", "Issue", "IssueEvent", "IssueImage",
    "IssueNumberCounter", "IssueStatus", "Rating", "RatingScore", "Reply", "Transfer",
]
