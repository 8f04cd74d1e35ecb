"""A county the console tests (HTTP and browser) work on: two stations of 安吉县 and one of the
next county, deputies, issues in every state over four months, duty and check-ins, staff — and
its days rolled up, as the nightly job would have.

Today is Friday 20 November 2026, 15:00 in Beijing (the clock is frozen there).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from backend import clock
from backend.services.reporting import rollups
from models import IssueStatus, RatingScore, StaffRole, db
from tests.factories import (
    create_categories,
    create_check_in,
    create_department,
    create_deputy,
    create_duty,
    create_issue,
    create_region_tree,
    create_staff,
    create_station,
)

S = IssueStatus
TODAY = date(2026, 11, 20)
FIRST_DAY = date(2026, 8, 1)
PASSWORD = "Secret-pass-1"


def bj(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=clock.BEIJING)


@dataclass
class Scene:
    stations: dict[str, int]
    deputies: dict[str, int]
    issues: dict[str, str]  # label → tracking number


def build_scene(app) -> Scene:
    clock.freeze(bj(TODAY, 15))
    with app.app_context():
        create_categories()
        regions = create_region_tree()
        create_department(regions["county"], "县住建局")
        a = create_station(regions["township"], name="递铺街道人大代表联络站", scene="con01")
        b = create_station(regions["community"], name="古城社区代表之家", scene="con02")
        c = create_station(regions["other_county"], name="德清县武康联络站", scene="con03")
        zhang = create_deputy(name="张建国", stations=[a])
        wang = create_deputy(name="王芳", stations=[a])
        li = create_deputy(name="李明", stations=[b])
        zhao = create_deputy(name="赵强", stations=[c])
        issues: dict[str, str] = {}

        def issue(label, station, status, created, *, category="交通出行", accepted=False, hours=None, **kw):
            row = create_issue(station, status=status, created_at=bj(created), category=category,
                               first_response_at=bj(created) + timedelta(hours=hours) if hours else None, **kw)
            if accepted:
                row.accepted_at = bj(created) + timedelta(hours=1)
                db.session.commit()
            issues[label] = row.no

        issue("closed-aug", a, S.closed, date(2026, 8, 12), category="城乡建设", accepted=True, hours=5,
              assigned_deputy=zhang, ratings=[RatingScore.satisfied])
        issue("closed-sep", a, S.closed, date(2026, 9, 3), category="生态环境", accepted=True, hours=20,
              assigned_deputy=wang, ratings=[RatingScore.basically_satisfied])
        issue("resolved-sep", b, S.resolved, date(2026, 9, 21), category="教育", accepted=True, hours=8,
              assigned_deputy=li, resolved_at=bj(date(2026, 10, 9)))
        issue("rejected-oct", a, S.rejected, date(2026, 10, 8), category="其他")
        issue("replied-oct", b, S.replied, date(2026, 10, 15), category="医疗卫生", accepted=True, hours=30,
              assigned_deputy=li, reply_due_on=date(2026, 10, 27))
        issue("transferred-oct", a, S.transferred, date(2026, 10, 28), category="城乡建设", accepted=True, hours=6,
              assigned_deputy=zhang, transfers=[("县住建局", date(2026, 11, 13))])
        issue("overdue-accept", a, S.submitted, date(2026, 11, 10), accept_due_on=date(2026, 11, 12))
        issue("submitted-today", a, S.submitted, date(2026, 11, 20), accept_due_on=date(2026, 11, 24),
              addressed_deputy=wang, content="小区南门的红绿灯时间太短，老人过马路来不及。")
        issue("yellow-reply", b, S.accepted, date(2026, 11, 12), category="社会保障", accepted=True,
              assigned_deputy=li, reply_due_on=date(2026, 11, 23))
        issue("pending", a, S.pending_review, date(2026, 11, 18), category="社会治理")
        issue("other-county", c, S.submitted, date(2026, 11, 2), accept_due_on=date(2026, 11, 4))

        for day, who, came in ((date(2026, 9, 6), zhang, True), (date(2026, 9, 16), wang, False),
                               (date(2026, 10, 16), zhang, True), (date(2026, 10, 26), wang, True),
                               (date(2026, 11, 6), zhang, False), (date(2026, 11, 16), wang, True)):
            create_duty(a, who, day)
            if came:
                create_check_in(a, who, day, on_reception_day=True)
        create_duty(b, li, date(2026, 10, 16))
        create_check_in(b, li, date(2026, 10, 16), on_reception_day=True)
        create_duty(c, zhao, date(2026, 10, 16))

        create_staff(username="anji-admin", role=StaffRole.region_admin, region=regions["county"], password=PASSWORD)
        create_staff(username="dipu-manager", stations=[a], password=PASSWORD)
        create_staff(username="deqing-admin", role=StaffRole.region_admin, region=regions["other_county"],
                     password=PASSWORD)
        scene = Scene(stations={"a": a.id, "b": b.id, "c": c.id},
                      deputies={"zhang": zhang.id, "wang": wang.id, "li": li.id, "zhao": zhao.id}, issues=issues)
        roll_up(TODAY)
    return scene


def roll_up(today: date) -> None:
    """Every day from the scene's first to `today`, as the roll-up job computes them."""
    days = [FIRST_DAY + timedelta(days=n) for n in range((today - FIRST_DAY).days + 1)]
    rollups.roll_up_days(days, today=today)
