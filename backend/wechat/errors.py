"""What can go wrong talking to WeChat. Plain exceptions: the service layer maps them to HTTP."""
from __future__ import annotations


class WeChatError(Exception):
    """WeChat refused a call. `errcode` is WeChat's, or None when no WeChat answer was read."""

    def __init__(self, errcode: int | None, errmsg: str = ""):
        super().__init__(f"WeChat errcode={errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class WeChatCodeInvalid(WeChatError):
    """The wx.login code is unknown, expired (40029) or was used already (40163)."""


class WeChatUnavailable(WeChatError):
    """WeChat is busy, slow, unreachable or keeps refusing our token: try again later.

    `request_sent` True = WeChat may have acted on it: the request may have reached WeChat and no
    answer came back (read timeout, connection closed or reset after sending, an HTTP error
    status, an answer that is not JSON). False = we know WeChat did not act: nothing reached it
    (connection refused, DNS, connect timeout, the token could not be had) or WeChat answered
    that it did not (-1, 45011). A caller that must not act twice (a subscribe message has no
    idempotency key) may retry only when it is False. Unsure means True: at most once wins.
    """

    def __init__(self, errcode: int | None, errmsg: str = "", *, request_sent: bool = True):
        super().__init__(errcode, errmsg)
        self.request_sent = request_sent


class QuotaExceeded(WeChatUnavailable):
    """45009: the daily quota of this API (for subscribe/send: of this template) is spent; it comes
    back the next day. WeChat answered, so nothing was done (`request_sent` False). A distinct class
    because the outbox waits for the next day instead of retrying soon; still a WeChatUnavailable
    for callers (content checks, sign-in) to whom it is just "not now"."""

    def __init__(self, errcode: int | None = 45009, errmsg: str = ""):
        super().__init__(errcode, errmsg, request_sent=False)


class SubscriptionRefused(WeChatError):
    """43101: the user has no grant for this template (refused it, or used their one-time grants)."""


# Codes are WeChat's global return codes.
CODE_INVALID = frozenset({40029, 40163})
# -1 system busy, 45011 called too often: WeChat answered and did nothing, so it may be asked again.
BUSY = frozenset({-1, 45011})
QUOTA = 45009
USER_REFUSED = 43101
# Invalid credential, invalid access token, expired access token.
TOKEN_REFUSED = frozenset({40001, 40014, 42001})


def error_for(errcode: int | None, errmsg: str = "") -> WeChatError:
    """The exception class that fits one WeChat errcode (None: no WeChat answer was read)."""
    if errcode in CODE_INVALID:
        return WeChatCodeInvalid(errcode, errmsg)
    if errcode == QUOTA:
        return QuotaExceeded(errcode, errmsg)
    if errcode == USER_REFUSED:
        return SubscriptionRefused(errcode, errmsg)
    if errcode in BUSY:
        return WeChatUnavailable(errcode, errmsg, request_sent=False)
    if errcode is None:
        return WeChatUnavailable(errcode, errmsg, request_sent=True)
    return WeChatError(errcode, errmsg)
