"""The fake WeChat's content security: msgSecCheck v2 by word lists, mediaCheckAsync v2 recorded."""
from __future__ import annotations

import re

import pytest
import requests

from backend.wechat.fake_server import DEFAULT_REVIEW_WORDS, DEFAULT_RISKY_WORDS

TRACE_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$")


def token(fake) -> str:
    body = {"grant_type": "client_credential", "appid": fake.app_id, "secret": fake.app_secret}
    return requests.post(fake.base_url + "cgi-bin/stable_token", json=body, timeout=5).json()["access_token"]


def sec_check(fake, access_token=None, **changes):
    body = {"version": 2, "openid": "fake-a", "scene": 3, "content": "路灯坏了", **changes}
    body = {k: v for k, v in body.items() if v is not ...}
    params = {"access_token": access_token or token(fake)}
    return requests.post(fake.base_url + "wxa/msg_sec_check", params=params, json=body, timeout=5).json()


def media_check(fake, access_token=None, **changes):
    body = {"media_url": "https://example.cn/media/1?s=x", "media_type": 2, "version": 2,
            "openid": "fake-a", "scene": 3, **changes}
    body = {k: v for k, v in body.items() if v is not ...}
    params = {"access_token": access_token or token(fake)}
    return requests.post(fake.base_url + "wxa/media_check_async", params=params, json=body, timeout=5).json()


def test_msg_sec_check_answers_in_v2_shape(fake):
    answer = sec_check(fake)
    assert answer["errcode"] == 0 and answer["errmsg"] == "ok"
    assert answer["result"] == {"suggest": "pass", "label": 100}
    assert answer["detail"][0]["strategy"] == "content_model"
    assert TRACE_ID.match(answer["trace_id"])


def test_msg_sec_check_judges_by_the_word_lists(fake):
    assert DEFAULT_RISKY_WORDS == ("赌博", "枪支") and DEFAULT_REVIEW_WORDS == ("示威",)
    risky = sec_check(fake, content="这里有人赌博")
    assert risky["result"] == {"suggest": "risky", "label": 20006}
    assert {"strategy": "keyword", "keyword": "赌博"}.items() <= risky["detail"][1].items()
    assert sec_check(fake, content="明天示威")["result"]["suggest"] == "review"
    assert sec_check(fake, content="路灯", title="枪支")["result"]["suggest"] == "risky"  # titles count

    fake.configure(risky_words=["坏词"], review_words=[])
    assert sec_check(fake, content="坏词")["result"]["suggest"] == "risky"
    assert sec_check(fake, content="示威")["result"]["suggest"] == "pass"
    fake.reset()
    assert sec_check(fake, content="示威")["result"]["suggest"] == "review"


def test_word_lists_over_http(fake):
    control = fake.base_url + "__fake__/"
    assert requests.post(control + "config", json={"risky_words": ["远程"]}, timeout=5).status_code == 200
    assert sec_check(fake, content="远程配置")["result"]["suggest"] == "risky"
    assert requests.post(control + "config", json={"risky_words": "不是列表"}, timeout=5).status_code == 400
    assert requests.post(control + "config", json={"review_words": [""]}, timeout=5).status_code == 400
    requests.post(control + "reset", timeout=5)
    assert sec_check(fake, content="远程配置")["result"]["suggest"] == "pass"


@pytest.mark.parametrize("changes, errcode", [
    ({"version": ...}, 47001),
    ({"version": 1}, 47001),
    ({"openid": ""}, 40003),
    ({"openid": ...}, 40003),
    ({"scene": 5}, 40129),
    ({"scene": 0}, 40129),
    ({"scene": True}, 40129),
    ({"content": ""}, 44002),
    ({"content": ...}, 47001),
    ({"content": ["路灯"]}, 47001),
    ({"content": "长" * 2501}, 47001),
])
def test_msg_sec_check_refuses_bad_requests(fake, changes, errcode):
    assert sec_check(fake, **changes)["errcode"] == errcode


def test_msg_sec_check_limits(fake):
    assert sec_check(fake, content="长" * 2500)["errcode"] == 0
    assert sec_check(fake, content="😀" * 2500)["errcode"] == 0  # characters, not bytes


def test_security_calls_need_a_valid_token(fake):
    for call in (sec_check, media_check):
        assert call(fake, access_token="made-up")["errcode"] == 40001
    assert requests.post(fake.base_url + "wxa/msg_sec_check", json={}, timeout=5).json()["errcode"] == 41001
    assert requests.get(fake.base_url + "wxa/msg_sec_check", timeout=5).json()["errcode"] == 43002


def test_media_check_async_is_recorded(fake):
    answer = media_check(fake, media_url="https://lianluozhan.example.cn/media/7?a=w&e=1&s=x", openid="fake-b")
    assert answer["errcode"] == 0 and answer["errmsg"] == "ok" and TRACE_ID.match(answer["trace_id"])
    assert fake.media_checks() == [{"trace_id": answer["trace_id"],
                                    "media_url": "https://lianluozhan.example.cn/media/7?a=w&e=1&s=x",
                                    "media_type": 2, "openid": "fake-b", "scene": 3}]
    over_http = requests.get(fake.base_url + "__fake__/media-checks", timeout=5).json()
    assert over_http == fake.media_checks()
    fake.reset()
    assert fake.media_checks() == []


@pytest.mark.parametrize("changes, errcode", [
    ({"media_url": ""}, 44002),
    ({"media_url": ...}, 44002),
    ({"media_url": "ftp://example.cn/a.jpg"}, 47001),
    ({"media_type": 3}, 47001),
    ({"version": 1}, 47001),
    ({"openid": ""}, 40003),
    ({"scene": 9}, 40129),
])
def test_media_check_async_refuses_bad_requests(fake, changes, errcode):
    assert media_check(fake, **changes)["errcode"] == errcode
    assert fake.media_checks() == []


def test_failures_can_be_injected_like_any_endpoint(fake):
    fake.fail("/wxa/msg_sec_check", errcode=87014)
    assert sec_check(fake)["errcode"] == 87014
    assert sec_check(fake)["errcode"] == 0
