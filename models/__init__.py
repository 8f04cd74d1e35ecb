"""SQLAlchemy models and enums. Imports nothing from backend/ or miniprogram_api/."""
from .attendance import CheckIn, PointsEntry, PointsRule, ReceptionRecord
from .base import Base, UTCDateTime, db, utcnow
from .calendar import CalendarOverride, CalendarYear
from .deputy import Deputy, DeputySeat, TopicGroup, deputy_topic_group
from .duty import (
    DayChangeKind,
    DeputyLeave,
    DutyAssignment,
    DutyRoster,
    ReceptionDayChange,
    RosterStatus,
)
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
    "DEPUTY_LEVEL_LABEL",
    "DEPUTY_LEVEL_ORDER",
    "OPEN_STATUSES",
    "REGION_CODE_PREFIX",
    "Base",
    "CalendarOverride",
    "CalendarYear",
    "Category",
    "CheckIn",
    "DayChangeKind",
    "Department",
    "Deputy",
    "DeputyLeave",
    "DeputyLevel",
    "DeputySeat",
    "DutyAssignment",
    "DutyRoster",
    "IdempotencyRecord",
    "InviteCode",
    "Issue",
    "IssueEvent",
    "IssueImage",
    "IssueNumberCounter",
    "IssueStatus",
    "LoginAttempt",
    "MediaCheckStatus",
    "PointsEntry",
    "PointsRule",
    "Rating",
    "RatingScore",
    "ReceptionDayChange",
    "ReceptionRecord",
    "ReceptionRule",
    "ReceptionRuleKind",
    "Region",
    "RegionLevel",
    "Reply",
    "Role",
    "RosterStatus",
    "StaffAccount",
    "StaffRole",
    "Station",
    "StationFollow",
    "StationKind",
    "StationMembership",
    "TopicGroup",
    "Transfer",
    "UTCDateTime",
    "Upload",
    "User",
    "WeChatAccessToken",
    "db",
    "deputy_topic_group",
    "staff_station",
    "utcnow",
]
