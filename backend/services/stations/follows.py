"""Residents following a station, to be reminded of its next reception day (sent by the
scheduler's reception-reminders job)."""
from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from models import Station, StationFollow, User, db


def follow_station(user: User, station: Station) -> StationFollow:
    """Idempotent: following twice keeps the first follow."""
    existing = db.session.scalar(db.select(StationFollow).filter_by(user_id=user.id, station_id=station.id))
    if existing is not None:
        return existing
    follow = StationFollow(user_id=user.id, station_id=station.id)
    try:
        with db.session.begin_nested():
            db.session.add(follow)
    except IntegrityError:
        # A concurrent follow by the same user won the unique constraint: that one stands.
        return db.session.scalar(db.select(StationFollow).filter_by(user_id=user.id, station_id=station.id))
    return follow


def unfollow_station(user: User, station: Station) -> None:
    db.session.execute(db.delete(StationFollow).filter_by(user_id=user.id, station_id=station.id))


def is_following(user: User, station: Station) -> bool:
    return db.session.scalar(
        db.select(StationFollow.id).filter_by(user_id=user.id, station_id=station.id)
    ) is not None
