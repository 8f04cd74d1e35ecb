"""督办 (三色督办): reminders for issues whose clock turned yellow or red, and a daily digest for
the staff who answer for the stations.

- yellow (≤ 1 working day left) → the deputy who must act: the assigned deputy; for an issue
  not accepted yet the deputy the resident addressed, else every deputy grouped into the station.
- red (overdue) → that deputy again, and the station's managers (站长); a station without a
  manager is answered for by the region admins of the nearest region above it that has any
  (a province admin is not told of every overdue issue of a county that has its own).
- When no deputy can be reached (none holds the issue — accepted by staff and not assigned yet,
  or handed to the manager — or the deputies have retired or not bound WeChat), the managers
  are reminded at yellow too: someone must act before it turns red.
- Each reminder is planned once per deadline, colour and recipient (the outbox's cause names
  the deadline and its date): a new deadline (a new transfer) reminds anew, and running every
  hour plans nothing new. Reminders planned in the night wait for 08:00 Beijing.
- The digest (每日督办汇总): from 09:00 Beijing, once a day, to each station manager and region
  admin with a yellow or red issue in their scope.

The colours come from the queue's SQL clock (`issue_queue.clock_clause`), so reminders, the
queue's clock filter and the issue pages agree day for day.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select

from backend import clock
from backend.services.issues.issue_queue import clock_clause, current_due_column, latest_transfer_id
from backend.services.messaging import outbox
from backend.wechat import templates
from models import (
    OPEN_STATUSES,
    REGION_CODE_PREFIX,
    Category,
    Deputy,
    Issue,
    IssueStatus,
    OutboxMessage,
    Region,
    StaffAccount,
    StaffRole,
    Station,
    StationMembership,
    User,
    db,
    staff_station,
)

TEMPLATE = "issue_escalation"
DIGEST_TEMPLATE = "manager_digest"
DEPUTY_TIP = {"yellow": "即将到期，请尽快办理", "red": "已超期，请立即办理"}
MANAGER_TIP = {"yellow": "即将到期，请尽快办理", "red": "本站意见建议已超期"}
URGE_TIP = "站长催办，请尽快办理"
DEPUTY_PAGE = "pages/deputy/issue?no={no}"
MANAGER_PAGE = "pages/manage/issue?no={no}"
# Nobody is woken by a reminder: one planned before this waits for it.
QUIET_UNTIL = time(8, 0)
# The digest is planned by the first run from this hour on (the 09:00 run; catch-up runs earlier
# in the day plan none).
DIGEST_FROM = time(9, 0)
# Enough of the content to recognise the issue; `templates.thing` cuts it to 20 characters.
CONTENT_PEEK = 40
# Bound the size of IN lists.
_CHUNK = 5000
_KEY_CHUNK = 2000
# Region levels from the nearest (a community) to the farthest (the province).
_PREFIX_LENGTHS = sorted(set(REGION_CODE_PREFIX.values()), reverse=True)


@dataclass(frozen=True)
class Clocked:
    """An open issue with a yellow or red clock, as the reminders need it."""

    id: int
    no: str
    station_id: int
    status: IssueStatus
    category: str
    content: str
    due: date
    transfer_id: int | None
    addressed_deputy_id: int | None
    assigned_deputy_id: int | None
    colour: str

    @property
    def deadline(self) -> str:
        """Which deadline the clock runs against: a new one reminds anew."""
        if self.status == IssueStatus.submitted:
            return "accept"
        if self.status == IssueStatus.accepted:
            return "reply"
        return f"transfer:{self.transfer_id}"


@dataclass(frozen=True)
class Recipient:
    user_id: int
    openid: str | None


def run_escalation(now: datetime) -> dict:
    """The `escalation` job: plan the reminders due at `now` and, from 09:00, the day's digests."""
    local = now.astimezone(clock.BEIJING)
    today = local.date()
    issues = clocked_issues(today)
    not_before = datetime.combine(today, QUIET_UNTIL, clock.BEIJING) if local.time() < QUIET_UNTIL else None
    planned = outbox.enqueue_many(_by_shape(_unplanned(_reminders(issues, today, not_before))))
    db.session.commit()
    digests = 0
    if local.time() >= DIGEST_FROM and issues:
        digests = outbox.enqueue_many(_by_shape(_unplanned(_digests(issues, today))))
        db.session.commit()
    return {"yellow": sum(i.colour == "yellow" for i in issues), "red": sum(i.colour == "red" for i in issues),
            "planned": planned, "digests": digests}


def _unplanned(rows: list[dict]) -> list[dict]:
    """The rows not planned by an earlier run. The outbox would ignore them anyway, but an issue
    stays red for weeks and the job runs hourly: looking them up by the outbox's unique key is
    much cheaper than offering them again."""
    keys = [(row["recipient_id"], row["template"], row["cause"]) for row in rows]
    seen: set[tuple[int, str, str]] = set()
    for start in range(0, len(keys), _KEY_CHUNK):
        chunk = keys[start:start + _KEY_CHUNK]
        # Three IN lists on the unique index's columns (PostgreSQL walks the index with all
        # three; a row-value IN list it would not) give a superset; the set keeps exact matches.
        seen.update(db.session.execute(
            select(OutboxMessage.recipient_id, OutboxMessage.template, OutboxMessage.cause)
            .where(OutboxMessage.recipient_id.in_({k[0] for k in chunk}),
                   OutboxMessage.template.in_({k[1] for k in chunk}),
                   OutboxMessage.cause.in_({k[2] for k in chunk}))).tuples())
    return [row for row, k in zip(rows, keys, strict=True) if k not in seen]


def _by_shape(rows: list[dict]) -> list[dict]:
    """Rows with the same empty values together: the bulk INSERT leaves NULLs out and starts a
    new statement at each change of shape, so mixed rows would cost a statement each."""
    return sorted(rows, key=lambda row: tuple(row.get(k) is None for k in ("openid", "not_before", "expires_at")))


def clocked_issues(today: date) -> list[Clocked]:
    """Every open issue whose clock is yellow or red on `today`: one query per colour."""
    columns = (Issue.id, Issue.no, Issue.station_id, Issue.status, Category.name,
               func.substr(Issue.content, 1, CONTENT_PEEK), current_due_column(), latest_transfer_id(),
               Issue.addressed_deputy_id, Issue.assigned_deputy_id)
    found: list[Clocked] = []
    for colour in ("yellow", "red"):
        rows = db.session.execute(
            select(*columns)
            .join(Category, Category.id == Issue.category_id)
            .where(clock_clause(colour, today))
            .order_by(Issue.id))
        found += [Clocked(*row, colour=colour) for row in rows]
    return found


# --- reminders --------------------------------------------------------------------------------

def _reminders(issues: list[Clocked], today: date, not_before: datetime | None) -> list[dict]:
    deputies = _deputies_to_remind(issues, today)
    need_managers = {i.station_id for i in issues if i.colour == "red" or not deputies[i.id]}
    managers = answerable_staff(need_managers)
    rows = []
    for issue in issues:
        # A yellow reminder is stale once the due day is over: it is red then, and says so.
        expires_at = (datetime.combine(issue.due + timedelta(days=1), time.min, clock.BEIJING)
                      if issue.colour == "yellow" else None)
        for recipient in deputies[issue.id]:
            rows.append(_reminder(issue, recipient, "deputy", DEPUTY_TIP[issue.colour], DEPUTY_PAGE,
                                  not_before, expires_at))
        if issue.colour == "red" or not deputies[issue.id]:
            for recipient in managers.get(issue.station_id, ()):
                rows.append(_reminder(issue, recipient, "manager", MANAGER_TIP[issue.colour], MANAGER_PAGE,
                                      not_before, expires_at))
    return rows


def _reminder(issue: Clocked, recipient: Recipient, role: str, tip: str, page: str,
              not_before: datetime | None, expires_at: datetime | None) -> dict:
    data = templates.message_data(TEMPLATE, {
        "character_string1": templates.character_string(issue.no),
        "thing2": templates.thing(f"{issue.category}：{issue.content}"),
        "date3": templates.date_value(issue.due),
        "thing4": templates.thing(tip),
    })
    return {"recipient_id": recipient.user_id, "template": TEMPLATE,
            "cause": f"issue:{issue.id}:{issue.deadline}:{issue.due.isoformat()}:{issue.colour}:{role}",
            "station_id": issue.station_id,
            "data": data, "openid": recipient.openid, "page": page.format(no=issue.no),
            "not_before": not_before, "expires_at": expires_at}


def plan_urge(issue: Issue, deputy: Deputy, event) -> None:
    """The 催办 message of `event` (an `urged` timeline event) to `deputy`, planned with it: the
    督办 reminder's template, the tip saying staff urged it. Its cause names the event, so each
    urge sends once."""
    today = clock.beijing_today()
    due = db.session.scalar(select(current_due_column()).where(Issue.id == issue.id))
    openid = db.session.scalar(select(User.openid).where(User.id == deputy.user_id))
    data = templates.message_data(TEMPLATE, {
        "character_string1": templates.character_string(issue.no),
        "thing2": templates.thing(f"{issue.category.name if issue.category else ''}：{issue.content[:CONTENT_PEEK]}"),
        "date3": templates.date_value(due or issue.reply_due_on or today),
        "thing4": templates.thing(URGE_TIP),
    })
    outbox.enqueue(deputy.user_id, TEMPLATE, f"issue:{issue.id}:urged:{event.id}", data, openid=openid,
                   station_id=issue.station_id, page=DEPUTY_PAGE.format(no=issue.no))


def _deputies_to_remind(issues: list[Clocked], today: date) -> dict[int, list[Recipient]]:
    """Each issue's deputies who must act and can be reached (bound to WeChat, not retired)."""
    named: dict[int, int] = {}  # issue id → deputy id
    whole_station: dict[int, Clocked] = {}  # issue id → issue, for those any member may take up
    for issue in issues:
        if issue.status == IssueStatus.submitted:
            if issue.addressed_deputy_id is not None:
                named[issue.id] = issue.addressed_deputy_id
            else:
                whole_station[issue.id] = issue
        elif issue.assigned_deputy_id is not None:
            named[issue.id] = issue.assigned_deputy_id

    reachable: dict[int, Recipient] = {}
    deputy_ids = sorted(set(named.values()))
    for start in range(0, len(deputy_ids), _CHUNK):
        rows = db.session.execute(
            select(Deputy.id, User.id, User.openid).join(User, User.id == Deputy.user_id)
            .where(Deputy.id.in_(deputy_ids[start:start + _CHUNK]), Deputy.retired_at.is_(None),
                   User.is_active.is_(True)))
        reachable.update({deputy_id: Recipient(user_id, openid) for deputy_id, user_id, openid in rows})

    members: dict[int, dict[int, Recipient]] = defaultdict(dict)  # station → user id → recipient
    station_ids = sorted({i.station_id for i in whole_station.values()})
    for start in range(0, len(station_ids), _CHUNK):
        rows = db.session.execute(
            select(StationMembership.station_id, User.id, User.openid)
            .join(Deputy, Deputy.id == StationMembership.deputy_id)
            .join(User, User.id == Deputy.user_id)
            .where(StationMembership.station_id.in_(station_ids[start:start + _CHUNK]),
                   StationMembership.current_on(today), Deputy.retired_at.is_(None), User.is_active.is_(True))
            .order_by(StationMembership.station_id, User.id))
        for station_id, user_id, openid in rows:
            members[station_id][user_id] = Recipient(user_id, openid)

    found: dict[int, list[Recipient]] = defaultdict(list)
    for issue in issues:
        if issue.id in named:
            deputy = reachable.get(named[issue.id])
            found[issue.id] = [deputy] if deputy is not None else []
        else:
            found[issue.id] = list(members[issue.station_id].values()) if issue.id in whole_station else []
    return found


def answerable_staff(station_ids) -> dict[int, list[Recipient]]:
    """Who answers for each station: its active station managers; for a station without one,
    the active region admins of the nearest region of its lineage that has any."""
    station_ids = sorted(set(station_ids))
    found: dict[int, list[Recipient]] = defaultdict(list)
    for start in range(0, len(station_ids), _CHUNK):
        rows = db.session.execute(
            select(staff_station.c.station_id, User.id, User.openid)
            .join(StaffAccount, StaffAccount.id == staff_station.c.staff_account_id)
            .join(User, User.id == StaffAccount.user_id)
            .where(staff_station.c.station_id.in_(station_ids[start:start + _CHUNK]),
                   StaffAccount.role == StaffRole.station_manager, StaffAccount.is_active.is_(True),
                   User.is_active.is_(True))
            .order_by(staff_station.c.station_id, User.id))
        for station_id, user_id, openid in rows:
            found[station_id].append(Recipient(user_id, openid))

    unmanaged = [s for s in station_ids if s not in found]
    if unmanaged:
        admins = _region_admins()
        for start in range(0, len(unmanaged), _CHUNK):
            rows = db.session.execute(select(Station.id, Region.code).join(Region, Region.id == Station.region_id)
                                      .where(Station.id.in_(unmanaged[start:start + _CHUNK])))
            for station_id, code in rows:
                for length in _PREFIX_LENGTHS:
                    if admins.get(code[:length]):
                        found[station_id] = [r for r, _name in admins[code[:length]]]
                        break
    return found


def _region_admins() -> dict[str, list[tuple[Recipient, str]]]:
    """Active region admins by the code prefix their region's stations share, with its name."""
    admins: dict[str, list[tuple[Recipient, str]]] = defaultdict(list)
    rows = db.session.execute(
        select(Region.code, Region.level, Region.name, User.id, User.openid)
        .join(StaffAccount, StaffAccount.region_id == Region.id)
        .join(User, User.id == StaffAccount.user_id)
        .where(StaffAccount.role == StaffRole.region_admin, StaffAccount.is_active.is_(True),
               User.is_active.is_(True))
        .order_by(User.id))
    for code, level, name, user_id, openid in rows:
        admins[code[:REGION_CODE_PREFIX[level]]].append((Recipient(user_id, openid), name))
    return admins


# --- the daily digest -------------------------------------------------------------------------

@dataclass
class Tally:
    open: int = 0
    alerts: int = 0  # yellow or red
    overdue: int = 0  # red

    def add(self, other: Tally) -> None:
        self.open += other.open
        self.alerts += other.alerts
        self.overdue += other.overdue


def _digests(issues: list[Clocked], today: date) -> list[dict]:
    """One digest per station manager and region admin with a yellow or red issue in scope."""
    by_station: dict[int, Tally] = defaultdict(Tally)
    region_of: dict[int, str] = {}
    for issue in issues:
        by_station[issue.station_id].alerts += 1
        by_station[issue.station_id].overdue += issue.colour == "red"
    for station_id, code, count in db.session.execute(
            select(Issue.station_id, Region.code, func.count(Issue.id))
            .join(Station, Station.id == Issue.station_id).join(Region, Region.id == Station.region_id)
            .where(Issue.status.in_(OPEN_STATUSES)).group_by(Issue.station_id, Region.code)):
        by_station[station_id].open = count
        region_of[station_id] = code

    rows = []
    for recipient, label, tally in _manager_scopes(by_station) + _admin_scopes(by_station, region_of):
        if tally.alerts:
            rows.append(_digest(recipient, label, tally, today))
    return rows


def _manager_scopes(by_station: dict[int, Tally]) -> list[tuple[Recipient, str, Tally]]:
    alerted = [s for s, t in by_station.items() if t.alerts]
    managers: dict[int, Recipient] = {}
    for start in range(0, len(alerted), _CHUNK):
        for staff_id, user_id, openid in db.session.execute(
                select(StaffAccount.id, User.id, User.openid).distinct()
                .join(staff_station, staff_station.c.staff_account_id == StaffAccount.id)
                .join(User, User.id == StaffAccount.user_id)
                .where(staff_station.c.station_id.in_(alerted[start:start + _CHUNK]),
                       StaffAccount.role == StaffRole.station_manager, StaffAccount.is_active.is_(True),
                       User.is_active.is_(True))):
            managers[staff_id] = Recipient(user_id, openid)
    stations: dict[int, list[tuple[int, str]]] = defaultdict(list)
    staff_ids = sorted(managers)
    for start in range(0, len(staff_ids), _CHUNK):
        for staff_id, station_id, name in db.session.execute(
                select(staff_station.c.staff_account_id, Station.id, Station.name)
                .join(Station, Station.id == staff_station.c.station_id)
                .where(staff_station.c.staff_account_id.in_(staff_ids[start:start + _CHUNK]))):
            stations[staff_id].append((station_id, name))
    scopes = []
    for staff_id in staff_ids:
        own = stations[staff_id]
        tally = Tally()
        for station_id, _name in own:
            tally.add(by_station.get(station_id, Tally()))
        label = own[0][1] if len(own) == 1 else f"{len(own)}个联络站"
        scopes.append((managers[staff_id], label, tally))
    return scopes


def _admin_scopes(by_station: dict[int, Tally], region_of: dict[int, str]) -> list[tuple[Recipient, str, Tally]]:
    by_prefix: dict[str, Tally] = defaultdict(Tally)
    for station_id, tally in by_station.items():
        code = region_of.get(station_id)
        if code is None:  # every clocked issue is open, so its station has a region code
            continue
        for length in _PREFIX_LENGTHS:
            by_prefix[code[:length]].add(tally)
    scopes = []
    for prefix, admins in _region_admins().items():
        tally = by_prefix.get(prefix)
        if tally is not None:
            scopes += [(recipient, region_name, tally) for recipient, region_name in admins]
    return scopes


def _digest(recipient: Recipient, label: str, tally: Tally, today: date) -> dict:
    data = templates.message_data(DIGEST_TEMPLATE, {
        "thing1": templates.thing(label),
        "number2": templates.number(tally.open),
        "number3": templates.number(tally.overdue),
        "date4": templates.date_value(today),
    })
    return {"recipient_id": recipient.user_id, "template": DIGEST_TEMPLATE, "cause": f"digest:{today.isoformat()}",
            "data": data, "openid": recipient.openid,
            "expires_at": datetime.combine(today + timedelta(days=1), time.min, clock.BEIJING)}
