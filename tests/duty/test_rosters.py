"""Duty rosters (排班) over HTTP: a year of fair rotation, members joining and leaving mid-year,
leave (请假) swapping deputies out, drafts and publishing, editing single days, duty following
moved and cancelled days, the scan answer and a deputy's schedule."""
from __future__ import annotations

from collections import Counter
from datetime import date, datetime

import pytest

from backend import clock
from models import DutyAssignment, DutyRoster, Station, StationMembership, db
from tests.factories import (
    auth,
    bind_deputy_user,
    create_check_in,
    create_deputy,
    create_region_tree,
    create_staff,
    create_station,
    staff_login,
    wx_login,
)

API = "/api/v1"
BJ = clock.BEIJING
MONTHS = [f"2027-{m:02d}" for m in range(1, 13)]


class _Tokens(dict):
    def __init__(self, client, app, deputies):
        super().__init__()
        self._client, self._app, self._deputies = client, app, deputies

    def __missing__(self, who):
        if who in self._deputies:
            token = bind_deputy_user(self._client, self._app, self._deputies[who], f"roster-{who}")
        elif who == "resident":
            token = wx_login(self._client, "resident-roster")["token"]
        else:
            token = staff_login(self._client, who)["token"]
        self[who] = token
        return token


def build(app, client, *, members=5, joins=None, leaves=None):
    """A 逢六 station with `members` deputies grouped since 2021 (甲, 乙, 丙 …), plus any in
    `joins` {name: start date} or `leaves` {name: last date}; a station in the next county."""
    clock.freeze(datetime(2026, 12, 1, 10, 0, tzinfo=BJ))
    names = "甲乙丙丁戊己庚辛壬癸"
    with app.app_context():
        regions = create_region_tree()
        station = create_station(regions["community"], name="古城社区联络站", scene="roster1")
        other = create_station(regions["other_county"], name="德清联络站", scene="roster2")
        deputies = {}
        for name in names[:members]:
            deputies[name] = create_deputy(name=name, stations=[station]).id
        for name, start in (joins or {}).items():
            deputies[name] = create_deputy(name=name, stations=[station], started_on=start).id
        for name, last in (leaves or {}).items():
            deputies[name] = create_deputy(name=name, stations=[station], membership_ended_on=last).id
        deputies["外站"] = create_deputy(name="外站", stations=[other]).id
        create_staff(username="manager", stations=[station])
        create_staff(username="other-manager", stations=[other])
        world = {"station": station.id, "other": other.id, "deputies": deputies}
    world["tokens"] = _Tokens(client, app, deputies)
    return world


@pytest.fixture
def world(app, client):
    return build(app, client)


def call(client, world, who, method, path, body=None):
    headers = auth(world["tokens"][who]) if who else {}
    return client.open(API + path, method=method, json=body, headers=headers)


def ok(response, status=200):
    assert response.status_code == status, response.get_data(as_text=True)[:800]
    return response.get_json()


def error_of(response, status, code):
    assert response.status_code == status, response.get_data(as_text=True)[:800]
    body = response.get_json()
    assert body["error"]["code"] == code
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["error"]["message"])
    return body["error"]


def generate(client, world, month, body=None, who="manager", station=None):
    return call(client, world, who, "POST", f"/manage/stations/{station or world['station']}/rosters/{month}/generate",
                body or {})


def publish(client, world, month, who="manager"):
    return ok(call(client, world, who, "POST", f"/manage/stations/{world['station']}/rosters/{month}/publish"))


def days(client, world, start, end, who="manager"):
    return ok(call(client, world, who, "GET",
                   f"/manage/reception-days?station={world['station']}&from={start}&to={end}"))["items"]


def duty_by_date(client, world, start, end) -> dict[str, list[int]]:
    return {d["date"]: [x["id"] for x in d["deputies"]] for d in days(client, world, start, end) if not d["cancelled"]}


def spread(counts: Counter, ids) -> int:
    values = [counts[i] for i in ids]
    return max(values) - min(values)


# --- fairness ---------------------------------------------------------------------------------------

def test_a_year_of_monthly_rosters_is_fair(client, world):
    ids = [world["deputies"][n] for n in "甲乙丙丁戊"]
    counts: Counter = Counter()
    for month in MONTHS:
        roster = ok(generate(client, world, month))["roster"]
        assert roster["status"] == "draft" and roster["month"] == month and roster["deputies_per_day"] == 2
        assert [d["date"][8:] for d in roster["days"]] == ["06", "16", "26"]
        for day in roster["days"]:
            on_duty = [x["id"] for x in day["deputies"]]
            assert len(on_duty) == 2 and len(set(on_duty)) == 2 and set(on_duty) <= set(ids)
            assert all(x["replaces_deputy_id"] is None for x in day["deputies"])
            counts.update(on_duty)
        # Counted across months: after every month, nobody is more than one duty ahead.
        assert spread(counts, ids) <= 1, (month, counts)
        assert {c["deputy_id"]: c["duties"] for c in roster["counts"]} == dict(
            Counter(x["id"] for d in roster["days"] for x in d["deputies"]))
    assert sum(counts.values()) == 72 and sorted(counts[i] for i in ids) == [14, 14, 14, 15, 15]
    # The year as the day list shows it agrees with the rosters.
    listed = duty_by_date(client, world, "2027-01-01", "2027-12-31")
    assert len(listed) == 36 and Counter(i for v in listed.values() for i in v) == counts
    # A rotation, not fixed pairs: everyone is on duty with more than one partner.
    partners = {i: {j for v in listed.values() if i in v for j in v if j != i} for i in ids}
    assert all(len(p) >= 2 for p in partners.values()), partners


def test_the_number_per_day_is_the_stations_own_and_capped_by_its_members(app, client):
    world = build(app, client, members=2)
    roster = ok(generate(client, world, "2027-01", {"deputies_per_day": 3}))["roster"]
    assert roster["deputies_per_day"] == 3
    assert all(len(d["deputies"]) == 2 for d in roster["days"])  # only two members
    with app.app_context():
        create_deputy(name="新人", stations=[db.session.get(Station, world["station"])])
    roster = ok(generate(client, world, "2027-02"))["roster"]
    assert roster["deputies_per_day"] == 3 and all(len(d["deputies"]) == 3 for d in roster["days"])
    for bad in ({"deputies_per_day": 0}, {"deputies_per_day": 21}, {"deputies_per_day": "2"}):
        error_of(generate(client, world, "2027-03", bad), 400, "invalid_input")


def test_members_serve_only_while_grouped_and_joiners_are_not_flooded(app, client):
    world = build(app, client, members=4, joins={"新": date(2027, 7, 1)}, leaves={"走": date(2027, 4, 30)})
    d = world["deputies"]
    for month in MONTHS:
        ok(generate(client, world, month))
    listed = duty_by_date(client, world, "2027-01-01", "2027-12-31")
    joined = [day for day, ids in listed.items() if d["新"] in ids]
    gone = [day for day, ids in listed.items() if d["走"] in ids]
    assert joined and min(joined) >= "2027-07-01"
    assert gone and max(gone) <= "2027-04-30"
    assert all(len(ids) == 2 for ids in listed.values())
    counts = Counter(i for ids in listed.values() for i in ids)
    assert spread(counts, [d[n] for n in "甲乙丙丁"]) <= 1, counts
    # Expected share from July: 18 days × 2 among 5 = 7.2; a joiner owes nothing from before.
    assert 6 <= counts[d["新"]] <= 8, counts
    assert len([day for day in joined if day < "2027-08-01"]) <= 2
    # January–April: 12 days × 2 among 5.
    assert 4 <= counts[d["走"]] <= 6, counts


# --- leave ------------------------------------------------------------------------------------------

def test_leave_recorded_before_generating_swaps_the_deputy_out(client, world):
    d = world["deputies"]
    leave = ok(call(client, world, "manager", "POST", f"/manage/deputies/{d['丙']}/leaves",
                    {"starts_on": "2027-03-01", "ends_on": "2027-03-31", "reason": "外出学习"}), 201)["leave"]
    assert leave["swapped"] == [] and leave["reason"] == "外出学习"
    for month in MONTHS:
        ok(generate(client, world, month))
    march = [day for day in days(client, world, "2027-03-01", "2027-03-31")]
    assert all(d["丙"] not in [x["id"] for x in day["deputies"]] for day in march)
    stand_ins = [x for day in march for x in day["deputies"] if x["replaces_deputy_id"] == d["丙"]]
    assert stand_ins and all(x["id"] != d["丙"] for x in stand_ins)
    listed = duty_by_date(client, world, "2027-01-01", "2027-12-31")
    counts = Counter(i for ids in listed.values() for i in ids)
    # A swap, not a holiday: 丙 takes the turns back after March, and the year stays even.
    assert spread(counts, [d[n] for n in "甲乙丙丁戊"]) <= 1, counts
    april = [ids for day, ids in listed.items() if day.startswith("2027-04")]
    assert any(d["丙"] in ids for ids in april)


def test_leave_on_a_published_roster_swaps_only_the_days_to_come(client, world, app):
    d = world["deputies"]
    ok(generate(client, world, "2027-01"))
    publish(client, world, "2027-01")
    clock.freeze(datetime(2027, 1, 10, 9, 0, tzinfo=BJ))
    before = duty_by_date(client, world, "2027-01-01", "2027-01-31")
    # Someone on duty on the 6th (over) and on a later day.
    name = next(n for n in "甲乙丙丁戊" if d[n] in before["2027-01-06"]
                and (d[n] in before["2027-01-16"] or d[n] in before["2027-01-26"]))
    away = d[name]
    later = [day for day in ("2027-01-16", "2027-01-26") if away in before[day]]
    leave = ok(call(client, world, "manager", "POST", f"/manage/deputies/{away}/leaves",
                    {"starts_on": "2027-01-01", "ends_on": "2027-01-31"}), 201)["leave"]
    assert [s["date"] for s in leave["swapped"]] == later
    after = duty_by_date(client, world, "2027-01-01", "2027-01-31")
    assert after["2027-01-06"] == before["2027-01-06"]  # a day over stays as it was
    for swap in leave["swapped"]:
        substitute = swap["substitute"]["id"]
        assert away not in after[swap["date"]] and substitute in after[swap["date"]]
        assert substitute not in before[swap["date"]] and len(after[swap["date"]]) == 2
        assert swap["substitute"]["name"] and swap["station"]["id"] == world["station"]
    detail = days(client, world, later[0], later[0])[0]
    assert [x["replaces_deputy_id"] for x in detail["deputies"] if x["id"] == leave["swapped"][0]["substitute"]["id"]] \
        == [away]
    # The roster stays published; the scan answer names the substitute.
    clock.freeze(datetime(2027, 1, int(later[0][8:]) - 1, 18, 0, tzinfo=BJ))
    scanned = client.get(f"{API}/stations/scan/roster1").get_json()["next_reception_day"]
    assert scanned["date"] == later[0] and scanned["roster_published"] is True
    assert away not in scanned["on_duty"] and len(scanned["on_duty"]) == 2

    # Leave can be listed, overlaps refused, and deleted (the swaps stay).
    listed = ok(call(client, world, "manager", "GET", f"/manage/deputies/{away}/leaves"))["items"]
    assert [(x["starts_on"], x["ends_on"]) for x in listed] == [("2027-01-01", "2027-01-31")]
    error_of(call(client, world, "manager", "POST", f"/manage/deputies/{away}/leaves",
                  {"starts_on": "2027-01-31", "ends_on": "2027-02-03"}), 409, "conflict")
    removed = ok(call(client, world, "manager", "DELETE", f"/manage/deputies/{away}/leaves/{listed[0]['id']}"))
    assert removed["leave"]["id"] == listed[0]["id"]
    assert ok(call(client, world, "manager", "GET", f"/manage/deputies/{away}/leaves"))["items"] == []
    assert duty_by_date(client, world, "2027-01-01", "2027-01-31") == after
    error_of(call(client, world, "manager", "DELETE", f"/manage/deputies/{away}/leaves/{listed[0]['id']}"),
             404, "not_found")


def test_when_nobody_is_free_the_day_has_one_fewer(app, client):
    world = build(app, client, members=2)
    d = world["deputies"]
    ok(generate(client, world, "2027-01"))
    publish(client, world, "2027-01")
    leave = ok(call(client, world, "manager", "POST", f"/manage/deputies/{d['甲']}/leaves",
                    {"starts_on": "2027-01-16", "ends_on": "2027-01-16"}), 201)["leave"]
    assert leave["swapped"] == [{"station": {"id": world["station"], "name": "古城社区联络站"},
                                 "date": "2027-01-16", "substitute": None}]
    assert duty_by_date(client, world, "2027-01-16", "2027-01-16") == {"2027-01-16": [d["乙"]]}


@pytest.mark.parametrize("body, field", [
    ({"starts_on": "2027-02-01", "ends_on": "2027-01-31"}, "ends_on"),
    ({"starts_on": "2027-01-01", "ends_on": "2028-01-02"}, "ends_on"),  # 367 days
    ({"starts_on": "2027-01-01"}, "ends_on"),
    ({"starts_on": "2027-13-01", "ends_on": "2027-01-01"}, "starts_on"),
    ({"starts_on": "2027-01-01", "ends_on": "2027-01-02", "reason": "因" * 201}, "reason"),
])
def test_bad_leave_is_400(client, world, body, field):
    response = call(client, world, "manager", "POST", f"/manage/deputies/{world['deputies']['甲']}/leaves", body)
    assert field in error_of(response, 400, "invalid_input")["details"]["fields"]


def test_leave_is_for_staff_of_the_deputys_station(client, world):
    d = world["deputies"]
    body = {"starts_on": "2027-01-01", "ends_on": "2027-01-02"}
    error_of(call(client, world, "other-manager", "POST", f"/manage/deputies/{d['甲']}/leaves", body), 404, "not_found")
    error_of(call(client, world, "other-manager", "GET", f"/manage/deputies/{d['甲']}/leaves"), 404, "not_found")
    error_of(call(client, world, "manager", "GET", "/manage/deputies/99999999999/leaves"), 404, "not_found")
    for who in ("resident", "甲"):
        error_of(call(client, world, who, "POST", f"/manage/deputies/{d['甲']}/leaves", body), 403, "forbidden")
        error_of(call(client, world, who, "GET", f"/manage/deputies/{d['甲']}/leaves"), 403, "forbidden")


# --- drafts and publishing ----------------------------------------------------------------------------

def test_drafts_can_be_regenerated_published_rosters_cannot(client, world, app):
    error_of(call(client, world, "manager", "GET", f"/manage/stations/{world['station']}/rosters/2027-01"),
             404, "not_found")
    error_of(call(client, world, "manager", "POST", f"/manage/stations/{world['station']}/rosters/2027-01/publish"),
             404, "not_found")
    first = ok(generate(client, world, "2027-01"))["roster"]
    again = ok(generate(client, world, "2027-01"))["roster"]
    assert again["id"] == first["id"] and again["days"] == first["days"]  # same standings, same answer
    published = publish(client, world, "2027-01")["roster"]
    assert published["status"] == "published" and published["published_at"].endswith("+08:00")
    assert publish(client, world, "2027-01")["roster"]["published_at"] == published["published_at"]
    error = error_of(generate(client, world, "2027-01"), 409, "conflict")
    assert "已发布" in error["message"]
    fetched = ok(call(client, world, "manager", "GET", f"/manage/stations/{world['station']}/rosters/2027-01"))
    assert [[x["id"] for x in day["deputies"]] for day in fetched["roster"]["days"]] == [
        [x["id"] for x in day["deputies"]] for day in first["days"]]
    assert {day["roster"]["status"] for day in fetched["roster"]["days"]} == {"published"}
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(DutyRoster.id))) == 1
        assert db.session.scalar(db.select(db.func.count(DutyAssignment.id))) == 6
    for month, field in (("2026-11", "month"), ("2027-13", "month"), ("202701", "month"), ("2101-01", "month")):
        assert field in error_of(generate(client, world, month), 400, "invalid_input")["details"]["fields"]
    # The current month may be drafted; its days already over are left alone.
    ok(generate(client, world, "2026-12"))


def test_the_scan_answer_names_who_is_on_duty_once_published(client, world):
    clock.freeze(datetime(2027, 1, 1, 10, 0, tzinfo=BJ))

    def next_day():
        return client.get(f"{API}/stations/scan/roster1").get_json()["next_reception_day"]

    assert next_day() == {"date": "2027-01-06", "on_duty": [], "roster_published": False}
    roster = ok(generate(client, world, "2027-01"))["roster"]
    assert next_day() == {"date": "2027-01-06", "on_duty": [], "roster_published": False}  # a draft
    publish(client, world, "2027-01")
    first = [x["id"] for x in roster["days"][0]["deputies"]]
    assert next_day() == {"date": "2027-01-06", "on_duty": first, "roster_published": True}
    # An edit of a published day shows at once (the cached answer is retired).
    other = [world["deputies"][n] for n in "甲乙丙丁戊" if world["deputies"][n] not in first][:1]
    ok(call(client, world, "manager", "PUT", f"/manage/reception-days/{world['station']}/2027-01-06",
            {"deputy_ids": other}))
    assert next_day()["on_duty"] == other


# --- single days --------------------------------------------------------------------------------------

def test_setting_a_days_deputies(client, world, app):
    d, sid = world["deputies"], world["station"]
    path = f"/manage/reception-days/{sid}/2027-01-16"
    day = ok(call(client, world, "manager", "PUT", path, {"deputy_ids": [d["乙"], d["甲"]]}))["reception_day"]
    assert [x["id"] for x in day["deputies"]] == [d["乙"], d["甲"]]
    assert day["roster"]["status"] == "draft" and day["roster"]["month"] == "2027-01"  # drafted for it
    day = ok(call(client, world, "manager", "PUT", path, {"deputy_ids": [d["甲"], d["丙"]]}))["reception_day"]
    assert sorted(x["id"] for x in day["deputies"]) == sorted([d["甲"], d["丙"]])
    assert ok(call(client, world, "manager", "PUT", path, {"deputy_ids": []}))["reception_day"]["deputies"] == []
    with app.app_context():
        late = create_deputy(name="后来", stations=[db.session.get(Station, sid)], started_on=date(2027, 2, 1))
        late_id = late.id
    ok(call(client, world, "manager", "POST", f"/manage/deputies/{d['丁']}/leaves",
            {"starts_on": "2027-01-16", "ends_on": "2027-01-16"}), 201)
    for ids, words in (([d["外站"]], "不是本站"), ([late_id], "不是本站"), ([d["丁"]], "请假"),
                       ([d["甲"], d["甲"]], "重复"), ([2**31], None)):
        fields = error_of(call(client, world, "manager", "PUT", path, {"deputy_ids": ids}),
                          400, "invalid_input")["details"]["fields"]
        assert any(words is None or words in message for message in fields.values()), fields
    assert ok(call(client, world, "manager", "PUT", f"/manage/reception-days/{sid}/2027-02-06",
                   {"deputy_ids": [late_id]}))["reception_day"]["deputies"][0]["name"] == "后来"
    clock.freeze(datetime(2027, 1, 17, 9, 0, tzinfo=BJ))
    error_of(call(client, world, "manager", "PUT", path, {"deputy_ids": [d["甲"]]}), 409, "conflict")


def test_duty_follows_moved_and_cancelled_days_and_rule_changes(client, world, app):
    sid = world["station"]
    january = ok(generate(client, world, "2027-01"))["roster"]
    on_26th = [x["id"] for x in january["days"][2]["deputies"]]
    ok(call(client, world, "manager", "PUT", f"/manage/reception-days/{sid}/2027-01-26",
            {"move_to": "2027-02-02", "reason": "春节"}))
    moved = days(client, world, "2027-02-02", "2027-02-02")[0]
    assert [x["id"] for x in moved["deputies"]] == on_26th and moved["roster"]["month"] == "2027-01"
    roster = ok(call(client, world, "manager", "GET", f"/manage/stations/{sid}/rosters/2027-01"))["roster"]
    assert [(x["date"], x["rule_date"]) for x in roster["days"]] == [
        ("2027-01-06", "2027-01-06"), ("2027-01-16", "2027-01-16"), ("2027-02-02", "2027-01-26")]
    # February's roster knows January's 26th is not its own, and counts it in the rotation.
    february = ok(generate(client, world, "2027-02"))["roster"]
    assert [x["date"] for x in february["days"]] == ["2027-02-06", "2027-02-16", "2027-02-26"]
    assert all(len(x["deputies"]) == 2 for x in february["days"])

    cancelled = ok(call(client, world, "manager", "PUT", f"/manage/reception-days/{sid}/2027-01-16",
                        {"cancel": True, "reason": "台风"}))["reception_day"]
    assert cancelled["cancelled"] and cancelled["deputies"] == []
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(DutyAssignment.id)).where(
            DutyAssignment.duty_date == date(2027, 1, 16))) == 0
    error_of(call(client, world, "manager", "PUT", f"/manage/reception-days/{sid}/2027-01-16",
                  {"deputy_ids": [world["deputies"]["甲"]]}), 400, "invalid_input")
    restored = ok(call(client, world, "manager", "PUT", f"/manage/reception-days/{sid}/2027-01-16",
                       {"restore": True}))["reception_day"]
    assert not restored["cancelled"] and restored["deputies"] == []
    # Moving the day back brings its duty home.
    back = ok(call(client, world, "manager", "PUT", f"/manage/reception-days/{sid}/2027-02-02",
                   {"restore": True}))["reception_day"]
    assert back["date"] == "2027-01-26" and [x["id"] for x in back["deputies"]] == on_26th

    # A new rule drops duty on days no longer held (here: all of them, none is a Thursday).
    ok(call(client, world, "manager", "PUT", f"/manage/stations/{sid}/reception-rule", {"kind": "weekly", "days": [4]}))
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(DutyAssignment.id))) == 0


def test_the_day_list_shows_who_checked_in(client, world, app):
    sid = world["station"]
    roster = ok(generate(client, world, "2027-01"))["roster"]
    on_duty = [x["id"] for x in roster["days"][0]["deputies"]]
    off_duty = next(i for n, i in world["deputies"].items() if n != "外站" and i not in on_duty)
    with app.app_context():
        station = db.session.get(Station, sid)
        from models import Deputy
        create_check_in(station, db.session.get(Deputy, on_duty[0]), date(2027, 1, 6), on_reception_day=True)
        create_check_in(station, db.session.get(Deputy, off_duty), date(2027, 1, 6), is_far=True,
                        on_reception_day=True)
    day = days(client, world, "2027-01-06", "2027-01-06")[0]
    assert [(c["deputy_id"], c["on_duty"], c["is_far"]) for c in day["check_ins"]] == [
        (on_duty[0], True, False), (off_duty, False, True)]
    assert day["check_ins"][0]["checked_in_at"] == "2027-01-06T09:30:00+08:00"


# --- a deputy's schedule ------------------------------------------------------------------------------

def test_a_deputys_schedule_lists_published_days_to_come(client, world, app):
    d, sid = world["deputies"], world["station"]
    for month in ("2027-01", "2027-02"):
        ok(generate(client, world, month))
    publish(client, world, "2027-01")
    ok(call(client, world, "manager", "PUT", f"/manage/reception-days/{sid}/2027-01-26",
            {"move_to": "2027-01-28", "reason": "调休"}))
    clock.freeze(datetime(2027, 1, 10, 9, 0, tzinfo=BJ))
    listed = duty_by_date(client, world, "2027-01-01", "2027-02-28")
    for name in "甲乙丙丁戊":
        mine = ok(call(client, world, name, "GET", "/deputy/schedule"))["items"]
        expected = [day for day, ids in listed.items() if d[name] in ids and "2027-01-10" <= day <= "2027-01-31"]
        assert [x["date"] for x in mine] == expected, name  # February is a draft: not shown
        for item in mine:
            assert item["station"] == {"id": sid, "name": "古城社区联络站", "address": item["station"]["address"]}
            assert item["station"]["address"]
            assert sorted(f["id"] for f in item["fellow_deputies"]) == sorted(
                i for i in listed[item["date"]] if i != d[name])
            assert item["rule_date"] == ("2027-01-26" if item["date"] == "2027-01-28" else None)
    error_of(call(client, world, "resident", "GET", "/deputy/schedule"), 403, "forbidden")
    error_of(call(client, world, "manager", "GET", "/deputy/schedule"), 403, "forbidden")
    error_of(call(client, world, None, "GET", "/deputy/schedule"), 401, "unauthorized")


def test_a_deputy_who_left_the_station_keeps_no_future_days_in_new_rosters(app, client):
    world = build(app, client, members=3)
    with app.app_context():
        membership = db.session.scalar(db.select(StationMembership).filter_by(deputy_id=world["deputies"]["甲"]))
        membership.ended_on = date(2027, 1, 31)
        db.session.commit()
    ok(generate(client, world, "2027-02"))
    assert all(world["deputies"]["甲"] not in ids
               for ids in duty_by_date(client, world, "2027-02-01", "2027-02-28").values())
