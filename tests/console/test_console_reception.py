"""接待日 in the console: the month calendar with who was on duty and who came, a month's roster
drafted and published, one day's deputies set, a day moved, cancelled and restored — through
the services behind /api/v1/manage/reception-days, so the API sees every change."""
from __future__ import annotations

import re

import pytest

from tests.console.test_console_http import signed_in, text_of
from tests.console_scene import PASSWORD, build_scene
from tests.factories import auth, staff_login


@pytest.fixture
def scene(app):
    return build_scene(app)


def days_of(client, token, station_id, start, end):
    response = client.get(f"/api/v1/manage/reception-days?station={station_id}&from={start}&to={end}",
                          headers=auth(token))
    assert response.status_code == 200, response.get_json()
    return {d["date"]: d for d in response.get_json()["items"]}


def test_the_month_shows_duty_and_attendance(client, scene):
    signed_in(client, "dipu-manager")
    page = client.get("/console/reception?month=2026-11").get_data(as_text=True)
    cells = dict(re.findall(r'<td class="[^"]*" data-date="(\d{4}-\d{2}-\d{2})">(.*?)</td>', page, re.DOTALL))
    assert "接待日" in cells["2026-11-06"] and "接待日" in cells["2026-11-26"]
    assert "接待日" not in cells["2026-11-07"]
    assert re.search(r'class="absent"[^>]*>张建国<span class="mark">缺勤', cells["2026-11-06"])
    assert re.search(r'class="attended"[^>]*>王芳<span class="mark">已签到', cells["2026-11-16"])
    assert 'data-roster-status="published"' in page


def test_another_station_is_out_of_reach(client, scene):
    signed_in(client, "dipu-manager")
    assert client.get(f"/console/reception?station={scene.stations['b']}").status_code == 404
    assert client.get(f"/console/reception/{scene.stations['b']}/2026-11-26").status_code == 404


def test_draft_and_publish_next_month(client, scene):
    token = signed_in(client, "dipu-manager")
    station = scene.stations["a"]
    response = client.post(f"/console/reception/{station}/2026-12/generate",
                           data={"csrf_token": token, "deputies_per_day": "1"})
    assert response.headers["Location"].endswith(f"station={station}&month=2026-12")
    page = client.get(response.headers["Location"])
    assert "已生成 2026-12 排班草稿" in text_of(page) and 'data-roster-status="draft"' in page.get_data(as_text=True)
    api = staff_login(client, "dipu-manager", PASSWORD)["token"]
    december = days_of(client, api, station, "2026-12-01", "2026-12-31")
    assert sorted(december) == ["2026-12-06", "2026-12-16", "2026-12-26"]
    assert all(len(d["deputies"]) == 1 and d["roster"]["status"] == "draft" for d in december.values())

    client.post(f"/console/reception/{station}/2026-12/publish", data={"csrf_token": token})
    assert {d["roster"]["status"] for d in days_of(client, api, station, "2026-12-01", "2026-12-31").values()} == {
        "published"}
    # Published: regenerating would silently change what deputies were told.
    response = client.post(f"/console/reception/{station}/2026-12/generate", data={"csrf_token": token})
    assert "已发布，不能重新生成" in text_of(client.get(response.headers["Location"]))


def test_set_move_cancel_and_restore_a_day(client, scene):
    token = signed_in(client, "dipu-manager")
    station = scene.stations["a"]
    api = staff_login(client, "dipu-manager", PASSWORD)["token"]
    day = f"/console/reception/{station}/2026-11-26"
    page = client.get(day).get_data(as_text=True)
    assert re.findall(r'data-verb="(\w+)"', page) == ["deputies", "move", "cancel"]

    client.post(day, data={"csrf_token": token, "action": "deputies",
                           "deputy_id": [str(scene.deputies["zhang"]), str(scene.deputies["wang"])]})
    got = days_of(client, api, station, "2026-11-26", "2026-11-26")["2026-11-26"]
    assert [d["name"] for d in got["deputies"]] == ["张建国", "王芳"]

    response = client.post(day, data={"csrf_token": token, "action": "deputies",
                                      "deputy_id": [str(scene.deputies["li"])]})  # 古城's deputy
    assert "当日不是本站的代表" in text_of(client.get(response.headers["Location"]))

    response = client.post(day, data={"csrf_token": token, "action": "move", "move_to": "2026-11-27",
                                      "reason": "与县人代会会期冲突"})
    assert response.headers["Location"].endswith("/2026-11-27")
    moved = days_of(client, api, station, "2026-11-20", "2026-11-30")
    assert "2026-11-26" not in moved and moved["2026-11-27"]["moved"] is True
    assert [d["name"] for d in moved["2026-11-27"]["deputies"]] == ["张建国", "王芳"]  # duty moved with it

    response = client.post(f"/console/reception/{station}/2026-11-27",
                           data={"csrf_token": token, "action": "move", "move_to": "2026-11-30"})
    assert "原因" in text_of(client.get(response.headers["Location"]))  # a move needs its reason

    client.post(f"/console/reception/{station}/2026-11-27", data={"csrf_token": token, "action": "restore"})
    assert days_of(client, api, station, "2026-11-26", "2026-11-27")["2026-11-26"]["moved"] is False

    client.post(day, data={"csrf_token": token, "action": "cancel", "reason": "场地维修"})
    cancelled = days_of(client, api, station, "2026-11-26", "2026-11-26")["2026-11-26"]
    assert cancelled["cancelled"] is True and cancelled["deputies"] == []
    assert "已取消" in text_of(client.get(day))


def test_a_past_day_cannot_change(client, scene):
    token = signed_in(client, "dipu-manager")
    day = f"/console/reception/{scene.stations['a']}/2026-11-16"
    assert "已过去，不能调整" in text_of(client.get(day))
    response = client.post(day, data={"csrf_token": token, "action": "cancel", "reason": "补录"})
    assert "已过去" in text_of(client.get(response.headers["Location"]))


def test_bad_input_is_a_400_page(client, scene):
    token = signed_in(client, "dipu-manager")
    assert client.get("/console/reception?month=2026-13").status_code == 400
    assert client.get(f"/console/reception/{scene.stations['a']}/not-a-date").status_code == 400
    assert client.post(f"/console/reception/{scene.stations['a']}/2026-11-26",
                       data={"csrf_token": token, "action": "explode"}).status_code == 400
    assert client.get(f"/console/reception/{scene.stations['a']}/2026-11-25").status_code == 404
