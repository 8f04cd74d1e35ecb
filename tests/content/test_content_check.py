"""check_text: WeChat's msgSecCheck v2 through the gateway, against the real fake WeChat.

Every failure comes back as the verdict "unavailable", never an exception: the caller keeps
such text for staff to review."""
from __future__ import annotations

import re
import time

import pytest
import requests

from backend.services.content.content_check import UNAVAILABLE, Verdict, check_text

OPENID = "fake-resident"
TRACE_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$")


@pytest.fixture
def in_app(app):
    with app.app_context():
        yield


def last_payload(fake_wechat) -> dict:
    return fake_wechat.calls("/wxa/msg_sec_check")[-1]["json"]


def test_clean_text_passes(in_app, fake_wechat):
    verdict = check_text(OPENID, "小区门口的路灯坏了三个月，晚上出行不安全，希望尽快修复。")
    assert verdict.suggest == "pass" and verdict.label == 100
    assert TRACE_ID.match(verdict.trace_id)
    payload = last_payload(fake_wechat)
    assert payload == {"version": 2, "openid": OPENID, "scene": 3,
                       "content": "小区门口的路灯坏了三个月，晚上出行不安全，希望尽快修复。"}
    assert fake_wechat.calls("/wxa/msg_sec_check")[-1]["query"]["access_token"]


@pytest.mark.parametrize("text, suggest, label", [
    ("村口有人聚众赌博，请代表关注", "risky", 20006),
    ("有人在网上贩卖枪支", "risky", 20006),
    ("听说明天有人要去示威", "review", 21000),
    ("有人赌博，还有人要示威", "risky", 20006),  # the worse verdict wins
])
def test_the_fake_judges_by_its_default_words(in_app, text, suggest, label):
    verdict = check_text(OPENID, text)
    assert (verdict.suggest, verdict.label) == (suggest, label)
    assert verdict.trace_id


def test_words_configured_in_the_fake(in_app, fake_wechat):
    fake_wechat.configure(risky_words=["违禁词"], review_words=["待审"])
    assert check_text(OPENID, "这里有违禁词").suggest == "risky"
    assert check_text(OPENID, "这里有待审内容").suggest == "review"
    assert check_text(OPENID, "有人赌博").suggest == "pass"  # no longer on the list
    # Over HTTP too, as a test in another process would.
    requests.post(fake_wechat.base_url + "__fake__/config", json={"review_words": ["路灯"]}, timeout=5)
    assert check_text(OPENID, "路灯坏了").suggest == "review"


def test_the_scene_can_be_chosen_per_call(in_app, fake_wechat):
    check_text(OPENID, "满意，谢谢代表", scene=2)
    assert last_payload(fake_wechat)["scene"] == 2


def test_emoji_and_traditional_characters_reach_wechat_intact(in_app, fake_wechat):
    text = "社區的路燈壞了 😡🚧，請儘快處理！𠮷野家"
    assert check_text(OPENID, text).suggest == "pass"
    assert last_payload(fake_wechat)["content"] == text


def test_risky_in_v1_style_errcode_87014(in_app, fake_wechat):
    fake_wechat.fail("/wxa/msg_sec_check", errcode=87014)
    assert check_text(OPENID, "任何内容") == Verdict("risky")


@pytest.mark.parametrize("failure", [
    pytest.param({"errcode": -1}, id="busy"),
    pytest.param({"errcode": 45009}, id="quota"),
    pytest.param({"errcode": 40001, "times": 2}, id="token-refused-twice"),
    pytest.param({"errcode": 61010}, id="user-not-seen-lately"),
    pytest.param({"errcode": 40003}, id="invalid-openid"),
    pytest.param({"http_status": 502, "body": "<html>bad gateway</html>"}, id="bad-gateway"),
])
def test_wechat_failures_are_unavailable(in_app, fake_wechat, failure):
    fake_wechat.fail("/wxa/msg_sec_check", **failure)
    assert check_text(OPENID, "路灯坏了") is UNAVAILABLE


def test_a_token_refused_once_is_refreshed_and_the_check_answers(in_app, fake_wechat):
    fake_wechat.fail("/wxa/msg_sec_check", errcode=40001)
    assert check_text(OPENID, "路灯坏了").suggest == "pass"


def test_a_slow_wechat_is_unavailable_within_the_timeout(app, in_app, fake_wechat):
    check_text(OPENID, "先取得令牌")  # so only the check itself is slow
    timeout = app.config["WECHAT_TIMEOUT_SECONDS"]
    fake_wechat.delay("/wxa/msg_sec_check", seconds=timeout + 0.5)
    started = time.monotonic()
    assert check_text(OPENID, "路灯坏了") is UNAVAILABLE
    assert time.monotonic() - started < timeout + 0.4


def test_without_an_openid_wechat_is_not_asked(in_app, fake_wechat):
    assert check_text("", "路灯坏了") is UNAVAILABLE
    assert fake_wechat.calls("/wxa/msg_sec_check") == []


def test_text_over_wechats_limit_is_not_sent(in_app, fake_wechat):
    assert check_text(OPENID, "长" * 2501) is UNAVAILABLE
    assert fake_wechat.calls("/wxa/msg_sec_check") == []
    assert check_text(OPENID, "长" * 2500).suggest == "pass"
