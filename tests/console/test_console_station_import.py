"""联络站导入 in the console: a region admin fills the template and uploads it; every row is
checked by the station form's own rules, all or nothing, and every refused row is reported."""
from __future__ import annotations

import io
import re
from datetime import time

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from backend.services.stations import station_import
from models import AuditEntry, Station, StationKind, db
from tests.console.test_console_http import csrf_of, signed_in, text_of
from tests.console_scene import build_scene

HEADER = [c.header for c in station_import.COLUMNS]


@pytest.fixture
def scene(app):
    return build_scene(app)


def _workbook(*rows, header=HEADER) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "联络站"
    sheet.append(["安吉县联络站清单"])  # a title row above the header, as counties write them
    sheet.append(header)
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _upload(client, data: bytes):
    token = csrf_of(client.get("/console/stations/import"))
    return client.post("/console/stations/import", data={"csrf_token": token, "file": (io.BytesIO(data), "联络站.xlsx")},
                       content_type="multipart/form-data")


def _count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Station.id)))


CENTER = ["孝丰镇人大代表联络站", "330523001000", "中心联络站", "孝丰镇文化路8号", 30.5123, 119.5611, "08:30",
          "17:00", "0572-5123456", None, "镇中心联络站"]
COMMUNITY = ["孝丰镇横溪坞村代表之家", 330523001001, "社区", "横溪坞村村委会一楼", "30.52", "119.57", time(9, 0),
             "16:30", None, "孝丰镇人大代表联络站", None]


def test_only_region_admins_import_stations(client, scene):
    signed_in(client, "dipu-manager")
    assert client.get("/console/stations/import").status_code == 403
    assert client.get("/console/stations/import/template.xlsx").status_code == 403
    assert "导入联络站" not in client.get("/console/stations").get_data(as_text=True)


def test_the_template_is_the_format_the_import_reads(app, client, scene):
    signed_in(client, "anji-admin")
    assert "导入联络站" in client.get("/console/stations").get_data(as_text=True)
    response = client.get("/console/stations/import/template.xlsx")
    assert response.status_code == 200 and "filename*=UTF-8''" in response.headers["Content-Disposition"]
    workbook = load_workbook(io.BytesIO(response.data))
    sheet = workbook["联络站"]
    assert [c.value for c in sheet[1]] == HEADER
    assert "填写说明" in workbook.sheetnames
    # The template filled in with one row imports.
    sheet.append(["递铺街道第二联络站", "330523001000", "其他（园区、企业等）", "递铺街道园区路1号", 30.6, 119.6, "8:30",
                  "17:30"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    page = _upload(client, buffer.getvalue())
    assert 'data-import="ok"' in page.get_data(as_text=True), text_of(page)
    with app.app_context():
        station = db.session.scalar(select(Station).where(Station.name == "递铺街道第二联络站"))
        assert station.kind is StationKind.other and station.opens_at == time(8, 30) and station.is_active


def test_a_list_is_imported_whole_with_parents_named_in_it(app, client, scene):
    signed_in(client, "anji-admin")
    before = _count(app)
    page = _upload(client, _workbook(CENTER, COMMUNITY))
    text = text_of(page)
    assert 'data-import="ok"' in page.get_data(as_text=True), text
    assert "新建联络站 2 个" in text
    assert _count(app) == before + 2
    with app.app_context():
        center = db.session.scalar(select(Station).where(Station.name == CENTER[0]))
        community = db.session.scalar(select(Station).where(Station.name == COMMUNITY[0]))
        assert center.kind is StationKind.center and center.region.code == "330523001000"
        assert community.parent_station_id == center.id and community.region.code == "330523001001"
        assert community.opens_at == time(9, 0) and community.lat == 30.52 and community.phone is None
        assert center.scene != community.scene and len(center.scene) == 10
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "console.import_stations"))
        assert entry.outcome == 200
    # The same file again: both names are taken in their regions now, nothing more is made.
    page = _upload(client, _workbook(CENTER, COMMUNITY))
    assert 'data-import="refused"' in page.get_data(as_text=True)
    assert "已有名为「孝丰镇人大代表联络站」的联络站" in text_of(page)
    assert _count(app) == before + 2


def test_every_refused_row_is_reported_and_nothing_is_written(app, client, scene):
    signed_in(client, "anji-admin")
    before = _count(app)
    rows = [
        CENTER,                                                             # 3: fine alone
        ["德清新站", "330521000000", "社区", "德清某路", 30.5, 119.9, "08:00", "17:00"],  # 4: another county
        ["坐标错", "330523001000", "社区", "某路1号", 95, 119.6, "08:00", "17:00"],         # 5: latitude
        ["时间反", "330523001000", "乡村", "某路2号", 30.6, 119.6, "18:00", "09:00"],       # 6: kind, hours
        CENTER,                                                             # 7: repeats row 3
        ["递铺街道人大代表联络站", "330523001000", "中心", "胜利西路", 30.6, 119.6, "08:00", "17:00"],  # 8: name taken
        ["无上级", "330523001001", "社区", "某路3号", 30.6, 119.6, "08:00", "17:00", None, "不存在的联络站"],  # 9
        ["上级非中心", "330523001001", "社区", "某路4号", 30.6, 119.6, "08:00", "17:00", None, "古城社区代表之家"],  # 10
        ["", None, None, None, None, None, "08:00", None],                 # 11: required cells empty
        ["=HYPERLINK(1)", "330523001000", "社区", "某路5号", 30.6, 119.6, "#REF!", "17:00"],  # 12
    ]
    page = _upload(client, _workbook(*rows))
    html = page.get_data(as_text=True)
    assert 'data-import="refused"' in html
    assert _count(app) == before
    refused = {int(n) for n in re.findall(r'<tr data-row="(\d+)"', html)}
    assert refused == {4, 5, 6, 7, 8, 9, 10, 11, 12}
    text = text_of(page)
    for words in ("行政区划代码：未找到该行政区划，或不在您的管辖范围内", "纬度：纬度应在", "类型：应为以下之一",
                  "结束时间：结束时间应晚于开始时间", "与第3行重复", "已有名为「递铺街道人大代表联络站」的联络站",
                  "上级联络站：未找到「不存在的联络站」", "上级联络站：上级联络站应为中心联络站", "联络站名称：必填",
                  "地址：必填", "开放时间：单元格是公式错误值（#REF!）"):
        assert words in text, words
    with app.app_context():
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "console.import_stations"))
        assert entry.outcome == 422


@pytest.mark.parametrize(("data", "words"), [
    (b"not a workbook", "无法读取该文件"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "不支持 .xls 格式"),
    (_workbook(header=["名称", "地址"]), "缺少必填列：行政区划代码、类型"),
    (_workbook(), "表格中没有联络站数据"),
])
def test_a_file_that_is_no_station_list_is_refused_in_words(app, client, scene, data, words):
    signed_in(client, "anji-admin")
    before = _count(app)
    page = _upload(client, data)
    assert page.status_code == 200 and words in text_of(page)
    assert _count(app) == before
