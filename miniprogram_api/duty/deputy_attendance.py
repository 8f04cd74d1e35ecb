"""Deputies on duty: checking in at the station (签到), logging residents received (接待登记), and
reading their own duty record (履职档案)."""
from __future__ import annotations

from backend import clock
from backend.auth import Caller
from backend.services.duty import check_ins, duty_records, reception_records
from backend.services.duty.reception_records import NewReceptionRecord
from backend.services.issues.issue_schemas import NamedRef
from backend.services.stations.stations import find_station_by_scene
from backend.web.endpoint import ApiBlueprint
from miniprogram_api.duty.attendance_schemas import (
    CheckInDetail,
    CheckInIn,
    CheckInOut,
    DutyRecordDetail,
    DutyRecordOut,
    PointsCause,
    PointsEntryOut,
    ReceptionRecordDetail,
    ReceptionRecordIn,
    ReceptionRecordOut,
    YearQuery,
)
from models import CheckIn, Deputy, PointsEntry, ReceptionRecord, Role, Station, db

bp = ApiBlueprint("deputy_attendance", __name__, tag="代表履职")

RECORDERS = {Role.deputy, Role.station_manager, Role.region_admin}


def check_in_out(row: CheckIn, station: Station) -> CheckInOut:
    return CheckInOut(check_in=CheckInDetail(
        id=row.id, station=NamedRef(id=station.id, name=station.name), deputy_id=row.deputy_id, date=row.on_date,
        checked_in_at=row.checked_in_at, lat=row.lat, lng=row.lng, distance_m=row.distance_m, is_far=row.is_far,
        on_reception_day=row.on_reception_day, on_duty=check_ins.is_on_duty(row)))


@bp.post("/deputy/check-ins", body=CheckInIn, response=CheckInOut, status=201, roles={Role.deputy},
         other_statuses={200: "当天已在该站签到：返回第一次的签到"}, errors=["station_not_found"])
def check_in(caller: Caller, body: CheckInIn):
    """进站签到：到达联络站后扫描站点二维码

    每位代表每站每天（北京时间）一条：当天再次扫码返回第一次的签到（200），不新增记录；首次签到返回 201。
    只能在本人编组的联络站签到，否则 403。位置（GCJ-02）距联络站超过500米的照常记录，并标记 is_far。
    """
    station = find_station_by_scene(body.scene)
    row, created = check_ins.check_in(caller.deputy_id, station, body.lat, body.lng)
    out = check_in_out(row, station)
    return out if created else (out, 200)


def reception_record_detail(record: ReceptionRecord, refs: reception_records.RecordRefs) -> ReceptionRecordDetail:
    station = refs.stations[record.station_id]
    deputy = refs.deputies.get(record.deputy_id) if record.deputy_id is not None else None
    return ReceptionRecordDetail(
        id=record.id, station=NamedRef(id=station.id, name=station.name), date=record.on_date,
        deputy=NamedRef(id=deputy.id, name=deputy.name) if deputy else None, residents=record.residents,
        topics=record.topics, issue_no=refs.issue_nos.get(record.issue_id) if record.issue_id else None,
        created_at=record.created_at)


@bp.post("/deputy/reception-records", body=ReceptionRecordIn, response=ReceptionRecordOut, status=201,
         roles=RECORDERS, idempotent=True, errors=["station_not_found", "issue_not_found"])
def create_reception_record(caller: Caller, body: ReceptionRecordIn):
    """登记接待群众（代表登记本人在所在联络站的接待；工作人员登记所管理联络站的接待）

    日期不能晚于今天（北京时间）；人数1至500；可关联本站一条本人可见的意见建议（issue_no），
    否则 404 issue_not_found。工作人员可用 deputy_id 注明接待的代表。支持 `Idempotency-Key`。
    """
    record = reception_records.create_record(caller, NewReceptionRecord(
        station_id=body.station_id, on_date=body.on_date, residents=body.residents, topics=body.topics,
        issue_no=body.issue_no, deputy_id=body.deputy_id))
    return ReceptionRecordOut(reception_record=reception_record_detail(record, reception_records.refs_of([record])))


def _entry(entry: PointsEntry, labels: dict[str, str]) -> PointsEntryOut:
    return PointsEntryOut(id=entry.id, date=entry.occurred_on, rule_code=entry.rule_code,
                          label=labels.get(entry.rule_code, entry.rule_code), points=entry.points,
                          cause=PointsCause(type=entry.cause_type, id=entry.cause_id), note=entry.note,
                          reverses_id=entry.reverses_id)


def duty_record_out(deputy: Deputy, year: int | None) -> DutyRecordOut:
    """The record of `year` (default this year), its ledger synced and committed: a read that
    writes, so a later read shows the same entries."""
    record = duty_records.duty_record(deputy.id, year or clock.beijing_today().year)
    db.session.commit()
    a = record.attendance
    return DutyRecordOut(record=DutyRecordDetail(
        deputy=NamedRef(id=deputy.id, name=deputy.name), year=record.year, duty_days=a.assigned,
        attended=a.attended, on_leave=a.on_leave, missed=a.missed, extra_visits=a.extra_visits,
        check_ins=a.check_ins, residents_received=record.residents_received, receptions=record.receptions,
        issues_answered=record.issues_answered, answered_on_time=record.answered_on_time,
        on_time_share=record.on_time_share, satisfaction=record.satisfaction, points=record.points,
        entries=[_entry(e, record.labels) for e in record.entries]))


@bp.get("/deputy/record", query=YearQuery, response=DutyRecordOut, roles={Role.deputy})
def my_record(caller: Caller, query: YearQuery):
    """本人履职档案：排班与签到、接待群众、答复意见建议、满意度、履职积分及明细

    积分由履职事实生成（积分明细之和即为积分）；事实变化时追加撤销记录，不修改已有记录。
    """
    return duty_record_out(caller.deputy, query.year)
