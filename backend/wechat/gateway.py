"""The one way the app talks to WeChat: wechatpy's client, with its traps closed.

wechatpy 1.8.18 as shipped would fetch tokens from the legacy `cgi-bin/token` (each call cuts
off the token other workers hold) without a timeout and from a hard-coded host, keep them per
process, fetch one even for jscode2session, and retry a refused token by recursing without end.
Here tokens come from `stable_token` through a store shared by all processes, every request has
a timeout, and a refused token is refreshed and retried exactly once. The timeout bounds the
whole call — waiting for a token, fetching one, the retry (`budget`) — so a web worker waits on
WeChat at most WECHAT_TIMEOUT_SECONDS per call, however WeChat misbehaves.

A failure without a WeChat answer says whether the request may have reached WeChat
(`WeChatUnavailable.request_sent`): only a call that could not have gone out may be repeated by
callers that must not act twice.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field

import requests
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError
from urllib3.exceptions import ProxyError as Urllib3ProxyError
from wechatpy import WeChatClient
from wechatpy.client.api.base import BaseWeChatAPI
from wechatpy.exceptions import WeChatClientException

from backend.wechat import budget
from backend.wechat.errors import TOKEN_REFUSED, WeChatError, WeChatUnavailable, error_for
from backend.wechat.token_store import TokenStore, store_for_app

log = logging.getLogger(__name__)

_WECHAT_BASE = "https://api.weixin.qq.com/"
# Below this much time left a request is not worth starting: WeChat answers in ~0.1-0.3 s.
_LEAST_TIMEOUT = 0.05


@dataclass(frozen=True)
class WeChatSession:
    """What jscode2session tells us about the user who signed in."""

    openid: str
    session_key: str = field(repr=False)
    unionid: str | None = None


class _TokenRefused(WeChatError):
    """WeChat refused the access token we sent (40001, 40014, 42001)."""


class _Client(WeChatClient):
    """wechatpy's client aimed at `api_base`, taking its tokens from the gateway."""

    def __init__(self, app_id: str, secret: str, api_base: str, timeout: float, token_source):
        # auto_retry off: wechatpy's retry on a refused token recurses without bound.
        super().__init__(app_id, secret, timeout=timeout, auto_retry=False)
        self._token_source = token_source
        # The endpoint objects (client.wxa, ...) carry their own API_BASE_URL, so rebasing the
        # client alone would leave them calling api.weixin.qq.com. vars(), not getmembers():
        # getmembers would evaluate the access_token property and fetch a token.
        self.API_BASE_URL = _rebase(WeChatClient.API_BASE_URL, api_base)
        for api in vars(self).values():
            if isinstance(api, BaseWeChatAPI) and getattr(api, "API_BASE_URL", None):
                api.API_BASE_URL = _rebase(api.API_BASE_URL, api_base)
        # requests re-reads the proxy and CA variables of the environment on every call (a
        # scan of os.environ each time, ~10% of a submission's CPU). We only ever call one
        # host, so read them once: a county behind an outbound proxy keeps working.
        self._http.trust_env = False
        self._http.proxies = requests.utils.get_environ_proxies(api_base)
        self._http.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True

    @property
    def access_token(self) -> str:
        # wechatpy's own endpoint methods read this. While wechatpy's __new__ inspects a fresh
        # instance, _token_source does not exist yet: the AttributeError is what it expects.
        return self._token_source()

    def fetch_access_token(self) -> dict:
        return {"access_token": self._token_source()}


class WeChatGateway:
    """Sign-in codes, the shared access token, and raw calls for later features."""

    def __init__(self, app_id: str, app_secret: str, api_base: str, timeout_seconds: float,
                 token_store: TokenStore):
        self.app_id = app_id
        self._secret = app_secret
        self.api_base = api_base if api_base.endswith("/") else api_base + "/"
        self.timeout_seconds = timeout_seconds
        self.token_store = token_store
        self.client = _Client(app_id, app_secret, self.api_base, timeout_seconds, self.access_token)

    @classmethod
    def from_app(cls, app) -> WeChatGateway:
        cfg = app.config
        return cls(cfg["WECHAT_APP_ID"], cfg["WECHAT_APP_SECRET"], cfg["WECHAT_API_BASE"],
                   float(cfg["WECHAT_TIMEOUT_SECONDS"]), store_for_app(app))

    def __repr__(self) -> str:
        return f"WeChatGateway(app_id={self.app_id!r}, api_base={self.api_base!r})"

    # -- public API ------------------------------------------------------------------------------

    def code_to_session(self, code: str) -> WeChatSession:
        """Exchange a wx.login code. Needs no access token, so none is fetched."""
        result = self._call("get", "sns/jscode2session", with_token=False, params={
            "appid": self.app_id, "secret": self._secret,
            "js_code": code, "grant_type": "authorization_code",
        })
        if not result.get("openid") or not result.get("session_key"):
            raise self._failed("sns/jscode2session", None, "answer without openid or session_key")
        return WeChatSession(result["openid"], result["session_key"], result.get("unionid") or None)

    def access_token(self) -> str:
        """The app's access token, shared by all processes; fetched only when stale."""
        return self.token_store.get(self.app_id) or self.token_store.refresh(self.app_id, self._fetch_token)

    def get_json(self, path: str, params: dict | None = None, with_token: bool = True) -> dict:
        """GET `path` (relative to the API base, e.g. "cgi-bin/getcallbackip")."""
        return self._call("get", path, params=params, with_token=with_token)

    def post_json(self, path: str, payload: dict, with_token: bool = True) -> dict:
        """POST a JSON body; the answer must be JSON with no error code."""
        return self._call("post", path, payload=payload, with_token=with_token)

    def send_subscribe_message(self, openid: str, template_id: str, data: dict, *, page: str | None = None,
                               miniprogram_state: str | None = None, lang: str = "zh_CN") -> dict:
        """Send one subscribe message (订阅消息); WeChat's answer, with its `msgid`.

        :raise SubscriptionRefused: 43101, the user has no grant for the template.
        :raise QuotaExceeded: 45009, the template's daily quota is spent.
        :raise WeChatUnavailable: busy (-1) or no answer; see its `request_sent` before retrying.
        :raise WeChatError: the message itself is refused (47003 a value, 40037 the template,
            40003 the openid, 41030 the page): sending it again cannot help.
        """
        payload = {"touser": openid, "template_id": template_id, "data": data, "lang": lang}
        if page is not None:
            payload["page"] = page
        if miniprogram_state is not None:
            payload["miniprogram_state"] = miniprogram_state
        return self._call("post", "cgi-bin/message/subscribe/send", payload=payload)

    def get_bytes(self, path: str, params: dict | None = None, with_token: bool = True) -> bytes:
        """GET something that answers with bytes (an image, a file), or a JSON error."""
        return self._call("get", path, params=params, with_token=with_token, want_bytes=True)

    def post_bytes(self, path: str, payload: dict, with_token: bool = True) -> bytes:
        """POST JSON to something that answers with bytes (e.g. wxa/getwxacodeunlimit)."""
        return self._call("post", path, payload=payload, with_token=with_token, want_bytes=True)

    # -- internals -------------------------------------------------------------------------------

    def _fetch_token(self, force_refresh: bool) -> tuple[str, float]:
        result = self._call("post", "cgi-bin/stable_token", with_token=False, payload={
            "grant_type": "client_credential", "appid": self.app_id,
            "secret": self._secret, "force_refresh": force_refresh,
        })
        if not result.get("access_token"):
            raise self._failed("cgi-bin/stable_token", None, "answer without access_token")
        log.info("wechat access token fetched (force_refresh=%s)", force_refresh)
        return result["access_token"], float(result.get("expires_in", 7200))

    def _call(self, method, path, *, params=None, payload=None, with_token=True, want_bytes=False):
        with budget.within(self.timeout_seconds):
            return self._call_within_budget(method, path, params, payload, with_token, want_bytes)

    def _call_within_budget(self, method, path, params, payload, with_token, want_bytes):
        if not with_token:
            return self._send(method, path, params, None, payload, want_bytes)
        token = self._token_for(path, self.access_token)
        try:
            return self._send(method, path, params, token, payload, want_bytes)
        except _TokenRefused as refused:
            log.info("wechat %s refused the access token (errcode=%s); refreshing once",
                     path, refused.errcode)
            expired = refused.errcode == 42001
        # The store asks for force_refresh when it still holds the refused token. An expired one
        # (42001) is replaced by a normal call anyway, and forced calls are limited to 20 a day.
        token = self._token_for(path, lambda: self.token_store.refresh(
            self.app_id, lambda force: self._fetch_token(force and not expired), stale_token=token))
        try:
            return self._send(method, path, params, token, payload, want_bytes)
        except _TokenRefused as refused:
            raise self._failed(path, refused.errcode, "access token refused again after a refresh",
                               cls=WeChatUnavailable, request_sent=False) from None

    @staticmethod
    def _token_for(path: str, get_token) -> str:
        """A token for a call to `path`. Failing to get one means the call itself never went out,
        whatever happened to the token request."""
        try:
            return get_token()
        except WeChatUnavailable as exc:
            if not exc.request_sent:
                raise
            raise WeChatUnavailable(exc.errcode, f"no access token for {path}: {exc.errmsg}",
                                    request_sent=False) from None

    def _send(self, method, path, params, token, payload, want_bytes):
        timeout = budget.capped(self.timeout_seconds)
        if timeout < _LEAST_TIMEOUT:
            # The call's time went on its token (waiting, fetching, a refusal): nothing was sent.
            raise self._failed(path, None, "no time left for the request", cls=WeChatUnavailable,
                               request_sent=False)
        query = dict(params or {})
        if token is not None:
            query["access_token"] = token
        # wechatpy adds an access token to every dict of params (fetching one if needed); it
        # leaves a list of pairs alone, which is how token-free calls stay token-free.
        kwargs = {"params": query if token is not None else list(query.items()),
                  "api_base_url": self.api_base, "timeout": timeout}
        if payload is not None:
            kwargs["data"] = payload  # wechatpy encodes dicts as UTF-8 JSON, Chinese kept as is
            kwargs["headers"] = {"Content-Type": "application/json"}
        try:
            result = self.client.get(path, **kwargs) if method == "get" else self.client.post(path, **kwargs)
        except WeChatClientException as exc:
            if exc.errcode is None:  # an HTTP error status, not a WeChat answer: it may have acted
                status = getattr(exc.response, "status_code", None)
                raise self._failed(path, None, f"HTTP {status}", cls=WeChatUnavailable, request_sent=True) from None
            errcode = int(exc.errcode)
            if token is not None and errcode in TOKEN_REFUSED:
                raise _TokenRefused(errcode, str(exc.errmsg)) from None
            raise self._failed(path, errcode, str(exc.errmsg)) from None
        except requests.RequestException as exc:
            # Never log or chain the exception itself: its message holds the URL, and a
            # jscode2session URL holds the app secret.
            sent = not _never_sent(exc)
            raise self._failed(path, None, type(exc).__name__, cls=WeChatUnavailable, request_sent=sent) from None
        if want_bytes:
            return json.dumps(result).encode() if isinstance(result, dict) else result.content
        if not isinstance(result, dict):
            raise self._failed(path, None, "answer is not JSON", cls=WeChatUnavailable, request_sent=True)
        return result

    @staticmethod
    def _failed(path: str, errcode: int | None, errmsg: str, cls=None, **kwargs) -> WeChatError:
        error = cls(errcode, errmsg, **kwargs) if cls else error_for(errcode, errmsg)
        log.warning("wechat %s failed: %s errcode=%s errmsg=%s%s",
                    path, type(error).__name__, errcode, errmsg,
                    f" request_sent={error.request_sent}" if isinstance(error, WeChatUnavailable) else "")
        return error


def _never_sent(exc: requests.RequestException) -> bool:
    """Whether `exc` proves no byte of the request reached WeChat: the connection (to WeChat, or to
    the proxy in between) was never made — refused, unresolvable, or timed out connecting.

    Anything else counts as sent: a read timeout, a connection closed or reset once the request
    was written. A pooled keep-alive connection that the server closed before we wrote looks the
    same as one closed after, and is counted as sent too.
    """
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if not isinstance(exc, requests.ConnectionError) or isinstance(exc, requests.exceptions.SSLError):
        return False
    reason = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    if isinstance(reason, Urllib3ProxyError):
        reason = reason.original_error
    # urllib3 2 makes NewConnectionError (refused, DNS) a kind of ConnectTimeoutError.
    return isinstance(reason, ConnectTimeoutError)


def _rebase(url: str, api_base: str) -> str:
    return api_base + url[len(_WECHAT_BASE):] if url.startswith(_WECHAT_BASE) else url
