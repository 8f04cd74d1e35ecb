"""send_subscribe_message against the fake WeChat over a socket: every outcome, and whether the
request may have reached WeChat (`request_sent`) when no answer came back."""
from __future__ import annotations

import socket

import pytest
import requests
from urllib3.exceptions import (
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ProxyError,
    ReadTimeoutError,
)

from backend.wechat.errors import (
    QuotaExceeded,
    SubscriptionRefused,
    WeChatError,
    WeChatUnavailable,
)
from backend.wechat.gateway import WeChatGateway, _never_sent
from backend.wechat.token_store import MemoryTokenStore
from config import FAKE_TEMPLATE_IDS
from tests.wechat.test_gateway import direct_gateway

PATH = "/cgi-bin/message/subscribe/send"
REMINDER = FAKE_TEMPLATE_IDS["reception_reminder"]


def data(tip="请按时到站") -> dict:
    values = {"thing1": "古城社区联络站", "date2": "2027年1月6日", "thing3": "古城路1号", "thing4": tip}
    return {key: {"value": value} for key, value in values.items()}


def send(gateway, openid="o-user", **kwargs):
    kwargs.setdefault("page", "pages/station/index")
    kwargs.setdefault("miniprogram_state", "developer")
    return gateway.send_subscribe_message(openid, kwargs.pop("template_id", REMINDER), kwargs.pop("data", data()),
                                          **kwargs)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_sent_message_returns_wechats_answer(gateway, fake):
    answer = send(gateway)
    [message] = fake.messages()
    assert answer == {"errcode": 0, "errmsg": "ok", "msgid": message["msgid"]}
    [call] = fake.calls(PATH)
    assert call["json"] == {"touser": "o-user", "template_id": REMINDER, "data": data(), "lang": "zh_CN",
                            "page": "pages/station/index", "miniprogram_state": "developer"}


def test_page_and_state_are_left_out_when_not_given(gateway, fake):
    gateway.send_subscribe_message("o-user", REMINDER, data())
    assert set(fake.calls(PATH)[0]["json"]) == {"touser", "template_id", "data", "lang"}


def test_an_expired_token_is_refreshed_once_and_the_message_sent_once(gateway, fake):
    gateway.access_token()
    fake.expire_tokens()
    assert send(gateway)["errcode"] == 0
    assert [c["path"] for c in fake.calls()] == ["/cgi-bin/stable_token", PATH, "/cgi-bin/stable_token", PATH]
    assert len(fake.messages()) == 1


def test_a_token_refused_twice_is_unavailable_and_was_not_sent(gateway, fake):
    gateway.access_token()
    fake.fail(PATH, errcode=40001, times=5)
    with pytest.raises(WeChatUnavailable) as raised:
        send(gateway)
    assert raised.value.errcode == 40001 and raised.value.request_sent is False
    assert len(fake.calls(PATH)) == 2 and fake.messages() == []


def test_a_dropped_answer_may_have_been_sent(gateway, fake):
    gateway.access_token()
    fake.drop(PATH)
    with pytest.raises(WeChatUnavailable) as raised:
        send(gateway)
    assert raised.value.request_sent is True and raised.value.errcode is None
    assert len(fake.messages()) == 1  # and it was


def test_an_answer_later_than_the_timeout_may_have_been_sent(fake):
    gateway = direct_gateway(fake, timeout=0.5)
    gateway.access_token()
    fake.delay(PATH, 1.5)
    with pytest.raises(WeChatUnavailable) as raised:
        send(gateway)
    assert raised.value.request_sent is True
    assert len(fake.messages()) == 1


def test_a_closed_port_was_not_sent(fake):
    store = MemoryTokenStore()
    store.refresh(fake.app_id, lambda force: ("a-token-we-hold", 7200))
    gateway = WeChatGateway(fake.app_id, fake.app_secret, f"http://127.0.0.1:{closed_port()}/", 1.0, store)
    with pytest.raises(WeChatUnavailable) as raised:
        send(gateway)
    assert raised.value.request_sent is False and raised.value.errcode is None


def test_no_token_to_be_had_means_not_sent_whatever_happened_to_the_token_call(fake):
    gateway = direct_gateway(fake, timeout=0.5)
    fake.delay("/cgi-bin/stable_token", 1.5)  # the token call itself may have reached WeChat ...
    with pytest.raises(WeChatUnavailable) as raised:
        send(gateway)
    assert raised.value.request_sent is False  # ... but the message never left
    assert fake.calls(PATH) == []
    gateway = WeChatGateway(fake.app_id, fake.app_secret, f"http://127.0.0.1:{closed_port()}/", 1.0,
                            MemoryTokenStore())
    with pytest.raises(WeChatUnavailable) as raised:
        send(gateway)
    assert raised.value.request_sent is False


@pytest.mark.parametrize("status, body", [(502, "<html>Bad Gateway</html>"), (200, "<html>portal</html>")])
def test_a_broken_answer_may_have_been_sent(gateway, fake, status, body):
    gateway.access_token()
    fake.fail(PATH, http_status=status, body=body)
    with pytest.raises(WeChatUnavailable) as raised:
        send(gateway)
    assert raised.value.request_sent is True


def test_busy_is_unavailable_and_not_sent(gateway, fake):
    fake.fail(PATH, errcode=-1)
    with pytest.raises(WeChatUnavailable) as raised:
        send(gateway)
    assert type(raised.value) is WeChatUnavailable
    assert raised.value.errcode == -1 and raised.value.request_sent is False
    assert fake.messages() == []
    assert send(gateway)["errcode"] == 0


def test_a_refused_user_is_subscription_refused(gateway, fake):
    fake.refuse("o-no")
    with pytest.raises(SubscriptionRefused) as raised:
        send(gateway, "o-no")
    assert raised.value.errcode == 43101
    assert not isinstance(raised.value, WeChatUnavailable)


def test_a_spent_quota_is_quota_exceeded(gateway, fake):
    fake.quota(REMINDER, 1)
    send(gateway, "o-1")
    with pytest.raises(QuotaExceeded) as raised:
        send(gateway, "o-2")
    assert raised.value.errcode == 45009 and raised.value.request_sent is False
    # Callers that only care about "not now" (content checks, sign-in) still see it as that.
    assert isinstance(raised.value, WeChatUnavailable)


def test_a_thing_of_21_characters_is_a_final_error_naming_the_keyword(gateway, fake):
    with pytest.raises(WeChatError) as raised:
        send(gateway, data=data(tip="这是一条超过二十个字符的提示文字微信会拒绝它"))
    assert type(raised.value) is WeChatError
    assert raised.value.errcode == 47003 and "data.thing4.value invalid" in raised.value.errmsg


@pytest.mark.parametrize("kwargs, errcode", [
    ({"template_id": "not-ours"}, 40037),
    ({"openid": ""}, 40003),
    ({"page": "/pages/station/index"}, 41030),
    ({"miniprogram_state": "release"}, 47003),
])
def test_a_bad_message_is_a_final_error(gateway, fake, kwargs, errcode):
    with pytest.raises(WeChatError) as raised:
        send(gateway, **kwargs)
    assert type(raised.value) is WeChatError and raised.value.errcode == errcode
    assert fake.messages() == []


def _connection_error(reason) -> requests.ConnectionError:
    return requests.ConnectionError(MaxRetryError(None, "/x", reason))


@pytest.mark.parametrize("exc, never_sent", [
    (requests.ConnectTimeout("connect timed out"), True),
    (_connection_error(NewConnectionError(None, "refused")), True),
    (_connection_error(ProxyError("proxy", NewConnectionError(None, "refused"))), True),
    (requests.ReadTimeout("read timed out"), False),
    (_connection_error(ReadTimeoutError(None, "/x", "read timed out")), False),
    (requests.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError())), False),
    (_connection_error(ProxyError("proxy", ProtocolError("Connection aborted."))), False),
    (requests.exceptions.SSLError("handshake"), False),
    (requests.exceptions.ChunkedEncodingError("broken"), False),
])
def test_only_a_connection_never_made_counts_as_not_sent(exc, never_sent):
    """The cases a socket test cannot stage reliably (a proxy, a connect timeout)."""
    assert _never_sent(exc) is never_sent
