"""Where every active station is, kept by each process, so that "stations nearby" runs no query.

A province has ~13,000 stations and the country ~220,000: their places are a few MB a process
and change rarely. The map is a grid of `CELL_DEG` cells filled from one query of (id, lat, lng)
and kept while `GENERATION_KEY` stands: bumped by any change to a station, a region or a
reception rule — what the map and a nearby station's card show — and not by rosters, members or
deputies, which change all day across a province and would make every process rebuild its map.
Without Redis a process cannot know when to drop it, so it keeps none and the search asks the
database for each box instead.
"""
from __future__ import annotations

import math
from collections import defaultdict

from backend.caches import tagged_cache
from models import ReceptionRule, Region, Station, db

GENERATION_KEY = "stations:places:gen"
tagged_cache.register_global(GENERATION_KEY)
_SHOWN = (Station, Region, ReceptionRule)

# About 5 km: the first box `nearby` searches spans a few cells.
CELL_DEG = 0.05

Place = tuple[int, float, float]  # station id, lat, lng


def _cell(degrees: float) -> int:
    return math.floor(degrees / CELL_DEG)


class StationMap:
    """Active stations' places bucketed by grid cell."""

    def __init__(self, places: list[Place]):
        cells: dict[tuple[int, int], list[Place]] = defaultdict(list)
        for place in places:
            cells[_cell(place[1]), _cell(place[2])].append(place)
        self.cells = dict(cells)

    def in_box(self, lat_lo: float, lat_hi: float, lng_lo: float, lng_hi: float) -> list[Place]:
        """Places with lat and lng within the bounds (inclusive, as SQL's BETWEEN)."""
        rows, cols = range(_cell(lat_lo), _cell(lat_hi) + 1), range(_cell(lng_lo), _cell(lng_hi) + 1)
        if len(rows) * len(cols) > len(self.cells):
            # A box far larger than the stations' spread: walk the occupied cells instead.
            buckets = self.cells.values()
        else:
            buckets = [self.cells[key] for key in ((i, j) for i in rows for j in cols) if key in self.cells]
        return [p for bucket in buckets for p in bucket
                if lat_lo <= p[1] <= lat_hi and lng_lo <= p[2] <= lng_hi]


_memo = tagged_cache.ProcessMemo(GENERATION_KEY)


def _load() -> StationMap:
    return StationMap([tuple(row) for row in db.session.execute(
        db.select(Station.id, Station.lat, Station.lng).where(Station.is_active.is_(True)))])


def places_in_box(lat_lo: float, lat_hi: float, lng_lo: float, lng_hi: float) -> list[Place]:
    """Active stations within the bounds: from this process's map, or the database without Redis."""
    if tagged_cache.generation(GENERATION_KEY) is None:
        return [tuple(row) for row in db.session.execute(
            db.select(Station.id, Station.lat, Station.lng).where(
                Station.is_active.is_(True), Station.lat.between(lat_lo, lat_hi),
                Station.lng.between(lng_lo, lng_hi)))]
    return _memo.get("map", _load).in_box(lat_lo, lat_hi, lng_lo, lng_hi)


def _spoiled_by(obj) -> list[str]:
    return [GENERATION_KEY] if isinstance(obj, _SHOWN) else []


def _spoiled_by_bulk(cls: type) -> list[str]:
    return [GENERATION_KEY] if issubclass(cls, _SHOWN) else []


def hook_invalidation() -> None:
    tagged_cache.watch(_spoiled_by, _spoiled_by_bulk)
