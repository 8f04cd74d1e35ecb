"""代表名册导入: the template, reading uploads (and refusing what is not a roster), checking
every row, all-or-nothing writes, matching deputies already on file, and who may import where."""
from __future__ import annotations

import io
import random
import zipfile
from datetime import UTC, date, datetime

import pytest
from openpyxl import Workbook, load_workbook

from backend.auth import caller_for
from backend.errors import Forbidden, InvalidInput
from backend.services.deputies import deputy_import
from backend.services.deputies.deputy_import import COLUMNS, ImportReport, import_roster, template_workbook
from models import Deputy, DeputyLevel, DeputySeat, StaffRole, StationMembership, User, db
from tests.factories import create_deputy, create_region_tree, create_staff, create_station

TODAY = date(2026, 3, 10)
HEADER = [c.header for c in COLUMNS]


def workbook_bytes(rows, header=HEADER, *, title=deputy_import.ROSTER_SHEET, above=()) -> bytes:
    """An .xlsx with `above` rows (a title), the header, then `rows` (dicts by header, or lists)."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = title
    for row in above:
        sheet.append(row)
    sheet.append(header)
    for row in rows:
        sheet.append([row.get(h.strip()) for h in header] if isinstance(row, dict) else row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def row(**overrides):
    values = {"姓名": "王丽", "性别": "女", "手机号": "13900001111", "职业或工作单位": "古城社区党委书记",
              "代表层级": "县", "所属人大": "安吉县人民代表大会", "届次": "第十八届", "任期开始": "2021-10-01",
              "联络站": "古城社区联络站", "站长代表": "否", "进站日期": "2021-11-01"}
    values.update(overrides)
    return values


def count(model) -> int:
    return db.session.scalar(db.select(db.func.count()).select_from(model))


@pytest.fixture
def county(app):
    """Two stations of 安吉县 (a manager for the first, a county admin for both) and one of 德清县."""
    with app.app_context():
        regions = create_region_tree()
        gucheng = create_station(regions["community"], name="古城社区联络站", scene="gucheng01")
        dipu = create_station(regions["township"], name="递铺街道中心联络站", scene="dipu01")
        deqing = create_station(regions["other_county"], name="德清县武康联络站", scene="wukang01")
        manager = create_staff(stations=[gucheng])
        admin = create_staff(role=StaffRole.region_admin, region=regions["county"])
        yield {"regions": regions, "gucheng": gucheng, "dipu": dipu, "deqing": deqing,
               "manager": caller_for(manager.user), "admin": caller_for(admin.user)}
        db.session.remove()


def refused_by_row(report: ImportReport) -> dict[int, list[str]]:
    return {r.row: r.reasons for r in report.refused}


# --- the template ---------------------------------------------------------------------------------

def test_the_template_has_the_header_the_notes_and_an_example(app):
    workbook = load_workbook(io.BytesIO(template_workbook()))
    assert workbook.sheetnames == ["代表名册", "填写说明", "示例"]
    roster = workbook["代表名册"]
    assert [c.value for c in roster[1]] == HEADER
    assert roster.max_row == 1  # blank: nothing to delete before filling in
    notes = list(workbook["填写说明"].iter_rows(values_only=True))
    assert notes[0] == ("列名", "是否必填", "填写要求", "示例")
    described = {r[0]: r[1] for r in notes[1:len(COLUMNS) + 1]}
    assert described == {c.header: "必填" if c.required else "选填" for c in COLUMNS}
    assert described["姓名"] == "必填" and described["手机号"] == "选填"
    assert any("整个文件都不会导入" in (r[0] or "") for r in notes)
    example = list(workbook["示例"].iter_rows(values_only=True))
    assert list(example[0]) == HEADER and len(example) == 2


def test_the_template_example_imports_once_a_real_station_is_filled_in(county):
    workbook = load_workbook(io.BytesIO(template_workbook()))
    example = [c.value for c in workbook["示例"][2]]
    example[HEADER.index("联络站")] = "古城社区联络站"
    workbook["代表名册"].append(example)
    buffer = io.BytesIO()
    workbook.save(buffer)

    report = import_roster(county["admin"], buffer.getvalue(), today=TODAY)

    assert report == ImportReport(ok=True, rows=1, created_deputies=1, new_memberships=1, new_seats=1)
    deputy = db.session.scalar(db.select(Deputy))
    assert (deputy.name, deputy.gender, deputy.phone) == ("张三", "男", "13800001234")
    seat = deputy.seats[0]
    assert (seat.level, seat.congress, seat.term, seat.started_on) == (
        DeputyLevel.county, "临安县人民代表大会", 18, date(2021, 10, 1))
    membership = db.session.scalar(db.select(StationMembership))
    assert (membership.station_id, membership.started_on, membership.is_leader) == (
        county["gucheng"].id, date(2021, 11, 1), False)


# --- a good file ----------------------------------------------------------------------------------

def test_a_good_file_creates_deputies_seats_and_groupings(county):
    # Columns in another order, spaces and a required-mark in the header, a title row above,
    # an empty row, a station by its code, numbers and dates as Excel stores them.
    header = ["联络站", " 姓名 ", "*代表层级", "所属人大", "届次", "手机号", "站长代表", "进站日期", "序号"]
    data = workbook_bytes([
        ["古城社区联络站", "王丽", "县", "安吉县人民代表大会", 18, 13900001111, "是", datetime(2022, 1, 5), 1],
        ["dipu01", "王丽", "县级", "安吉县人民代表大会", "第18届", "139 0000 1111", None, "2022/3/1", 2],
        [None, None, None, None, None, None, None, None, 3],  # numbered in advance, left empty
        ["递铺街道中心联络站", "李强", "乡镇人大代表", "递铺镇人民代表大会", "二十一", None, None, None, 4],
    ], header, above=[["安吉县代表联络站代表名册"]])

    report = import_roster(county["admin"], data, today=TODAY)

    assert report == ImportReport(ok=True, rows=3, created_deputies=2, new_memberships=3, new_seats=2)
    wang = db.session.scalar(db.select(Deputy).filter_by(name="王丽"))
    li = db.session.scalar(db.select(Deputy).filter_by(name="李强"))
    assert wang.phone == "13900001111" and li.phone is None
    assert [(s.level, s.term, s.started_on) for s in wang.seats] == [(DeputyLevel.county, 18, TODAY)]
    assert [(s.level, s.congress, s.term) for s in li.seats] == [(DeputyLevel.township, "递铺镇人民代表大会", 21)]
    memberships = db.session.execute(db.select(StationMembership.deputy_id, StationMembership.station_id,
                                               StationMembership.started_on, StationMembership.is_leader)
                                     .order_by(StationMembership.id)).all()
    assert memberships == [(wang.id, county["gucheng"].id, date(2022, 1, 5), True),
                           (wang.id, county["dipu"].id, date(2022, 3, 1), False),
                           (li.id, county["dipu"].id, TODAY, False)]
    # Flushed for the request to commit, never committed by the service.
    db.session.rollback()
    assert count(Deputy) == count(DeputySeat) == count(StationMembership) == 0


# --- refused rows ---------------------------------------------------------------------------------

def test_one_bad_row_refuses_the_whole_file_and_names_every_reason(county):
    data = workbook_bytes([
        row(),  # row 2: fine, yet not imported
        row(姓名="赵一", 联络站="不存在的联络站"),
        row(姓名="钱二", 手机号="1380000123"),
        row(姓名="孙三", 代表层级=None),
        row(姓名="李四", 联络站="德清县武康联络站"),  # exists, in another county
        row(姓名="周五", 联络站="wukang01"),  # its code, same answer
        row(),  # row 8: the same person in the same station as row 2
        row(姓名="吴六", 任期开始="2021-13-01", 进站日期="昨天"),
        row(姓名="郑七", 手机号="abc", 代表层级="区县乡", 届次="十八", 性别="未知", 站长代表="不是"),
        row(姓名=None, 所属人大=None),
    ])

    report = import_roster(county["admin"], data, today=TODAY)

    assert not report.ok and report.rows == 10
    assert (report.created_deputies, report.new_memberships, report.new_seats) == (0, 0, 0)
    reasons = refused_by_row(report)
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8, 9, 10, 11]
    assert reasons[3] == ["联络站：未找到「不存在的联络站」，或该联络站不在您的管辖范围内"]
    assert reasons[4] == ["手机号：应为11位手机号码（如13800001234）"]
    assert reasons[5] == ["代表层级：必填"]
    # Out of scope reads exactly like unknown: nobody learns what other counties hold.
    assert reasons[6] == ["联络站：未找到「德清县武康联络站」，或该联络站不在您的管辖范围内"]
    assert reasons[7] == ["联络站：未找到「wukang01」，或该联络站不在您的管辖范围内"]
    assert reasons[8] == ["与第2行重复（同一代表、同一联络站）"]
    assert reasons[9] == ["任期开始：不是有效的日期", "进站日期：日期格式应为 2021-10-01"]
    assert reasons[10] == ["性别：应为“男”或“女”", "手机号：应为11位手机号码（如13800001234）",
                           "代表层级：应为 全国、省、市、县、乡镇 之一", "站长代表：应为“是”或“否”"]
    assert reasons[11] == ["姓名：必填", "所属人大：必填"]
    assert {r.row: r.name for r in report.refused}[3] == "赵一"
    assert count(Deputy) == count(DeputySeat) == count(StationMembership) == 0
    assert not db.session.new


@pytest.mark.parametrize("cells, reason", [
    ({"任期开始": "1900-01-01"}, "任期开始：日期应在1954年至2027年之间，请核对"),
    ({"届次": 0}, "届次：应在1至99之间"),
    ({"届次": "第十八次"}, "届次：应为届次，如“第十八届”或18"),
    ({"姓名": "-王丽"}, "姓名：不能以 = + - @ 开头"),
    ({"姓名": "王"}, "姓名：至少2个字符"),
    ({"所属人大": "#N/A"}, "所属人大：单元格是公式错误值（#N/A），请改为实际内容"),
    ({"职业或工作单位": "长" * 101}, "职业或工作单位：最多100个字符"),
])
def test_cell_checks(county, cells, reason):
    report = import_roster(county["admin"], workbook_bytes([row(**cells)]), today=TODAY)
    assert refused_by_row(report) == {2: [reason]}


@pytest.mark.parametrize("value, term", [("第十八届", 18), ("18", 18), (18, 18), (18.0, 18), ("第18届", 18),
                                         ("十", 10), ("二十一", 21), ("第 九 届", 9)])
def test_terms_are_read_in_chinese_or_digits(value, term):
    assert deputy_import._parse_term(value) == term


@pytest.mark.parametrize("value, level", [("全国", DeputyLevel.national), ("省级", DeputyLevel.provincial),
                                          ("市人大代表", DeputyLevel.municipal), ("县（区）", DeputyLevel.county),
                                          ("区", DeputyLevel.county), ("镇", DeputyLevel.township),
                                          ("乡镇", DeputyLevel.township)])
def test_levels_are_read_in_staff_words(value, level):
    assert deputy_import._parse_level(value) == level


@pytest.mark.parametrize("value", ["13800001234", 13800001234, 13800001234.0, "138-0000-1234", "+86 138 0000 1234",
                                   "１３８００００１２３４"])
def test_mobile_numbers_in_common_forms(value):
    assert deputy_import._parse_phone(value) == "13800001234"


@pytest.mark.parametrize("value", ["12800001234", "1380000123", "138000012345", "0572-5123456"])
def test_what_is_not_a_mobile_number(value):
    with pytest.raises(ValueError):
        deputy_import._parse_phone(value)


# --- files that are not a roster ------------------------------------------------------------------

def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@pytest.mark.parametrize("data", [
    b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF",
    random.Random(7).randbytes(4096),
    b"",
    "姓名,联络站\n王丽,古城社区联络站\n".encode(),
    _zip({"word/document.xml": b"<w:document/>"}),  # a .docx: a zip, but no workbook
])
def test_a_file_that_is_not_an_xlsx_is_refused(county, data):
    with pytest.raises(InvalidInput) as caught:
        import_roster(county["admin"], data, today=TODAY)
    assert caught.value.message.startswith("无法读取该文件")
    assert caught.value.details["fields"]["file"] == caught.value.message


def test_a_damaged_xlsx_is_refused(county):
    good = workbook_bytes([row()])
    with zipfile.ZipFile(io.BytesIO(good)) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members["xl/worksheets/sheet1.xml"] = members["xl/worksheets/sheet1.xml"][:200]  # cut short
    with pytest.raises(InvalidInput, match="无法读取该文件"):
        import_roster(county["admin"], _zip(members), today=TODAY)


def test_an_old_xls_file_is_refused_with_a_way_out(county):
    with pytest.raises(InvalidInput, match="另存为 .xlsx"):
        import_roster(county["admin"], b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512), today=TODAY)


def test_a_file_that_unpacks_too_large_is_refused(county, monkeypatch):
    monkeypatch.setattr(deputy_import, "MAX_UNPACKED_BYTES", 1000)
    with pytest.raises(InvalidInput, match="文件内容过大"):
        import_roster(county["admin"], workbook_bytes([row()]), today=TODAY)


def test_missing_required_columns_are_listed(county):
    header = ["姓名", "代表层级", "所属人大", "手机号"]
    with pytest.raises(InvalidInput) as caught:
        import_roster(county["admin"], workbook_bytes([row()], header), today=TODAY)
    assert caught.value.message == "缺少必填列：届次、联络站（请使用导入模板的表头）"


def test_a_sheet_without_a_header_is_refused(county):
    with pytest.raises(InvalidInput, match="未找到表头.*姓名、代表层级、所属人大、届次、联络站"):
        import_roster(county["admin"], workbook_bytes([["王丽", "县"]], ["名字", "级别"]), today=TODAY)


def test_a_column_given_twice_is_refused(county):
    with pytest.raises(InvalidInput, match="「手机号」列出现了不止一次"):
        import_roster(county["admin"], workbook_bytes([row()], [*HEADER, "手机号码"]), today=TODAY)


def test_a_header_without_rows_is_refused(county):
    with pytest.raises(InvalidInput, match="表格中没有代表数据"):
        import_roster(county["admin"], workbook_bytes([[None] * len(HEADER)]), today=TODAY)


def test_too_many_rows_are_refused(county, monkeypatch):
    monkeypatch.setattr(deputy_import, "MAX_ROWS", 3)
    rows = [row(姓名=f"代表{n}号", 手机号=None) for n in range(4)]
    with pytest.raises(InvalidInput, match="数据超过3行"):
        import_roster(county["admin"], workbook_bytes(rows), today=TODAY)
    assert import_roster(county["admin"], workbook_bytes(rows[:3]), today=TODAY).ok


def test_the_roster_sheet_is_found_by_name(county):
    workbook = Workbook()
    workbook.active.title = "说明"
    workbook.active.append(["这里不是名册"])
    sheet = workbook.create_sheet("代表名册")
    sheet.append(HEADER)
    sheet.append([row()[h] for h in HEADER])
    buffer = io.BytesIO()
    workbook.save(buffer)
    assert import_roster(county["admin"], buffer.getvalue(), today=TODAY).created_deputies == 1


# --- deputies already on file ---------------------------------------------------------------------

def test_an_existing_deputy_with_the_same_name_and_phone_is_reused(county):
    existing = create_deputy(name="王丽", phone="139-0000-1111", stations=[county["gucheng"]],
                             started_on=date(2021, 10, 1))
    data = workbook_bytes([
        row(所属人大="安吉县人民代表大会"),  # same seat, already in this station
        row(联络站="递铺街道中心联络站", 代表层级="乡镇", 所属人大="递铺镇人民代表大会", 届次=21),
    ])

    report = import_roster(county["admin"], data, today=TODAY)

    assert report == ImportReport(ok=True, rows=2, matched_deputies=1, new_memberships=1, new_seats=1,
                                  kept_memberships=1)
    assert count(Deputy) == 1
    assert sorted((s.level, s.term) for s in existing.seats) == [(DeputyLevel.county, 18),
                                                                 (DeputyLevel.township, 21)]
    stations = db.session.scalars(db.select(StationMembership.station_id).filter_by(deputy_id=existing.id))
    assert sorted(stations) == sorted([county["gucheng"].id, county["dipu"].id])
    assert existing.occupation == "教师"  # their own details stay as they were


def test_a_same_name_without_phone_on_either_side_in_the_station_is_the_same_person(county):
    existing = create_deputy(name="王丽", phone=None, stations=[county["gucheng"]])
    report = import_roster(county["admin"], workbook_bytes([row(手机号=None)]), today=TODAY)
    assert (report.ok, report.matched_deputies, report.created_deputies, report.kept_memberships) == (True, 1, 0, 1)
    # In another station the same name without a number is someone else.
    report = import_roster(county["admin"], workbook_bytes([row(手机号=None, 联络站="dipu01")]), today=TODAY)
    assert (report.matched_deputies, report.created_deputies) == (0, 1)
    assert count(Deputy) == 2 and existing.retired_at is None


@pytest.mark.parametrize("existing_phone, row_phone, reason", [
    (None, "13900001111", "本联络站已有同名代表但未登记手机号"),
    ("13900001111", None, "本联络站已有同名代表（已登记手机号），请填写手机号"),
])
def test_a_number_on_one_side_only_is_refused_rather_than_guessed(county, existing_phone, row_phone, reason):
    create_deputy(name="王丽", phone=existing_phone, stations=[county["gucheng"]])
    report = import_roster(county["admin"], workbook_bytes([row(手机号=row_phone)]), today=TODAY)
    assert not report.ok
    assert reason in refused_by_row(report)[2][0]


def test_retired_and_out_of_reach_deputies_are_not_matched(county):
    retired = create_deputy(name="王丽", phone="13900001111", stations=[county["gucheng"]],
                            membership_ended_on=date(2025, 1, 1))
    retired.retired_at = datetime(2025, 1, 1, 2, 0, tzinfo=UTC)
    # Same name and number, grouped only in another county: invisible to this county's staff.
    create_deputy(name="王丽", phone="13900001111", stations=[county["deqing"]])
    db.session.commit()

    report = import_roster(county["admin"], workbook_bytes([row()]), today=TODAY)

    assert (report.ok, report.created_deputies, report.matched_deputies) == (True, 1, 0)
    assert count(Deputy) == 3


def test_a_grouping_overlapping_an_earlier_one_is_refused(county):
    create_deputy(name="王丽", phone="13900001111", stations=[county["gucheng"]], started_on=date(2021, 10, 1),
                  membership_ended_on=date(2024, 6, 30))
    report = import_roster(county["admin"], workbook_bytes([row(进站日期="2024-01-01")]), today=TODAY)
    assert refused_by_row(report) == {
        2: ["王丽代表已编入本联络站（2021-10-01起至2024-06-30），编组日期不能重叠，请核对进站日期"]}
    # Joining again after it ended is a new grouping.
    report = import_roster(county["admin"], workbook_bytes([row(进站日期=None)]), today=TODAY)
    assert (report.ok, report.matched_deputies, report.new_memberships) == (True, 1, 1)


def test_a_number_written_two_ways_is_still_a_duplicate(county):
    create_deputy(name="王丽", phone="13900001111", stations=[county["dipu"]])
    data = workbook_bytes([row(联络站="dipu01"), row(联络站="递铺街道中心联络站", 手机号="139-0000-1111")])
    report = import_roster(county["admin"], data, today=TODAY)
    assert refused_by_row(report) == {3: ["与第2行重复（同一代表、同一联络站）"]}


# --- who may import where -------------------------------------------------------------------------

def test_a_station_manager_cannot_import_into_another_station(county):
    data = workbook_bytes([row(), row(姓名="李强", 手机号=None, 联络站="递铺街道中心联络站")])
    report = import_roster(county["manager"], data, today=TODAY)
    assert refused_by_row(report) == {3: ["联络站：未找到「递铺街道中心联络站」，或该联络站不在您的管辖范围内"]}
    assert count(Deputy) == 0
    # Their own station alone goes in; the county admin may import into both.
    assert import_roster(county["manager"], workbook_bytes([row()]), today=TODAY).ok
    assert import_roster(county["admin"], data, today=TODAY).ok


def test_a_closed_station_takes_no_new_deputies(county):
    county["gucheng"].is_active = False
    db.session.commit()
    report = import_roster(county["admin"], workbook_bytes([row()]), today=TODAY)
    assert refused_by_row(report) == {2: ["联络站：「古城社区联络站」已停用，不能编入代表"]}


def test_two_stations_of_one_name_ask_for_the_code(county):
    create_station(county["regions"]["township"], name="古城社区联络站", scene="gucheng02")
    report = import_roster(county["admin"], workbook_bytes([row(), row(联络站="gucheng02")]), today=TODAY)
    assert refused_by_row(report) == {2: ["联络站：您管理的联络站中有多个名为「古城社区联络站」的，请改填联络站编码"]}
    # The manager of one of them sees only theirs, so the name is enough.
    assert import_roster(county["manager"], workbook_bytes([row()]), today=TODAY).ok


def test_residents_and_deputies_may_not_import(county):
    resident = User(openid="fake-resident")
    db.session.add(resident)
    db.session.commit()
    with pytest.raises(Forbidden):
        import_roster(caller_for(resident), workbook_bytes([row()]), today=TODAY)
