"""The gateway against the fake WeChat over a real socket: no mocks anywhere."""
from __future__ import annotations

import io
import logging
import socket
import time

import pytest
from PIL import Image
from wechatpy import WeChatClient
from wechatpy.client.api import WeChatWxa

from backend.wechat import get_gateway
from backend.wechat.errors import WeChatCodeInvalid, WeChatError, WeChatUnavailable
from backend.wechat.gateway import WeChatGateway
from backend.wechat.token_store import MemoryTokenStore
from config import FAKE_WECHAT_APP_ID, FAKE_WECHAT_APP_SECRET
from tests.wechat.conftest import build_app

CALLBACK_IP = "/cgi-bin/getcallbackip"


def direct_gateway(fake, timeout=2.0, secret=None) -> WeChatGateway:
    """A gateway with an in-process store, for tests that need their own timeout or secret."""
    return WeChatGateway(fake.app_id, secret or fake.app_secret, fake.base_url, timeout, MemoryTokenStore())


def paths(fake) -> list[str]:
    return [call["path"] for call in fake.calls()]


def test_code_to_session_makes_no_token_call(gateway, fake):
    session = gateway.code_to_session("abc")
    assert session.openid == "fake-abc" and session.unionid is None
    assert len(session.session_key) == 24 and session.session_key not in repr(session)
    assert paths(fake) == ["/sns/jscode2session"]
    call = fake.calls()[0]
    assert call["query"]["grant_type"] == "authorization_code" and "access_token" not in call["query"]


def test_code_to_session_passes_the_unionid(gateway, fake):
    fake.configure(with_unionid=True)
    assert gateway.code_to_session("abc").unionid == "fake-union-abc"


@pytest.mark.parametrize("code, errcode", [("invalid", 40029), ("used", 40163)])
def test_refused_code_is_code_invalid(gateway, code, errcode):
    with pytest.raises(WeChatCodeInvalid) as raised:
        gateway.code_to_session(code)
    assert raised.value.errcode == errcode


def test_access_token_comes_from_stable_token_once(gateway, fake):
    token = gateway.access_token()
    assert gateway.access_token() == token
    assert gateway.get_json("cgi-bin/getcallbackip") == {"ip_list": ["127.0.0.1"]}
    assert paths(fake) == ["/cgi-bin/stable_token", CALLBACK_IP]
    fetch = fake.calls()[0]
    assert fetch["method"] == "POST" and fetch["json"]["force_refresh"] is False
    assert fetch["json"]["appid"] == fake.app_id and fetch["query"] == {}


def test_refused_token_is_refreshed_once_then_the_call_succeeds(gateway, fake):
    # The store holds a token WeChat does not know (say it was force-refreshed elsewhere).
    gateway.token_store.refresh(fake.app_id, lambda force: ("stale-token", 7200))
    assert gateway.get_json("cgi-bin/getcallbackip") == {"ip_list": ["127.0.0.1"]}
    calls = fake.calls()
    assert [c["path"] for c in calls] == [CALLBACK_IP, "/cgi-bin/stable_token", CALLBACK_IP]
    assert calls[0]["query"]["access_token"] == "stale-token"
    assert calls[1]["json"]["force_refresh"] is True  # the store still held the refused token
    assert gateway.access_token() == calls[2]["query"]["access_token"] != "stale-token"


def test_expired_token_is_replaced_without_forcing(gateway, fake):
    old = gateway.access_token()
    fake.expire_tokens()  # WeChat expired it before our margin said so
    assert gateway.get_json("cgi-bin/getcallbackip") == {"ip_list": ["127.0.0.1"]}
    fetches = fake.calls("/cgi-bin/stable_token")
    assert len(fetches) == 2 and fetches[1]["json"]["force_refresh"] is False
    assert gateway.access_token() != old


def test_token_refused_again_after_refresh_is_unavailable_not_recursion(gateway, fake):
    gateway.access_token()
    fake.fail(CALLBACK_IP, errcode=40001, times=50)
    with pytest.raises(WeChatUnavailable) as raised:
        gateway.get_json("cgi-bin/getcallbackip")
    assert raised.value.errcode == 40001
    assert len(fake.calls(CALLBACK_IP)) == 2
    assert len(fake.calls("/cgi-bin/stable_token")) == 2


@pytest.mark.parametrize("errcode", [-1, 45011])
def test_busy_wechat_is_unavailable(gateway, fake, errcode):
    fake.fail("/sns/jscode2session", errcode=errcode)
    with pytest.raises(WeChatUnavailable) as raised:
        gateway.code_to_session("abc")
    assert raised.value.errcode == errcode
    assert gateway.code_to_session("abc").openid == "fake-abc"  # the next call goes through


def test_busy_token_endpoint_is_unavailable(gateway, fake):
    fake.fail("/cgi-bin/stable_token", errcode=-1)
    with pytest.raises(WeChatUnavailable):
        gateway.get_json("cgi-bin/getcallbackip")
    assert CALLBACK_IP not in paths(fake)


def test_slow_answer_is_unavailable_within_the_timeout(fake):
    gateway = direct_gateway(fake, timeout=0.5)
    for path, call in (("/sns/jscode2session", lambda: gateway.code_to_session("abc")),
                       ("/cgi-bin/stable_token", gateway.access_token)):
        fake.delay(path, seconds=3)
        started = time.monotonic()
        with pytest.raises(WeChatUnavailable):
            call()
        assert time.monotonic() - started < 1.5, path


@pytest.mark.parametrize("status, body", [(502, "<html>Bad Gateway</html>"), (200, "<html>portal</html>")])
def test_broken_answers_are_unavailable(gateway, fake, status, body):
    fake.fail("/sns/jscode2session", http_status=status, body=body)
    with pytest.raises(WeChatUnavailable):
        gateway.code_to_session("abc")


def test_unreachable_wechat_is_unavailable_and_the_secret_stays_out_of_logs(fake, caplog):
    gateway = direct_gateway(fake)
    fake.stop()
    caplog.set_level(logging.DEBUG)
    with pytest.raises(WeChatUnavailable) as raised:
        gateway.code_to_session("abc")
    assert raised.value.errcode is None
    # requests' own message carries the URL, whose query carries the secret.
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert fake.app_secret not in str(raised.value)
    assert fake.app_secret not in caplog.text and "errcode=None" in caplog.text


def test_wrong_secret_is_refused_by_the_fake(fake, caplog):
    gateway = direct_gateway(fake, secret="not-the-secret")
    with pytest.raises(WeChatError) as raised:
        gateway.code_to_session("abc")
    assert raised.value.errcode == 40125
    assert not isinstance(raised.value, (WeChatCodeInvalid, WeChatUnavailable))
    with pytest.raises(WeChatError) as raised:
        gateway.access_token()
    assert raised.value.errcode == 40125
    assert "not-the-secret" not in caplog.text and "errcode=40125" in caplog.text


def test_post_bytes_returns_the_image_or_raises_the_error(gateway, fake):
    png = gateway.post_bytes("wxa/getwxacodeunlimit", {"scene": "s=9", "page": "pages/index/index"})
    assert Image.open(io.BytesIO(png)).text["scene"] == "s=9"
    with pytest.raises(WeChatError) as raised:
        gateway.post_bytes("wxa/getwxacodeunlimit", {"scene": "x" * 40})
    assert raised.value.errcode == 40169
    with pytest.raises(WeChatUnavailable):  # an image where JSON was expected
        gateway.post_json("wxa/getwxacodeunlimit", {"scene": "s=9"})
    assert len(fake.calls("/cgi-bin/stable_token")) == 1


def test_wechatpys_own_endpoints_reach_the_fake_without_touching_wechatpy(gateway, fake):
    assert gateway.client.wxa.API_BASE_URL == fake.base_url
    assert gateway.client.API_BASE_URL == fake.base_url + "cgi-bin/"
    response = gateway.client.wxa.get_wxa_code_unlimited("a=1")
    assert response.content.startswith(b"\x89PNG")
    assert paths(fake) == ["/cgi-bin/stable_token", "/wxa/getwxacodeunlimit"]
    assert WeChatClient.API_BASE_URL == "https://api.weixin.qq.com/cgi-bin/"
    assert WeChatWxa.API_BASE_URL == "https://api.weixin.qq.com/"


def test_get_gateway_is_the_apps_gateway(wechat_app):
    with wechat_app.app_context():
        assert get_gateway() is wechat_app.extensions["wechat"]
        assert "secret" not in repr(get_gateway()).lower()


def test_init_wechat_autostarts_the_fake_only_when_asked(sqlite_overrides):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}/"
    settings = dict(sqlite_overrides, WECHAT_APP_ID=FAKE_WECHAT_APP_ID, WECHAT_APP_SECRET=FAKE_WECHAT_APP_SECRET,
                    WECHAT_API_BASE=base, FAKE_WECHAT_PORT=port, WECHAT_TIMEOUT_SECONDS=1.0)

    quiet = build_app(**settings)
    assert "wechat_fake" not in quiet.extensions
    with quiet.app_context(), pytest.raises(WeChatUnavailable):
        get_gateway().code_to_session("abc")

    first = build_app(**settings, FAKE_WECHAT_AUTOSTART=True)
    try:
        second = build_app(**settings, FAKE_WECHAT_AUTOSTART=True)
        assert "wechat_fake" in first.extensions and "wechat_fake" not in second.extensions
        with second.app_context():
            assert get_gateway().code_to_session("abc").openid == "fake-abc"
    finally:
        first.extensions["wechat_fake"].stop()
