"""The staff console in headless Chromium: sign in, the dashboard's charts drawn and its figures
those of /api/v1/manage/stats, the queue filtered, an issue moved, the ledger exported and read
back. Any Content-Security-Policy violation, console error or page error fails the test; a
screenshot of each step is kept under artifacts/browser/."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests
from openpyxl import load_workbook

from tests.console_scene import PASSWORD, build_scene

ARTIFACTS = Path(os.environ.get("ARTIFACTS_DIR") or Path(__file__).resolve().parents[2] / "artifacts") / "browser"

# Installed in the page before any of its own scripts run (Playwright's init scripts are not
# subject to the page's CSP): each violation becomes a console error the test collects, even
# where Chromium itself would report it only as a warning or not at all (report-only cases).
WATCH_VIOLATIONS = """
document.addEventListener('securitypolicyviolation', e => console.error('CSP violation: ' +
  e.violatedDirective + ' ' + (e.blockedURI || 'inline') + ' ' + (e.sourceFile || '') + ':' + e.lineNumber));
"""


@pytest.fixture
def scene(app):
    return build_scene(app)


@pytest.fixture
def expected_failures() -> list[str]:
    """Addresses a test expects to answer 4xx (a wrong password answers 401): Chromium logs a
    console error for each, which is then not a problem."""
    return []


@pytest.fixture
def console(page, live_server, scene, expected_failures):
    """A page on the console whose every error is collected and fails the test at the end."""
    problems: list[str] = []

    def on_console(message):
        if message.type not in ("error", "warning"):
            return
        if message.text.startswith("Failed to load resource") and message.location.get("url") in expected_failures:
            return
        problems.append(f"console {message.type}: {message.text} at {message.location.get('url')}")

    page.add_init_script(WATCH_VIOLATIONS)
    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("response", lambda response: problems.append(f"{response.status} {response.url}")
            if response.status >= 500 else None)
    yield page
    assert problems == []


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page, live_server, username: str, target: str = "/console/") -> None:
    page.goto(live_server + target)
    assert "/console/login" in page.url
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert "/console/login" not in page.url


def painted_pixels(page, selector: str) -> int:
    """Pixels of the chart's canvas that are not transparent or white."""
    return page.evaluate("""selector => {
        const canvas = document.querySelector(selector + ' canvas');
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let painted = 0;
        for (let i = 0; i < data.length; i += 4) {
            if (data[i + 3] > 0 && !(data[i] > 245 && data[i + 1] > 245 && data[i + 2] > 245)) painted++;
        }
        return painted;
    }""", selector)


def test_sign_in_and_the_dashboard(console, live_server, scene, expected_failures):
    page = console
    expected_failures.append(f"{live_server}/console/login")
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(live_server + "/console/login")
    page.fill("input[name=username]", "anji-admin")
    page.fill("input[name=password]", "not-the-password")
    page.click("button[type=submit]")
    assert "用户名或密码错误" in page.inner_text(".flash.error")
    sign_in(page, live_server, "anji-admin", "/console/?from=2026-01-01&to=2026-11-20")
    for name in ("months", "categories", "clocks", "stations"):
        page.wait_for_selector(f'[data-chart="{name}"][data-rendered="1"]', timeout=10_000)
        assert painted_pixels(page, f'[data-chart="{name}"]') > 500, name
    shot(page, "01-dashboard")

    token = requests.post(f"{live_server}/api/v1/manage/login",
                          json={"username": "anji-admin", "password": PASSWORD}, timeout=10).json()["token"]
    stats = requests.get(f"{live_server}/api/v1/manage/stats?from=2026-01-01&to=2026-11-20",
                         headers={"Authorization": f"Bearer {token}"}, timeout=10).json()["stats"]
    for name in ("received", "accepted", "resolved", "overdue", "check_ins"):
        assert int(page.inner_text(f'[data-figure="{name}"]')) == stats[name], name
    for name in ("resolution_rate", "satisfaction_rate", "attendance_rate"):
        shown = page.inner_text(f'[data-figure="{name}"]')
        assert shown == (f"{stats[name] * 100:.1f}%" if stats[name] is not None else "—"), name

    # Narrowed to one station through the form.
    page.select_option("select[name=station]", label="古城社区代表之家")
    page.click("form.filters button[type=submit]")
    page.wait_for_selector('[data-chart="months"][data-rendered="1"]')
    station_stats = requests.get(
        f"{live_server}/api/v1/manage/stats?from=2026-01-01&to=2026-11-20&station={scene.stations['b']}",
        headers={"Authorization": f"Bearer {token}"}, timeout=10).json()["stats"]
    assert int(page.inner_text('[data-figure="received"]')) == station_stats["received"] == 3


def test_filter_the_queue_and_move_an_issue(console, live_server, scene):
    page = console
    page.set_viewport_size({"width": 1366, "height": 900})
    sign_in(page, live_server, "dipu-manager", "/console/issues")
    page.select_option("select[name=clock]", "red")
    page.click("form.filters button[type=submit]")
    rows = page.locator("table.queue tbody tr[data-no]")
    assert rows.count() == 2
    assert page.url.endswith("clock=red") or "clock=red" in page.url
    shot(page, "02-queue-red")

    page.select_option("select[name=clock]", "")
    page.fill("input[name=q]", "红绿灯")
    page.click("form.filters button[type=submit]")
    assert rows.count() == 1
    page.click(f"text={scene.issues['submitted-today']}")
    assert page.inner_text("[data-status]") == "待受理"

    page.click('form[data-verb="accept"] button')
    assert "已受理" in page.inner_text(".flash.success")
    page.fill('form[data-verb="reply"] textarea[name=content]', "已联系交警大队，下周调整信号灯配时。")
    page.check('form[data-verb="reply"] input[name=public]')
    page.click('form[data-verb="reply"] button')
    assert page.inner_text("[data-status]") == "已答复"
    page.fill('form[data-verb="resolve"] textarea[name=summary]', "红绿灯时间已由 30 秒延长到 45 秒。")
    page.click('form[data-verb="resolve"] button')
    assert page.inner_text("[data-status]") == "已办结"
    timeline = page.inner_text("ol.timeline")
    assert "受理" in timeline and "答复" in timeline and "办结" in timeline
    shot(page, "03-issue-resolved")


def test_export_the_ledger_and_read_it_back(console, live_server, scene, tmp_path):
    page = console
    sign_in(page, live_server, "anji-admin", "/console/issues")
    page.select_option("select[name=station]", label="古城社区代表之家")
    page.click("form.filters button[type=submit]")
    with page.expect_download() as download_info:
        page.click("text=导出台账（Excel）")
    download = download_info.value
    assert download.suggested_filename.startswith("意见建议台账-") and download.suggested_filename.endswith(".xlsx")
    path = tmp_path / "ledger.xlsx"
    download.save_as(path)
    rows = list(load_workbook(path).active.iter_rows(values_only=True))
    assert rows[0][:6] == ("编号", "提交时间", "联络站", "分类", "内容", "状态")
    assert {r[0] for r in rows[1:]} == {scene.issues["resolved-sep"], scene.issues["replied-oct"],
                                         scene.issues["yellow-reply"]}
    assert {r[2] for r in rows[1:]} == {"古城社区代表之家"}


def test_edit_a_roster(console, live_server, scene):
    page = console
    page.set_viewport_size({"width": 1366, "height": 1000})
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in(page, live_server, "dipu-manager", "/console/reception?month=2026-12")
    assert page.inner_text("[data-roster-status]") == "尚未排班"
    page.fill('form[data-action="generate"] input[name=deputies_per_day]', "1")
    page.click('form[data-action="generate"] button')
    assert "排班草稿" in page.inner_text(".flash.success")
    page.click('form[data-action="publish"] button')
    assert page.inner_text("[data-roster-status]") == "已发布"
    assert page.locator('td[data-date="2026-12-16"] ul.duty li').count() == 1
    shot(page, "04-roster-published")

    # One day: both deputies on duty, then moved two days later for a meeting.
    page.click('td[data-date="2026-12-16"] a.reception-day')
    for box in page.locator('form[data-verb="deputies"] input[name=deputy_id]').all():
        box.check()
    page.click('form[data-verb="deputies"] button')
    assert "已更新值班代表" in page.inner_text(".flash.success")
    page.fill('form[data-verb="move"] input[name=move_to]', "2026-12-18")
    page.fill('form[data-verb="move"] input[name=reason]', "与县人代会会期冲突")
    page.click('form[data-verb="move"] button')
    assert page.url.endswith("/2026-12-18")
    page.click("text=返回12月日历")
    moved = page.locator('td[data-date="2026-12-18"]')
    assert "由12月16日调整" in moved.inner_text()
    assert sorted(moved.locator("ul.duty li").all_inner_texts()) == ["张建国", "王芳"]
    shot(page, "05-roster-day-moved")


def test_import_a_roster_with_a_bad_row(console, live_server, scene, tmp_path):
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(("姓名", "性别", "手机号", "职业或工作单位", "代表层级", "所属人大", "届次", "任期开始", "联络站",
                        "站长代表", "进站日期"))
    book.active.append(("陈晓红", "女", "13905721234", "县人民医院护士长", "县", "安吉县人民代表大会", 18,
                        "2021-10-01", "递铺街道人大代表联络站", "否", None))
    book.active.append(("钱多多", "男", "1390572", "", "村", "安吉县人民代表大会", 18, "2021-10-01",
                        "不存在的联络站", "", None))
    bad = tmp_path / "名册-有误.xlsx"
    book.save(bad)
    page = console
    sign_in(page, live_server, "dipu-manager", "/console/deputies/import")
    page.set_input_files("input[name=file]", str(bad))
    page.click("form.inline-form button[type=submit]")
    assert page.get_attribute("[data-import]", "data-import") == "refused"
    refused = page.locator("table.refused tbody tr")
    assert refused.count() == 1 and refused.get_attribute("data-row") == "3"
    assert "手机号" in refused.inner_text()
    shot(page, "06-import-refused")

    book.active.delete_rows(3)
    good = tmp_path / "名册.xlsx"
    book.save(good)
    page.set_input_files("input[name=file]", str(good))
    page.click("form.inline-form button[type=submit]")
    assert page.get_attribute("[data-import]", "data-import") == "ok"
    page.goto(f"{live_server}/console/stations/{scene.stations['a']}")
    assert "陈晓红" in page.inner_text("table")
    shot(page, "07-station-with-imported-deputy")
