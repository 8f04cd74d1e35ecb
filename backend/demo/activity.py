"""Six months of a demo county's life, so its console has something to show: residents' issues in
every state with their timelines (events, replies, transfers, ratings), published rosters of the
reception days with check-ins, and the roll-ups of those days.

Rows are written as the verbs would have left them (the verbs themselves read the clock and send
notices, which a backfill must not). Deterministic for a seed, like the county itself.
"""
from __future__ import annotations

import random
from collections import defaultdict
from datetime import date, datetime, time, timedelta

from backend import clock
from backend.services.duty import reception
from backend.services.reference import workdays
from backend.services.reporting import rollups
from models import (
    Category,
    CheckIn,
    DutyAssignment,
    DutyRoster,
    Issue,
    IssueEvent,
    IssueNumberCounter,
    IssueStatus,
    Rating,
    RatingScore,
    Reply,
    RosterStatus,
    Station,
    StationMembership,
    Transfer,
    User,
    db,
)

S = IssueStatus
MONTHS = 6
CONTENTS = {
    "城乡建设": ["小区南门外的人行道砖块松动，雨天积水，老人走路容易滑倒。", "老旧小区加装电梯的补贴政策能否再详细解释一下？"],
    "交通出行": ["学校门口早晚高峰拥堵严重，建议增派交警或志愿者疏导。", "建议在菜市场附近增设公交站点，方便老年人出行。"],
    "生态环境": ["村里的垃圾清运不及时，夏天气味很大，请协调环卫部门。", "河道里漂浮物较多，希望加强日常保洁。"],
    "教育": ["希望小学延时服务增加体育和阅读项目。"],
    "医疗卫生": ["希望社区卫生服务中心延长周末的门诊时间。"],
    "社会保障": ["高龄津贴的申领流程能否在村里直接办理？"],
    "社会治理": ["小区电动车在楼道充电的情况较多，存在安全隐患。"],
    "经济发展": ["建议为竹制品小微企业提供更多电商培训。"],
    "其他": ["感谢代表上次帮忙协调，路灯已经修好了。"],
}
REPLIES = ["已联系相关部门实地查看，将在两周内处理。", "已转达街道，近期安排专人跟进，有进展会再告知您。"]
SUMMARIES = ["问题已处理完毕，经回访居民确认。", "已协调解决，后续将持续关注。"]


def seed_activity(today: date | None = None, seed: int = 2026) -> dict:
    """Issues, duty and check-ins of the demo county's last MONTHS months, then their roll-ups.
    Commits (the roll-ups commit each day). Returns what it made."""
    rng = random.Random(seed)
    today = today or clock.beijing_today()
    start = reception.month_of(today - timedelta(days=30 * MONTHS))
    stations = list(db.session.scalars(db.select(Station).where(Station.is_active.is_(True)).order_by(Station.id)))
    members = defaultdict(list)
    for station_id, deputy_id in db.session.execute(
            db.select(StationMembership.station_id, StationMembership.deputy_id)
            .where(StationMembership.current_on(today)).order_by(StationMembership.id)):
        members[station_id].append(deputy_id)
    categories = {c.name: c.id for c in db.session.scalars(db.select(Category))}
    duty = _duty(rng, stations, members, start, today)
    issues = _issues(rng, stations, members, categories, start, today)
    db.session.commit()
    days = [start + timedelta(days=n) for n in range((today - start).days + 1)]
    rollups.roll_up_days(days, today=today)
    return {"issues": issues, "duty_days": duty, "from": start.isoformat()}


def _at(day: date, rng: random.Random, earliest: int = 8, latest: int = 21) -> datetime:
    return datetime.combine(day, time(rng.randint(earliest, latest - 1), rng.randint(0, 59)), clock.BEIJING)


def _duty(rng, stations, members, start: date, today: date) -> int:
    """Published rosters of every held day from `start` to the end of next month, two deputies a
    day in turn; those before today checked in nine times in ten."""
    made = 0
    end = reception.month_of(today + timedelta(days=62)) - timedelta(days=1)
    held = reception.held_days_for(stations, start, end)
    for station in stations:
        deputies = members[station.id]
        if not deputies:
            continue
        rosters: dict[date, DutyRoster] = {}
        for n, day in enumerate(held[station.id]):
            month = reception.month_of(day.rule_date)
            if month not in rosters:
                rosters[month] = DutyRoster(station_id=station.id, month=month, status=RosterStatus.published,
                                            published_at=clock.now(), deputies_per_day=2)
                db.session.add(rosters[month])
                db.session.flush()
            for deputy_id in {deputies[(2 * n) % len(deputies)], deputies[(2 * n + 1) % len(deputies)]}:
                db.session.add(DutyAssignment(roster_id=rosters[month].id, station_id=station.id,
                                              duty_date=day.date, deputy_id=deputy_id))
                made += 1
                if day.date < today and rng.random() < 0.9:
                    db.session.add(CheckIn(deputy_id=deputy_id, station_id=station.id, on_date=day.date,
                                           checked_in_at=_at(day.date, rng, 8, 10), on_reception_day=True))
    db.session.flush()
    return made


def _issues(rng, stations, members, categories, start: date, today: date) -> int:
    numbers: dict[date, int] = defaultdict(int)
    made = 0
    if not any(name in categories for name in CONTENTS):
        return 0  # categories come with the migrations; a bare schema has none
    for station in stations:
        deputies = members[station.id]
        for _ in range(rng.randint(4, 14) if deputies else 0):
            created_day = start + timedelta(days=rng.randint(0, (today - start).days))
            created = _at(created_day, rng)
            if created > clock.now():
                created = clock.now() - timedelta(hours=1)
                created_day = created.astimezone(clock.BEIJING).date()
            numbers[created_day] += 1
            category = rng.choice([name for name in CONTENTS if name in categories])
            resident = User(openid=f"demo-resident-{station.id}-{made}", created_at=created)
            db.session.add(resident)
            db.session.flush()
            issue = Issue(no=f"{created_day:%Y%m%d}-{numbers[created_day]:06d}", station_id=station.id,
                          category_id=categories[category], content=rng.choice(CONTENTS[category]),
                          submitter_id=resident.id, is_anonymous=rng.random() < 0.2, status=S.submitted,
                          content_check="pass", created_at=created,
                          accept_due_on=workdays.add_workdays(created_day, 2).date)
            db.session.add(issue)
            db.session.flush()
            _live(rng, issue, deputies, resident, today)
            made += 1
    for day, last in numbers.items():
        db.session.merge(IssueNumberCounter(day=day, last=last))
    db.session.flush()
    return made


def _live(rng, issue: Issue, deputies: list[int], resident: User, today: date) -> None:
    """Move the new issue along as far as its age makes likely, recording each step."""
    def event(kind, before, after, at, role="deputy", note=None, actor=None):
        db.session.add(IssueEvent(issue_id=issue.id, kind=kind, from_status=before.value if before else None,
                                  to_status=after.value, actor_role=role, actor_id=actor, note=note, created_at=at))

    now = clock.now()
    at = issue.created_at
    event("submitted", None, S.submitted, at, role="resident", actor=resident.id)
    age = (today - at.astimezone(clock.BEIJING).date()).days
    step = lambda hours: min(at + timedelta(hours=hours), now)
    if age < 1 or rng.random() < 0.03:
        return  # waiting to be taken up (red once its two working days pass)
    if rng.random() < 0.05:
        at = step(rng.randint(2, 30))
        issue.status, issue.reject_reason, issue.closed_at = S.rejected, "不属于人大代表联络站受理范围，已告知居民反映渠道", at
        event("rejected", S.submitted, S.rejected, at, note=issue.reject_reason)
        return
    at = step(rng.randint(1, 40))
    deputy = rng.choice(deputies)
    issue.status, issue.accepted_at, issue.assigned_deputy_id = S.accepted, at, deputy
    issue.reply_due_on = workdays.add_workdays(at.astimezone(clock.BEIJING).date(), 7).date
    event("accepted", S.submitted, S.accepted, at)
    if age < 3 or (age < 12 and rng.random() < 0.3):
        return
    at = step(rng.randint(4, 120))
    issue.status, issue.first_response_at = S.replied, at
    db.session.add(Reply(issue_id=issue.id, author_id=resident.id, deputy_id=deputy, content=rng.choice(REPLIES),
                         created_at=at))
    event("replied", S.accepted, S.replied, at)
    if rng.random() < 0.15:
        due = at.astimezone(clock.BEIJING).date() + timedelta(days=rng.randint(10, 30))
        db.session.add(Transfer(issue_id=issue.id, department_name="县住建局", due_on=due, created_by_id=resident.id,
                                created_at=at))
        issue.status = S.transferred
        event("transferred", S.replied, S.transferred, at, note=f"县住建局（期限 {due.isoformat()}）")
        if age < 20:
            return
        issue.status = S.replied
        at = step(rng.randint(72, 400))
        event("department_result", S.transferred, S.replied, at)
    if age < 7 or rng.random() < 0.15:
        return
    at = step(rng.randint(24, 300))
    issue.status, issue.resolved_at, issue.resolution_round = S.resolved, at, 1
    issue.resolution_summary = rng.choice(SUMMARIES)
    event("resolved", S.replied, S.resolved, at, note=issue.resolution_summary)
    if age < 10 or rng.random() < 0.2:
        return
    at = step(rng.randint(2, 100))
    score = rng.choices(list(RatingScore), weights=(80, 15, 5))[0]
    db.session.add(Rating(issue_id=issue.id, resolution_round=1, score=score, created_at=at))
    issue.status, issue.closed_at = S.closed, at
    event("rated", S.resolved, S.closed, at, role="resident", actor=resident.id)
