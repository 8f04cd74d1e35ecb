"""WeChat's message push (消息推送) to `/wechat/callback`: protocol here, decisions in services.

WeChat's protocol, not our API, so answers are plain text: the GET handshake echoes `echostr`;
a POST is answered "success" once handled (anything else makes WeChat retry, three times).
- Every request is signed: `signature` = sha1 of the sorted [token, timestamp, nonce].
  A POST whose timestamp is more than REPLAY_WINDOW_SECONDS off our clock is refused (a replay).
- Secure mode (WECHAT_CALLBACK_AES_KEY set): the body is {"ToUserName", "Encrypt"} (or its XML),
  `msg_signature` signs the Encrypt too, and wechatpy's WeChatCrypto decrypts it and checks that
  it names our app id. It takes the already parsed envelope, so JSON works as well as XML.
  Without a key: plain mode, the event is the body.
- JSON or XML as configured (WECHAT_CALLBACK_FORMAT, the choice made in WeChat's admin). XML is
  read with xmltodict on expat with entity declarations refused (no entity expansion, no
  external entities).

Events:
- `wxa_media_check`: the verdict on an uploaded image (uploads.record_media_verdict); until "pass"
  only its sender sees it.
- `subscribe_msg_popup_event`, `subscribe_msg_change_event`: the user's answers about templates,
  recorded as events; a refusal empties the grant. An accept from the popup is recorded but not
  counted: the mini-program reports the same tap through POST /api/v1/subscriptions, and
  counting both would give two grants for one (see services/messaging/subscriptions.py).
- `subscribe_msg_sent_event`: a delivery failure is noted on the outbox message with that msgid.
- anything else is logged and answered "success" (WeChat would retry an error for nothing).
A push WeChat retries is handled again; each handling leaves the same state, though the
answers pushed are recorded once per push.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import struct
from xml.parsers.expat import ExpatError

import xmltodict
from flask import Blueprint, Response, current_app, request
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException

from backend import clock
from backend.services.content import uploads
from backend.services.messaging import subscriptions
from models import db

log = logging.getLogger(__name__)

bp = Blueprint("wechat_callback", __name__)

REPLAY_WINDOW_SECONDS = 300
_SUBSCRIBE_EVENTS = {
    "subscribe_msg_popup_event": ("SubscribeMsgPopupEvent", "popup_event"),
    "subscribe_msg_change_event": ("SubscribeMsgChangeEvent", "change_event"),
}


class _Refused(Exception):
    """Not from WeChat (a signature, the app id), or too old: 403."""


class _Malformed(Exception):
    """Signed, but not something we can read: 400."""


@bp.get("/wechat/callback")
def handshake():
    """WeChat checks the URL when it is configured: echo `echostr` if the signature holds."""
    token = current_app.config.get("WECHAT_CALLBACK_TOKEN")
    if not token:
        return _plain("push is not configured", 404)
    if not _signed(token, request.args):
        return _plain("bad signature", 403)
    echostr = request.args.get("echostr")
    if not echostr:
        return _plain("echostr missing", 400)
    return _plain(echostr)


@bp.post("/wechat/callback")
def receive():
    cfg = current_app.config
    token = cfg.get("WECHAT_CALLBACK_TOKEN")
    if not token:
        return _plain("push is not configured", 404)
    try:
        if not _signed(token, request.args) or not _fresh(request.args.get("timestamp")):
            raise _Refused()
        event = _read_event(token, cfg.get("WECHAT_CALLBACK_AES_KEY"), cfg["WECHAT_APP_ID"],
                            cfg.get("WECHAT_CALLBACK_FORMAT", "json"))
        _handle(event)
    except _Refused:
        db.session.rollback()
        return _plain("forbidden", 403)
    except _Malformed as exc:
        db.session.rollback()
        log.warning("wechat push not understood: %s", exc)
        return _plain("bad request", 400)
    db.session.commit()
    return _plain("success")


def _plain(text: str, status: int = 200) -> Response:
    return Response(text, status=status, mimetype="text/plain")


def _signed(token: str, args) -> bool:
    timestamp, nonce, signature = args.get("timestamp"), args.get("nonce"), args.get("signature")
    if not timestamp or not nonce or not signature:
        return False
    expected = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()
    # As bytes: compare_digest refuses str with non-ASCII characters (a TypeError, a 500).
    return hmac.compare_digest(expected.encode(), signature.encode())


def _fresh(timestamp: str | None) -> bool:
    try:
        sent = int(timestamp or "")
    except ValueError:
        return False
    return abs(clock.now().timestamp() - sent) <= REPLAY_WINDOW_SECONDS


def _read_event(token: str, aes_key: str | None, app_id: str, fmt: str) -> dict:
    body = _parse(request.get_data(), fmt)
    if not aes_key:
        if "Encrypt" in body and "MsgType" not in body:
            raise _Malformed("an encrypted push but no WECHAT_CALLBACK_AES_KEY is configured")
        return body
    args = request.args
    if args.get("encrypt_type") != "aes" or not args.get("msg_signature"):
        raise _Refused()  # secure mode takes nothing in plain text
    encrypted = body.get("Encrypt")
    if not isinstance(encrypted, str) or not encrypted:
        raise _Malformed("no Encrypt in the envelope")
    crypto = WeChatCrypto(token, aes_key, app_id)
    try:
        plain = crypto.decrypt_message({"Encrypt": encrypted}, args["msg_signature"], args["timestamp"],
                                       args["nonce"])
    except (InvalidSignatureException, InvalidAppIdException):
        raise _Refused() from None
    except (ValueError, TypeError, IndexError, struct.error) as exc:  # not a ciphertext of ours
        raise _Malformed(f"cannot decrypt ({type(exc).__name__})") from None
    return _parse(plain.encode(), fmt)


def _parse(raw: bytes, fmt: str) -> dict:
    if fmt == "xml":
        try:
            document = xmltodict.parse(raw, disable_entities=True)
        except (ExpatError, ValueError) as exc:
            raise _Malformed(f"not XML ({type(exc).__name__})") from None
        body = document.get("xml") if isinstance(document, dict) else None
    else:
        try:
            body = json.loads(raw.decode("utf-8"))
        except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
            raise _Malformed("not JSON") from None
    if not isinstance(body, dict):
        raise _Malformed("not an object")
    return body


def _handle(event: dict) -> None:
    kind = _text(event.get("Event")) if _text(event.get("MsgType")) == "event" else None
    openid = _text(event.get("FromUserName")) or None
    if kind == "wxa_media_check":
        trace_id = _text(event.get("trace_id"))
        if not trace_id:
            raise _Malformed("wxa_media_check without trace_id")
        result = event.get("result")
        answered = _number(event.get("errcode", 0)) == 0 and isinstance(result, dict)
        # A check that failed on WeChat's side (errcode ≠ 0) is an "error" verdict: not shown.
        uploads.record_media_verdict(trace_id, _text(result.get("suggest")) if answered else "error")
    elif kind in _SUBSCRIBE_EVENTS:
        wrapper, source = _SUBSCRIBE_EVENTS[kind]
        entries = [(_text(e.get("TemplateId")), _text(e.get("SubscribeStatusString")))
                   for e in _list(event, wrapper)]
        subscriptions.record_pushed(openid, entries, source)
    elif kind == "subscribe_msg_sent_event":
        reports = [(_text(e.get("MsgID")), _number(e.get("ErrorCode", 0)), _text(e.get("ErrorStatus")))
                   for e in _list(event, "SubscribeMsgSentEvent")]
        subscriptions.record_delivery_reports(reports)
    else:
        log.info("wechat push ignored: MsgType=%r Event=%r", event.get("MsgType"), event.get("Event"))


def _list(event: dict, wrapper: str) -> list[dict]:
    """The entries of a subscribe event: `List` at the top in JSON, inside `wrapper` in XML; one
    entry comes as an object, several as an array."""
    container = event.get(wrapper) if wrapper in event else event
    entries = container.get("List") if isinstance(container, dict) else None
    if isinstance(entries, dict):
        entries = [entries]
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise _Malformed(f"{wrapper} without a List")
    return entries


def _text(value) -> str:
    if isinstance(value, bool) or value is None or isinstance(value, (dict, list)):
        return ""
    return str(value).strip()


def _number(value) -> int:
    try:
        return int(_text(value) or "0")
    except ValueError:
        raise _Malformed(f"not a number: {value!r}") from None
