"""Regions (行政区划): lineages, read in one query from the division codes."""
from __future__ import annotations

from collections.abc import Iterable

from models import Region, db


def lineages(regions: Iterable[Region]) -> dict[int, list[Region]]:
    """Each region's lineage (itself and its ancestors, province first), all in one query."""
    regions = list({r.id: r for r in regions}.values())
    codes = {code for r in regions for code in r.lineage_codes()}
    found = {r.code: r for r in db.session.scalars(db.select(Region).where(Region.code.in_(codes)))} if codes else {}
    return {r.id: [found[c] for c in r.lineage_codes() if c in found] for r in regions}


def lineage(region: Region) -> list[Region]:
    return lineages([region])[region.id]
