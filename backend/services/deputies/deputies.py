"""Deputies as residents see them: public profiles, never a phone number."""
from __future__ import annotations

from datetime import date

from sqlalchemy.orm import selectinload

from backend.errors import DeputyNotFound
from backend.services.stations.stations import current_seats
from models import Deputy, Station, StationMembership, db


def public_deputy(deputy_id: int, on: date) -> tuple[Deputy, list[Station]]:
    """A serving deputy and the active stations they are grouped into on `on`.

    :raise 404 not_found: unknown, retired, or holding no seat on that date.
    """
    deputy = db.session.get(Deputy, deputy_id, options=[selectinload(Deputy.seats), selectinload(Deputy.topic_groups)])
    if deputy is None or deputy.retired_at is not None or not current_seats(deputy, on):
        raise DeputyNotFound()
    current = (db.select(StationMembership.station_id)
               .where(StationMembership.deputy_id == deputy.id, StationMembership.current_on(on)))
    stations = db.session.scalars(
        db.select(Station).where(Station.id.in_(current), Station.is_active.is_(True)).order_by(Station.id)
    ).all()
    return deputy, list(stations)
