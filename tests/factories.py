"""Test data builders: plain functions that add rows and commit, returning ids where a test
would otherwise hold detached objects across requests."""
from __future__ import annotations

import itertools
from datetime import date, time

from backend.services.accounts.signin import hash_password
from models import (
    Deputy,
    DeputyLevel,
    DeputySeat,
    ReceptionRule,
    ReceptionRuleKind,
    Region,
    RegionLevel,
    StaffAccount,
    StaffRole,
    Station,
    StationMembership,
    TopicGroup,
    User,
    db,
)

_seq = itertools.count(1)

FENGLIU = dict(kind=ReceptionRuleKind.monthly_days, days=[6, 16, 26], label="逢六（每月6日、16日、26日）")


def create_rule(*, kind=ReceptionRuleKind.monthly_days, days=(6, 16, 26), label="逢六（每月6日、16日、26日）",
                is_default=False) -> ReceptionRule:
    rule = ReceptionRule(kind=kind, days=list(days), label=label, is_default=is_default)
    db.session.add(rule)
    db.session.commit()
    return rule


def create_region_tree() -> dict[str, Region]:
    """浙江省 → 湖州市 → 安吉县 → 递铺街道 → 古城社区, with 逢六 as the default rule."""
    create_rule(is_default=True)
    province = Region(code="330000000000", name="浙江省", level=RegionLevel.province)
    city = Region(code="330500000000", name="湖州市", level=RegionLevel.city, parent=province)
    county = Region(code="330523000000", name="安吉县", level=RegionLevel.county, parent=city)
    township = Region(code="330523001000", name="递铺街道", level=RegionLevel.township, parent=county)
    community = Region(code="330523001001", name="古城社区", level=RegionLevel.community, parent=township)
    other_county = Region(code="330521000000", name="德清县", level=RegionLevel.county, parent=city)
    db.session.add_all([province, city, county, township, community, other_county])
    db.session.commit()
    return {"province": province, "city": city, "county": county, "township": township,
            "community": community, "other_county": other_county}


def create_station(region: Region, *, name=None, scene=None, lat=30.63, lng=119.68, closes_at=time(17, 0),
                   rule: ReceptionRule | None = None, is_active=True) -> Station:
    n = next(_seq)
    station = Station(scene=scene or f"st{n:04d}", name=name or f"测试联络站{n}", address=f"测试路{n}号",
                      lat=lat, lng=lng, region_id=region.id, opens_at=time(9, 0), closes_at=closes_at,
                      reception_rule=rule, is_active=is_active)
    db.session.add(station)
    db.session.commit()
    return station


def create_deputy(*, name=None, levels=(DeputyLevel.county,), stations=(), started_on=date(2021, 10, 1),
                  ended_on=None, membership_ended_on=None, groups=(), phone="13800001234", leader=False) -> Deputy:
    deputy = Deputy(name=name or f"代表{next(_seq)}", gender="女", phone=phone, occupation="教师")
    for level in levels:
        deputy.seats.append(DeputySeat(level=level, congress="安吉县人民代表大会", term=18,
                                       started_on=started_on, ended_on=ended_on))
    for group_name in groups:
        group = db.session.scalar(db.select(TopicGroup).filter_by(name=group_name)) or TopicGroup(name=group_name)
        deputy.topic_groups.append(group)
    db.session.add(deputy)
    db.session.flush()
    for station in stations:
        db.session.add(StationMembership(station_id=station.id, deputy_id=deputy.id, started_on=started_on,
                                         ended_on=membership_ended_on, is_leader=leader))
    db.session.commit()
    return deputy


def create_staff(*, username=None, password="Secret-pass-1", role=StaffRole.station_manager,
                 stations=(), region: Region | None = None, is_active=True) -> StaffAccount:
    username = username or f"staff{next(_seq)}"
    user = User()
    account = StaffAccount(user=user, username=username, password_hash=hash_password(password),
                           display_name=f"{username}站长", role=role, region_id=region.id if region else None,
                           is_active=is_active)
    account.stations.extend(stations)
    db.session.add(account)
    db.session.commit()
    return account


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def wx_login(client, code: str = "resident") -> dict:
    response = client.post("/api/v1/auth/wx-login", json={"code": code})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def staff_login(client, username: str, password: str = "Secret-pass-1") -> dict:
    response = client.post("/api/v1/manage/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


DEFAULT_CATEGORIES = ("城乡建设", "交通出行", "生态环境", "教育", "医疗卫生", "社会保障", "社会治理", "经济发展", "其他")


def create_categories() -> None:
    from models import Category

    db.session.add_all(Category(name=name, sort_order=i) for i, name in enumerate(DEFAULT_CATEGORIES))
    db.session.commit()


def bind_deputy_user(client, app, deputy_id: int, code: str) -> str:
    """Sign `code` in with WeChat and bind it to the deputy; returns the deputy's token."""
    from backend.services.accounts.signin import create_invite

    with app.app_context():
        invite_code = create_invite(db.session.get(Deputy, deputy_id)).code
        db.session.commit()
    token = wx_login(client, code)["token"]
    response = client.post("/api/v1/auth/bind-deputy", json={"invite_code": invite_code}, headers=auth(token))
    assert response.status_code == 200, response.get_json()
    return response.get_json()["token"]


def count_queries(app, action):
    """`action()`'s result and how many SQL statements the app's engine ran meanwhile."""
    from sqlalchemy import event

    count = [0]

    def counter(*_args):
        count[0] += 1

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", counter)
    try:
        result = action()
    finally:
        event.remove(engine, "before_cursor_execute", counter)
    return result, count[0]


def redis_commands(app, action) -> tuple[object, list[str]]:
    """`action()`'s result and the Redis commands the app sent meanwhile, in order."""
    client = app.extensions["redis"]
    commands: list[str] = []
    original = client.execute_command

    def counting(*args, **kwargs):
        commands.append(args[0])
        return original(*args, **kwargs)

    client.execute_command = counting
    try:
        result = action()
    finally:
        del client.execute_command  # the class's method again
    return result, commands


def create_issue(station: Station, *, category: str = "交通出行", content: str = "小区门口的路灯坏了三个月，晚上很黑。",
                 status=None, created_at=None, accept_due_on=None, reply_due_on=None, first_response_at=None,
                 resolved_at=None, addressed_deputy: Deputy | None = None, assigned_deputy: Deputy | None = None,
                 anonymous: bool = False, transfers=(), ratings=(), submitter: User | None = None):
    """An issue written straight to the database in any state, for list and export tests.

    `transfers` are (department name, due date) in the order they were made; `ratings` are
    RatingScore values, one per resolution round. Needs `create_categories()` first.
    """
    from backend import clock
    from models import Category, Issue, IssueStatus, Rating, Transfer

    n = next(_seq)
    created_at = created_at or clock.now()
    if submitter is None:
        submitter = User(openid=f"factory-resident-{n}")
        db.session.add(submitter)
        db.session.flush()
    issue = Issue(
        # Numbered from 900000 so that they never meet the day counter's numbers of issues
        # submitted over HTTP in the same test.
        no=f"{created_at.astimezone(clock.BEIJING):%Y%m%d}-{900000 + n:06d}", station_id=station.id,
        category_id=db.session.scalar(db.select(Category.id).filter_by(name=category)), content=content,
        submitter_id=submitter.id, is_anonymous=anonymous, status=status or IssueStatus.submitted,
        content_check="pass", created_at=created_at, accept_due_on=accept_due_on, reply_due_on=reply_due_on,
        first_response_at=first_response_at, resolved_at=resolved_at,
        addressed_deputy_id=addressed_deputy.id if addressed_deputy else None,
        assigned_deputy_id=assigned_deputy.id if assigned_deputy else None,
    )
    db.session.add(issue)
    db.session.flush()
    for department, due_on in transfers:
        db.session.add(Transfer(issue_id=issue.id, department_name=department, due_on=due_on,
                                created_by_id=submitter.id, created_at=created_at))
        db.session.flush()  # one at a time: "the latest transfer" is the highest id
    for round_no, score in enumerate(ratings, start=1):
        db.session.add(Rating(issue_id=issue.id, resolution_round=round_no, score=score, created_at=created_at))
    db.session.commit()
    return issue


def create_department(region: Region, name: str, *, is_active: bool = True):
    """A department (承办单位) of `region`."""
    from models import Department

    department = Department(name=name, region_id=region.id, is_active=is_active)
    db.session.add(department)
    db.session.commit()
    return department


# --- duty and attendance (check-ins, rosters, leave, points rules) ------------------------------

def create_points_rules() -> None:
    """The default 履职积分 rules, as the migration seeds them (tests build tables with create_all)."""
    from backend.services.duty.points import seed_default_rules

    seed_default_rules()
    db.session.commit()


def create_duty(station: Station, deputy: Deputy, duty_date: date, *, published: bool = True):
    """A duty assignment of `deputy` at `station` on `duty_date`, in the month's roster (made, and
    published or left as a draft, as asked the first time the month is used)."""
    from models import DutyAssignment, DutyRoster, RosterStatus

    month = duty_date.replace(day=1)
    roster = db.session.scalar(db.select(DutyRoster).filter_by(station_id=station.id, month=month))
    if roster is None:
        roster = DutyRoster(station_id=station.id, month=month,
                            status=RosterStatus.published if published else RosterStatus.draft)
        db.session.add(roster)
        db.session.flush()
    assignment = DutyAssignment(roster_id=roster.id, station_id=station.id, duty_date=duty_date, deputy_id=deputy.id)
    db.session.add(assignment)
    db.session.commit()
    return assignment


def create_leave(deputy: Deputy, starts_on: date, ends_on: date, reason: str = "外出学习"):
    from models import DeputyLeave

    leave = DeputyLeave(deputy_id=deputy.id, starts_on=starts_on, ends_on=ends_on, reason=reason)
    db.session.add(leave)
    db.session.commit()
    return leave


def create_check_in(station: Station, deputy: Deputy, on_date: date, *, is_far: bool = False,
                    on_reception_day: bool = False):
    """A check-in written straight to the database (the API only records today's)."""
    from datetime import datetime

    from backend import clock
    from models import CheckIn

    row = CheckIn(deputy_id=deputy.id, station_id=station.id, on_date=on_date, is_far=is_far,
                  on_reception_day=on_reception_day,
                  checked_in_at=datetime.combine(on_date, time(9, 30), tzinfo=clock.BEIJING))
    db.session.add(row)
    db.session.commit()
    return row
