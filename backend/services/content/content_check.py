"""WeChat's text content security check (msgSecCheck v2) for what residents write.

wechatpy only knows the frozen v1 call, so v2 goes through the gateway's raw `post_json`.
The answer is never an exception: when WeChat cannot judge (busy, slow, refusing our token,
refusing the call) the verdict is "unavailable", and the caller keeps the text for a person to
review (`pending_review`) instead of losing it or publishing it unchecked.

Scene: `CONTENT_CHECK_SCENE`, 3 (论坛) by default — an issue is a post of its own that others
read. Pass `scene=2` (评论) for text that answers something, such as a rating's comment.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from flask import current_app

from backend.wechat import WeChatError, WeChatUnavailable, get_gateway

log = logging.getLogger(__name__)

Suggest = Literal["pass", "review", "risky", "unavailable"]

# WeChat's limit on `content`: "文本字数的上限为2500字".
MAX_CHARS = 2500
# v1's refusal of risky text; v2 answers 0 with result.suggest, but keep both meanings.
RISKY_ERRCODE = 87014
_SUGGESTS = ("pass", "review", "risky")


@dataclass(frozen=True)
class Verdict:
    """WeChat's judgement of one text. `label` is WeChat's number (100 normal, 20001 politics,
    20002 porn, 20006 illegal, …); `trace_id` identifies the check when asking WeChat about it."""

    suggest: Suggest
    label: int | None = None
    trace_id: str | None = None


UNAVAILABLE = Verdict("unavailable")


def check_text(openid: str, text: str, *, scene: int | None = None) -> Verdict:
    """WeChat's verdict on `text` written by the user `openid`; "unavailable" when there is none.

    Without an openid (staff accounts) or over WeChat's 2,500 characters WeChat would refuse the
    call, so it is not made. The text itself is never logged.
    """
    if not openid or len(text) > MAX_CHARS:
        log.info("content check skipped: %s", "no openid" if not openid else f"{len(text)} characters")
        return UNAVAILABLE
    payload = {"version": 2, "openid": openid,
               "scene": scene or current_app.config["CONTENT_CHECK_SCENE"], "content": text}
    try:
        answer = get_gateway().post_json("wxa/msg_sec_check", payload)
    except WeChatUnavailable:
        return UNAVAILABLE  # the gateway has logged why
    except WeChatError as exc:
        if exc.errcode == RISKY_ERRCODE:
            return Verdict("risky")
        # An invalid openid, a user who has not opened the mini-program for two hours (61010)…
        # nothing a resident can fix: a person reviews the text instead.
        log.warning("content check refused: errcode=%s", exc.errcode)
        return UNAVAILABLE
    result = answer.get("result") if isinstance(answer.get("result"), dict) else {}
    suggest = result.get("suggest")
    trace_id = answer.get("trace_id") or None
    if suggest not in _SUGGESTS:
        log.warning("content check answered without a verdict (trace_id=%s)", trace_id)
        return Verdict("unavailable", trace_id=trace_id)
    verdict = Verdict(suggest, _label(result.get("label")), trace_id)
    if suggest != "pass":
        log.info("content check: %s label=%s trace_id=%s", suggest, verdict.label, trace_id)
    return verdict


def _label(value) -> int | None:
    # Documented as a number; the community reports strings too.
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
