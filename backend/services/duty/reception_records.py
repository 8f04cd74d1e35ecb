"""接待登记: residents received in person at a station, logged by the deputy who received them or
by the station's staff.

A record may point at an issue (意见建议) of the same station that the person recording it may
see — the resident's matter followed like any other — but never creates one.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import exists, select

from backend import clock
from backend.auth import Caller
from backend.errors import Forbidden, InvalidInput
from backend.permissions import get_station, station_scope_clause
from backend.services.issues import issue_access
from models import Deputy, Issue, ReceptionRecord, Role, Station, StationMembership, db

RESIDENTS_MAX = 500
TOPICS_MAX = 2000
# Older than this is a typo for this year's date, or paperwork better kept on paper.
OLDEST_DAYS = 366


@dataclass(frozen=True)
class NewReceptionRecord:
    station_id: int
    on_date: date
    residents: int
    topics: str
    issue_no: str | None = None
    # Staff only: the deputy who received them (a deputy recording always records themself).
    deputy_id: int | None = None


def _member_on(deputy_id: int, station_id: int, on: date) -> bool:
    return bool(db.session.scalar(select(exists().where(
        StationMembership.deputy_id == deputy_id, StationMembership.station_id == station_id,
        StationMembership.current_on(on)))))


def _manages(caller: Caller, station_id: int) -> bool:
    if not caller.has(Role.station_manager, Role.region_admin):
        return False
    return bool(db.session.scalar(select(exists().where(Station.id == station_id, station_scope_clause(caller)))))


def create_record(caller: Caller, new: NewReceptionRecord) -> ReceptionRecord:
    """Log a reception; a deputy logs their own at a station they belong to, staff at a station
    they manage (naming the deputy, or none when they received the residents alone).

    :raise 400 invalid_input: a date in the future or too long ago, a deputy not of the station.
    :raise 403 forbidden: the caller may not record for this station.
    :raise 404 station_not_found: no such station.
    :raise 404 issue_not_found: the issue is not of this station, or not one the caller may see.
    """
    station = get_station(new.station_id)
    today = clock.beijing_today()
    if new.on_date > today:
        raise InvalidInput({"date": "接待日期不能晚于今天"})
    if new.on_date < today - timedelta(days=OLDEST_DAYS):
        raise InvalidInput({"date": "只能登记一年以内的接待"})
    as_deputy = caller.deputy_id is not None and _member_on(caller.deputy_id, station.id, new.on_date)
    if as_deputy and new.deputy_id in (None, caller.deputy_id):
        deputy_id = caller.deputy_id
    elif _manages(caller, station.id):
        deputy_id = new.deputy_id
        if deputy_id is not None and not _member_on(deputy_id, station.id, new.on_date):
            raise InvalidInput({"deputy_id": "该代表当日不是本站编组代表"})
    elif as_deputy:
        raise Forbidden("代表只能登记本人的接待")
    else:
        raise Forbidden("您不能为该联络站登记接待：代表只能登记本人所在联络站，工作人员只能登记所管理的联络站")
    issue_id = None
    if new.issue_no is not None:
        issue = db.session.scalar(select(Issue).where(Issue.no == new.issue_no, Issue.station_id == station.id,
                                                      issue_access.visible_clause(caller)))
        if issue is None:
            raise issue_access.IssueNotFound("未找到该联络站的这条意见建议")
        issue_id = issue.id
    record = ReceptionRecord(station_id=station.id, on_date=new.on_date, deputy_id=deputy_id,
                             recorded_by_id=caller.user_id, residents=new.residents, topics=new.topics,
                             issue_id=issue_id, created_at=clock.now())
    db.session.add(record)
    db.session.flush()
    return record


def records_select(caller: Caller, *, station_id: int | None = None, start: date | None = None,
                   end: date | None = None):
    """Receptions at the stations the staff member manages, newest first.

    :raise 403 forbidden: the caller has no staff account.
    """
    query = (select(ReceptionRecord).join(Station, Station.id == ReceptionRecord.station_id)
             .where(station_scope_clause(caller)))
    if station_id is not None:
        query = query.where(ReceptionRecord.station_id == station_id)
    if start is not None:
        query = query.where(ReceptionRecord.on_date >= start)
    if end is not None:
        query = query.where(ReceptionRecord.on_date <= end)
    return query.order_by(ReceptionRecord.on_date.desc(), ReceptionRecord.id.desc())


def deputy_records_select(deputy_id: int):
    """The receptions that name the deputy, newest first."""
    return (select(ReceptionRecord).where(ReceptionRecord.deputy_id == deputy_id)
            .order_by(ReceptionRecord.on_date.desc(), ReceptionRecord.id.desc()))


@dataclass(frozen=True)
class RecordRefs:
    """What a page of records points at, loaded in three queries whatever its length."""

    stations: dict[int, Station]
    deputies: dict[int, Deputy]
    issue_nos: dict[int, str]


def refs_of(records: list[ReceptionRecord]) -> RecordRefs:
    station_ids = {r.station_id for r in records}
    deputy_ids = {r.deputy_id for r in records if r.deputy_id is not None}
    issue_ids = {r.issue_id for r in records if r.issue_id is not None}
    stations = {s.id: s for s in db.session.scalars(select(Station).where(Station.id.in_(station_ids)))} \
        if station_ids else {}
    deputies = {d.id: d for d in db.session.scalars(select(Deputy).where(Deputy.id.in_(deputy_ids)))} \
        if deputy_ids else {}
    issue_nos = dict(db.session.execute(select(Issue.id, Issue.no).where(Issue.id.in_(issue_ids))).all()) \
        if issue_ids else {}
    return RecordRefs(stations, deputies, issue_nos)
