"""履职积分: the points ledger, generated from facts by one idempotent function.

`sync_points(deputy_id, year)` computes the entries the facts of that year call for, each keyed
by its cause and rule (cause_type, cause_id, rule_code), and compares them with the ledger's
live entries (those not reversed):
- a fact with no live entry gets one, at the rule's current points;
- a live entry whose fact no longer holds (a duty un-assigned, leave recorded after the day), or
  whose rule's points changed or was switched off, gets a reversing entry (`reverses_id`, the
  opposite points), and, when the fact still holds, a fresh entry at the current points.
Rows are only ever appended, never updated or deleted, so the ledger sums to the points and
every change has a line. Running it twice appends nothing the second time.

The facts (dates are Beijing dates; the year is the fact's date's year):
- attended_duty: a duty of a published roster with the deputy's check-in at that station that
  day; cause `duty_assignment`.
- missed_duty: a duty before today, not attended, not covered by leave; cause `duty_assignment`.
- extra_visit: a check-in on a date the deputy had no published duty at that station (see
  services/duty/attendance.py); cause `check_in`.
- answered_on_time: the deputy's first reply to an issue (`Reply.deputy_id`, answers and
  recorded department results alike) made on or before the issue's `reply_due_on`; cause
  `issue`, dated by that first reply. An issue without a reply deadline earns nothing.
- satisfied_rating: a rating "satisfied" (not "basically satisfied") of an issue the deputy
  replied to, dated by the rating; cause `rating`. Every deputy who replied to it earns it.

Called when a duty record is read, and meant for a nightly job over every deputy.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time

from sqlalchemy import exists, func, select, text

from backend import clock
from backend.errors import InvalidInput
from backend.services.duty import attendance
from backend.services.duty.check_ins import on_duty_clause
from models import (
    CheckIn,
    DutyAssignment,
    DutyRoster,
    Issue,
    PointsEntry,
    PointsRule,
    Rating,
    RatingScore,
    Reply,
    RosterStatus,
    Station,
    db,
)

# The county defaults (履职积分细则) the migration seeds; tests and new deployments start here.
DEFAULT_RULES = [
    ("attended_duty", "按排班进站履职", 2),
    ("extra_visit", "排班外进站", 1),
    ("answered_on_time", "按期答复意见建议", 1),
    ("satisfied_rating", "群众评价满意", 1),
    ("missed_duty", "排班未到且未请假", -1),
]
RULE_CODES = tuple(code for code, _label, _points in DEFAULT_RULES)
POINTS_LIMIT = 100
LABEL_MAX = 64
NOTE_MAX = 200

# pg_advisory_xact_lock's first key: this module's syncs, whatever else takes advisory locks.
_LOCK_NAMESPACE = 0x4A4631


@dataclass(frozen=True)
class Fact:
    cause_type: str
    cause_id: int
    rule_code: str
    occurred_on: date
    note: str


def year_bounds(year: int) -> tuple[datetime, datetime]:
    """The instants the Beijing year starts and ends (exclusive)."""
    return (datetime.combine(date(year, 1, 1), time.min, tzinfo=clock.BEIJING),
            datetime.combine(date(year + 1, 1, 1), time.min, tzinfo=clock.BEIJING))


def _beijing_date(at: datetime) -> date:
    return at.astimezone(clock.BEIJING).date()


@dataclass(frozen=True)
class Answer:
    issue_id: int
    issue_no: str
    first_reply_at: datetime
    reply_due_on: date | None

    @property
    def on_time(self) -> bool:
        return self.reply_due_on is not None and _beijing_date(self.first_reply_at) <= self.reply_due_on


def answers(deputy_id: int, year: int) -> list[Answer]:
    """The issues the deputy first replied to in the year, with that first reply's time."""
    start, end = year_bounds(year)
    first = (select(Reply.issue_id, func.min(Reply.created_at).label("first_at"))
             .where(Reply.deputy_id == deputy_id).group_by(Reply.issue_id).subquery())
    rows = db.session.execute(
        select(Issue.id, Issue.no, first.c.first_at, Issue.reply_due_on).join(first, first.c.issue_id == Issue.id)
        .where(first.c.first_at >= start, first.c.first_at < end).order_by(first.c.first_at, Issue.id))
    return [Answer(*row) for row in rows]


def replied_by(deputy_id: int):
    """EXISTS: the deputy replied to the rated issue (a clause on Rating)."""
    return exists().where(Reply.issue_id == Rating.issue_id, Reply.deputy_id == deputy_id)


def facts(deputy_id: int, year: int, today: date | None = None) -> list[Fact]:
    """What the deputy did in the year that the rules give points for."""
    today = today or clock.beijing_today()
    first_day, last_day = date(year, 1, 1), min(date(year, 12, 31), today)
    found: list[Fact] = []

    attended, excused = attendance.ATTENDED, attendance.EXCUSED
    duties = db.session.execute(
        select(DutyAssignment.id, DutyAssignment.duty_date, Station.name, attended, excused)
        .join(Station, Station.id == DutyAssignment.station_id)
        .join(DutyRoster, DutyRoster.id == DutyAssignment.roster_id)
        .where(DutyRoster.status == RosterStatus.published, DutyAssignment.deputy_id == deputy_id,
               DutyAssignment.duty_date >= first_day, DutyAssignment.duty_date <= last_day))
    for assignment_id, day, station, present, on_leave in duties:
        if present:
            found.append(Fact("duty_assignment", assignment_id, "attended_duty", day, f"{station} {day} 排班进站"))
        elif not on_leave and day < today:
            found.append(Fact("duty_assignment", assignment_id, "missed_duty", day, f"{station} {day} 排班未到"))

    visits = db.session.execute(
        select(CheckIn.id, CheckIn.on_date, Station.name).join(Station, Station.id == CheckIn.station_id)
        .where(CheckIn.deputy_id == deputy_id, CheckIn.on_date >= first_day, CheckIn.on_date <= last_day,
               ~on_duty_clause(CheckIn.deputy_id, CheckIn.station_id, CheckIn.on_date)))
    for check_in_id, day, station in visits:
        found.append(Fact("check_in", check_in_id, "extra_visit", day, f"{station} {day} 排班外进站"))

    for answer in answers(deputy_id, year):
        if answer.on_time:
            found.append(Fact("issue", answer.issue_id, "answered_on_time", _beijing_date(answer.first_reply_at),
                              f"意见建议 {answer.issue_no} 按期答复"))

    start, end = year_bounds(year)
    ratings = db.session.execute(
        select(Rating.id, Rating.created_at, Issue.no).join(Issue, Issue.id == Rating.issue_id)
        .where(Rating.score == RatingScore.satisfied, Rating.created_at >= start, Rating.created_at < end,
               replied_by(deputy_id)))
    for rating_id, at, issue_no in ratings:
        found.append(Fact("rating", rating_id, "satisfied_rating", _beijing_date(at), f"意见建议 {issue_no} 群众评价满意"))
    return found


@dataclass(frozen=True)
class SyncResult:
    added: int
    reversed: int


def _lock(deputy_id: int) -> None:
    """Hold off other syncs of this deputy until the transaction ends, before the ledger is read:
    two at once would both append the same missing entries."""
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:ns, :id)"), {"ns": _LOCK_NAMESPACE, "id": deputy_id})
    elif connection.dialect.name == "sqlite":
        # sqlite3 reads outside any transaction; take the database's write lock first instead.
        driver = connection.connection.dbapi_connection
        if not driver.in_transaction:
            driver.execute("BEGIN IMMEDIATE")


def _key(entry: PointsEntry | Fact) -> tuple[str, int, str]:
    return entry.cause_type, entry.cause_id, entry.rule_code


def sync_points(deputy_id: int, year: int) -> SyncResult:
    """Bring the deputy's ledger for `year` in line with the facts (module docstring). Flushes;
    the caller commits."""
    _lock(deputy_id)
    rules = {rule.code: rule for rule in db.session.scalars(select(PointsRule))}
    wanted: dict[tuple[str, int, str], tuple[Fact, int]] = {}
    for fact in facts(deputy_id, year):
        rule = rules.get(fact.rule_code)
        if rule is not None and rule.is_active and rule.points != 0:
            wanted[_key(fact)] = (fact, rule.points)

    entries = db.session.scalars(select(PointsEntry).where(PointsEntry.deputy_id == deputy_id,
                                                           PointsEntry.year == year).order_by(PointsEntry.id)).all()
    reversed_ids = {e.reverses_id for e in entries if e.reverses_id is not None}
    live: dict[tuple[str, int, str], list[PointsEntry]] = defaultdict(list)
    for entry in entries:
        if entry.reverses_id is None and entry.id not in reversed_ids:
            live[_key(entry)].append(entry)

    now = clock.now()
    added = reversals = 0
    for key, current in live.items():
        want = wanted.get(key)
        if want is not None and len(current) == 1 and current[0].points == want[1]:
            continue
        why = "事由已不成立" if want is None else "积分规则调整"
        for entry in current:
            db.session.add(PointsEntry(
                deputy_id=deputy_id, year=year, occurred_on=entry.occurred_on, rule_code=entry.rule_code,
                points=-entry.points, cause_type=entry.cause_type, cause_id=entry.cause_id,
                note=f"撤销（{why}）：{entry.note or ''}"[:NOTE_MAX], reverses_id=entry.id, created_at=now))
            reversals += 1
    for key, (fact, points) in wanted.items():
        current = live.get(key, [])
        if len(current) == 1 and current[0].points == points:
            continue
        db.session.add(PointsEntry(
            deputy_id=deputy_id, year=year, occurred_on=fact.occurred_on, rule_code=fact.rule_code, points=points,
            cause_type=fact.cause_type, cause_id=fact.cause_id, note=fact.note[:NOTE_MAX], created_at=now))
        added += 1
    db.session.flush()
    return SyncResult(added=added, reversed=reversals)


def ledger(deputy_id: int, year: int) -> list[PointsEntry]:
    return list(db.session.scalars(select(PointsEntry).where(PointsEntry.deputy_id == deputy_id,
                                                             PointsEntry.year == year)
                                   .order_by(PointsEntry.occurred_on, PointsEntry.id)))


# --- the rules, edited by region admins --------------------------------------------------------

def list_rules() -> list[PointsRule]:
    rules = {rule.code: rule for rule in db.session.scalars(select(PointsRule))}
    known = [rules.pop(code) for code in RULE_CODES if code in rules]
    return known + sorted(rules.values(), key=lambda r: r.code)


@dataclass(frozen=True)
class RuleChange:
    code: str
    points: int | None = None
    label: str | None = None
    is_active: bool | None = None


def update_rules(changes: list[RuleChange]) -> list[PointsRule]:
    """Change the rules named; ledgers follow on their next sync (a reversal and a new entry per
    changed fact), so past points are never rewritten in place.

    :raise 400 invalid_input: an unknown rule code, or one named twice.
    """
    rules = {rule.code: rule for rule in db.session.scalars(select(PointsRule))}
    seen: set[str] = set()
    for index, change in enumerate(changes):
        if change.code not in rules:
            raise InvalidInput({f"items.{index}.code": f"没有该积分规则：{change.code}"})
        if change.code in seen:
            raise InvalidInput({f"items.{index}.code": f"积分规则重复：{change.code}"})
        seen.add(change.code)
        rule = rules[change.code]
        if change.points is not None:
            rule.points = change.points
        if change.label is not None:
            rule.label = change.label
        if change.is_active is not None:
            rule.is_active = change.is_active
    db.session.flush()
    return list_rules()


def seed_default_rules() -> None:
    """Add the default rules that are missing (a database made by `create_all`, not the migration)."""
    have = set(db.session.scalars(select(PointsRule.code)))
    db.session.add_all(PointsRule(code=code, label=label, points=points, is_active=True)
                       for code, label, points in DEFAULT_RULES if code not in have)
    db.session.flush()
