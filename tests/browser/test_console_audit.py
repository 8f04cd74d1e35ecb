"""The audit log (审计日志) as a region admin reads it in headless Chromium (issue 19): a station
manager's move and sign-in found through the navigation, narrowed by the filters, exported and
read back; a station manager is refused the page. As in test_console.py, any CSP violation,
console error or page error fails the test; screenshots go to artifacts/browser/."""
from __future__ import annotations

from openpyxl import load_workbook

from tests.browser.test_console import console, expected_failures, scene, shot, sign_in  # noqa: F401


def test_a_region_admin_reads_filters_and_exports_the_audit_log(page, browser, console, live_server, scene,  # noqa: F811
                                                                  expected_failures, tmp_path):  # noqa: F811
    manager = browser.new_page()
    sign_in(manager, live_server, "dipu-manager", f"/console/issues/{scene.issues['submitted-today']}")
    manager.click('form[data-verb="accept"] button')
    assert "已受理" in manager.inner_text(".flash.success")
    expected_failures.append(f"{live_server}/console/audit")
    manager.goto(f"{live_server}/console/audit")
    assert "审计日志" not in manager.inner_text("main h1")  # a station manager is refused the page
    manager.close()

    admin = console
    admin.set_viewport_size({"width": 1366, "height": 900})
    sign_in(admin, live_server, "anji-admin")
    admin.click("nav >> text=审计日志")
    assert admin.url.startswith(f"{live_server}/console/audit")
    rows = admin.locator("table.audit tbody tr[data-entry]")
    text = admin.inner_text("table.audit")
    assert "dipu-manager" in text or "站长" in text
    shot(admin, "20-audit-log")

    admin.fill("input[name=actor]", "dipu-manager")
    admin.select_option("select[name=kind]", "write")
    admin.click("form.filters button[type=submit]")
    assert "kind=write" in admin.url
    assert rows.count() >= 1
    shown = admin.inner_text("table.audit tbody")
    assert "受理" in shown and scene.issues["submitted-today"] in shown
    assert "登录" not in {cell.strip() for cell in admin.locator("table.audit tbody td:nth-child(4)").all_inner_texts()}
    shot(admin, "21-audit-log-filtered")

    with admin.expect_download() as download_info:
        admin.click("text=导出 Excel")
    download = download_info.value
    assert download.suggested_filename.endswith(".xlsx")
    path = tmp_path / "audit.xlsx"
    download.save_as(path)
    exported = list(load_workbook(path).active.iter_rows(values_only=True))
    body = [row for row in exported[1:] if any(row)]
    assert len(body) == rows.count()
    assert any(scene.issues["submitted-today"] in " ".join(str(cell) for cell in row if cell) for row in body)
