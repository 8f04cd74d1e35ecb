"""SQLAlchemy models and enums, every one importable from here (`from models import Issue`).

The tables live beside the domain that owns their rules (`models/issues/` for
`backend/services/issues/`); `base`, `enums`, the outbox's and the scheduler's tables
(`messaging`) and WeChat's token (`wechat`) serve them all. Imports nothing from backend/ or
miniprogram_api/."""
from models.duty.attendance import CheckIn, PointsEntry, PointsRule, ReceptionRecord
from models.privacy.audit import AUDIT_MIN_DAYS, AuditEntry
from models.base import Base, UTCDateTime, db, utcnow
from models.reference.calendar import CalendarOverride, CalendarYear
from models.deputies.deputy import Deputy, DeputySeat, TopicGroup, deputy_topic_group
from models.duty.duty import (
    DayChangeKind,
    DeputyLeave,
    DutyAssignment,
    DutyRoster,
    ReceptionDayChange,
    RosterStatus,
)
from models.enums import (
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
from models.issues.issue import (
    CLOCKED_SQL,
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
from models.messaging import (
    SENDABLE_SQL,
    SENDABLE_STATES,
    JobRun,
    OutboxMessage,
    OutboxState,
    SchedulerLease,
    SubscriptionEvent,
    SubscriptionGrant,
)
from models.duty.reception import ReceptionRule
from models.reference.region import Region
from models.reporting.rollup import RolledUpDay, StationDayFigures, StationMonthCategory, StationMonthFigures
from models.stations.station import Station, StationFollow, StationMembership
from models.content.upload import MediaCheckStatus, Upload
from models.accounts.user import ConsoleSession, InviteCode, LoginAttempt, StaffAccount, User, staff_station
from models.throttle import ThrottleHit
from models.wechat import WeChatAccessToken

__all__ = [
    "ConsoleSession",
    "ThrottleHit",
    "AUDIT_MIN_DAYS",
    "CLOCKED_SQL",
    "DEPUTY_LEVEL_LABEL",
    "DEPUTY_LEVEL_ORDER",
    "OPEN_STATUSES",
    "REGION_CODE_PREFIX",
    "SENDABLE_SQL",
    "SENDABLE_STATES",
    "AuditEntry",
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
    "JobRun",
    "LoginAttempt",
    "MediaCheckStatus",
    "OutboxMessage",
    "OutboxState",
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
    "RolledUpDay",
    "RosterStatus",
    "SchedulerLease",
    "StaffAccount",
    "StaffRole",
    "Station",
    "StationDayFigures",
    "StationFollow",
    "StationKind",
    "StationMembership",
    "StationMonthCategory",
    "StationMonthFigures",
    "SubscriptionEvent",
    "SubscriptionGrant",
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
