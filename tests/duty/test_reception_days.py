"""Reception days over HTTP: rules set by staff for stations and regions (inherited region →
station, cleared back), the days a station actually holds over whole years (checked against
expectations computed here by a naive walk over the calendar), days moved and cancelled, Beijing
dates on a server in UTC, and who may do what."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from backend import clock
from models import (
    ReceptionDayChange,
    ReceptionRule,
    ReceptionRuleKind,
    Region,
    StaffRole,
    Station,
    db,
)
from tests.factories import (
    auth,
    bind_deputy_user,
    create_deputy,
    create_region_tree,
    create_staff,
    create_station,
    staff_login,
    wx_login,
)

API = "/api/v1"
BJ = clock.BEIJING


@pytest.fixture
def world(app, client):
    """安吉县 with a community station (three of them, in fact) and a township station, a station
    in 德清县; their managers, a county admin, a 德清 admin, a deputy and a resident.

    The deployment's default rule is made 每周五 here, so any 逢六 a test sees was set through
    the API, not inherited from a default."""
    clock.freeze(datetime(2026, 12, 1, 10, 0, tzinfo=BJ))
    with app.app_context():
        regions = create_region_tree()
        default = db.session.scalar(db.select(ReceptionRule).where(ReceptionRule.is_default.is_(True)))
        default.kind, default.days, default.label = ReceptionRuleKind.weekly, [5], "每周五"
        stations = {
            "a": create_station(regions["community"], name="古城社区联络站", scene="rda"),
            "b": create_station(regions["community"], name="古城二社区联络站", scene="rdb"),
            "c": create_station(regions["community"], name="古城三社区联络站", scene="rdc"),
            "township": create_station(regions["township"], name="递铺街道联络站", scene="rdt"),
            "other": create_station(regions["other_county"], name="德清联络站", scene="rdo"),
        }
        deputy = create_deputy(name="张代表", stations=[stations["a"]])
        create_staff(username="manager", stations=[stations["a"], stations["b"], stations["c"]])
        create_staff(username="other-manager", stations=[stations["other"]])
        create_staff(username="admin", role=StaffRole.region_admin, region=regions["county"])
        create_staff(username="other-admin", role=StaffRole.region_admin, region=regions["other_county"])
        db.session.commit()
        ids = {k: s.id for k, s in stations.items()}
        codes = {k: r.code for k, r in regions.items()}
        deputy_id = deputy.id
    return {"stations": ids, "codes": codes, "tokens": _Tokens(client, app, deputy_id)}


class _Tokens(dict):
    def __init__(self, client, app, deputy_id):
        super().__init__()
        self._client, self._app, self._deputy_id = client, app, deputy_id

    def __missing__(self, who):
        if who == "deputy":
            token = bind_deputy_user(self._client, self._app, self._deputy_id, "deputy-rd")
        elif who == "resident":
            token = wx_login(self._client, "resident-rd")["token"]
        else:
            token = staff_login(self._client, who)["token"]
        self[who] = token
        return token


def call(client, world, who, method, path, body=None):
    headers = auth(world["tokens"][who]) if who else {}
    return client.open(API + path, method=method, json=body, headers=headers)


def ok(response, status=200):
    assert response.status_code == status, response.get_data(as_text=True)[:800]
    return response.get_json()


def error_of(response, status, code):
    assert response.status_code == status, response.get_data(as_text=True)[:800]
    body = response.get_json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["error"]["message"])
    return body["error"]


def set_rule(client, world, station, kind, days, label=None, who="manager"):
    body = {"kind": kind, "days": days} | ({"label": label} if label else {})
    return ok(call(client, world, who, "PUT", f"/manage/stations/{world['stations'][station]}/reception-rule", body))


def days_listed(client, world, station, start, end, who="manager"):
    return ok(call(client, world, who, "GET",
                   f"/manage/reception-days?station={world['stations'][station]}&from={start}&to={end}"))["items"]


def held_dates(client, world, station, start, end, who="manager"):
    return [d["date"] for d in days_listed(client, world, station, start, end, who) if not d["cancelled"]]


def walk(start: date, end: date, keep) -> list[str]:
    """Every date from `start` to `end` for which `keep(day)` holds, one day at a time."""
    found, day = [], start
    while day <= end:
        if keep(day):
            found.append(day.isoformat())
        day += timedelta(days=1)
    return found


# --- whole years ----------------------------------------------------------------------------------

def test_three_rules_set_through_the_api_hold_their_days_all_year(client, world):
    fengliu = set_rule(client, world, "a", "monthly_days", [26, 6, 16])["reception_rule"]
    wednesday = set_rule(client, world, "b", "weekly", [3])["reception_rule"]
    twice = set_rule(client, world, "c", "monthly_days", [10, 25])["reception_rule"]
    assert fengliu["own"] == fengliu["effective"] == {
        "kind": "monthly_days", "days": [6, 16, 26], "label": "逢六（每月6日、16日、26日）"}
    assert fengliu["source"] == "own" and fengliu["source_region"] is None
    assert wednesday["effective"]["label"] == "每周三"
    assert twice["effective"]["label"] == "每月10日、25日"

    year = (date(2027, 1, 1), date(2027, 12, 31))
    expected_fengliu = walk(*year, lambda d: d.day % 10 == 6)
    assert len(expected_fengliu) == 36
    assert held_dates(client, world, "a", "2027-01-01", "2027-12-31") == expected_fengliu
    expected_wednesdays = walk(*year, lambda d: d.strftime("%A") == "Wednesday")
    assert len(expected_wednesdays) == 52 and expected_wednesdays[0] == "2027-01-06"
    assert held_dates(client, world, "b", "2027-01-01", "2027-12-31") == expected_wednesdays
    expected_twice = walk(*year, lambda d: str(d.day) in ("10", "25"))
    assert held_dates(client, world, "c", "2027-01-01", "2027-12-31") == expected_twice
    # Written out, for the months where mistakes hide: February, and a year end.
    assert held_dates(client, world, "b", "2027-02-01", "2027-02-28") == [
        "2027-02-03", "2027-02-10", "2027-02-17", "2027-02-24"]
    assert held_dates(client, world, "a", "2027-12-20", "2028-01-10") == ["2027-12-26", "2028-01-06"]
    items = days_listed(client, world, "a", "2027-06-01", "2027-06-30")
    assert [(d["date"], d["rule_date"], d["moved"], d["cancelled"]) for d in items] == [
        ("2027-06-06", "2027-06-06", False, False), ("2027-06-16", "2027-06-16", False, False),
        ("2027-06-26", "2027-06-26", False, False)]
    assert items[0]["station"] == {"id": world["stations"]["a"], "name": "古城社区联络站"}
    assert items[0]["roster"] is None and items[0]["deputies"] == [] and items[0]["check_ins"] == []


@pytest.mark.parametrize("year, february", [(2027, []), (2028, ["2028-02-29"])])
def test_month_ends_and_february_in_leap_and_common_years(client, world, year, february):
    set_rule(client, world, "a", "monthly_days", [29, 30, 31], label="月末接待")
    held = held_dates(client, world, "a", f"{year}-01-01", f"{year}-12-31")
    assert held == walk(date(year, 1, 1), date(year, 12, 31), lambda d: d.day >= 29)
    assert [d for d in held if d.startswith(f"{year}-02")] == february
    assert [d for d in held if d.startswith(f"{year}-04")] == [f"{year}-04-29", f"{year}-04-30"]
    assert len(held) == (7 * 3 + 4 * 2 + len(february))  # seven 31-day months, four of 30


def test_a_day_moved_across_the_month_end_and_a_cancelled_day(client, world, app):
    set_rule(client, world, "a", "monthly_days", [6, 16, 26])
    sid = world["stations"]["a"]
    moved = ok(call(client, world, "manager", "PUT", f"/manage/reception-days/{sid}/2027-01-26",
                    {"move_to": "2027-02-02", "reason": "春节假期提前"}))["reception_day"]
    assert (moved["date"], moved["rule_date"], moved["moved"], moved["cancelled"]) == (
        "2027-02-02", "2027-01-26", True, False)
    assert moved["reason"] == "春节假期提前"
    cancelled = ok(call(client, world, "manager", "PUT", f"/manage/reception-days/{sid}/2027-03-16",
                        {"cancel": True, "reason": "台风停止接待"}))["reception_day"]
    assert (cancelled["date"], cancelled["cancelled"], cancelled["reason"]) == ("2027-03-16", True, "台风停止接待")

    expected = [d for d in walk(date(2027, 1, 1), date(2027, 12, 31), lambda d: d.day in (6, 16, 26))
                if d not in ("2027-01-26", "2027-03-16")]
    expected = sorted(expected + ["2027-02-02"])
    assert held_dates(client, world, "a", "2027-01-01", "2027-12-31") == expected
    listed = days_listed(client, world, "a", "2027-01-20", "2027-03-31")
    assert [(d["date"], d["rule_date"], d["cancelled"]) for d in listed] == [
        ("2027-02-02", "2027-01-26", False), ("2027-02-06", "2027-02-06", False),
        ("2027-02-16", "2027-02-16", False), ("2027-02-26", "2027-02-26", False),
        ("2027-03-06", "2027-03-06", False), ("2027-03-16", "2027-03-16", True),
        ("2027-03-26", "2027-03-26", False)]
    # A span that ends before the moved day holds nothing of January's 26th.
    assert held_dates(client, world, "a", "2027-01-20", "2027-01-31") == []

    # Changing the day again replaces the first change; the path may name either date.
    again = ok(call(client, world, "manager", "PUT", f"/manage/reception-days/{sid}/2027-02-02",
                    {"move_to": "2027-01-28", "reason": "改到月底"}))["reception_day"]
    assert (again["date"], again["rule_date"]) == ("2027-01-28", "2027-01-26")
    with app.app_context():
        changes = db.session.scalars(db.select(ReceptionDayChange).filter_by(station_id=sid)).all()
        assert sorted((c.rule_date.isoformat(), c.kind.value) for c in changes) == [
            ("2027-01-26", "moved"), ("2027-03-16", "cancelled")]
    restored = ok(call(client, world, "manager", "PUT", f"/manage/reception-days/{sid}/2027-01-26",
                       {"restore": True}))["reception_day"]
    assert (restored["date"], restored["moved"]) == ("2027-01-26", False)
    ok(call(client, world, "manager", "PUT", f"/manage/reception-days/{sid}/2027-03-16", {"restore": True}))
    assert held_dates(client, world, "a", "2027-01-01", "2027-12-31") == walk(
        date(2027, 1, 1), date(2027, 12, 31), lambda d: d.day in (6, 16, 26))


def test_a_moved_day_must_not_land_on_another_held_day(client, world):
    set_rule(client, world, "a", "weekly", [3])
    sid = world["stations"]["a"]
    error = error_of(call(client, world, "manager", "PUT", f"/manage/reception-days/{sid}/2027-01-06",
                          {"move_to": "2027-01-13", "reason": "调整"}), 409, "conflict")
    assert "2027-01-13" in error["message"]
    # Once the 13th itself has moved away, its date is free.
    ok(call(client, world, "manager", "PUT", f"/manage/reception-days/{sid}/2027-01-13",
            {"move_to": "2027-01-14", "reason": "调整"}))
    ok(call(client, world, "manager", "PUT", f"/manage/reception-days/{sid}/2027-01-06",
            {"move_to": "2027-01-13", "reason": "调整"}))
    assert held_dates(client, world, "a", "2027-01-01", "2027-01-20") == ["2027-01-13", "2027-01-14", "2027-01-20"]
    # Restoring the 13th would now meet the 6th held there.
    error_of(call(client, world, "manager", "PUT", f"/manage/reception-days/{sid}/2027-01-14", {"restore": True}),
             409, "conflict")


@pytest.mark.parametrize("body, field", [
    ({"move_to": "2027-02-02"}, "reason"),
    ({"cancel": True}, "reason"),
    ({"cancel": True, "reason": "   "}, "reason"),
    ({"move_to": "2027-03-01", "reason": "太远"}, "move_to"),
    ({"move_to": "2026-11-30", "reason": "已过去"}, "move_to"),
    ({}, "_body"),
    ({"cancel": True, "restore": True, "reason": "两项"}, "_body"),
    ({"cancel": False, "reason": "否"}, "cancel"),
    ({"deputy_ids": ["1"]}, "deputy_ids.0"),
    ({"move_to": "2027-2-2", "reason": "格式"}, "move_to"),
])
def test_bad_day_changes_are_400_with_the_field(client, world, body, field):
    set_rule(client, world, "a", "monthly_days", [6, 16, 26])
    response = call(client, world, "manager", "PUT", f"/manage/reception-days/{world['stations']['a']}/2027-01-26",
                    body)
    fields = error_of(response, 400, "invalid_input")["details"]["fields"]
    assert field in fields, fields


def test_a_date_that_is_no_reception_day_is_not_found(client, world):
    set_rule(client, world, "a", "monthly_days", [6, 16, 26])
    sid = world["stations"]["a"]
    error_of(call(client, world, "manager", "PUT", f"/manage/reception-days/{sid}/2027-01-07",
                  {"cancel": True, "reason": "无"}), 404, "not_found")
    for bad in ("2027-02-30", "20270106", "２０２７-01-06"):
        error_of(call(client, world, "manager", "PUT", f"/manage/reception-days/{sid}/{bad}",
                      {"cancel": True, "reason": "无"}), 400, "invalid_input")


# --- Beijing dates --------------------------------------------------------------------------------

def test_a_server_in_utc_at_1700_is_already_tomorrow_in_beijing(client, world):
    set_rule(client, world, "a", "monthly_days", [6, 16, 26])
    sid = world["stations"]["a"]
    clock.freeze(datetime(2027, 1, 5, 17, 0, tzinfo=UTC))  # 01:00 on the 6th in Beijing
    assert client.get(f"{API}/stations/scan/rda").get_json()["next_reception_day"]["date"] == "2027-01-06"
    listed = ok(call(client, world, "manager", "GET", f"/manage/reception-days?station={sid}"))["items"]
    assert listed[0]["date"] == "2027-01-06"  # "from" defaults to Beijing's today
    # The 6th is today in Beijing: it may still be cancelled.
    ok(call(client, world, "manager", "PUT", f"/manage/reception-days/{sid}/2027-01-06",
            {"cancel": True, "reason": "寒潮"}))
    assert client.get(f"{API}/stations/scan/rda").get_json()["next_reception_day"]["date"] == "2027-01-16"
    ok(call(client, world, "manager", "PUT", f"/manage/reception-days/{sid}/2027-01-06", {"restore": True}))

    clock.freeze(datetime(2027, 1, 6, 16, 0, tzinfo=UTC))  # 00:00 on the 7th in Beijing
    error = error_of(call(client, world, "manager", "PUT", f"/manage/reception-days/{sid}/2027-01-06",
                          {"cancel": True, "reason": "寒潮"}), 409, "conflict")
    assert "已过去" in error["message"]
    assert client.get(f"{API}/stations/scan/rda").get_json()["next_reception_day"]["date"] == "2027-01-16"


def test_the_scan_answer_honours_moved_and_cancelled_days(client, world):
    set_rule(client, world, "a", "monthly_days", [6, 16, 26])
    sid = world["stations"]["a"]
    clock.freeze(datetime(2027, 1, 20, 10, 0, tzinfo=BJ))

    def next_day():
        return client.get(f"{API}/stations/scan/rda").get_json()["next_reception_day"]

    assert next_day() == {"date": "2027-01-26", "on_duty": [], "roster_published": False}
    ok(call(client, world, "manager", "PUT", f"/manage/reception-days/{sid}/2027-01-26",
            {"move_to": "2027-02-02", "reason": "春节"}))
    assert next_day()["date"] == "2027-02-02"
    ok(call(client, world, "manager", "PUT", f"/manage/reception-days/{sid}/2027-02-02",
            {"cancel": True, "reason": "春节"}))
    assert next_day()["date"] == "2027-02-06"
    # A day moved earlier than today's next one comes first.
    ok(call(client, world, "manager", "PUT", f"/manage/reception-days/{sid}/2027-02-06",
            {"move_to": "2027-01-21", "reason": "提前"}))
    assert next_day()["date"] == "2027-01-21"


# --- inheritance ----------------------------------------------------------------------------------

def test_rules_inherit_region_to_station_and_clear_back(client, world, app):
    codes, a = world["codes"], world["stations"]["a"]
    county = ok(call(client, world, "admin", "PUT", f"/manage/regions/{codes['county']}/reception-rule",
                     {"kind": "monthly_days", "days": [6, 16, 26]}))["reception_rule"]
    assert county["source"] == "own" and county["effective"]["label"] == "逢六（每月6日、16日、26日）"

    def station_setting():
        return ok(call(client, world, "manager", "GET", f"/manage/stations/{a}/reception-rule"))["reception_rule"]

    setting = station_setting()
    assert setting["own"] is None and setting["source"] == "region"
    assert setting["source_region"] == {"code": codes["county"], "name": "安吉县"}
    assert held_dates(client, world, "a", "2027-03-01", "2027-03-31") == ["2027-03-06", "2027-03-16", "2027-03-26"]

    township = ok(call(client, world, "admin", "PUT", f"/manage/regions/{codes['township']}/reception-rule",
                       {"kind": "weekly", "days": [3]}))["reception_rule"]
    assert township["effective"]["label"] == "每周三"
    assert station_setting()["source_region"]["name"] == "递铺街道"
    assert held_dates(client, world, "a", "2027-03-01", "2027-03-31") == walk(
        date(2027, 3, 1), date(2027, 3, 31), lambda d: d.isoweekday() == 3)
    # The township's own station follows the township too; 德清 keeps the default.
    assert held_dates(client, world, "township", "2027-03-01", "2027-03-07", who="admin") == ["2027-03-03"]
    assert held_dates(client, world, "other", "2027-03-01", "2027-03-07", who="other-manager") == ["2027-03-05"]

    own = set_rule(client, world, "a", "monthly_days", [10, 25])["reception_rule"]
    assert own["source"] == "own" and own["effective"]["label"] == "每月10日、25日"
    assert held_dates(client, world, "a", "2027-03-01", "2027-03-31") == ["2027-03-10", "2027-03-25"]
    assert client.get(f"{API}/stations/scan/rda").get_json()["station"]["reception_rule"]["label"] == "每月10日、25日"

    cleared = ok(call(client, world, "manager", "DELETE", f"/manage/stations/{a}/reception-rule"))["reception_rule"]
    assert cleared["own"] is None and cleared["source"] == "region" and cleared["effective"]["label"] == "每周三"
    assert held_dates(client, world, "a", "2027-03-01", "2027-03-10") == ["2027-03-03", "2027-03-10"]

    back = ok(call(client, world, "admin", "DELETE", f"/manage/regions/{codes['township']}/reception-rule"))
    assert back["reception_rule"]["source"] == "region"
    assert back["reception_rule"]["source_region"]["code"] == codes["county"]
    assert held_dates(client, world, "a", "2027-03-01", "2027-03-31") == ["2027-03-06", "2027-03-16", "2027-03-26"]

    ok(call(client, world, "admin", "DELETE", f"/manage/regions/{codes['county']}/reception-rule"))
    setting = station_setting()
    assert setting["source"] == "default" and setting["effective"]["label"] == "每周五"
    assert held_dates(client, world, "a", "2027-03-01", "2027-03-07") == ["2027-03-05"]
    with app.app_context():
        assert db.session.get(Station, a).reception_rule_id is None


def test_rule_rows_are_shared_never_edited_in_place(client, world, app):
    codes = world["codes"]
    ok(call(client, world, "admin", "PUT", f"/manage/regions/{codes['county']}/reception-rule",
            {"kind": "monthly_days", "days": [10, 25]}))
    set_rule(client, world, "a", "monthly_days", [10, 25])
    set_rule(client, world, "b", "monthly_days", [25, 10])
    with app.app_context():
        county = db.session.scalar(db.select(Region).filter_by(code=codes["county"]))
        a, b = db.session.get(Station, world["stations"]["a"]), db.session.get(Station, world["stations"]["b"])
        assert a.reception_rule_id == b.reception_rule_id == county.reception_rule_id
        shared = county.reception_rule_id
        rules_before = db.session.scalar(db.select(db.func.count(ReceptionRule.id)))
    set_rule(client, world, "a", "weekly", [2, 4])
    with app.app_context():
        a, b = db.session.get(Station, world["stations"]["a"]), db.session.get(Station, world["stations"]["b"])
        assert a.reception_rule.label == "每周二、周四" and a.reception_rule_id != shared
        assert b.reception_rule_id == shared and b.reception_rule.days == [10, 25]
        assert db.session.get(ReceptionRule, shared).label == "每月10日、25日"
        assert db.session.scalar(db.select(db.func.count(ReceptionRule.id))) == rules_before + 1
        default = db.session.scalar(db.select(ReceptionRule).where(ReceptionRule.is_default.is_(True)))
        assert default.days == [5] and default.label == "每周五"
    # A label staff choose is kept as given (trimmed); the same days under another name is another row.
    named = set_rule(client, world, "c", "monthly_days", [10, 25], label="  半月接待日 ")["reception_rule"]
    assert named["own"]["label"] == "半月接待日"
    with app.app_context():
        assert db.session.get(Station, world["stations"]["c"]).reception_rule_id != shared


@pytest.mark.parametrize("body, field", [
    ({"kind": "monthly_days", "days": [6, 6, 16]}, "days"),
    ({"kind": "monthly_days", "days": [0, 16]}, "days"),
    ({"kind": "monthly_days", "days": [32]}, "days"),
    ({"kind": "weekly", "days": [8]}, "days"),
    ({"kind": "weekly", "days": [0]}, "days"),
    ({"kind": "weekly", "days": []}, "days"),
    ({"kind": "weekly", "days": [1.5]}, "days.0"),
    ({"kind": "weekly", "days": ["3"]}, "days.0"),
    ({"kind": "weekly", "days": [True]}, "days.0"),
    ({"kind": "daily", "days": [1]}, "kind"),
    ({"days": [1]}, "kind"),
    ({"kind": "weekly", "days": [3], "label": "   "}, "label"),
    ({"kind": "weekly", "days": [3], "label": "接" * 65}, "label"),
    ({"kind": "monthly_days", "days": [1, 2, 4, 5, 7, 8, 10, 11, 13, 14, 16, 17, 19, 20, 22, 23, 25, 26, 28, 29, 31]},
     "label"),
])
def test_bad_rules_are_400_and_change_nothing(client, world, app, body, field):
    response = call(client, world, "manager", "PUT", f"/manage/stations/{world['stations']['a']}/reception-rule",
                    body)
    fields = error_of(response, 400, "invalid_input")["details"]["fields"]
    assert field in fields, fields
    with app.app_context():
        assert db.session.get(Station, world["stations"]["a"]).reception_rule_id is None
        assert db.session.scalar(db.select(db.func.count(ReceptionRule.id))) == 1


def test_generated_labels(client, world):
    cases = [
        ("weekly", [1, 2, 3, 4, 5], "每周一至周五"),
        ("weekly", [6, 7], "每周六、周日"),
        ("monthly_days", [5, 15, 25], "逢五（每月5日、15日、25日）"),
        ("monthly_days", [1, 11, 21, 31], "逢一（每月1日、11日、21日、31日）"),
        ("monthly_days", [1, 15], "每月1日、15日"),
        ("monthly_days", [20, 5, 6, 7], "每月5日至7日、20日"),
    ]
    for kind, days, label in cases:
        assert set_rule(client, world, "a", kind, days)["reception_rule"]["own"]["label"] == label


# --- who may ------------------------------------------------------------------------------------

def _staff_routes(world):
    a, other = world["stations"]["a"], world["stations"]["other"]
    rule = {"kind": "weekly", "days": [3]}
    return [
        ("GET", "/manage/stations/{s}/reception-rule", None),
        ("PUT", "/manage/stations/{s}/reception-rule", rule),
        ("DELETE", "/manage/stations/{s}/reception-rule", None),
        ("GET", "/manage/reception-days?station={s}", None),
        ("PUT", "/manage/reception-days/{s}/2027-01-08", {"cancel": True, "reason": "测试"}),
        ("GET", "/manage/stations/{s}/rosters/2027-01", None),
        ("POST", "/manage/stations/{s}/rosters/2027-01/generate", {}),
        ("POST", "/manage/stations/{s}/rosters/2027-01/publish", None),
    ], a, other


def test_a_station_manager_cannot_touch_another_station(client, world, app):
    routes, _own, other = _staff_routes(world)
    for method, path, body in routes:
        response = call(client, world, "manager", method, path.format(s=other), body)
        error_of(response, 404, "station_not_found")
    for who in ("other-manager", "other-admin"):
        response = call(client, world, who, "GET", f"/manage/reception-days?station={world['stations']['a']}")
        error_of(response, 404, "station_not_found")
    # Without a station, the list holds only the caller's own stations.
    listed = ok(call(client, world, "other-manager", "GET", "/manage/reception-days?from=2027-01-01&to=2027-01-31"))
    assert {d["station"]["id"] for d in listed["items"]} == {other}
    with app.app_context():
        assert db.session.get(Station, other).reception_rule_id is None
        assert db.session.scalar(db.select(db.func.count(ReceptionDayChange.id))) == 0


def test_region_rules_are_for_region_admins_within_their_region(client, world, app):
    codes = world["codes"]
    rule = {"kind": "weekly", "days": [3]}
    for method, body in (("GET", None), ("PUT", rule), ("DELETE", None)):
        error_of(call(client, world, "manager", method, f"/manage/regions/{codes['county']}/reception-rule", body),
                 403, "forbidden")
        # Above the admin's county, beside it, or no such code: not found.
        for code in (codes["city"], codes["other_county"], "330523999999", "abc"):
            error_of(call(client, world, "admin", method, f"/manage/regions/{code}/reception-rule", body),
                     404, "not_found")
    ok(call(client, world, "admin", "PUT", f"/manage/regions/{codes['community']}/reception-rule", rule))
    # A county admin reaches every station of the county, a station manager only their own.
    ok(call(client, world, "admin", "PUT", f"/manage/stations/{world['stations']['township']}/reception-rule", rule))
    error_of(call(client, world, "manager", "PUT", f"/manage/stations/{world['stations']['township']}/reception-rule",
                  rule), 404, "station_not_found")
    with app.app_context():
        assert db.session.scalar(db.select(Region).filter_by(code=codes["other_county"])).reception_rule_id is None


@pytest.mark.parametrize("who", ["resident", "deputy"])
def test_residents_and_deputies_are_refused(client, world, who):
    routes, own, _other = _staff_routes(world)
    for method, path, body in routes:
        error_of(call(client, world, who, method, path.format(s=own), body), 403, "forbidden")
    error_of(call(client, world, who, "PUT", f"/manage/regions/{world['codes']['county']}/reception-rule",
                  {"kind": "weekly", "days": [3]}), 403, "forbidden")


def test_signing_in_is_required(client, world):
    routes, own, _other = _staff_routes(world)
    for method, path, body in routes:
        error_of(call(client, world, None, method, path.format(s=own), body), 401, "unauthorized")


def test_listing_bounds(client, world):
    sid = world["stations"]["a"]
    for query, field in (("from=2027-02-01&to=2027-01-01", "to"), ("from=2027-01-01&to=2028-01-02", "to"),
                         ("from=1999-12-31", "from"), ("station=abc", "station"), ("station=99999999999", "station")):
        fields = error_of(call(client, world, "manager", "GET", f"/manage/reception-days?{query}"),
                          400, "invalid_input")["details"]["fields"]
        assert field in fields, (query, fields)
    error_of(call(client, world, "manager", "PUT", "/manage/stations/99999999999/reception-rule",
                  {"kind": "weekly", "days": [3]}), 404, "station_not_found")
    assert len(days_listed(client, world, "a", "2027-01-01", "2027-12-31")) == 53  # the default 每周五
    assert ok(call(client, world, "manager", "GET", f"/manage/reception-days?station={sid}&from=2027-01-01"
                                                    "&to=2027-12-31"))["items"][0]["date"] == "2027-01-01"
