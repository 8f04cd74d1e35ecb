"""Excel exports from the console pages where staff look for them: 数据统计 and 出勤 from the
statistics page (its period and scope), a month's 接待登记 and 出勤 from the 接待日 page, a
deputy's 履职档案 from the station's deputies — each over the function its page reads."""
from __future__ import annotations

import io
import re
from datetime import date, datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from backend.services.duty import attendance
from models import ReceptionRecord, StaffAccount, db
from tests.console.test_console_http import signed_in
from tests.console_scene import build_scene


@pytest.fixture
def scene(app):
    return build_scene(app)


def _book(response):
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "filename*=UTF-8''" in response.headers["Content-Disposition"]
    return load_workbook(io.BytesIO(response.data))


def _table(sheet) -> dict:
    """A sheet's rows below its header, by their first cell."""
    rows = list(sheet.iter_rows(values_only=True))
    start = next(i for i, row in enumerate(rows) if row[1] is not None) + 1
    return {row[0]: row[1:] for row in rows[start:]}


def _figures(page: str) -> dict[str, str]:
    return dict(re.findall(r'data-figure="(\w+)"[^>]*>([^<]*)<', page))


def test_statistics_export_is_the_pages_figures_for_its_filters(app, scene):
    admin = app.test_client()
    signed_in(admin, "anji-admin")
    query = f"from=2026-09-01&to=2026-11-20&station={scene.stations['a']}"
    page = admin.get("/console/?" + query).get_data(as_text=True)
    assert f'href="/console/stats.xlsx?from=2026-09-01&amp;to=2026-11-20&amp;station={scene.stations["a"]}"' in page
    shown = _figures(page)
    book = _book(admin.get("/console/stats.xlsx?" + query))
    assert book.sheetnames == ["主要指标", "比率", "按月", "按分类", "联络站排行", "代表履职排行", "三色督办"]
    counts = _table(book["主要指标"])
    assert counts["收集意见建议（条）"][0] == int(shown["received"])
    assert counts["办结（条）"][0] == int(shown["resolved"])
    assert counts["超期（条）"][0] == int(shown["overdue"])
    assert counts["代表进站签到（次）"][0] == int(shown["check_ins"])
    caption = [row[0] for row in book["主要指标"].iter_rows(max_row=3, values_only=True)]
    assert "递铺街道人大代表联络站" in caption[0] and "2026-09-01 至 2026-11-20" in caption[1]
    assert set(_table(book["联络站排行"])) == {"递铺街道人大代表联络站"}
    # The whole county counts more than the one station.
    county = _table(_book(admin.get("/console/stats.xlsx?from=2026-09-01&to=2026-11-20"))["主要指标"])
    assert county["收集意见建议（条）"][0] > counts["收集意见建议（条）"][0]
    assert admin.get("/console/stats.xlsx?from=2026-11-20&to=2026-09-01").status_code == 400


def test_attendance_export_counts_as_the_attendance_report(app, scene):
    admin = app.test_client()
    signed_in(admin, "anji-admin")
    book = _book(admin.get("/console/attendance.xlsx?from=2026-09-01&to=2026-11-20"))
    stations, deputies = _table(book["按联络站"]), _table(book["按代表"])
    # Station a: six duty days, four attended, two missed (tests/console_scene.py).
    assert stations["递铺街道人大代表联络站"][:4] == (6, 4, 0, 2)
    assert stations["古城社区代表之家"][:2] == (1, 1)
    assert "德清县武康联络站" not in stations  # another county's
    assert deputies["张建国"][:2] == (3, 2) and deputies["王芳"][:2] == (3, 2)
    with app.app_context():
        account = db.session.scalar(select(StaffAccount).where(StaffAccount.username == "anji-admin"))
        from backend.auth import caller_for
        report = attendance.attendance_report(caller_for(account.user), date(2026, 9, 1), date(2026, 11, 20))
        assert stations["合计"][:4] == (report.totals.assigned, report.totals.attended, report.totals.on_leave,
                                      report.totals.missed)
    manager = app.test_client()
    signed_in(manager, "dipu-manager")
    assert manager.get(f"/console/attendance.xlsx?station={scene.stations['c']}").status_code == 404


def test_a_months_reception_records_and_attendance_from_the_reception_page(app, scene):
    with app.app_context():
        recorder = db.session.scalar(select(StaffAccount).where(StaffAccount.username == "dipu-manager")).user_id
        for station, day, topics in ((scene.stations["a"], date(2026, 10, 16), "=SUM(A1) 小区停车难"),
                                     (scene.stations["a"], date(2026, 10, 26), "老旧小区加装电梯"),
                                     (scene.stations["a"], date(2026, 11, 6), "十一月的接待"),
                                     (scene.stations["b"], date(2026, 10, 16), "古城社区的接待")):
            db.session.add(ReceptionRecord(station_id=station, on_date=day, deputy_id=scene.deputies["zhang"]
                                           if station == scene.stations["a"] else scene.deputies["li"],
                                           recorded_by_id=recorder, residents=3, topics=topics,
                                           created_at=datetime(2026, 10, 27, 2, 0).astimezone()))
        db.session.commit()
    manager = app.test_client()
    signed_in(manager, "dipu-manager")
    page = manager.get(f"/console/reception?station={scene.stations['a']}&month=2026-10").get_data(as_text=True)
    url = f"/console/reception/{scene.stations['a']}/2026-10/records.xlsx"
    assert url in page
    sheet = _book(manager.get(url))["接待登记"]
    rows = list(sheet.iter_rows(values_only=True))[3:]
    assert [(r[0].date(), r[2], r[4]) for r in rows] == [(date(2026, 10, 26), "张建国", "老旧小区加装电梯"),
                                                         (date(2026, 10, 16), "张建国", "=SUM(A1) 小区停车难")]
    cell = list(sheet.iter_rows(min_row=5, max_row=5))[0][4]
    assert cell.data_type == "s"  # a topic starting with "=" stays text
    book = _book(manager.get(f"/console/reception/{scene.stations['a']}/2026-10/attendance.xlsx"))
    assert _table(book["按联络站"])["递铺街道人大代表联络站"][:2] == (2, 2)
    # Not the manager's station; not a month.
    assert manager.get(f"/console/reception/{scene.stations['b']}/2026-10/records.xlsx").status_code == 404
    assert manager.get(f"/console/reception/{scene.stations['a']}/2026-13/records.xlsx").status_code == 400


def test_a_deputys_duty_record_from_the_station_page(app, scene):
    admin = app.test_client()
    signed_in(admin, "anji-admin")
    page = admin.get(f"/console/stations/{scene.stations['a']}").get_data(as_text=True)
    url = f"/console/deputies/{scene.deputies['zhang']}/duty-record.xlsx"
    assert url in page
    book = _book(admin.get(url + "?year=2026"))
    summary = _table(book["履职概况"])
    assert summary["排班（天）"] == (3,) and summary["到岗"] == (2,) and summary["缺勤"] == (1,)
    assert "履职积分" in summary and "积分明细" in book.sheetnames
    assert admin.get(f"/console/deputies/{scene.deputies['zhao']}/duty-record.xlsx").status_code == 404
    assert admin.get(url + "?year=1999").status_code == 400
