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
    """WeChat is busy, slow, unreachable or keeps refusing our token: try again later."""


# Codes are WeChat's global return codes.
CODE_INVALID = frozenset({40029, 40163})
# -1 system busy, 45009 API quota reached, 45011 called too often.
BUSY = frozenset({-1, 45009, 45011})
# Invalid credential, invalid access token, expired access token.
TOKEN_REFUSED = frozenset({40001, 40014, 42001})


def error_for(errcode: int | None, errmsg: str = "") -> WeChatError:
    """The exception class that fits one WeChat errcode."""
    if errcode in CODE_INVALID:
        return WeChatCodeInvalid(errcode, errmsg)
    if errcode is None or errcode in BUSY:
        return WeChatUnavailable(errcode, errmsg)
    return WeChatError(errcode, errmsg)
