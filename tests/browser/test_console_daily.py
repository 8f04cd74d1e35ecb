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
