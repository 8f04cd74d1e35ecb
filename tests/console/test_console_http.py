"""The staff console over HTTP: signing in (CSRF, lockout, revocation, no open redirect), the web
defences on every answer, scope, the dashboard's figures against /api/v1/manage/stats, the
queue's filters, moves of the state machine, and the Excel ledger."""
from __future__ import annotations

import io
import json
import re

from datetime import timedelta

import pytest
from openpyxl import load_workbook

from backend import clock
from models import Issue, StaffAccount, db
from tests.console_scene import PASSWORD, build_scene, roll_up
from tests.factories import auth, staff_login

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(response) -> str:
    return CSRF.search(response.get_data(as_text=True)).group(1)


def sign_in(client, username: str, password: str = PASSWORD, **extra):
    token = csrf_of(client.get("/console/login"))
    return client.post("/console/login", data={"username": username, "password": password, "csrf_token": token,
                                               **extra})


def signed_in(client, username: str) -> str:
    """Sign in and return the session's CSRF token for later forms."""
    response = sign_in(client, username)
    assert response.status_code == 302, response.get_data(as_text=True)
    return csrf_of(client.get("/console/issues"))


def text_of(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


@pytest.fixture
def scene(app):
    return build_scene(app)


def test_pages_need_a_signed_in_staff_member(client, scene):
    response = client.get("/console/issues?status=submitted")
    assert response.status_code == 302
    assert response.headers["Location"] == "/console/login?next=/console/issues?status%3Dsubmitted"
    response = sign_in(client, "anji-admin", next="/console/issues?status=submitted")
    assert response.headers["Location"] == "/console/issues?status=submitted"


@pytest.mark.parametrize("target", ["https://evil.example/console", "//evil.example/console", "/api/v1/issues/mine",
                                    "javascript:alert(1)"])
def test_signing_in_never_redirects_off_the_console(client, scene, target):
    response = sign_in(client, "anji-admin", next=target)
    assert response.headers["Location"] == "/console/"


def test_forms_without_the_session_token_are_refused(client, scene):
    client.get("/console/login")
    response = client.post("/console/login", data={"username": "anji-admin", "password": PASSWORD})
    assert response.status_code == 400 and "页面已过期" in text_of(response)
    token = signed_in(client, "anji-admin")
    no = scene.issues["submitted-today"]
    assert client.post(f"/console/issues/{no}/accept", data={"csrf_token": token + "x"}).status_code == 400
    assert client.post(f"/console/issues/{no}/accept", data={}).status_code == 400
    with client.application.app_context():
        assert db.session.scalar(db.select(Issue.status).filter_by(no=no)).value == "submitted"


def test_signing_in_rotates_the_csrf_token(client, scene):
    before = csrf_of(client.get("/console/login"))
    assert signed_in(client, "anji-admin") != before


def test_wrong_passwords_lock_the_account(client, scene):
    for _ in range(4):
        response = sign_in(client, "dipu-manager", "wrong-password")
        assert response.status_code == 401 and "用户名或密码" in text_of(response)
    response = sign_in(client, "dipu-manager", "wrong-password")
    assert response.status_code == 423 and "锁定" in text_of(response)
    # Locked: even the right password is not checked.
    assert sign_in(client, "dipu-manager").status_code == 423


def test_every_answer_carries_the_web_defences(client, scene):
    signed_in(client, "anji-admin")
    for path in ("/console/login", "/console/", "/console/issues", "/console/nowhere"):
        response = client.get(path)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"
    body = client.get("/console/").get_data(as_text=True)
    # No inline script (only JSON data blocks) and no inline style anywhere.
    assert not re.search(r"<script(?![^>]*\b(src|type=\"application/json\")=?)", body)
    assert " style=" not in body


def test_the_session_cookie(app, scene):
    client = app.test_client()
    response = sign_in(client, "anji-admin")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/console" in cookie
    secure_app_client = app.test_client()
    app.config["SESSION_COOKIE_SECURE"] = True
    try:
        assert "Secure" in sign_in(secure_app_client, "anji-admin").headers["Set-Cookie"]
    finally:
        app.config["SESSION_COOKIE_SECURE"] = False


def test_a_disabled_account_is_signed_out_at_once(app, client, scene):
    signed_in(client, "dipu-manager")
    assert client.get("/console/issues").status_code == 200
    with app.app_context():
        account = db.session.scalar(db.select(StaffAccount).filter_by(username="dipu-manager"))
        account.user.token_version += 1  # what a password reset or disabling does
        db.session.commit()
    response = client.get("/console/issues")
    assert response.status_code == 302 and response.headers["Location"].startswith("/console/login")


def test_a_session_ends_after_the_idle_time(app, client, scene):
    signed_in(client, "anji-admin")
    with client.session_transaction("/console/") as session:
        session["seen"] -= app.config["CONSOLE_IDLE_MINUTES"] * 60 + 1
    assert client.get("/console/").status_code == 302


def test_a_form_sent_after_the_idle_time_comes_back_with_what_was_typed(app, client, scene):
    token = signed_in(client, "anji-admin")
    no = scene.issues["replied-oct"]
    with client.session_transaction("/console/") as session:
        session["seen"] -= app.config["CONSOLE_IDLE_MINUTES"] * 60 + 1
    reply = "已联系卫生院，周三起延长门诊时间到晚上八点。"
    response = client.post(f"/console/issues/{no}/reply", data={"csrf_token": token, "content": reply,
                                                                "public": "on"})
    # The sign-in page, told why, carrying the text; back to the issue, not to the POST-only URL.
    assert response.status_code == 401 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "登录已超时" in page and reply in page and "csrf_token" not in page.split('id="kept-draft"')[1][:200]
    assert f'name="next" value="/console/issues/{no}"' in page
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Issue).filter_by(no=no, status="replied")) == 1
    response = client.post("/console/login", data={"username": "anji-admin", "password": PASSWORD,
                                                   "csrf_token": csrf_of(response), "next": f"/console/issues/{no}"})
    assert response.headers["Location"] == f"/console/issues/{no}"


def test_a_password_sent_after_the_idle_time_is_not_kept(app, client, scene):
    token = signed_in(client, "anji-admin")
    with client.session_transaction("/console/") as session:
        session["seen"] -= app.config["CONSOLE_IDLE_MINUTES"] * 60 + 1
    response = client.post("/console/staff", data={"csrf_token": token, "username": "new-clerk",
                                                  "password": "Very-secret-9"})
    page = response.get_data(as_text=True)
    assert response.status_code == 401 and "new-clerk" in page and "Very-secret-9" not in page


def test_a_form_of_another_site_after_the_idle_time_carries_nothing(app, client, scene):
    signed_in(client, "anji-admin")
    no = scene.issues["replied-oct"]
    with client.session_transaction("/console/") as session:
        session["seen"] -= app.config["CONSOLE_IDLE_MINUTES"] * 60 + 1
    response = client.post(f"/console/issues/{no}/reply", data={"csrf_token": "forged", "content": "植入的内容"})
    assert response.status_code == 401 and "植入的内容" not in response.get_data(as_text=True)


@pytest.mark.parametrize("method, path", [("GET", "/console/issues/{no}/reply"), ("GET", "/console/logout"),
                                          ("PUT", "/console/issues"), ("DELETE", "/console/issues/{no}")])
def test_a_method_a_console_address_does_not_take_is_a_page(client, scene, method, path):
    signed_in(client, "anji-admin")
    response = client.open(path.format(no=scene.issues["replied-oct"]), method=method)
    assert response.status_code == 405 and response.mimetype == "text/html"
    assert "不支持的操作" in text_of(response) and "退出" in text_of(response)  # the navigation bar stays


def test_the_expired_token_page_keeps_the_navigation_bar(client, scene):
    signed_in(client, "anji-admin")
    response = client.post(f"/console/issues/{scene.issues['pending']}/release", data={"csrf_token": "stale"})
    assert response.status_code == 400 and "页面已过期" in text_of(response) and "意见建议" in text_of(response)


def test_signing_out_of_an_ended_session(app, client, scene):
    token = signed_in(client, "anji-admin")
    with client.session_transaction("/console/") as session:
        session["seen"] -= app.config["CONSOLE_IDLE_MINUTES"] * 60 + 1
    response = client.post("/console/logout", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/console/login"
    client.get("/console/login")
    response = client.post("/console/logout", data={})  # from a tab left open: no token any more
    assert response.status_code == 302 and response.headers["Location"] == "/console/login"


def test_signing_out(client, scene):
    token = signed_in(client, "anji-admin")
    assert client.post("/console/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/console/").status_code == 302


def _copy_of_session(app, client):
    """A second browser holding a copy of `client`'s console cookie (as a shared computer's
    history, a proxy's log or a stolen cookie would)."""
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"], path="/console")
    copy = app.test_client()
    copy.set_cookie(cookie.key, cookie.value, path="/console")
    return copy


def test_signing_out_ends_every_copy_of_the_session(app, client, scene):
    token = signed_in(client, "anji-admin")
    copy = _copy_of_session(app, client)
    assert copy.get("/console/issues").status_code == 200
    assert client.post("/console/logout", data={"csrf_token": token}).status_code == 302
    response = copy.get("/console/issues")
    assert response.status_code == 302 and response.headers["Location"].startswith("/console/login")
    # Signing in again is a new session; the old cookie stays dead.
    signed_in(client, "anji-admin")
    assert client.get("/console/issues").status_code == 200
    assert copy.get("/console/issues").status_code == 302


def test_signing_out_ends_only_that_session(app, scene):
    office, home = app.test_client(), app.test_client()
    token = signed_in(office, "anji-admin")
    signed_in(home, "anji-admin")
    office.post("/console/logout", data={"csrf_token": token})
    assert home.get("/console/issues").status_code == 200


def test_the_lockout_ends_no_session(app, client, scene):
    signed_in(client, "dipu-manager")
    clock.freeze(clock.now() + timedelta(minutes=1))  # the failures come after that success
    for _ in range(6):
        sign_in(app.test_client(), "dipu-manager", "wrong-password")
    assert sign_in(app.test_client(), "dipu-manager").status_code == 423  # locked for that address
    assert client.get("/console/issues").status_code == 200
    assert _copy_of_session(app, client).get("/console/issues").status_code == 200


# --- what each sees -----------------------------------------------------------------------------

def test_a_station_manager_sees_only_their_station(client, scene):
    signed_in(client, "dipu-manager")
    page = text_of(client.get("/console/issues"))
    assert scene.issues["overdue-accept"] in page
    assert scene.issues["replied-oct"] not in page  # 古城, not theirs
    assert client.get(f"/console/issues/{scene.issues['replied-oct']}").status_code == 404
    assert client.get(f"/console/issues/{scene.issues['other-county']}").status_code == 404
    assert client.get(f"/console/?station={scene.stations['b']}").status_code == 404


def test_the_dashboard_shows_the_statistics_of_the_api(client, scene):
    signed_in(client, "anji-admin")
    token = staff_login(client, "anji-admin", PASSWORD)["token"]
    for query in ("from=2026-01-01&to=2026-11-20", "from=2026-10-01&to=2026-10-31",
                  f"from=2026-08-01&to=2026-11-20&station={scene.stations['b']}", "region=330523001001"):
        stats = client.get(f"/api/v1/manage/stats?{query}", headers=auth(token)).get_json()["stats"]
        page = client.get(f"/console/?{query}").get_data(as_text=True)
        shown = dict(re.findall(r'data-figure="(\w+)"(?: data-value="([^"]*)")?>', page))
        numbers = dict(re.findall(r'data-figure="(\w+)"[^>]*>(\d+)<', page))
        for name in ("received", "accepted", "resolved", "overdue", "check_ins"):
            assert int(numbers[name]) == stats[name], (query, name)
        for name in ("resolution_rate", "satisfaction_rate", "attendance_rate"):
            assert (float(shown[name]) if shown[name] else None) == stats[name], (query, name)


def test_the_dashboard_of_the_county(client, scene):
    signed_in(client, "anji-admin")
    page = client.get("/console/?from=2026-08-01&to=2026-11-20").get_data(as_text=True)
    charts = re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', page, re.DOTALL).group(1)


    data = json.loads(charts)
    assert [m["month"] for m in data["months"]] == ["2026-08", "2026-09", "2026-10", "2026-11"]
    assert [m["received"] for m in data["months"]] == [1, 2, 3, 4]
    # Most first; a tie in the order residents see categories.
    assert data["categories"][:3] == [{"name": "城乡建设", "value": 2}, {"name": "交通出行", "value": 2},
                                      {"name": "生态环境", "value": 1}]
    assert sum(c["value"] for c in data["categories"]) == 10
    assert [s["name"] for s in data["stations"]] == ["递铺街道人大代表联络站", "古城社区代表之家"]
    # Open issues (pending review not among them): the late acceptance and the department past
    # 13 November are red; 李明's reply due Monday is yellow; today's submission is green.
    assert data["clocks"] == {"green": 1, "yellow": 1, "red": 2}
    assert "德清" not in page


def test_a_bad_period_is_a_400_page(client, scene):
    signed_in(client, "anji-admin")
    response = client.get("/console/?from=2026-13-01")
    assert response.status_code == 400 and "开始日期格式有误" in text_of(response)
    response = client.get("/console/?from=2026-11-01&to=2026-10-01")
    assert response.status_code == 400 and "开始日期不能晚于结束日期" in text_of(response)


# --- the queue and the moves --------------------------------------------------------------------

def numbers_on(response) -> list[str]:
    return re.findall(r'<tr data-no="([^"]+)"', response.get_data(as_text=True))


def test_the_queue_filters(client, scene):
    signed_in(client, "anji-admin")
    everything = numbers_on(client.get("/console/issues"))
    assert len(everything) == 10 and scene.issues["other-county"] not in everything
    assert numbers_on(client.get("/console/issues?clock=red")) == [scene.issues["overdue-accept"],
                                                                  scene.issues["transferred-oct"]]
    assert numbers_on(client.get("/console/issues?status=pending_review")) == [scene.issues["pending"]]
    assert set(numbers_on(client.get(f"/console/issues?station={scene.stations['b']}"))) == {
        scene.issues["resolved-sep"], scene.issues["replied-oct"], scene.issues["yellow-reply"]}
    assert numbers_on(client.get("/console/issues?q=红绿灯")) == [scene.issues["submitted-today"]]
    assert numbers_on(client.get("/console/issues?from=2026-11-01&to=2026-11-20&status=submitted")) == [
        scene.issues["submitted-today"], scene.issues["overdue-accept"]]
    response = client.get("/console/issues?status=lost")
    assert response.status_code == 400 and "未知的状态" in text_of(response)


def test_staff_move_an_issue_through_its_states(app, client, scene):
    token = signed_in(client, "dipu-manager")
    no = scene.issues["submitted-today"]
    page = client.get(f"/console/issues/{no}").get_data(as_text=True)
    assert re.findall(r'data-verb="(\w+)"', page) == ["reject", "accept", "assign"]

    def act(verb, **fields):
        response = client.post(f"/console/issues/{no}/{verb}", data={"csrf_token": token, **fields})
        assert response.status_code == 302
        return text_of(client.get(response.headers["Location"]))

    assert "已受理" in act("accept")
    assert "答复未成功" in act("reply", content="")  # too short: refused, nothing written
    page = act("reply", content="已联系交警大队，下周调整信号灯配时。", public="on")
    assert "已答复" in page and "已联系交警大队" in page
    page = act("transfer", department="县住建局", deadline="2026-11-19")
    assert "交办未成功" in page and "不能早于今天" in page
    act("transfer", department="县住建局", deadline="2026-12-04")
    act("department_result", content="信号灯配时已由 30 秒调整为 45 秒。")
    page = act("resolve", summary="红绿灯时间已延长。")
    assert "已办结" in page
    assert "受理未成功" in act("accept")  # a resolved issue cannot be accepted: 409, shown
    with app.app_context():
        issue = db.session.scalar(db.select(Issue).filter_by(no=no))
        assert [e.kind for e in issue.events] == ["accepted", "replied", "transferred", "department_result",
                                                  "resolved"]
        assert issue.events[0].actor_role == "station_manager"


def test_release_and_reject_what_awaits_review(app, client, scene):
    token = signed_in(client, "anji-admin")
    no = scene.issues["pending"]
    page = client.get(f"/console/issues/{no}").get_data(as_text=True)
    assert re.findall(r'data-verb="(\w+)"', page) == ["release", "reject", "assign"]
    client.post(f"/console/issues/{no}/release", data={"csrf_token": token})
    assert "待受理" in text_of(client.get(f"/console/issues/{no}"))
    client.post(f"/console/issues/{no}/reject", data={"csrf_token": token, "reason": "与本站无关，已告知居民向物业反映"})
    with app.app_context():
        assert db.session.scalar(db.select(Issue.reject_reason).filter_by(no=no)) == "与本站无关，已告知居民向物业反映"


def attach_image(app, no: str, data: bytes) -> int:
    """A resident's photo on issue `no`, stored as an upload would store it, still `pending`."""
    import hashlib

    from backend.storage import get_storage, new_key
    from models import IssueImage, MediaCheckStatus, Upload

    with app.app_context():
        issue = db.session.scalar(db.select(Issue).filter_by(no=no))
        key = new_key("images", "jpg")
        get_storage().save(key, data, "image/jpeg")
        upload = Upload(owner_id=issue.submitter_id, storage_key=key, content_type="image/jpeg", size_bytes=len(data),
                        sha256=hashlib.sha256(data).hexdigest(), width=64, height=48,
                        media_check_status=MediaCheckStatus.pending)
        db.session.add(upload)
        db.session.flush()
        db.session.add(IssueImage(issue_id=issue.id, upload_id=upload.id, position=0))
        db.session.commit()
        return upload.id


def test_residents_photos_load_from_wherever_the_console_is_served(app, client, scene):
    """The console's CSP allows images from 'self' only: its links must not be on
    PUBLIC_BASE_URL, which the console's own address need not be."""
    from tests import images

    signed_in(client, "anji-admin")
    no = scene.issues["pending"]
    attach_image(app, no, images.jpeg())
    page = client.get(f"/console/issues/{no}").get_data(as_text=True)
    [src] = re.findall(r'<img src="([^"]+)" alt="附图"', page)
    src = src.replace("&amp;", "&")
    assert src.startswith("/media/") and app.config["PUBLIC_BASE_URL"] not in page
    served = client.get(src)
    assert served.status_code == 200 and served.data == images.jpeg()


def test_assign_to_a_deputy_of_the_station_only(client, scene):
    token = signed_in(client, "anji-admin")
    no = scene.issues["overdue-accept"]
    response = client.post(f"/console/issues/{no}/assign",
                           data={"csrf_token": token, "deputy_id": str(scene.deputies["li"])})
    assert "不属于本联络站" in text_of(client.get(response.headers["Location"]))
    client.post(f"/console/issues/{no}/assign", data={"csrf_token": token, "deputy_id": str(scene.deputies["wang"])})
    assert "王芳" in text_of(client.get(f"/console/issues/{no}"))


def test_accepting_after_assigning_keeps_the_assignee(app, client, scene):
    token = signed_in(client, "anji-admin")
    no = scene.issues["overdue-accept"]  # addressed to nobody
    client.post(f"/console/issues/{no}/assign", data={"csrf_token": token, "deputy_id": str(scene.deputies["wang"])})
    client.post(f"/console/issues/{no}/accept", data={"csrf_token": token})
    with app.app_context():
        issue = db.session.scalar(db.select(Issue).filter_by(no=no))
        assert issue.status.value == "accepted" and issue.assigned_deputy_id == scene.deputies["wang"]
        assert [e.kind for e in issue.events][-2:] == ["assigned", "accepted"]


def test_unknown_moves_and_issues(client, scene):
    token = signed_in(client, "anji-admin")
    assert client.post(f"/console/issues/{scene.issues['pending']}/explode", data={"csrf_token": token}
                       ).status_code == 404
    assert client.post("/console/issues/20261120-000001/accept", data={"csrf_token": token}).status_code == 404


def test_the_ledger_is_the_filtered_queue(client, scene):
    signed_in(client, "anji-admin")
    response = client.get(f"/console/issues.xlsx?station={scene.stations['b']}")
    assert response.status_code == 200
    assert "filename*=UTF-8''" in response.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("编号", "提交时间", "联络站")
    assert {r[0] for r in rows[1:]} == {scene.issues["resolved-sep"], scene.issues["replied-oct"],
                                         scene.issues["yellow-reply"]}


def test_the_dashboard_follows_the_roll_ups(app, client, scene):
    """A move on an issue of an earlier day shows once the roll-ups run again (the page says when
    that was); today's issues are counted live, so a move on one of them shows at once."""
    token = signed_in(client, "anji-admin")

    def accepted() -> str:
        return re.search(r'data-figure="accepted">(\d+)<', client.get("/console/").get_data(as_text=True)).group(1)

    client.post(f"/console/issues/{scene.issues['overdue-accept']}/accept", data={"csrf_token": token})
    assert accepted() == "6"
    with app.app_context():
        roll_up(date_today())
    assert accepted() == "7"
    client.post(f"/console/issues/{scene.issues['submitted-today']}/accept", data={"csrf_token": token})
    assert accepted() == "8"


def date_today():
    from backend import clock

    return clock.beijing_today()


def test_the_queue_pages_keep_their_filters(app, client, scene):
    from models import Station
    from tests.factories import create_issue

    with app.app_context():
        station = db.session.get(Station, scene.stations["a"])
        for _ in range(25):
            create_issue(station, content="楼道灯不亮，晚上看不清台阶。")
    signed_in(client, "dipu-manager")
    first = client.get("/console/issues?q=楼道灯").get_data(as_text=True)
    assert len(numbers_on_page(first)) == 20 and "第 1 / 2 页" in first
    following = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    assert "q=" in following and "page=2" in following
    second = client.get(following).get_data(as_text=True)
    assert len(numbers_on_page(second)) == 5 and 'rel="prev"' in second and 'rel="next"' not in second
    # A page beyond the last shows the last.
    assert len(numbers_on_page(client.get("/console/issues?q=楼道灯&page=9").get_data(as_text=True))) == 5


def numbers_on_page(html: str) -> list[str]:
    return re.findall(r'<tr data-no="([^"]+)"', html)


def test_staff_act_only_on_their_stations_issues(app, client, scene):
    """A station manager who also sent an issue to another station as a resident sees it in the
    mini-program, but neither the console nor the staff API lets them act on it."""
    from models import StaffAccount, Station
    from tests.factories import create_issue

    with app.app_context():
        manager = db.session.scalar(db.select(StaffAccount).filter_by(username="dipu-manager"))
        own = create_issue(db.session.get(Station, scene.stations["b"]), submitter=manager.user).no
    token = signed_in(client, "dipu-manager")
    assert client.get(f"/console/issues/{own}").status_code == 404
    assert client.post(f"/console/issues/{own}/reject", data={"csrf_token": token, "reason": "自己的"}).status_code == 404
    api = staff_login(client, "dipu-manager", PASSWORD)["token"]
    response = client.post(f"/api/v1/manage/issues/{own}/reject", json={"reason": "自己的事"}, headers=auth(api))
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "issue_not_found"
    with app.app_context():
        assert db.session.scalar(db.select(Issue.status).filter_by(no=own)).value == "submitted"


@pytest.mark.redis
def test_a_large_scopes_clocks_are_counted_at_most_once_a_minute(app, client, scene, monkeypatch):
    """A scope of more than CLOCKS_LIVE_MAX_STATIONS stations reads its 三色 clocks from a count
    kept a minute; a smaller one counts them on every view."""
    from backend.extensions import get_redis
    from backend.services.reporting import dashboard

    token = signed_in(client, "anji-admin")

    def red() -> int:
        return int(re.search(r'class="clock red">超期 (\d+)<', client.get("/console/").get_data(as_text=True)).group(1))

    monkeypatch.setattr(dashboard, "CLOCKS_LIVE_MAX_STATIONS", 1)  # the county's two stations: "large"
    counted = red()
    client.post(f"/console/issues/{scene.issues['overdue-accept']}/accept", data={"csrf_token": token})
    assert red() == counted  # the count of a minute ago
    with app.app_context():
        ttls = [get_redis().ttl(key) for key in get_redis().scan_iter("clocks:*")]
    assert ttls and all(0 < ttl <= dashboard.CLOCKS_CACHE_SECONDS for ttl in ttls)
    monkeypatch.setattr(dashboard, "CLOCKS_LIVE_MAX_STATIONS", 500)
    assert red() == counted - 1  # counted on this view
