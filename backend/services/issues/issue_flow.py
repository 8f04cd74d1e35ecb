"""The state machine of residents' issues (意见建议), exactly as API.md's table.

Every move is one named verb. Each verb checks who may make it, then moves the issue with a
conditional UPDATE (`WHERE status IN (allowed)`), so the guard holds in the database: of two
accepts at once, one changes the row and the other finds nothing to change and gets 409.
Every move appends an `IssueEvent`; nothing here updates or deletes an event.
"""
from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select, update

from backend import clock
from backend.errors import ApiError, Forbidden
from backend.services.issues import escalation, issue_page_cache, notices
from backend.services.reference import regions, workdays
from models import (
    OPEN_STATUSES,
    Department,
    Deputy,
    Issue,
    IssueEvent,
    IssueStatus,
    Rating,
    RatingScore,
    Reply,
    Role,
    StationMembership,
    Transfer,
    User,
    db,
)

S = IssueStatus

# Issue 3: accept within 2 working days of submission, first reply within 7 of acceptance.
ACCEPT_WITHIN_WORKDAYS = 2
REPLY_WITHIN_WORKDAYS = 7
# 催办: one reminder per issue within this time; more would only bury the first on the deputy's
# phone (and spend their one-time subscribe grants).
URGE_INTERVAL = timedelta(hours=2)
# After this many unsatisfied ratings the issue is closed as unsatisfied (API.md).
MAX_UNSATISFIED = 3
# A resolved issue nobody rates is closed by the scheduler after this many days.
AUTO_CLOSE_DAYS = 7


class InvalidTransition(ApiError):
    status, code, message = 409, "invalid_transition", "该意见建议当前状态不允许此操作，请刷新后重试"


@dataclass(frozen=True)
class Actor:
    """Who moves an issue, and in which capacity. `user` is None for the scheduler."""

    user: User | None
    role: Role | str
    deputy: Deputy | None = None

    @property
    def role_name(self) -> str:
        return self.role.value if isinstance(self.role, Role) else self.role

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.station_manager, Role.region_admin)


SCHEDULER = Actor(user=None, role="scheduler")


def staff_actor(caller) -> Actor:
    """A staff member (a `Caller` with a staff account) acting in their staff capacity."""
    return Actor(caller.user, Role.region_admin if caller.has(Role.region_admin) else Role.station_manager)


# The states each verb may move an issue from (API.md's table). The verbs below check these in
# the database; pages read them to offer only the moves the issue's state allows.
ALLOWED_FROM: dict[str, frozenset[IssueStatus]] = {
    "release": frozenset({S.pending_review}),
    "reject": frozenset({S.submitted, S.pending_review}),
    "accept": frozenset({S.submitted}),
    "reply": frozenset({S.accepted, S.replied, S.reopened}),
    "transfer": frozenset({S.accepted, S.replied, S.reopened}),
    "department_result": frozenset({S.transferred}),
    "resolve": frozenset({S.accepted, S.replied, S.transferred, S.reopened}),
    "assign": frozenset(set(S) - {S.closed, S.rejected}),
    "urge": frozenset({S.accepted, S.replied, S.transferred, S.reopened}),
}


def staff_verbs(issue: Issue) -> list[str]:
    """The verbs staff may apply to `issue` in its present state, in ALLOWED_FROM's order."""
    return [verb for verb, allowed in ALLOWED_FROM.items() if issue.status in allowed]


def _move(issue: Issue, actor: Actor, kind: str, allowed_from: AbstractSet[IssueStatus], to: IssueStatus | None,
          note: str | None = None, **values) -> None:
    """Move `issue` from one of `allowed_from` to `to` (None: stay) and record the event.

    :raise 409 invalid_transition: the issue is not (or no longer) in an allowed state.
    """
    before = issue.status
    if before not in allowed_from:
        raise InvalidTransition()
    target = to or before
    deputies_before = (issue.addressed_deputy_id, issue.assigned_deputy_id)
    moved = db.session.execute(
        update(Issue).where(Issue.id == issue.id, Issue.status.in_(list(allowed_from)))
        .values(status=target, **values)
        .execution_options(synchronize_session=False, cache_noted=True)
    ).rowcount
    if moved != 1:
        # Someone else moved it between our read and our write.
        raise InvalidTransition()
    event = IssueEvent(issue_id=issue.id, kind=kind, from_status=before.value, to_status=target.value,
                       actor_id=actor.user.id if actor.user else None, actor_role=actor.role_name, note=note,
                       created_at=clock.now())
    db.session.add(event)
    db.session.flush()
    db.session.refresh(issue)
    issue_page_cache.issue_changed(db.session, issue, deputies_before=deputies_before)
    notices.issue_changed(issue, event)


def _is_station_deputy(deputy: Deputy | None, station_id: int, on: date) -> bool:
    if deputy is None or deputy.retired_at is not None:
        return False
    return db.session.scalar(db.select(StationMembership.id).where(
        StationMembership.deputy_id == deputy.id, StationMembership.station_id == station_id,
        StationMembership.current_on(on)).limit(1)) is not None


def _require_handler(issue: Issue, actor: Actor) -> None:
    """Staff of the station, or the deputy the issue is assigned to.

    :raise 403 forbidden:
    """
    if actor.is_staff:
        return
    if actor.deputy is not None and issue.assigned_deputy_id == actor.deputy.id:
        return
    raise Forbidden("该意见建议未分派给您办理")


# --- the verbs --------------------------------------------------------------------------------

def release_issue(issue: Issue, actor: Actor) -> None:
    """Staff release an issue held for review (pending_review → submitted)."""
    _require_staff(actor)
    _move(issue, actor, "released", ALLOWED_FROM["release"], S.submitted)


def reject_issue(issue: Issue, actor: Actor, reason: str) -> None:
    """不予受理, with a reason; final. From submitted (deputy of the station or staff) or from
    pending_review (staff only)."""
    if issue.status == S.pending_review:
        _require_staff(actor)
    elif not actor.is_staff and not _is_station_deputy(actor.deputy, issue.station_id, clock.beijing_today()):
        raise Forbidden("只有本站代表或工作人员可以处理")
    _move(issue, actor, "rejected", ALLOWED_FROM["reject"], S.rejected, note=reason,
          reject_reason=reason, closed_at=clock.now())


def accept_issue(issue: Issue, actor: Actor) -> None:
    """受理: a deputy of the station or staff take the issue up.

    A deputy staff assigned it to before acceptance keeps it: they were told it is theirs, and
    accepting must not leave it with nobody (or quietly with someone else). Otherwise it goes to
    the addressed deputy if the resident chose one, else to the accepting deputy (staff
    accepting an unassigned, unaddressed issue assign it later).
    """
    if not actor.is_staff and not _is_station_deputy(actor.deputy, issue.station_id, clock.beijing_today()):
        raise Forbidden("只有本站代表或工作人员可以受理")
    assignee = (issue.assigned_deputy_id or issue.addressed_deputy_id
                or (actor.deputy.id if actor.deputy and not actor.is_staff else None))
    reply_due = workdays.add_workdays(clock.beijing_today(), REPLY_WITHIN_WORKDAYS)
    _move(issue, actor, "accepted", ALLOWED_FROM["accept"], S.accepted, assigned_deputy_id=assignee,
          accepted_at=clock.now(), reply_due_on=reply_due.date,
          deadline_estimated=issue.deadline_estimated or reply_due.estimated)


def reply_to_issue(issue: Issue, actor: Actor, content: str, public: bool = False) -> Reply:
    """答复. More replies are allowed; the first sets the first-response time."""
    _require_handler(issue, actor)
    now = clock.now()
    values = {} if issue.first_response_at else {"first_response_at": now}
    _move(issue, actor, "replied", ALLOWED_FROM["reply"], S.replied, **values)
    return _add_reply(issue, actor, content, public, "reply")


def transfer_issue(issue: Issue, actor: Actor, department: str, due_on: date) -> Transfer:
    """交办: hand the issue to a department with a deadline (a Beijing date, not in the past)."""
    _require_handler(issue, actor)
    if due_on < clock.beijing_today():
        raise ApiError("办理期限不能早于今天", details={"fields": {"deadline": "不能早于今天"}})
    _move(issue, actor, "transferred", ALLOWED_FROM["transfer"], S.transferred,
          note=f"{department}（期限 {due_on.isoformat()}）")
    # Department names are unique only within a region: look among those the station can reach
    # (its own region's and those above it), never a same-named office of another county.
    # The nearest wins when a township and its county both have one of that name.
    reachable = [r.id for r in regions.lineage(issue.station.region)]
    candidates = {d.region_id: d for d in db.session.scalars(db.select(Department).where(
        Department.name == department, Department.is_active, Department.region_id.in_(reachable)))}
    known = next((candidates[r] for r in reversed(reachable) if r in candidates), None)
    transfer = Transfer(issue_id=issue.id, department_id=known.id if known else None, department_name=department,
                        due_on=due_on, created_by_id=actor.user.id, created_at=clock.now())
    db.session.add(transfer)
    db.session.flush()
    return transfer


def record_department_result(issue: Issue, actor: Actor, content: str) -> Reply:
    """The department's result, recorded as a reply (transferred → replied)."""
    _require_handler(issue, actor)
    now = clock.now()
    values = {} if issue.first_response_at else {"first_response_at": now}
    _move(issue, actor, "department_result", ALLOWED_FROM["department_result"], S.replied, **values)
    open_transfer = next((t for t in reversed(issue.transfers) if t.result_at is None), None)
    if open_transfer is not None:
        open_transfer.result_at = now
    return _add_reply(issue, actor, content, False, "department_result")


def resolve_issue(issue: Issue, actor: Actor, summary: str) -> None:
    """办结, with a summary; the resident may now rate this resolution once."""
    _require_handler(issue, actor)
    _move(issue, actor, "resolved", ALLOWED_FROM["resolve"], S.resolved, note=summary,
          resolution_summary=summary, resolved_at=clock.now(), resolution_round=issue.resolution_round + 1)


def rate_issue(issue: Issue, actor: Actor, score: RatingScore, comment: str | None) -> Rating:
    """满意度测评 by the resident who submitted it, once per resolution.

    Satisfied or basically satisfied closes it. Unsatisfied reopens it: the first time back to
    the deputy, the second time to the station manager, the third time it closes as unsatisfied.
    """
    if actor.user is None or actor.user.id != issue.submitter_id:
        raise Forbidden("只有提交人可以评价")
    now = clock.now()
    rating = Rating(issue_id=issue.id, resolution_round=issue.resolution_round, score=score, comment=comment,
                    created_at=now)
    if score != RatingScore.unsatisfied:
        _move(issue, actor, "rated", {S.resolved}, S.closed, note=comment, closed_at=now)
    else:
        count = issue.unsatisfied_count + 1
        if count >= MAX_UNSATISFIED:
            _move(issue, actor, "rated", {S.resolved}, S.closed, note=comment, closed_at=now,
                  unsatisfied_count=count)
        else:
            # Back to the deputy the first time — unless the issue was handed to the manager
            # already, or its deputy has retired since: then it is the manager's.
            handler_gone = issue.assigned_deputy is not None and issue.assigned_deputy.retired_at is not None
            _move(issue, actor, "rated", {S.resolved}, S.reopened, note=comment, unsatisfied_count=count,
                  escalated_to_manager=count >= 2 or issue.escalated_to_manager or handler_gone,
                  **({"assigned_deputy_id": None} if handler_gone else {}))
    db.session.add(rating)
    db.session.flush()
    return rating


def reassign_issue(issue: Issue, actor: Actor, deputy: Deputy) -> None:
    """Staff hand the issue to another deputy of its station (any state but closed, rejected)."""
    _require_staff(actor)
    if not _is_station_deputy(deputy, issue.station_id, clock.beijing_today()):
        raise ApiError("该代表不属于本联络站", details={"fields": {"deputy_id": "不是本站代表"}})
    _move(issue, actor, "assigned", ALLOWED_FROM["assign"], None, note=deputy.name, assigned_deputy_id=deputy.id)


class AssignRefused(ApiError):
    """A bulk assignment refused whole: nothing was assigned; `details.issues` says why for each
    issue that could not be."""

    status, code = 400, "invalid_input"


def reassign_issues(issues: list[Issue], actor: Actor, deputy: Deputy) -> None:
    """Staff hand several issues to one deputy, all or nothing: each through `reassign_issue`
    (its own event and notices), each in a savepoint so that one refusal is told while the
    others are still tried; any refusal undoes them all.

    :raise 400 invalid_input: none selected, or some refused (`details.issues`: no → reason).
    """
    _require_staff(actor)
    if not issues:
        raise ApiError("请先勾选要分派的意见建议", details={"fields": {"issues": "未选择"}})
    refused: dict[str, str] = {}
    outer = db.session.begin_nested()
    for issue in issues:
        step = db.session.begin_nested()
        try:
            reassign_issue(issue, actor, deputy)
            step.commit()
        except InvalidTransition:
            step.rollback()
            refused[issue.no] = "已结案或不予受理，不能分派"
        except ApiError as error:
            step.rollback()
            refused[issue.no] = error.message
    if refused:
        outer.rollback()
        raise AssignRefused(f"共 {len(issues)} 件，其中 {len(refused)} 件不能分派给{deputy.name}，全部未分派",
                            details={"issues": refused})
    outer.commit()


def urge_issue(issue: Issue, actor: Actor) -> IssueEvent:
    """催办: staff remind the deputy who holds an open issue to act, by a subscribe message
    (planned in the outbox with the event), recorded in the timeline; once per URGE_INTERVAL.

    :raise 400 invalid_input: nobody holds the issue, or its deputy cannot receive messages.
    :raise 409 urged_recently: urged less than URGE_INTERVAL ago.
    :raise 409 invalid_transition: the issue is not open (nothing to urge).
    """
    _require_staff(actor)
    if issue.status not in ALLOWED_FROM["urge"]:
        raise InvalidTransition()
    deputy = issue.assigned_deputy
    if deputy is None or deputy.retired_at is not None:
        raise ApiError("该意见建议没有承办代表，请先分派代表再催办")
    if deputy.user_id is None:
        raise ApiError(f"{deputy.name}尚未绑定微信，无法发送催办提醒，请电话联系")
    # The issue's row locked first: of two urges at once the second waits here, then sees the
    # first's event (a statement after the lock reads what was committed meanwhile).
    db.session.execute(select(Issue.id).where(Issue.id == issue.id).with_for_update())
    since = clock.now() - URGE_INTERVAL
    last = db.session.scalar(select(IssueEvent.created_at).where(
        IssueEvent.issue_id == issue.id, IssueEvent.kind == "urged", IssueEvent.created_at > since)
        .order_by(IssueEvent.created_at.desc()).limit(1))
    if last is not None:
        minutes = int(URGE_INTERVAL.total_seconds() // 60)
        raise UrgedRecently(f"已于 {last.astimezone(clock.BEIJING):%H:%M} 催办过，"
                            f"{minutes // 60} 小时内不再重复催办")
    _move(issue, actor, "urged", ALLOWED_FROM["urge"], None, note=deputy.name)
    event = db.session.scalar(select(IssueEvent).where(IssueEvent.issue_id == issue.id, IssueEvent.kind == "urged")
                              .order_by(IssueEvent.id.desc()).limit(1))
    escalation.plan_urge(issue, deputy, event)
    return event


class UrgedRecently(ApiError):
    status, code = 409, "urged_recently"


# Not yet taken up: the resident's choice of deputy is all that ties the issue to them.
UNACCEPTED = frozenset({S.pending_review, S.submitted})


def hand_to_manager(issue: Issue, actor: Actor, deputy: Deputy, note: str) -> None:
    """Staff take an open issue away from a deputy who can no longer handle it (retired) and
    put it in the station manager's hands (`escalated_to_manager`), status unchanged.

    The deputy stops being its handler; an issue not yet accepted also stops being addressed
    to them (else accepting it would assign it to them). An accepted one keeps the resident's
    choice, and replies and events keep naming the deputy.
    """
    _require_staff(actor)
    values: dict = {"escalated_to_manager": True}
    if issue.assigned_deputy_id == deputy.id:
        values["assigned_deputy_id"] = None
    if issue.addressed_deputy_id == deputy.id and issue.status in UNACCEPTED:
        values["addressed_deputy_id"] = None
    _move(issue, actor, "handed_to_manager", set(OPEN_STATUSES | UNACCEPTED), None, note=note, **values)


def auto_close_issue(issue: Issue) -> None:
    """The scheduler closes a resolution nobody rated within AUTO_CLOSE_DAYS days."""
    _move(issue, SCHEDULER, "auto_closed", {S.resolved}, S.closed, closed_at=clock.now())


# --- helpers ------------------------------------------------------------------------------------

def _require_staff(actor: Actor) -> None:
    if not actor.is_staff:
        raise Forbidden("只有工作人员可以进行此操作")


def _add_reply(issue: Issue, actor: Actor, content: str, public: bool, kind: str) -> Reply:
    reply = Reply(issue_id=issue.id, author_id=actor.user.id, deputy_id=actor.deputy.id if actor.deputy else None,
                  kind=kind, content=content, is_public=public, created_at=clock.now())
    db.session.add(reply)
    db.session.flush()
    return reply
