"""The fake WeChat's pushes (消息推送) to the app's /wechat/callback, made as WeChat makes them.

Written from WeChat's documentation, not from wechatpy, so the app's use of wechatpy is tested
against an independent implementation:
- the query carries `signature` = sha1 of the sorted [token, timestamp, nonce] joined, and in
  secure mode also `encrypt_type=aes` and `msg_signature` = sha1 of the sorted
  [token, timestamp, nonce, Encrypt];
- secure mode encrypts with AES-256-CBC, the key being base64(EncodingAESKey + "="), the IV its
  first 16 bytes, the plaintext random(16) + length(4, big endian) + message + app id, padded
  PKCS#7-style to a multiple of 32 bytes; the body is then {"ToUserName", "Encrypt"} (JSON) or
  <xml><ToUserName/><Encrypt/></xml> (XML);
- the XML form puts text in CDATA, and the subscribe events' `List` entries inside their event's
  element (<SubscribeMsgPopupEvent><List>…</List></SubscribeMsgPopupEvent>).

The event builders return the JSON form of each event; `render` makes either form of it.
"""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
import time

import requests
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

# The mini-program's original id (原始ID), which WeChat puts in ToUserName.
ORIGINAL_ID = "gh_fake00000001"
_BLOCK = 32
_LIST_WRAPPERS = {
    "subscribe_msg_popup_event": "SubscribeMsgPopupEvent",
    "subscribe_msg_change_event": "SubscribeMsgChangeEvent",
    "subscribe_msg_sent_event": "SubscribeMsgSentEvent",
}
LABEL_BY_SUGGEST = {"pass": 100, "review": 21000, "risky": 20006}


# -- events ------------------------------------------------------------------------------------

def _head(openid: str, event: str, create_time: int | None) -> dict:
    return {"ToUserName": ORIGINAL_ID, "FromUserName": openid,
            "CreateTime": int(create_time if create_time is not None else time.time()),
            "MsgType": "event", "Event": event}


def media_check_event(openid: str, trace_id: str, suggest: str, *, appid: str, label: int | None = None,
                      create_time: int | None = None) -> dict:
    """The verdict of mediaCheckAsync v2 (`wxa_media_check`) on the media of `trace_id`."""
    label = label if label is not None else LABEL_BY_SUGGEST.get(suggest, 21000)
    return {**_head(openid, "wxa_media_check", create_time), "appid": appid, "trace_id": trace_id,
            "version": 2,
            "detail": [{"strategy": "content_model", "errcode": 0, "suggest": suggest, "label": label, "prob": 90}],
            "errcode": 0, "errmsg": "ok", "result": {"suggest": suggest, "label": label}}


def popup_event(openid: str, entries, *, create_time: int | None = None) -> dict:
    """The user answered wx.requestSubscribeMessage: entries of (template id, "accept"|"reject",
    popup scene 0|1)."""
    return {**_head(openid, "subscribe_msg_popup_event", create_time),
            "List": [{"TemplateId": t, "SubscribeStatusString": s, "PopupScene": str(scene)}
                     for t, s, scene in entries]}


def change_event(openid: str, entries, *, create_time: int | None = None) -> dict:
    """The user changed a template in the mini-program's settings: (template id, "accept"|"reject")."""
    return {**_head(openid, "subscribe_msg_change_event", create_time),
            "List": [{"TemplateId": t, "SubscribeStatusString": s} for t, s in entries]}


def sent_event(openid: str, entries, *, create_time: int | None = None) -> dict:
    """How sending went: (template id, msgid, errcode, status), e.g. (t, 123, 0, "success") or
    (t, 123, 10005, "fail:user reject")."""
    return {**_head(openid, "subscribe_msg_sent_event", create_time),
            "List": [{"TemplateId": t, "MsgID": str(m), "ErrorCode": str(e), "ErrorStatus": s}
                     for t, m, e, s in entries]}


# -- the protocol --------------------------------------------------------------------------------

def signature(token: str, timestamp: str, nonce: str, *extra: str) -> str:
    """sha1 of the sorted strings, joined: `signature` without `extra`, `msg_signature` with Encrypt."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, *extra])).encode()).hexdigest()


def encrypt(message: bytes, aes_key: str, app_id: str) -> str:
    key = base64.b64decode(aes_key + "=")
    if len(key) != 32:
        raise ValueError("an EncodingAESKey is 43 characters of base64 for 32 bytes")
    plain = secrets.token_bytes(16) + struct.pack(">I", len(message)) + message + app_id.encode()
    pad = _BLOCK - len(plain) % _BLOCK
    plain += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


def render(event: dict, fmt: str) -> bytes:
    """The event as WeChat writes it in `fmt` ("json" or "xml")."""
    if fmt == "json":
        return json.dumps(event, ensure_ascii=False).encode()
    if fmt != "xml":
        raise ValueError("fmt is json or xml")
    shaped = dict(event)
    wrapper = _LIST_WRAPPERS.get(event.get("Event"))
    if wrapper and "List" in shaped:
        shaped[wrapper] = {"List": shaped.pop("List")}
    return ("<xml>" + "".join(_element(k, v) for k, v in shaped.items()) + "</xml>").encode()


def _element(name: str, value) -> str:
    if isinstance(value, list):
        return "".join(_element(name, item) for item in value)
    if isinstance(value, dict):
        return f"<{name}>" + "".join(_element(k, v) for k, v in value.items()) + f"</{name}>"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"<{name}>{value}</{name}>"
    text = str(value).replace("]]>", "]]]]><![CDATA[>")
    return f"<{name}><![CDATA[{text}]]></{name}>"


def callback_request(event: dict, *, token: str, app_id: str, aes_key: str | None = None, fmt: str = "json",
                     timestamp: int | None = None, nonce: str | None = None) -> tuple[dict, bytes, str]:
    """(query, body, content type) of WeChat's POST of `event`; secure mode when `aes_key` is given."""
    timestamp_text = str(int(timestamp if timestamp is not None else time.time()))
    nonce = nonce or str(secrets.randbelow(10**10))
    query = {"signature": signature(token, timestamp_text, nonce), "timestamp": timestamp_text, "nonce": nonce}
    message = render(event, fmt)
    if aes_key:
        encrypted = encrypt(message, aes_key, app_id)
        query.update(encrypt_type="aes", msg_signature=signature(token, timestamp_text, nonce, encrypted))
        message = render({"ToUserName": event.get("ToUserName", ORIGINAL_ID), "Encrypt": encrypted}, fmt)
    content_type = "application/json" if fmt == "json" else "text/xml"
    return query, message, content_type


def push(callback_url: str, event: dict, **options) -> tuple[int, str]:
    """POST `event` to `callback_url` as WeChat would (options: see `callback_request`);
    the HTTP status and body of the answer."""
    query, body, content_type = callback_request(event, **options)
    answer = requests.post(callback_url, params=query, data=body, headers={"Content-Type": content_type},
                           timeout=10)
    return answer.status_code, answer.text


def handshake(callback_url: str, *, token: str, timestamp: int | None = None, echostr: str | None = None,
              nonce: str | None = None) -> tuple[int, str, str]:
    """WeChat's check of a newly configured push URL: (status, body, the echostr it sent)."""
    timestamp_text = str(int(timestamp if timestamp is not None else time.time()))
    nonce = nonce or str(secrets.randbelow(10**10))
    echostr = echostr or secrets.token_hex(8)
    answer = requests.get(callback_url, params={"signature": signature(token, timestamp_text, nonce),
                                                "timestamp": timestamp_text, "nonce": nonce,
                                                "echostr": echostr}, timeout=10)
    return answer.status_code, answer.text, echostr
