"""/wechat/callback served over a real socket, pushed to by the fake WeChat as WeChat pushes:
signatures, secure mode in JSON and XML, replays, and what each event changes."""
from __future__ import annotations

import io
import json
import time

import pytest
import requests

from backend.services.content import uploads
from backend.wechat import fake_push
from config import (
    FAKE_TEMPLATE_IDS,
    FAKE_WECHAT_CALLBACK_AES_KEY,
    FAKE_WECHAT_CALLBACK_TOKEN,
)
from models import (
    MediaCheckStatus,
    OutboxMessage,
    OutboxState,
    SubscriptionEvent,
    SubscriptionGrant,
    Upload,
    User,
    db,
)
from tests import images
from tests.factories import auth, wx_login

TOKEN = FAKE_WECHAT_CALLBACK_TOKEN
AES_KEY = FAKE_WECHAT_CALLBACK_AES_KEY
REMINDER = FAKE_TEMPLATE_IDS["reception_reminder"]
STATUS = FAKE_TEMPLATE_IDS["issue_status"]


@pytest.fixture
def url(live_server):
    return live_server + "/wechat/callback"


@pytest.fixture
def xml_mode(app, monkeypatch):
    monkeypatch.setitem(app.config, "WECHAT_CALLBACK_FORMAT", "xml")


@pytest.fixture
def plain_mode(app, monkeypatch):
    monkeypatch.setitem(app.config, "WECHAT_CALLBACK_AES_KEY", None)


def user_with_grants(app, openid: str, available: int = 2, template_id: str = REMINDER) -> int:
    with app.app_context():
        user = User(openid=openid)
        db.session.add(user)
        db.session.flush()
        db.session.add(SubscriptionGrant(user_id=user.id, template_id=template_id, available=available,
                                         accepted_total=available, last_status="accept"))
        db.session.commit()
        return user.id


def grant(app, user_id: int, template_id: str = REMINDER) -> tuple | None:
    with app.app_context():
        row = db.session.scalar(db.select(SubscriptionGrant).filter_by(user_id=user_id, template_id=template_id))
        return (row.available, row.last_status) if row else None


def events(app) -> list[tuple]:
    with app.app_context():
        return [(e.user_id, e.openid, e.template_id, e.status, e.source)
                for e in db.session.scalars(db.select(SubscriptionEvent).order_by(SubscriptionEvent.id))]


def post_signed(client, raw: bytes, *, timestamp: int | None = None, secure_envelope: bool = False,
                fmt: str = "json"):
    """POST `raw` with a valid signature (and, for an envelope, a valid msg_signature over its
    Encrypt): what reaches the parsing once the signatures hold. Through the test client: these
    are about reading bodies, not about the socket."""
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    query = {"signature": fake_push.signature(TOKEN, stamp, "99"), "timestamp": stamp, "nonce": "99"}
    if secure_envelope:
        encrypted = json.loads(raw)["Encrypt"] if fmt == "json" else "x"
        query.update(encrypt_type="aes", msg_signature=fake_push.signature(TOKEN, stamp, "99", encrypted))
    return client.post("/wechat/callback", query_string=query, data=raw,
                       content_type="application/json" if fmt == "json" else "text/xml")


# -- the handshake -----------------------------------------------------------------------------------

def test_the_handshake_echoes_echostr(fake_wechat, url):
    status, body, echostr = fake_wechat.handshake(url, token=TOKEN)
    assert (status, body) == (200, echostr)
    assert requests.get(url, params={}, timeout=5).status_code == 403


def test_a_handshake_with_another_token_is_403(fake_wechat, url):
    status, body, echostr = fake_wechat.handshake(url, token="not-our-token")
    assert status == 403 and echostr not in body


def test_nothing_is_served_without_a_configured_token(app, fake_wechat, url, monkeypatch):
    monkeypatch.setitem(app.config, "WECHAT_CALLBACK_TOKEN", None)
    assert fake_wechat.handshake(url, token=TOKEN)[0] == 404
    assert fake_wechat.push(url, fake_push.change_event("o", [(REMINDER, "reject")]), token=TOKEN)[0] == 404


# -- secure mode, JSON and XML -----------------------------------------------------------------------

def test_a_popup_refusal_empties_the_grant_and_an_accept_is_only_recorded(app, fake_wechat, url):
    user_id = user_with_grants(app, "o-pop")
    user_with_grants(app, "o-pop-other")
    event = fake_push.popup_event("o-pop", [(REMINDER, "reject", 0), (STATUS, "accept", 0)])
    assert fake_wechat.push(url, event, token=TOKEN, aes_key=AES_KEY) == (200, "success")
    assert grant(app, user_id) == (0, "reject")
    assert grant(app, user_id, STATUS) is None  # the same tap reaches us from the mini-program: counted there
    assert events(app) == [(user_id, "o-pop", REMINDER, "reject", "popup_event"),
                           (user_id, "o-pop", STATUS, "accept", "popup_event")]
    assert grant(app, user_id + 1) == (2, "accept")  # nobody else's


def test_secure_xml_is_read_as_well(app, fake_wechat, url, xml_mode):
    user_id = user_with_grants(app, "o-xml")
    one = fake_push.change_event("o-xml", [(REMINDER, "reject")])
    assert fake_wechat.push(url, one, token=TOKEN, aes_key=AES_KEY, fmt="xml") == (200, "success")
    assert grant(app, user_id) == (0, "reject")
    several = fake_push.popup_event("o-xml", [(REMINDER, "accept", 1), (STATUS, "reject", 1)])
    assert fake_wechat.push(url, several, token=TOKEN, aes_key=AES_KEY, fmt="xml") == (200, "success")
    assert [e[3:] for e in events(app)] == [("reject", "change_event"), ("accept", "popup_event"),
                                            ("reject", "popup_event")]
    # JSON no longer: the configured format decides.
    assert fake_wechat.push(url, one, token=TOKEN, aes_key=AES_KEY, fmt="json")[0] == 400


def test_plain_mode_takes_the_event_as_the_body(app, fake_wechat, url, plain_mode):
    user_id = user_with_grants(app, "o-plain")
    event = fake_push.change_event("o-plain", [(REMINDER, "reject")])
    assert fake_wechat.push(url, event, token=TOKEN) == (200, "success")
    assert grant(app, user_id) == (0, "reject")
    # An encrypted push while we hold no key is a misconfiguration, said plainly, not a 500.
    assert fake_wechat.push(url, event, token=TOKEN, aes_key=AES_KEY)[0] == 400


def test_secure_mode_takes_nothing_in_plain_text(app, fake_wechat, url):
    user_id = user_with_grants(app, "o-sneak")
    event = fake_push.change_event("o-sneak", [(REMINDER, "reject")])
    assert fake_wechat.push(url, event, token=TOKEN)[0] == 403
    assert grant(app, user_id) == (2, "accept") and events(app) == []


def test_a_tampered_msg_signature_is_403(app, fake_wechat, url):
    user_id = user_with_grants(app, "o-tamper")
    event = fake_push.change_event("o-tamper", [(REMINDER, "reject")])
    query, raw, content_type = fake_push.callback_request(event, token=TOKEN, app_id=fake_wechat.app_id,
                                                          aes_key=AES_KEY, timestamp=int(time.time()))
    tampered = {**query, "msg_signature": query["msg_signature"][::-1]}
    response = requests.post(url, params=tampered, data=raw, headers={"Content-Type": content_type}, timeout=5)
    assert response.status_code == 403
    assert grant(app, user_id) == (2, "accept")
    response = requests.post(url, params=query, data=raw, headers={"Content-Type": content_type}, timeout=5)
    assert (response.status_code, response.text) == (200, "success")
    assert grant(app, user_id) == (0, "reject")


def test_a_push_encrypted_for_another_app_is_403(app, url):
    user_id = user_with_grants(app, "o-other-app")
    event = fake_push.change_event("o-other-app", [(REMINDER, "reject")])
    status, _ = fake_push.push(url, event, token=TOKEN, app_id="wx-another-app", aes_key=AES_KEY)
    assert status == 403 and grant(app, user_id) == (2, "accept")


def test_a_wrong_signature_is_403(app, fake_wechat, url):
    event = fake_push.change_event("o", [(REMINDER, "reject")])
    assert fake_wechat.push(url, event, token="not-our-token", aes_key=AES_KEY)[0] == 403


# 30 s either side of the 300 s window: a loaded machine takes a second or more between signing
# and checking, which a timestamp 1 s in the future would not survive.
@pytest.mark.parametrize("age, status", [(330, 403), (-330, 403), (270, 200), (-270, 200)])
def test_an_old_or_future_timestamp_is_a_replay(app, fake_wechat, url, age, status):
    user_id = user_with_grants(app, "o-replay")
    event = fake_push.change_event("o-replay", [(REMINDER, "reject")])
    answer = fake_wechat.push(url, event, token=TOKEN, aes_key=AES_KEY, timestamp=int(time.time()) - age)
    assert answer[0] == status
    assert grant(app, user_id) == ((2, "accept") if status == 403 else (0, "reject"))


# -- what the events change -----------------------------------------------------------------------

def test_a_media_verdict_lets_others_see_the_image(app, client, fake_wechat, url):
    sender = wx_login(client, "sender")
    other = wx_login(client, "other")
    posted = client.post("/api/v1/uploads", headers=auth(sender["token"]),
                         data={"file": (io.BytesIO(images.jpeg()), "photo.jpg", "image/jpeg")},
                         content_type="multipart/form-data")
    assert posted.status_code == 201
    upload_id = posted.get_json()["upload"]["id"]
    [check] = fake_wechat.media_checks()

    def seen_by_other():
        with app.app_context():
            return uploads.media_url(db.session.get(Upload, upload_id), other["user"]["id"])

    assert seen_by_other() is None
    assert fake_wechat.judge_media(check["trace_id"], "review", url, token=TOKEN, aes_key=AES_KEY) == (200, "success")
    assert seen_by_other() is None
    assert fake_wechat.judge_media(check["trace_id"], "pass", url, token=TOKEN, aes_key=AES_KEY) == (200, "success")
    link = seen_by_other()
    assert link is not None
    with app.app_context():
        assert db.session.get(Upload, upload_id).media_check_status is MediaCheckStatus.pass_
    served = client.get(link.split("lianluozhan.example.cn", 1)[1])
    assert served.status_code == 200 and served.data == images.jpeg()


def test_a_verdict_in_xml_and_one_wechat_could_not_give(app, client, fake_wechat, url, xml_mode):
    sender = wx_login(client, "sender")
    client.post("/api/v1/uploads", headers=auth(sender["token"]),
                data={"file": (io.BytesIO(images.jpeg()), "photo.jpg", "image/jpeg")},
                content_type="multipart/form-data")
    [check] = fake_wechat.media_checks()
    assert fake_wechat.judge_media(check["trace_id"], "risky", url, token=TOKEN, aes_key=AES_KEY, fmt="xml")[0] == 200
    with app.app_context():
        assert db.session.scalar(db.select(Upload.media_check_status)) is MediaCheckStatus.risky
    failed = fake_push.media_check_event(check["openid"], check["trace_id"], "pass", appid=fake_wechat.app_id)
    failed.update(errcode=-1, errmsg="system error")
    assert fake_wechat.push(url, failed, token=TOKEN, aes_key=AES_KEY, fmt="xml")[0] == 200
    with app.app_context():
        assert db.session.scalar(db.select(Upload.media_check_status)) is MediaCheckStatus.error


def test_a_verdict_for_an_unknown_trace_id_is_answered_success(fake_wechat, url):
    event = fake_push.media_check_event("o", "no-such-trace", "pass", appid=fake_wechat.app_id)
    assert fake_wechat.push(url, event, token=TOKEN, aes_key=AES_KEY) == (200, "success")


def test_an_unknown_openid_is_recorded_without_a_user(app, fake_wechat, url):
    event = fake_push.popup_event("o-stranger", [(REMINDER, "reject", 0)])
    assert fake_wechat.push(url, event, token=TOKEN, aes_key=AES_KEY) == (200, "success")
    assert events(app) == [(None, "o-stranger", REMINDER, "reject", "popup_event")]
    with app.app_context():
        assert db.session.scalars(db.select(SubscriptionGrant)).all() == []


def test_a_failed_delivery_is_noted_on_the_outbox_message(app, fake_wechat, url):
    user_id = user_with_grants(app, "o-sent")
    with app.app_context():
        for msgid in ("111", "222"):
            db.session.add(OutboxMessage(recipient_id=user_id, template="reception_reminder", cause=f"c{msgid}",
                                         template_id=REMINDER, openid="o-sent", data={}, state=OutboxState.sent,
                                         wechat_msgid=msgid))
        db.session.commit()
    event = fake_push.sent_event("o-sent", [(REMINDER, 111, 10005, "fail:user reject"),
                                            (REMINDER, 222, 0, "success")])
    assert fake_wechat.push(url, event, token=TOKEN, aes_key=AES_KEY) == (200, "success")
    with app.app_context():
        rows = {r.wechat_msgid: r for r in db.session.scalars(db.select(OutboxMessage))}
        assert (rows["111"].state, rows["111"].last_errcode) == (OutboxState.sent, 10005)
        assert "fail:user reject" in rows["111"].last_error
        assert rows["222"].last_errcode is None and rows["222"].last_error is None


def test_an_event_we_do_not_handle_is_answered_success(fake_wechat, url):
    event = {"ToUserName": "gh_x", "FromUserName": "o", "CreateTime": 1, "MsgType": "text", "Content": "你好"}
    assert fake_wechat.push(url, event, token=TOKEN, aes_key=AES_KEY) == (200, "success")


# -- bodies we cannot read: 400, never 500 -----------------------------------------------------------

@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]", b'"text"', "{\"Event\": \"\u4e2d".encode()[:-1]])
def test_unreadable_json_is_400(client, plain_mode, raw):
    assert post_signed(client, raw).status_code == 400


@pytest.mark.parametrize("raw", [
    b"not xml",
    b"<xml><ToUserName>unclosed</xml>",
    b"<other/>",
    # An entity declaration (the start of "billion laughs" and external entities) is refused.
    (b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
     b"<xml><MsgType>event</MsgType><Event>&b;</Event></xml>"),
    b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Event>&e;</Event></xml>',
])
def test_unreadable_or_dangerous_xml_is_400(client, plain_mode, xml_mode, raw):
    assert post_signed(client, raw, fmt="xml").status_code == 400


@pytest.mark.parametrize("event", [
    {"MsgType": "event", "Event": "subscribe_msg_popup_event", "FromUserName": "o"},
    {"MsgType": "event", "Event": "subscribe_msg_change_event", "List": "reject"},
    {"MsgType": "event", "Event": "subscribe_msg_popup_event", "List": [1, 2]},
    {"MsgType": "event", "Event": "wxa_media_check", "result": {"suggest": "pass"}},
    {"MsgType": "event", "Event": "subscribe_msg_sent_event", "List": {"MsgID": "1", "ErrorCode": "x"}},
])
def test_events_missing_their_parts_are_400(client, plain_mode, event):
    assert post_signed(client, json.dumps(event).encode()).status_code == 400


@pytest.mark.parametrize("encrypted", ["not base64!", "YWJj", "QUJDREVGR0hJSktMTU5PUA==",
                                       "A" * 44, ""])
def test_a_signed_envelope_that_does_not_decrypt_is_400(client, encrypted):
    raw = json.dumps({"ToUserName": "gh_x", "Encrypt": encrypted}).encode()
    assert post_signed(client, raw, secure_envelope=True).status_code == 400


def test_a_truncated_ciphertext_is_400(client, fake_wechat):
    event = fake_push.change_event("o", [(REMINDER, "reject")])
    encrypted = fake_push.encrypt(json.dumps(event).encode(), AES_KEY, fake_wechat.app_id)
    for broken in (encrypted[:-24], encrypted[:24], encrypted[:-2]):
        raw = json.dumps({"ToUserName": "gh_x", "Encrypt": broken}).encode()
        # Garbage that happens to decrypt is refused by the app id check instead: never a 500.
        assert post_signed(client, raw, secure_envelope=True).status_code in (400, 403)


def test_an_oversized_body_is_not_a_500(client, plain_mode):
    response = post_signed(client, b"{" + b" " * (2 * 1024 * 1024) + b"}")
    assert response.status_code == 413


# -- the fake judging images by itself (the dev server's setting) --------------------------------

def upload_status_after(app, upload_id: int, seconds: float = 5.0) -> MediaCheckStatus:
    """The upload's check status once it is no longer pending, or pending after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        with app.app_context():
            status = db.session.get(Upload, upload_id).media_check_status
        if status is not MediaCheckStatus.pending or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


@pytest.mark.parametrize("suggest, fmt, expected", [(None, "json", MediaCheckStatus.pass_),
                                                    ("risky", "xml", MediaCheckStatus.risky)])
def test_the_fake_judges_images_by_itself_when_told(app, client, fake_wechat, url, monkeypatch, suggest, fmt,
                                                    expected):
    monkeypatch.setitem(app.config, "WECHAT_CALLBACK_FORMAT", fmt)
    judge = {"callback_url": url, "token": TOKEN, "aes_key": AES_KEY, "fmt": fmt, "delay_seconds": 0.1}
    if suggest:
        judge["suggest"] = suggest
    # Over the control endpoint, as the dev server does it.
    assert requests.post(fake_wechat.base_url + "__fake__/config", json={"media_judge": judge}, timeout=5).ok
    sender = wx_login(client, "sender")
    posted = client.post("/api/v1/uploads", headers=auth(sender["token"]),
                         data={"file": (io.BytesIO(images.jpeg()), "photo.jpg", "image/jpeg")},
                         content_type="multipart/form-data")
    assert posted.status_code == 201
    assert posted.get_json()["upload"]["media_check"] == "pending"  # judged later, not in the call
    assert upload_status_after(app, posted.get_json()["upload"]["id"]) is expected


def test_the_fake_judges_nothing_by_default_or_once_stopped(app, client, fake_wechat, url):
    sender = wx_login(client, "sender")

    def upload() -> int:
        posted = client.post("/api/v1/uploads", headers=auth(sender["token"]),
                             data={"file": (io.BytesIO(images.jpeg()), "photo.jpg", "image/jpeg")},
                             content_type="multipart/form-data")
        return posted.get_json()["upload"]["id"]

    assert upload_status_after(app, upload(), 0.5) is MediaCheckStatus.pending
    fake_wechat.configure(media_judge={"callback_url": url, "token": TOKEN, "aes_key": AES_KEY, "delay_seconds": 0})
    fake_wechat.configure(media_judge={})
    assert upload_status_after(app, upload(), 0.5) is MediaCheckStatus.pending
    for bad in ({"token": TOKEN}, {"callback_url": url, "token": TOKEN, "suggest": "maybe"},
                {"callback_url": url, "token": TOKEN, "delay_seconds": -1}, {"callback_url": url, "token": TOKEN, "x": 1}):
        answer = requests.post(fake_wechat.base_url + "__fake__/config", json={"media_judge": bad}, timeout=5)
        assert answer.status_code == 400
