"""A deputy leaves office (离任), in one transaction:

- `Deputy.retired_at` is set, so the deputy drops out of scan answers, public profiles,
  groupings and invites;
- seats and station memberships still running end on the retirement date (`retired_on`,
  inclusive); ones planned to begin after today are removed, they never took effect;
- duty days after it are dropped from rosters, draft or published (days already held stay);
- open issues the deputy handles, or that were addressed to them and not yet accepted, go to
  the station manager (`issue_flow.hand_to_manager`: an event each, inbox caches told);
- the WeChat account is unbound and its tokens revoked (`token_version`), and invite codes
  not yet used expire;
- everything that happened stays: issues, replies, events, check-ins, reception records and
  past duty still name the deputy.

Who: a region admin whose region holds every station the deputy still belongs to. A station
manager cannot (a deputy's term is the congress's business, and may span stations they do not
run); an admin of a county cannot end a grouping in another county.
Caches need nothing here: the ORM hooks see the deputy, seats, memberships, user and duty rows
change, and `hand_to_manager` names the issues it moved.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import or_, update

from backend import clock
from backend.auth import Caller
from backend.errors import Conflict, Forbidden, InvalidInput
from backend.permissions import access_managed_deputy, station_scope_clause
from backend.services.deputies import terms
from backend.services.deputies.terms import DroppedDuty
from backend.services.issues import issue_flow
from backend.services.issues.issue_flow import UNACCEPTED, Actor
from models import (
    OPEN_STATUSES,
    Deputy,
    DeputySeat,
    InviteCode,
    Issue,
    Role,
    Station,
    StationMembership,
    User,
    db,
)

REASON_MAX = 200

# Deputies have no audit columns; the log keeps who retired whom, and what went with it.
log = logging.getLogger(__name__)


@dataclass
class Retirement:
    deputy: Deputy
    retired_on: date
    handed_over: list[Issue]
    dropped_duty: list[DroppedDuty]
    expired_invites: int


def retire_deputy(caller: Caller, deputy_id: int, retired_on: date | None = None,
                  reason: str | None = None) -> Retirement:
    """Retire the deputy as of `retired_on` (a Beijing date, default today, never later).

    :raise 404 not_found: no such deputy, or one never grouped into the caller's region.
    :raise 403 forbidden: not a region admin, or the deputy still belongs to a station outside
        the caller's region.
    :raise 409 conflict: the deputy has retired already.
    :raise 400 invalid_input: `retired_on` after today, or before the start of a seat or
        grouping that has already begun (most likely a typo: it would erase days that happened).
    """
    if not caller.has(Role.region_admin):
        raise Forbidden("只有区域管理员可以办理代表离任")
    deputy = terms.lock_deputy(access_managed_deputy(caller, deputy_id).id)
    if deputy.retired_at is not None:
        raise Conflict(f"{deputy.name}代表已于{clock.to_beijing_iso(deputy.retired_at)[:10]}办理离任，不能重复办理")
    today = clock.beijing_today()
    retired_on = retired_on or today
    if retired_on > today:
        raise InvalidInput({"retired_on": "离任日期不能晚于今天"})

    memberships = list(db.session.scalars(db.select(StationMembership).where(
        StationMembership.deputy_id == deputy.id,
        StationMembership.ended_on.is_(None) | (StationMembership.ended_on > retired_on))))
    _require_region_holds(caller, {m.station_id for m in memberships})
    seats = list(db.session.scalars(db.select(DeputySeat).where(DeputySeat.deputy_id == deputy.id)))
    stations = {s.id: s.name for s in db.session.scalars(
        db.select(Station).where(Station.id.in_({m.station_id for m in memberships} or {-1})))}
    _end_spans([*seats, *memberships], retired_on, today, lambda row: (
        f"「{row.congress}」第{row.term}届代表任期" if isinstance(row, DeputySeat)
        else f"在「{stations[row.station_id]}」的编组"))

    dropped = terms.drop_duty_after(deputy.id, retired_on)
    handed_over = _hand_over_issues(caller, deputy, retired_on, reason)
    expired = _unbind(deputy)
    deputy.retired_at = clock.now()
    db.session.flush()
    log.info("deputy %s retired as of %s by user %s: %d issues handed to managers, %d duty days dropped (%s), "
             "%d invites expired", deputy.id, retired_on, caller.user_id, len(handed_over), len(dropped),
             ", ".join(f"station {d.station_id} {d.duty_date}{' published' if d.roster_published else ''}"
                       for d in dropped) or "none", expired)
    return Retirement(deputy=deputy, retired_on=retired_on, handed_over=handed_over, dropped_duty=dropped,
                      expired_invites=expired)


def _require_region_holds(caller: Caller, station_ids: set[int]) -> None:
    """:raise 403 forbidden: a station among `station_ids` lies outside the caller's region."""
    if not station_ids:
        return
    inside = set(db.session.scalars(db.select(Station.id).where(Station.id.in_(station_ids),
                                                                station_scope_clause(caller))))
    outside = sorted(station_ids - inside)
    if outside:
        names = db.session.scalars(db.select(Station.name).where(Station.id.in_(outside)).order_by(Station.id))
        raise Forbidden(f"该代表还编在您管辖范围以外的联络站（{'、'.join(names)}），请由上级区域管理员办理离任")


def _end_spans(rows: Iterable[DeputySeat | StationMembership], last_day: date, today: date,
               describe: Callable[[DeputySeat | StationMembership], str]) -> None:
    """End every seat or membership still running after `last_day` on that day.

    One that begins after today never took effect (a grouping planned for next month): it is
    removed, it holds no history. One that began on or before today but after `last_day` is
    refused: `last_day` is then most likely a typo, and ending it there would erase days that
    happened. Every row is checked before any is changed.

    :raise 400 invalid_input: as above.
    """
    running = [r for r in rows if r.ended_on is None or r.ended_on > last_day]
    for row in running:
        if last_day < row.started_on <= today:
            message = f"离任日期早于{describe(row)}的开始日期（{row.started_on.isoformat()}），请核对"
            raise InvalidInput({"retired_on": message}, message=message)
    for row in running:
        if row.started_on > last_day:
            db.session.delete(row)
        else:
            row.ended_on = last_day


def _hand_over_issues(caller: Caller, deputy: Deputy, retired_on: date, reason: str | None) -> list[Issue]:
    """Give the station manager the open issues the deputy handles, and those addressed to the
    deputy that nobody has accepted yet. Resolved, closed and rejected ones are history."""
    issues = list(db.session.scalars(
        db.select(Issue).where(or_(
            (Issue.assigned_deputy_id == deputy.id) & Issue.status.in_(list(OPEN_STATUSES)),
            (Issue.addressed_deputy_id == deputy.id) & Issue.status.in_(list(UNACCEPTED)),
        )).order_by(Issue.id)
        # Locked, so no deputy or staff member moves one between this read and its handover.
        .with_for_update(of=Issue).execution_options(populate_existing=True)))
    note = f"{deputy.name}代表于{retired_on.isoformat()}离任，转由站长办理" + (f"：{reason}" if reason else "")
    actor = Actor(caller.user, Role.region_admin)
    for issue in issues:
        issue_flow.hand_to_manager(issue, actor, deputy, note)
    return issues


def _unbind(deputy: Deputy) -> int:
    """Unbind the deputy's WeChat account, revoking its tokens (the identity cache drops it at
    commit), and expire unused invite codes so nobody binds the deputy again. Returns how many
    invites expired."""
    if deputy.user_id is not None:
        user = db.session.get(User, deputy.user_id)
        deputy.user_id = None
        # Every token of this phone goes, the resident's role's too: the next wx-login gives a
        # fresh one without the deputy role.
        user.token_version += 1
    now = clock.now()
    return db.session.execute(
        update(InviteCode).where(InviteCode.deputy_id == deputy.id, InviteCode.used_at.is_(None),
                                 InviteCode.expires_at > now)
        .values(expires_at=now).execution_options(synchronize_session=False)
    ).rowcount
