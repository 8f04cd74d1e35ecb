"""联络站与代表 in the console: the list within reach, creating, editing (within each role's rights),
closing and reopening a station, invite codes, retirement, and the 代表名册 import — all or nothing,
with a report of every refused row."""
from __future__ import annotations

import io
import os
import re

import pytest
from openpyxl import Workbook, load_workbook

from models import Deputy, Station, StationMembership, db
from tests.console.test_console_http import csrf_of, signed_in, text_of
from tests.console_scene import build_scene
from tests.factories import auth

HEADER = ("姓名", "性别", "手机号", "职业或工作单位", "代表层级", "所属人大", "届次", "任期开始", "联络站", "站长代表", "进站日期")


def token_of(client) -> str:
    return csrf_of(client.get("/console/deputies/import"))


@pytest.fixture
def scene(app):
    return build_scene(app)


def workbook(rows) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_the_list_is_the_callers_reach(client, scene):
    signed_in(client, "dipu-manager")
    page = client.get("/console/stations").get_data(as_text=True)
    assert re.findall(r'<tr data-station="(\d+)"', page) == [str(scene.stations["a"])]
    assert "新建联络站" not in page
    assert client.get(f"/console/stations/{scene.stations['b']}").status_code == 404
    assert client.get("/console/stations/new").status_code == 403


def test_an_admin_creates_a_station(app, client, scene):
    token = signed_in(client, "anji-admin")
    form = {"csrf_token": token, "name": "孝丰镇人大代表联络站", "region_code": "330523001000", "kind": "center",
            "address": "孝丰镇人民路 1 号", "lat": "30.55", "lng": "119.51", "opens_at": "08:30", "closes_at": "17:30",
            "phone": "", "intro": ""}
    response = client.post("/console/stations/new", data=form)
    assert response.status_code == 302
    page = text_of(client.get(response.headers["Location"]))
    assert "已新建联络站" in page and "孝丰镇人大代表联络站" in page
    with app.app_context():
        station = db.session.scalar(db.select(Station).filter_by(name="孝丰镇人大代表联络站"))
        assert station.opens_at.strftime("%H:%M") == "08:30" and len(station.scene) == 10
    # The same name again in the region, and bad fields: the form comes back with every reason.
    page = text_of(client.post("/console/stations/new", data=form))
    assert "「递铺街道」已有名为「孝丰镇人大代表联络站」的联络站" in page
    page = text_of(client.post("/console/stations/new", data={**form, "name": "另一个站", "lat": "91", "lng": "x"}))
    assert "纬度" in page and "应为数字" in page
    # Outside the admin's county.
    page = text_of(client.post("/console/stations/new", data={**form, "name": "德清站", "region_code": "330521000000"}))
    assert "不在您的管辖范围内" in page


def test_a_station_manager_edits_only_what_is_theirs_to_edit(app, client, scene):
    token = signed_in(client, "dipu-manager")
    station = scene.stations["a"]
    page = client.get(f"/console/stations/{station}").get_data(as_text=True)
    assert re.search(r'name="name"[^>]*disabled', page) and not re.search(r'name="address"[^>]*disabled', page)
    response = client.post(f"/console/stations/{station}", data={
        "csrf_token": token, "address": "递铺街道昌硕东路 8 号", "phone": "0572-5123456", "opens_at": "08:30",
        "closes_at": "17:00", "intro": "每月逢六接待", "name": "改个名字"})
    assert "已保存" in text_of(client.get(response.headers["Location"]))
    with app.app_context():
        row = db.session.get(Station, station)
        assert (row.address, row.phone, row.name) == ("递铺街道昌硕东路 8 号", "0572-5123456", "递铺街道人大代表联络站")


def test_close_and_reopen(app, client, scene):
    token = signed_in(client, "anji-admin")
    b = scene.stations["b"]
    # 古城 has open issues: closing is refused until they are finished.
    response = client.post(f"/console/stations/{b}/close", data={"csrf_token": token, "reason": "并入中心站"})
    assert "未能停用" in text_of(client.get(response.headers["Location"]))
    assert client.get("/api/v1/stations/scan/con02").status_code == 200
    with app.app_context():
        quiet = Station(scene="quiet00001", name="空站", address="某路", lat=30.6, lng=119.6,
                        region_id=db.session.get(Station, b).region_id)
        db.session.add(quiet)
        db.session.commit()
        quiet_id = quiet.id
    client.post(f"/console/stations/{quiet_id}/close", data={"csrf_token": token, "reason": "并入中心站"})
    assert "已停用" in text_of(client.get(f"/console/stations/{quiet_id}"))
    assert client.get("/api/v1/stations/scan/quiet00001").status_code == 404
    client.post(f"/console/stations/{quiet_id}/reopen", data={"csrf_token": token})
    assert client.get("/api/v1/stations/scan/quiet00001").status_code == 200


def test_invite_and_retire_a_deputy(app, client, scene):
    token = signed_in(client, "anji-admin")
    a = scene.stations["a"]
    response = client.post(f"/console/deputies/{scene.deputies['wang']}/invite?station={a}", data={"csrf_token": token})
    assert response.headers["Location"].endswith(f"/console/stations/{a}")
    page = text_of(client.get(response.headers["Location"]))
    code = re.search(r"王芳的邀请码：(\w+)", page).group(1)
    wechat = client.post("/api/v1/auth/wx-login", json={"code": "wang"}).get_json()["token"]
    bound = client.post("/api/v1/auth/bind-deputy", json={"invite_code": code}, headers=auth(wechat))
    assert bound.status_code == 200 and bound.get_json()["user"]["deputy_id"] == scene.deputies["wang"]

    response = client.post(f"/console/deputies/{scene.deputies['zhang']}/retire?station={a}",
                           data={"csrf_token": token, "reason": "工作调动"})
    page = text_of(client.get(response.headers["Location"]))
    assert "已办理张建国离任" in page and "转交站长" in page
    listed = re.findall(r'<tr data-deputy="(\d+)"', client.get(f"/console/stations/{a}").get_data(as_text=True))
    assert listed == [str(scene.deputies["wang"])]


def test_a_station_manager_cannot_retire(client, scene):
    token = signed_in(client, "dipu-manager")
    assert client.post(f"/console/deputies/{scene.deputies['zhang']}/retire",
                       data={"csrf_token": token, "reason": "x"}).status_code == 403
    assert client.post(f"/console/deputies/{scene.deputies['li']}/invite",
                       data={"csrf_token": token}).status_code == 404  # 古城's deputy


def test_import_a_roster(app, client, scene):
    token = signed_in(client, "dipu-manager")
    data = workbook([
        ("陈晓红", "女", "13905721234", "县人民医院护士长", "县", "安吉县人民代表大会", "第十八届", "2021-10-01",
         "递铺街道人大代表联络站", "否", "2026-11-20"),
        ("周建华", "男", "13905725678", "竹制品企业负责人", "乡镇", "递铺街道人民代表大会", 8, "2021-10-01",
         "con01", "是", None),
    ])
    response = client.post("/console/deputies/import", data={"csrf_token": token, "file": (io.BytesIO(data), "名册.xlsx")},
                           content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and 'data-import="ok"' in page
    assert "新建代表 2 人" in text_of(response)
    with app.app_context():
        chen = db.session.scalar(db.select(Deputy).filter_by(name="陈晓红"))
        assert db.session.scalar(db.select(StationMembership.station_id).filter_by(deputy_id=chen.id)) == \
            scene.stations["a"]


def test_a_bad_row_refuses_the_whole_file(app, client, scene):
    token = signed_in(client, "dipu-manager")
    data = workbook([
        ("陈晓红", "女", "13905721234", "护士长", "县", "安吉县人民代表大会", 18, "2021-10-01", "递铺街道人大代表联络站", "否", None),
        ("钱多多", "男", "1390572", "", "村", "安吉县人民代表大会", 18, "2021-10-01", "古城社区代表之家", "", None),
    ])
    response = client.post("/console/deputies/import", data={"csrf_token": token, "file": (io.BytesIO(data), "名册.xlsx")},
                           content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert 'data-import="refused"' in page
    assert re.findall(r'<tr data-row="(\d+)"', page) == ["3"]
    refused = text_of(response)
    assert "手机号" in refused and "代表层级" in refused and "联络站" in refused
    with app.app_context():
        assert db.session.scalar(db.select(Deputy).filter_by(name="陈晓红")) is None  # all or nothing


def test_not_a_spreadsheet(client, scene):
    token = signed_in(client, "dipu-manager")
    response = client.post("/console/deputies/import",
                           data={"csrf_token": token, "file": (io.BytesIO(b"%PDF-1.7 not excel"), "名册.xlsx")},
                           content_type="multipart/form-data")
    assert response.status_code == 200 and "xlsx" in text_of(response)
    response = client.post("/console/deputies/import", data={"csrf_token": token},
                           content_type="multipart/form-data")
    assert response.status_code == 400


def test_a_roster_file_larger_than_a_json_body_is_accepted(app, client, scene):
    """Real rosters carry notes and pictures beside the list: a file over the app's 1 MB body limit
    is read; one over the import's 5 MB is refused with 413."""
    signed_in(client, "dipu-manager")
    book = Workbook()
    book.active.append(HEADER)
    book.active.append(("陈晓红", "女", "13905721234", "护士长", "县", "安吉县人民代表大会", 18, "2021-10-01",
                        "递铺街道人大代表联络站", "否", None))
    notes = book.create_sheet("备注")
    for _ in range(4000):
        notes.append([os.urandom(48).hex() for _ in range(10)])  # incompressible: the file stays big
    out = io.BytesIO()
    book.save(out)
    data = out.getvalue()
    assert len(data) > app.config["MAX_CONTENT_LENGTH"]
    response = client.post("/console/deputies/import", data={"csrf_token": token_of(client), "file": (io.BytesIO(data), "名册.xlsx")},
                           content_type="multipart/form-data")
    assert response.status_code == 200 and 'data-import="ok"' in response.get_data(as_text=True)
    response = client.post("/console/deputies/import",
                           data={"csrf_token": token_of(client), "file": (io.BytesIO(b"0" * (6 * 1024 * 1024)), "big.xlsx")},
                           content_type="multipart/form-data")
    assert response.status_code == 413


def test_the_template_downloads(client, scene):
    signed_in(client, "dipu-manager")
    response = client.get("/console/deputies/import/template.xlsx")
    assert response.status_code == 200
    headers = [str(c.value) for c in load_workbook(io.BytesIO(response.data)).worksheets[0][1]]
    assert any(h.startswith("姓名") for h in headers) and any(h.startswith("联络站") for h in headers)


def test_the_poster_button_downloads_the_poster(client, scene):
    from urllib.parse import unquote

    from pypdf import PdfReader

    signed_in(client, "dipu-manager")
    page = client.get(f"/console/stations/{scene.stations['a']}").get_data(as_text=True)
    [href] = re.findall(r'<a class="button" href="([^"]+)">下载张贴海报', page)
    response = client.get(href)
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "递铺街道人大代表联络站-张贴海报.pdf" in unquote(disposition)
    assert "递铺街道人大代表联络站" in PdfReader(io.BytesIO(response.data)).pages[0].extract_text()
    # Another station's poster is not the manager's to print.
    assert client.get(f"/console/stations/{scene.stations['c']}/poster.pdf").status_code == 404
