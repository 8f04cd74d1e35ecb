"""The fake WeChat's subscribe/send over plain HTTP: WeChat's checks, grants, quotas, faults and
the message log; and its pushes, checked against wechatpy's independent implementation."""
from __future__ import annotations

import hashlib
import json
import threading
import time
from datetime import datetime

import pytest
import requests
import xmltodict
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException

from backend import clock
from backend.wechat import fake_push, fake_subscribe, templates
from config import (
    FAKE_TEMPLATE_IDS,
    FAKE_WECHAT_CALLBACK_AES_KEY,
    FAKE_WECHAT_CALLBACK_TOKEN,
)
from tests.wechat.test_fake_server import stable

PATH = "cgi-bin/message/subscribe/send"
REMINDER = FAKE_TEMPLATE_IDS["reception_reminder"]
STATUS = FAKE_TEMPLATE_IDS["issue_status"]


def reminder_data(tip="请按时到站", **changes) -> dict:
    values = {"thing1": "古城社区联络站", "date2": "2027年1月6日", "thing3": "古城路1号", "thing4": tip, **changes}
    return {key: {"value": value} for key, value in values.items()}


def body(touser="o-user", template_id=REMINDER, **changes) -> dict:
    return {"touser": touser, "template_id": template_id, "data": reminder_data(),
            "page": "pages/station/index", "miniprogram_state": "developer", "lang": "zh_CN", **changes}


def send(fake, payload=None, token=None, timeout=5, session=requests):
    token = token if token is not None else stable(fake)["access_token"]
    raw = payload if isinstance(payload, (bytes, str)) else json.dumps(payload if payload is not None else body())
    return session.post(fake.base_url + PATH, params={"access_token": token}, data=raw,
                        headers={"Content-Type": "application/json"}, timeout=timeout).json()


def errcode(answer: dict) -> int:
    return answer["errcode"]


# -- what WeChat accepts -------------------------------------------------------------------------

def test_an_accepted_message_is_answered_with_a_msgid_and_recorded_once(fake):
    before = fake.now()
    answer = send(fake)
    assert answer["errcode"] == 0 and answer["errmsg"] == "ok"
    assert isinstance(answer["msgid"], int) and answer["msgid"] > 10**17
    [message] = fake.messages()
    assert message["msgid"] == answer["msgid"]
    assert {k: message[k] for k in ("touser", "template_id", "page", "miniprogram_state", "lang")} == {
        "touser": "o-user", "template_id": REMINDER, "page": "pages/station/index",
        "miniprogram_state": "developer", "lang": "zh_CN"}
    assert message["data"] == reminder_data()
    received = datetime.fromisoformat(message["received_at"])
    assert received.utcoffset().total_seconds() == 8 * 3600 and received >= before.replace(microsecond=0)
    second = send(fake, body(touser="o-other"))
    assert second["msgid"] > answer["msgid"]
    assert [m["touser"] for m in fake.messages()] == ["o-user", "o-other"]


def test_optional_fields_may_be_left_out(fake):
    minimal = {"touser": "o-user", "template_id": REMINDER, "data": reminder_data()}
    assert errcode(send(fake, minimal)) == 0
    assert fake.messages()[0]["page"] is None and fake.messages()[0]["miniprogram_state"] is None


@pytest.mark.parametrize("token, code", [("", 41001), ("made-up", 40001)])
def test_the_access_token_is_checked(fake, token, code):
    answer = requests.post(fake.base_url + PATH, params={"access_token": token} if token else {},
                           json=body(), timeout=5).json()
    assert answer["errcode"] == code
    assert fake.messages() == []


def test_an_expired_token_is_42001(fake):
    token = stable(fake)["access_token"]
    fake.expire_tokens()
    assert errcode(send(fake, token=token)) == 42001


@pytest.mark.parametrize("payload, code", [
    (b"not json", 47001),
    ("[1, 2]", 47001),
    (body(touser=""), 40003),
    ({k: v for k, v in body().items() if k != "touser"}, 40003),
    (body(template_id="not-a-template"), 40037),
    (body(page="/pages/station/index"), 41030),
    (body(page="pages/station index"), 41030),
    (body(miniprogram_state="release"), 47003),
    (body(lang="fr_FR"), 47003),
    (body(data=None), 47003),
])
def test_what_wechat_refuses(fake, payload, code):
    answer = send(fake, payload)
    assert answer["errcode"] == code, answer
    assert " rid: " in answer["errmsg"]
    assert fake.messages() == []


def test_a_page_may_carry_a_query(fake):
    assert errcode(send(fake, body(page="pages/issue/detail?no=20270106-000001&from=msg"))) == 0


def test_a_thing_of_21_characters_is_47003_naming_the_keyword(fake):
    answer = send(fake, body(data=reminder_data(tip="这是一条超过二十个字符的提示文字微信会拒绝它")))
    assert answer["errcode"] == 47003
    assert answer["errmsg"].startswith("argument invalid! data.thing4.value invalid rid: ")
    assert errcode(send(fake, body(data=reminder_data(tip="二" * 20)))) == 0


@pytest.mark.parametrize("data, keyword", [
    ({k: v for k, v in reminder_data().items() if k != "thing3"}, "thing3"),  # one missing
    ({**reminder_data(), "thing9": {"value": "多余"}}, "thing9"),  # one too many
    ({**reminder_data(), "thing1": "古城社区联络站"}, "thing1"),  # not {"value": ...}
    ({**reminder_data(), "thing1": {"value": 12}}, "thing1"),
    ({**reminder_data(), "thing1": {"value": ""}}, "thing1"),
    ({**reminder_data(), "date2": {"value": "2027-01-06"}}, "date2"),
])
def test_data_must_hold_exactly_the_templates_keywords(fake, data, keyword):
    answer = send(fake, body(data=data))
    assert answer["errcode"] == 47003 and f"data.{keyword}.value invalid" in answer["errmsg"]


@pytest.mark.parametrize("kind, good, bad", [
    ("thing", ["古城社区联络站", "a" * 20, "Room 3, 2F!"], ["a" * 21, "两行\n文字"]),
    ("number", ["0", "12", "3.14", "9" * 32], ["-1", "1e5", "9" * 33, "1,000", "12个"]),
    ("letter", ["abc", "A" * 32], ["ab1", "a" * 33, "中文"]),
    ("symbol", ["%", "!@#$%"], ["!@#$%^", "a", "1"]),
    ("character_string", ["20270106-000123", "A1-b2_c3.#@+", "x" * 32], ["x" * 33, "编号1", "a b"]),
    ("time", ["15:01", "2019年10月1日 15:01", "2019年10月1日15:01", "15:01~17:30",
              "2019年10月1日 15:01 ~ 2019年10月1日 17:30"],
     ["25:00", "15:61", "2019-10-01 15:01", "2019年13月1日 15:01", "2019年2月30日 15:01", "1~2~3"]),
    ("date", ["2019年10月1日", "2019年10月1日 15:01", "2019年10月1日~2019年10月3日"],
     ["2019-10-01", "10月1日", "2019年10月32日", "15:01"]),
    ("amount", ["100", "¥100.50", "100元", "$3"], ["一百元", "¥" + "1" * 11, "¥¥1"]),
    ("phone_number", ["13800001234", "+86-0572-5123456"], ["电话", "1" * 18, "+-"]),
    ("car_number", ["浙E12345", "浙E1234学", "AB123"], ["浙E123456789", "浙江E1", "浙E-123"]),
    ("name", ["张三", "欧阳娜娜", "Alice Smith", "阿卜杜·买买提"], ["张三1", "张" * 11, "a" * 21]),
    ("phrase", ["已受理", "办结"], ["已经处理完毕了", "ok", "受理1", "已 受理"]),
])
def test_values_are_checked_by_their_keywords_kind(kind, good, bad):
    assert [v for v in good if not fake_subscribe.fits(kind, v)] == []
    assert [v for v in bad if fake_subscribe.fits(kind, v)] == []


def test_a_value_of_each_kind_is_checked_over_http(fake):
    fake.configure(templates={"t-all": ["number1", "phrase2", "time3", "character_string4"]})
    good = {"number1": "3", "phrase2": "已受理", "time3": "2027年1月6日 09:30", "character_string4": "20270106-000001"}
    for keyword, wrong in (("number1", "三"), ("phrase2", "accepted"), ("time3", "明天"), ("character_string4", "编号")):
        data = {k: {"value": wrong if k == keyword else v} for k, v in good.items()}
        answer = send(fake, body(template_id="t-all", data=data, page=None))
        assert answer["errcode"] == 47003 and f"data.{keyword}.value" in answer["errmsg"]
    assert errcode(send(fake, body(template_id="t-all", data={k: {"value": v} for k, v in good.items()}))) == 0
    # The development templates are gone: configure replaced them.
    assert errcode(send(fake, body())) == 40037


def test_the_fakes_templates_are_the_apps_with_the_same_kinds():
    """The fake keeps its own list; it must name the development ids and keywords of the app's."""
    for name, template in templates.TEMPLATES.items():
        keywords = fake_subscribe.DEFAULT_TEMPLATES[FAKE_TEMPLATE_IDS[name]]
        assert sorted(keywords) == sorted(template.keys)
        assert {k: fake_subscribe.keyword_kind(k) for k in keywords} == template.keys


def test_the_apps_fitted_values_are_values_wechat_accepts():
    moment = datetime(2027, 1, 6, 9, 5, tzinfo=clock.BEIJING)
    assert fake_subscribe.fits("thing", templates.thing("一条很长很长的说明文字，超过了二十个字符的上限，需要截断"))
    assert fake_subscribe.fits("thing", templates.thing("  多行\n文字  "))
    assert fake_subscribe.fits("phrase", templates.phrase("已受理（处理中）"))
    assert fake_subscribe.fits("character_string", templates.character_string("20270106-000123 编号"))
    assert fake_subscribe.fits("number", templates.number(42))
    assert fake_subscribe.fits("date", templates.date_value(moment.date()))
    assert fake_subscribe.fits("time", templates.time_value(moment))


def test_templates_with_unknown_kinds_are_refused(fake):
    with pytest.raises(TypeError):
        fake.configure(templates={"t": ["colour1"]})
    response = requests.post(fake.base_url + "__fake__/config", json={"templates": {"t": "thing1"}}, timeout=5)
    assert response.status_code == 400


# -- grants and quotas ----------------------------------------------------------------------------

def test_a_refused_user_gets_43101_for_every_template_or_one(fake):
    token = stable(fake)["access_token"]
    fake.refuse("o-no")
    fake.refuse("o-half", STATUS)
    assert errcode(send(fake, body(touser="o-no"), token)) == 43101
    assert errcode(send(fake, body(touser="o-half"), token)) == 0
    status_data = {"character_string1": {"value": "20270106-000001"}, "phrase2": {"value": "已受理"},
                   "thing3": {"value": "路灯坏了"}, "time4": {"value": "2027年1月6日 09:30"}}
    assert errcode(send(fake, body(touser="o-half", template_id=STATUS, data=status_data), token)) == 43101
    assert errcode(send(fake, body(touser="o-no", template_id=STATUS, data=status_data), token)) == 43101
    assert [m["touser"] for m in fake.messages()] == ["o-half"]


def test_strict_grants_let_one_message_through_each(fake):
    token = stable(fake)["access_token"]
    fake.configure(grants="strict")
    assert errcode(send(fake, body(touser="o-a"), token)) == 43101
    fake.grant("o-a", REMINDER, count=2)
    assert [errcode(send(fake, body(touser="o-a"), token)) for _ in range(3)] == [0, 0, 43101]
    fake.grant("o-a", REMINDER)
    fake.refuse("o-a", REMINDER)  # a refusal wins over a grant left
    assert errcode(send(fake, body(touser="o-a"), token)) == 43101
    assert len(fake.messages()) == 2


def test_a_spent_quota_is_45009_until_a_new_day(fake):
    token = stable(fake)["access_token"]
    fake.quota(REMINDER, 2)
    answers = [send(fake, body(touser=f"o-{n}"), token) for n in range(3)]
    assert [a["errcode"] for a in answers] == [0, 0, 45009]
    assert answers[2]["errmsg"].startswith("reach max api daily quota limit")
    fake.new_day()
    assert errcode(send(fake, body(touser="o-3"), token)) == 0
    fake.quota(REMINDER, 0)
    assert errcode(send(fake, body(touser="o-4"), token)) == 45009
    assert len(fake.messages()) == 3


def test_a_quota_for_one_day_counts_on_that_day_of_the_fakes_clock(fake):
    token = stable(fake)["access_token"]
    start = datetime(2027, 1, 15, 23, 59, 59, tzinfo=clock.BEIJING)
    fake.configure(clock={"start": start.isoformat(), "speed": 1.0})
    fake.quota(REMINDER, 1, day="2027-01-15")
    assert errcode(send(fake, body(touser="o-1"), token)) == 0
    assert errcode(send(fake, body(touser="o-2"), token)) == 45009
    time.sleep(1.1)  # midnight in Beijing on the fake's clock: another day, no rule
    assert [errcode(send(fake, body(touser=f"o-{n}"), token)) for n in range(3, 6)] == [0, 0, 0]
    days = [m["received_at"][:10] for m in fake.messages()]
    assert days == ["2027-01-15", "2027-01-16", "2027-01-16", "2027-01-16"]


def test_a_failure_records_nothing_and_uses_no_grant(fake):
    token = stable(fake)["access_token"]
    fake.configure(grants="strict")
    fake.grant("o-a", REMINDER)
    fake.fail(PATH, errcode=-1)
    assert errcode(send(fake, body(touser="o-a"), token)) == -1
    assert fake.messages() == []
    assert errcode(send(fake, body(touser="o-a"), token)) == 0


# -- answers lost -----------------------------------------------------------------------------------

def test_a_dropped_answer_was_still_sent_and_used_its_grant(fake):
    token = stable(fake)["access_token"]
    fake.configure(grants="strict")
    fake.grant("o-a", REMINDER, count=1)
    fake.drop(PATH)
    with pytest.raises(requests.ConnectionError):
        send(fake, body(touser="o-a"), token)
    assert [m["touser"] for m in fake.messages()] == ["o-a"]
    assert errcode(send(fake, body(touser="o-a"), token)) == 43101  # the grant went with it
    assert len(fake.calls(PATH)) == 2


def test_a_drop_closes_a_kept_alive_connection_after_the_request(fake):
    token = stable(fake)["access_token"]
    session = requests.Session()
    assert errcode(send(fake, body(touser="o-1"), token, session=session)) == 0
    fake.drop(PATH)
    with pytest.raises(requests.ConnectionError):
        send(fake, body(touser="o-2"), token, session=session)
    assert errcode(send(fake, body(touser="o-3"), token, session=session)) == 0
    assert [m["touser"] for m in fake.messages()] == ["o-1", "o-2", "o-3"]


def test_a_delayed_answer_was_sent_before_the_client_gave_up(fake):
    token = stable(fake)["access_token"]
    fake.delay(PATH, 2.0)
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        send(fake, body(touser="o-slow"), token, timeout=0.5)
    assert time.monotonic() - started < 1.5
    assert [m["touser"] for m in fake.messages()] == ["o-slow"]  # recorded before the answer


def test_a_delay_shorter_than_the_timeout_just_answers_late(fake):
    token = stable(fake)["access_token"]
    fake.delay(PATH, 0.3)
    started = time.monotonic()
    assert errcode(send(fake, body(), token)) == 0
    assert time.monotonic() - started >= 0.3


# -- controls over HTTP -----------------------------------------------------------------------------

def test_the_controls_over_http(fake):
    control = fake.base_url + "__fake__/"
    token = stable(fake)["access_token"]

    def post(name, payload=None):
        response = requests.post(control + name, json=payload or {}, timeout=5)
        assert response.status_code == 200, response.text
        return response.json()

    post("config", {"grants": "strict"})
    post("grant", {"openid": "o-a", "template_id": REMINDER, "count": 2})
    post("refuse", {"openid": "o-b"})
    post("quota", {"template_id": REMINDER, "per_day": 1})
    assert errcode(send(fake, body(touser="o-b"), token)) == 43101
    assert errcode(send(fake, body(touser="o-a"), token)) == 0
    assert errcode(send(fake, body(touser="o-a"), token)) == 45009
    post("new-day")
    post("drop", {"path": PATH})
    with pytest.raises(requests.ConnectionError):
        send(fake, body(touser="o-a"), token)
    messages = requests.get(control + "messages", timeout=5).json()
    assert [m["touser"] for m in messages] == ["o-a", "o-a"]
    assert all(isinstance(m["msgid"], int) for m in messages)
    post("config", {"clock": {"start": "2027-01-06T08:00:00+08:00", "speed": 1}})
    post("new-day")
    post("config", {"grants": "open"})
    assert errcode(send(fake, body(touser="o-c"), token)) == 0
    assert fake.messages()[-1]["received_at"].startswith("2027-01-06T08:00")
    for name, payload in (("quota", {"template_id": REMINDER, "per_day": -1}), ("grant", {"openid": "x"}),
                          ("quota", {"template_id": REMINDER, "per_day": 1, "day": "15/01/2027"}),
                          ("config", {"clock": {"start": "2027-01-06T08:00:00"}}), ("config", {"grants": "some"}),
                          ("judge-media", {"trace_id": "none", "suggest": "pass", "callback_url": "http://x/",
                                           "token": "t"})):
        assert requests.post(control + name, json=payload, timeout=5).status_code == 400, name
    post("reset")
    assert requests.get(control + "messages", timeout=5).json() == []
    assert errcode(send(fake, body(touser="o-b"))) == 0  # the refusal is gone too


def test_sends_from_16_threads_at_once_are_all_recorded(fake):
    """The outbox benchmark sends from many threads: every message recorded once, ids unique.
    (How fast the fake answers is bench/outbox.py's baseline, not a test's business.)"""
    token = stable(fake)["access_token"]
    per_thread, threads = 100, 16
    errors: list = []

    def work(n):
        session = requests.Session()
        for m in range(per_thread):
            answer = send(fake, body(touser=f"o-{n}-{m}"), token, session=session)
            if answer["errcode"] != 0:
                errors.append(answer)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    assert sorted(m["touser"] for m in fake.messages()) == sorted(
        f"o-{n}-{m}" for n in range(threads) for m in range(per_thread))
    assert len({m["msgid"] for m in fake.messages()}) == per_thread * threads


# -- pushes, read back with wechatpy ---------------------------------------------------------------

def test_a_secure_push_decrypts_with_wechatpy_and_names_the_app(fake):
    event = fake_push.popup_event("o-a", [(REMINDER, "accept", 0), (STATUS, "reject", 0)], create_time=1)
    query, raw, content_type = fake_push.callback_request(
        event, token=FAKE_WECHAT_CALLBACK_TOKEN, app_id=fake.app_id, aes_key=FAKE_WECHAT_CALLBACK_AES_KEY,
        timestamp=1700000000, nonce="12345")
    assert content_type == "application/json" and query["encrypt_type"] == "aes"
    envelope = json.loads(raw)
    assert set(envelope) == {"ToUserName", "Encrypt"}
    crypto = WeChatCrypto(FAKE_WECHAT_CALLBACK_TOKEN, FAKE_WECHAT_CALLBACK_AES_KEY, fake.app_id)
    plain = crypto.decrypt_message(envelope, query["msg_signature"], query["timestamp"], query["nonce"])
    assert json.loads(plain) == event
    # The same bytes for another app id are refused by wechatpy's app id check.
    other = WeChatCrypto(FAKE_WECHAT_CALLBACK_TOKEN, FAKE_WECHAT_CALLBACK_AES_KEY, "wx-someone-else")
    with pytest.raises(InvalidAppIdException):
        other.decrypt_message(envelope, query["msg_signature"], query["timestamp"], query["nonce"])


def test_a_secure_xml_push_nests_the_list_as_wechat_does(fake):
    event = fake_push.sent_event("o-a", [(REMINDER, 1234567, 0, "success")], create_time=1)
    query, raw, content_type = fake_push.callback_request(
        event, token="tok", app_id=fake.app_id, aes_key=FAKE_WECHAT_CALLBACK_AES_KEY, fmt="xml",
        timestamp=1700000000, nonce="1")
    assert content_type == "text/xml" and raw.startswith(b"<xml><ToUserName><![CDATA[")
    crypto = WeChatCrypto("tok", FAKE_WECHAT_CALLBACK_AES_KEY, fake.app_id)
    plain = crypto.decrypt_message(raw, query["msg_signature"], query["timestamp"], query["nonce"])
    parsed = xmltodict.parse(plain)["xml"]
    assert parsed["Event"] == "subscribe_msg_sent_event"
    assert parsed["SubscribeMsgSentEvent"]["List"] == {"TemplateId": REMINDER, "MsgID": "1234567",
                                                      "ErrorCode": "0", "ErrorStatus": "success"}


def test_a_plain_push_is_signed_without_msg_signature():
    event = fake_push.change_event("o-a", [(REMINDER, "reject")])
    query, raw, _ = fake_push.callback_request(event, token="tok", app_id="wx1", timestamp=1700000000, nonce="7")
    assert set(query) == {"signature", "timestamp", "nonce"}
    assert json.loads(raw) == event
    assert query["signature"] == hashlib.sha1("".join(sorted(["tok", "1700000000", "7"])).encode()).hexdigest()
