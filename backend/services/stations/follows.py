"""Residents following a station, to be reminded of its next reception day (sent by the
scheduler's reception-reminders job)."""
from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy.exc import IntegrityError

from backend.caches import rate_limit
from models import Station, StationFollow, User, db


def _throttle(user: User) -> None:
    """Follow and unfollow together, per user and minute: a person taps a few times; a script
    toggling in a loop writes and deletes rows (and plans reminders) without end.

    :raise 429 rate_limited: FOLLOW_PER_USER_PER_MINUTE calls in the last minute.
    """
    rate_limit.attempt("follow", user.id, current_app.config["FOLLOW_PER_USER_PER_MINUTE"], timedelta(minutes=1),
                       message="操作过于频繁，请稍后再试")


def follow_station(user: User, station: Station) -> StationFollow:
    """Idempotent: following twice keeps the first follow.

    :raise 429 rate_limited: see `_throttle`.
    """
    _throttle(user)
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
    """:raise 429 rate_limited: see `_throttle`."""
    _throttle(user)
    db.session.execute(db.delete(StationFollow).filter_by(user_id=user.id, station_id=station.id))


def is_following(user: User, station: Station) -> bool:
    return db.session.scalar(
        db.select(StationFollow.id).filter_by(user_id=user.id, station_id=station.id)
    ) is not None
