"""A station manager's day in headless Chromium (issue 19): signing in again after the session
ended without losing the reply typed. As in test_console.py, any Content-Security-Policy
violation, console error or page error fails the test; screenshots go to artifacts/browser/."""
from __future__ import annotations

import time

from models import Issue, db
from tests.browser.test_console import console, expected_failures, scene, shot, sign_in  # noqa: F401
from tests.console_scene import PASSWORD


def test_a_reply_typed_past_the_idle_time_survives_signing_in_again(app, console, live_server, scene,  # noqa: F811
                                                                     expected_failures):  # noqa: F811
    page = console
    page.set_viewport_size({"width": 1366, "height": 900})
    no = scene.issues["replied-oct"]
    sign_in(page, live_server, "anji-admin", f"/console/issues/{no}")
    reply = "已联系卫生院，周三起门诊延长到晚上八点，请您留意通知。"
    page.fill('form[data-verb="reply"] textarea[name=content]', reply)
    page.check('form[data-verb="reply"] input[name=public]')
    # The hour without a request passes (the idle limit set to nothing, for a second).
    idle = app.config["CONSOLE_IDLE_MINUTES"]
    app.config["CONSOLE_IDLE_MINUTES"] = 0
    time.sleep(1.1)
    expected_failures.append(f"{live_server}/console/issues/{no}/reply")  # answered 401: sign in
    page.click('form[data-verb="reply"] button')
    app.config["CONSOLE_IDLE_MINUTES"] = idle
    assert "/console/login" not in page.url  # the sign-in page answers the POST itself
    assert "登录已超时" in page.inner_text(".flash.error")
    shot(page, "10-session-ended")
    page.fill("input[name=username]", "anji-admin")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert page.url == f"{live_server}/console/issues/{no}"
    assert page.input_value('form[data-verb="reply"] textarea[name=content]') == reply
    assert page.is_checked('form[data-verb="reply"] input[name=public]')
    assert "已恢复" in page.inner_text('form[data-verb="reply"] .flash.warning')
    shot(page, "11-reply-kept")
    with app.app_context():
        assert not db.session.scalar(db.select(Issue).filter_by(no=no)).replies  # nothing sent by itself
    page.click('form[data-verb="reply"] button')
    assert "已答复" in page.inner_text(".flash.success")
    assert reply in page.inner_text("blockquote.reply")
    page.reload()
    assert page.input_value('form[data-verb="reply"] textarea[name=content]') == ""  # restored once only


def test_the_to_do_page_bulk_assignment_and_urging(app, console, live_server, scene):  # noqa: F811
    from tests.console.test_console_daily_loop import bind

    page = console
    page.set_viewport_size({"width": 1366, "height": 900})
    bind(app, scene.deputies["zhang"], "o-zhang")
    # A station manager signs in and lands on 待办.
    page.goto(live_server + "/console/login")
    page.fill("input[name=username]", "dipu-manager")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert page.url == f"{live_server}/console/todo"
    assert page.inner_text('[data-count="red"]') == "2"
    shot(page, "12-todo")

    # 催办 from the list: one click, back on the list, the second refused with a reason.
    page.click(f'form[data-urge="{scene.issues["transferred-oct"]}"] button')
    assert page.url == f"{live_server}/console/todo"
    assert "已催办" in page.inner_text(".flash.success")
    page.click(f'form[data-urge="{scene.issues["transferred-oct"]}"] button')
    assert "小时内不再重复催办" in page.inner_text(".flash.error")
    shot(page, "13-urged-twice")

    # The overdue issues in the queue, both to one deputy in one submit; the filter stays.
    page.click("#todo-red a:has-text('在列表中查看全部')")
    assert "clock=red" in page.url
    for no in (scene.issues["overdue-accept"], scene.issues["transferred-oct"]):
        page.check(f'tr[data-no="{no}"] input[name=no]')
    page.select_option("#bulk-assign select[name=deputy_id]", label="王芳")
    page.click("#bulk-assign button[type=submit]")
    assert "已将 2 件意见建议分派给王芳" in page.inner_text(".flash.success")
    assert "clock=red" in page.url and page.locator("table.queue tbody tr[data-no]").count() == 2
    shot(page, "14-bulk-assigned")

    # Into an issue and back: the same filtered queue.
    page.click(f"table.queue a:text('{scene.issues['transferred-oct']}')")
    timeline = page.inner_text("ol.timeline")
    assert "催办" in timeline and "分派" in timeline
    page.click("a[data-back]")
    assert "clock=red" in page.url
    with app.app_context():
        for no in (scene.issues["overdue-accept"], scene.issues["transferred-oct"]):
            assert db.session.scalar(db.select(Issue).filter_by(no=no)).assigned_deputy.name == "王芳"
