"""Enumerations shared by models, services and the API. Values are the API's words."""
from __future__ import annotations

import enum


class RegionLevel(str, enum.Enum):
    province = "province"
    city = "city"
    county = "county"
    township = "township"  # 乡镇 / 街道
    community = "community"  # 社区 / 村


# Digits of the 12-digit statistical division code (统计用区划代码) that identify a region at
# each level: 33 · 3301 · 330106 · 330106001 · 330106001001. A region's descendants share them.
REGION_CODE_PREFIX = {
    RegionLevel.province: 2,
    RegionLevel.city: 4,
    RegionLevel.county: 6,
    RegionLevel.township: 9,
    RegionLevel.community: 12,
}


class DeputyLevel(str, enum.Enum):
    national = "national"
    provincial = "provincial"
    municipal = "municipal"
    county = "county"
    township = "township"


# Highest seat first: the scan page lists national deputies before township ones.
DEPUTY_LEVEL_ORDER = {level: rank for rank, level in enumerate(DeputyLevel)}

DEPUTY_LEVEL_LABEL = {
    DeputyLevel.national: "全国人大代表",
    DeputyLevel.provincial: "省人大代表",
    DeputyLevel.municipal: "市人大代表",
    DeputyLevel.county: "县（区）人大代表",
    DeputyLevel.township: "乡镇人大代表",
}


class StationKind(str, enum.Enum):
    center = "center"  # 中心联络站 (township / street hub)
    community = "community"  # 社区联络站
    other = "other"  # 园区、企业等


class StaffRole(str, enum.Enum):
    station_manager = "station_manager"
    region_admin = "region_admin"


class Role(str, enum.Enum):
    resident = "resident"
    deputy = "deputy"
    station_manager = "station_manager"
    region_admin = "region_admin"


class ReceptionRuleKind(str, enum.Enum):
    monthly_days = "monthly_days"  # e.g. 逢六: days 6, 16, 26 of every month
    weekly = "weekly"  # e.g. every Wednesday: ISO weekdays 1..7
