"""The project's own fake WeChat: a real HTTP server that answers like WeChat's documented API.

The app reaches it through wechatpy over a socket exactly as it reaches api.weixin.qq.com, so
tests exercise the real gateway. Errors come back as WeChat sends them: HTTP 200 with
{"errcode", "errmsg"}. Control endpoints under /__fake__/ let tests (in any process) inject
failures and delays, read the call log and expire tokens; FakeWeChat mirrors them as methods.

Content security (msgSecCheck v2, mediaCheckAsync v2) judges by word lists, not by meaning:
text containing a risky word is "risky", one containing a review word is "review", anything
else "pass". mediaCheckAsync records what it was asked (`media_checks()`, so tests can read the
media_url WeChat would fetch), and a test gives the verdict with `judge_media(trace_id, suggest,
callback_url, token=...)`, which pushes the `wxa_media_check` event to the app as WeChat would.
With `configure(media_judge={"callback_url": ..., "token": ..., "aes_key": ..., "fmt": "json",
"suggest": "pass", "delay_seconds": 0.5})` the fake judges every image by itself as WeChat does:
it answers the call, then pushes that verdict after the delay (the dev server sets this, so that
residents' photos do not stay `pending`); `media_judge={}` stops it.

Subscribe messages (`cgi-bin/message/subscribe/send`) are checked as WeChat documents them
(fake_subscribe.py): the template must be known (40037), its data hold exactly its keywords with
values within their kind's limits (47003 "argument invalid! data.thing1.value invalid"), the page
a page path (41030), `miniprogram_state` developer|trial|formal. Then, under one lock:
- grants: by default every user has granted every template (`grants="open"`); `refuse(openid,
  template_id=None)` answers 43101 for that user (and template, or all); with
  `configure(grants="strict")` only `grant(openid, template_id, count)` counts, one a message;
- quota: `quota(template_id, per_day, day=None)` answers 45009 once that many were accepted on one
  Beijing day (of the fake's clock; `day` "YYYY-MM-DD" limits the rule to that day); `new_day()`
  forgets the counts;
- an accepted message is recorded once (`messages()`) and answered with an integer `msgid`.
Faults: `fail(path, errcode)` answers an error instead (nothing recorded); `delay(path, s)` holds
the answer — for subscribe/send after the message was accepted, as WeChat, having sent it, may be
slow to say so; `drop(path)` accepts the call and closes the connection without answering.
`configure(clock={"start": iso, "speed": s, "origin": unix})` runs the fake's clock (Beijing days,
`received_at`, push timestamps) like the app's accelerated clock; `clock={}` is the wall clock.

Pushes to the app's /wechat/callback (fake_push.py): `push(callback_url, event, token=...,
aes_key=None, fmt="json"|"xml")`, with the event builders of fake_push (`popup_event`,
`change_event`, `sent_event`, `media_check_event`) and `handshake(callback_url, token=...)`.

Every control has an HTTP twin under /__fake__/ (GET calls, stats, media-checks, messages; POST
reset, fail, delay, drop, expire-tokens, config, refuse, grant, quota, new-day, push, judge-media,
handshake) for tests in other processes.

Run standalone: python -m backend.wechat.fake_server --port 8765
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import io
import json
import math
import re
import secrets
import signal
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from backend.wechat import fake_push, fake_subscribe

# WeChat renews a stable token in the last 5 minutes of its 2 hours and keeps the old one usable
# meanwhile; a shortened test ttl keeps the same ratio.
_HANDOVER_RATIO = 300 / 7200
_SCENE_RE = re.compile(r"^[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]{1,32}$")
_PAGE_RE = re.compile(r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*$")
# A subscribe message's page may carry a query: pages/issue/detail?no=20270106-000001.
_MESSAGE_PAGE_RE = re.compile(r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*(\?[^\s#]*)?$")
_MINIPROGRAM_STATES = ("developer", "trial", "formal")
_LANGS = ("zh_CN", "en_US", "zh_HK", "zh_TW")
SUBSCRIBE_SEND = "/cgi-bin/message/subscribe/send"
# Paths whose delay holds the answer after the call was acted on (see the module docstring).
_ACT_THEN_DELAY = frozenset({SUBSCRIBE_SEND})
_BEIJING = ZoneInfo("Asia/Shanghai")

# Defaults of the content-security word lists (reset() restores them). Plain words a test can
# type: 赌博 and 枪支 stand for illegal content, 示威 for text a person should look at.
DEFAULT_RISKY_WORDS = ("赌博", "枪支")
DEFAULT_REVIEW_WORDS = ("示威",)
# msgSecCheck v2 limits: "文本字数的上限为2500字"; scene 1 资料, 2 评论, 3 论坛, 4 社交日志.
MSG_SEC_CHECK_MAX_CHARS = 2500
_SEC_SCENES = (1, 2, 3, 4)
# wx.login codes are 32 characters, and WeChat's openids 28, unionids 29. The fake's ids are
# `fake-<code>` and `fake-union-<code>`: a code of at most 48 keeps them within 64 characters,
# like WeChat's; a longer one is refused as WeChat refuses a code it never issued (40029).
MAX_LOGIN_CODE_CHARS = 48
# The labels the fake answers with, from WeChat's list: 100 正常, 20006 违法犯罪, 21000 其他.
LABEL_NORMAL, LABEL_RISKY, LABEL_REVIEW = 100, 20006, 21000

Answer = tuple[int, str, bytes]
# The answer that is no answer: the handler closes the connection (see `drop`).
_DROPPED: Answer = (0, "", b"")


@dataclass
class _Token:
    kind: str  # "stable" or "legacy": WeChat keeps the two kinds apart
    expires_at: float  # time.monotonic()
    revoked: bool = False


class FakeWeChat:
    """A fake WeChat for one app id and secret, served on a background thread.

    `handover_seconds`: how long before expiry a normal stable_token call renews the token, and
    how long a force-refreshed token stays usable; None means 5 minutes of 2 hours, scaled to ttl.
    """

    def __init__(self, app_id: str, app_secret: str, host: str = "127.0.0.1", port: int = 0,
                 token_ttl_seconds: float = 7200, handover_seconds: float | None = None):
        self.app_id = app_id
        self.app_secret = app_secret
        self._address = (host, port)
        self._initial = (float(token_ttl_seconds), handover_seconds)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()
        self.reset()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> str:
        """Listen and serve on a daemon thread; returns the base URL (ending in "/")."""
        server = ThreadingHTTPServer(self._address, _Handler)
        server.daemon_threads = True
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        # A short poll keeps stop() quick: shutdown() waits for the loop to notice.
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="fake-wechat",
                                        daemon=True)
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def serve_until_interrupted(self) -> None:
        """Block until Ctrl-C or SIGTERM, then stop (for `main()` and the CLI command)."""
        stopping = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopping.set())
        try:
            stopping.wait()
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeWeChat is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    @property
    def port(self) -> int:
        return self._server.server_address[1] if self._server else self._address[1]

    # -- control (also reachable over HTTP under /__fake__/) ---------------------------------

    def reset(self) -> None:
        """Forget calls, rules and tokens; back to the constructor's settings."""
        with self._lock:
            self._calls: list[dict] = []
            self._fail_rules: list[dict] = []
            self._delay_rules: list[dict] = []
            self._tokens: dict[str, _Token] = {}
            self._current = {"stable": None, "legacy": None}
            self._ttl, self._handover_seconds = self._initial
            self._with_unionid = False
            self._stable_token_calls = 0
            self._legacy_token_calls = 0
            self._risky_words = list(DEFAULT_RISKY_WORDS)
            self._review_words = list(DEFAULT_REVIEW_WORDS)
            self._media_checks: list[dict] = []
            self._media_judge: dict | None = None
            self._drop_rules: list[dict] = []
            self._clock: tuple[datetime, float, float] | None = None
            self._templates = {k: list(v) for k, v in fake_subscribe.DEFAULT_TEMPLATES.items()}
            self._grant_mode = "open"
            self._refusals: set[tuple[str, str | None]] = set()
            self._grants: dict[tuple[str, str], int] = {}
            self._quotas: dict[tuple[str, str | None], int] = {}
            self._sent_per_day: dict[tuple[str, str], int] = {}
            self._messages: list[dict] = []
            # WeChat's msgids are large integers; these start somewhere random and only go up.
            self._next_msgid = 10**18 + secrets.randbelow(8 * 10**17)

    def calls(self, path: str | None = None) -> list[dict]:
        """Requests received, oldest first: {path, method, query, json}."""
        with self._lock:
            return [dict(c) for c in self._calls if path is None or c["path"] == _norm(path)]

    def fail(self, path: str, errcode: int = -1, times: int = 1, errmsg: str | None = None,
             http_status: int | None = None, body: str | None = None) -> None:
        """Answer the next `times` calls to `path` with `errcode`, or with a raw HTTP
        `http_status` and text `body` (to play a broken proxy: 5xx, HTML instead of JSON)."""
        with self._lock:
            self._fail_rules.append({
                "path": _norm(path), "errcode": errcode, "times": times,
                "errmsg": errmsg or _ERRMSG.get(errcode, "fake failure"),
                "http_status": http_status, "body": body,
            })

    def delay(self, path: str, seconds: float, times: int = 1) -> None:
        """Hold the next `times` answers to `path` for `seconds` before answering (subscribe/send:
        after accepting the message, so a client that gives up first leaves it sent)."""
        with self._lock:
            self._delay_rules.append({"path": _norm(path), "seconds": seconds, "times": times})

    def drop(self, path: str, times: int = 1) -> None:
        """Read and act on the next `times` calls to `path` (a subscribe message is accepted and
        recorded, its grant and quota used), then close the connection without answering: the
        answer lost after WeChat received the request."""
        with self._lock:
            self._drop_rules.append({"path": _norm(path), "times": times})

    def expire_tokens(self) -> None:
        """Every token issued so far is expired from now on."""
        now = time.monotonic()
        with self._lock:
            for token in self._tokens.values():
                token.expires_at = min(token.expires_at, now)

    def configure(self, token_ttl_seconds: float | None = None, handover_seconds: float | None = None,
                  with_unionid: bool | None = None, risky_words: list[str] | None = None,
                  review_words: list[str] | None = None, templates: dict[str, list[str]] | None = None,
                  grants: str | None = None, clock: dict | None = None, media_judge: dict | None = None) -> None:
        """Change the lifetime of tokens issued from now on, the handover window (by default
        5 minutes of 2 hours, scaled to the ttl), whether jscode2session adds a unionid, the
        words msgSecCheck judges by (a list replaces the current one; [] judges nothing so), the
        subscribe templates ({template id: [keywords]} replaces them), the grant mode ("open":
        everyone granted everything; "strict": only `grant()` counts), or the clock
        ({"start": ISO 8601 with offset, "speed": 1.0, "origin": Unix seconds, default now};
        {} for the wall clock), or how images are judged by themselves (`media_judge`, see the
        module's docstring; {} judges none)."""
        checked_templates = fake_subscribe.check_templates(templates) if templates is not None else None
        judge = _media_judge(media_judge) if media_judge is not None else None
        if grants is not None and grants not in ("open", "strict"):
            raise TypeError("grants is 'open' or 'strict'")
        running = _parse_clock(clock) if clock is not None else None
        with self._lock:
            if media_judge is not None:
                self._media_judge = judge
            if checked_templates is not None:
                self._templates = checked_templates
            if grants is not None:
                self._grant_mode = grants
            if clock is not None:
                self._clock = running
            if token_ttl_seconds is not None:
                self._ttl = float(token_ttl_seconds)
            if handover_seconds is not None:
                self._handover_seconds = float(handover_seconds)
            if with_unionid is not None:
                self._with_unionid = bool(with_unionid)
            if risky_words is not None:
                self._risky_words = _words(risky_words)
            if review_words is not None:
                self._review_words = _words(review_words)

    def media_checks(self) -> list[dict]:
        """mediaCheckAsync requests accepted, oldest first: {trace_id, media_url, media_type,
        openid, scene}."""
        with self._lock:
            return [dict(c) for c in self._media_checks]

    def messages(self) -> list[dict]:
        """Subscribe messages accepted, oldest first: {msgid, touser, template_id, page, data,
        miniprogram_state, lang, received_at (ISO 8601, Beijing, on the fake's clock)}."""
        with self._lock:
            return [dict(m) for m in self._messages]

    def refuse(self, openid: str, template_id: str | None = None) -> None:
        """From now on sends to `openid` (of `template_id`, or of any template) answer 43101."""
        with self._lock:
            self._refusals.add((openid, template_id))

    def grant(self, openid: str, template_id: str, count: int = 1) -> None:
        """`openid` accepts `template_id` `count` more times (what counts with grants="strict")."""
        if not isinstance(count, int) or count < 1:
            raise TypeError("count is a positive integer")
        with self._lock:
            key = (openid, template_id)
            self._grants[key] = self._grants.get(key, 0) + count

    def quota(self, template_id: str, per_day: int, day: str | None = None) -> None:
        """At most `per_day` accepted messages of `template_id` a Beijing day (only on `day`,
        "YYYY-MM-DD", when given); then 45009. Replaces an earlier rule for the same day."""
        if not isinstance(per_day, int) or per_day < 0:
            raise TypeError("per_day is a non-negative integer")
        if day is not None:
            if not isinstance(day, str):
                raise TypeError("day is YYYY-MM-DD")
            day = datetime.strptime(day, "%Y-%m-%d").date().isoformat()
        with self._lock:
            self._quotas[(template_id, day)] = per_day

    def new_day(self) -> None:
        """Forget the day's counts: every quota is whole again."""
        with self._lock:
            self._sent_per_day.clear()

    def now(self) -> datetime:
        """The fake's clock (aware, UTC): the wall clock, or the one set with configure(clock=...)."""
        running = self._clock
        if running is None:
            return datetime.now(UTC)
        start, origin, speed = running
        return start + timedelta(seconds=(time.time() - origin) * speed)

    def push(self, callback_url: str, event: dict, *, token: str, aes_key: str | None = None,
             fmt: str = "json", timestamp: int | None = None, nonce: str | None = None) -> tuple[int, str]:
        """POST `event` (see fake_push's builders) to the app's callback as WeChat does; secure mode
        with `aes_key`. `timestamp` defaults to the fake's clock. Returns the HTTP status and body."""
        stamp = timestamp if timestamp is not None else int(self.now().timestamp())
        return fake_push.push(callback_url, event, token=token, app_id=self.app_id, aes_key=aes_key, fmt=fmt,
                              timestamp=stamp, nonce=nonce)

    def handshake(self, callback_url: str, *, token: str, timestamp: int | None = None) -> tuple[int, str, str]:
        """The GET by which WeChat checks a push URL: (status, body, the echostr sent)."""
        stamp = timestamp if timestamp is not None else int(self.now().timestamp())
        return fake_push.handshake(callback_url, token=token, timestamp=stamp)

    def judge_media(self, trace_id: str, suggest: str, callback_url: str, *, token: str,
                    aes_key: str | None = None, fmt: str = "json", label: int | None = None,
                    timestamp: int | None = None) -> tuple[int, str]:
        """Give the verdict ("pass", "review", "risky") on a mediaCheckAsync call: push its
        `wxa_media_check` event to `callback_url`.

        :raise KeyError: no mediaCheckAsync call had this trace id.
        """
        with self._lock:
            check = next((c for c in self._media_checks if c["trace_id"] == trace_id), None)
        if check is None:
            raise KeyError(f"no media check with trace_id {trace_id}")
        event = fake_push.media_check_event(check["openid"], trace_id, suggest, appid=self.app_id, label=label,
                                            create_time=int(self.now().timestamp()))
        return self.push(callback_url, event, token=token, aes_key=aes_key, fmt=fmt, timestamp=timestamp)

    def stats(self) -> dict:
        with self._lock:
            return {
                "stable_token_calls": self._stable_token_calls,
                "legacy_token_calls": self._legacy_token_calls,
                "tokens_issued": len(self._tokens),
            }

    @property
    def stable_token_calls(self) -> int:
        """How many times `POST cgi-bin/stable_token` was called (refused calls included)."""
        return self.stats()["stable_token_calls"]

    # -- dispatch ------------------------------------------------------------------------------

    def answer(self, method: str, path: str, query: dict, raw: bytes) -> Answer:
        """One HTTP answer; the request handler's only entry point."""
        if path.startswith("/__fake__/"):
            return self._control(method, path, query, raw)
        payload = _json_or_none(raw)
        with self._lock:
            self._calls.append({"path": path, "method": method, "query": dict(query), "json": payload})
            if path == "/cgi-bin/stable_token":
                self._stable_token_calls += 1
            elif path == "/cgi-bin/token":
                self._legacy_token_calls += 1
            delay = _take(self._delay_rules, path)
            dropped = _take(self._drop_rules, path)
        acts_first = path in _ACT_THEN_DELAY
        if delay and not acts_first:
            time.sleep(delay["seconds"])
        answer = self._respond(method, path, query, raw, payload)
        if delay and acts_first:
            time.sleep(delay["seconds"])
        return _DROPPED if dropped else answer

    def _respond(self, method: str, path: str, query: dict, raw: bytes, payload) -> Answer:
        with self._lock:
            failure = _take(self._fail_rules, path)
        if failure:
            if failure["http_status"]:
                return failure["http_status"], "text/html", (failure["body"] or "").encode()
            return _error(failure["errcode"], failure["errmsg"])
        route = _ROUTES.get(path)
        if route is None:
            return 404, "application/json", b'{"errcode":404,"errmsg":"not found"}'
        wanted, handler = route
        if method != wanted:
            return _error(43001, "require GET method") if wanted == "GET" else _error(43002, "require POST method")
        return handler(self, query, raw, payload)

    def _control(self, method: str, path: str, query: dict, raw: bytes) -> Answer:
        body = _json_or_none(raw) or {}
        name = path[len("/__fake__/"):]
        if method == "GET" and name == "calls":
            return _json(self.calls(query.get("path")))
        if method == "GET" and name == "stats":
            return _json(self.stats())
        if method == "GET" and name == "media-checks":
            return _json(self.media_checks())
        if method == "GET" and name == "messages":
            return _json(self.messages())
        actions = {
            "reset": lambda: self.reset(),
            "fail": lambda: self.fail(**body),
            "delay": lambda: self.delay(**body),
            "drop": lambda: self.drop(**body),
            "expire-tokens": lambda: self.expire_tokens(),
            "config": lambda: self.configure(**body),
            "refuse": lambda: self.refuse(**body),
            "grant": lambda: self.grant(**body),
            "quota": lambda: self.quota(**body),
            "new-day": lambda: self.new_day(),
        }
        pushes = {
            "push": lambda: self.push(**body),
            "judge-media": lambda: self.judge_media(**body),
            "handshake": lambda: self.handshake(**body)[:2],
        }
        if method != "POST" or (name not in actions and name not in pushes):
            return 404, "application/json", b'{"error":"unknown control endpoint"}'
        try:
            if name in pushes:
                status, text = pushes[name]()
                return _json({"status": status, "body": text})
            actions[name]()
        except (TypeError, ValueError, KeyError) as exc:
            return 400, "application/json", json.dumps({"error": str(exc)}).encode()
        return _json({"ok": True})

    # -- tokens --------------------------------------------------------------------------------

    def _handover(self) -> float:
        if self._handover_seconds is not None:
            return self._handover_seconds
        return min(300.0, self._ttl * _HANDOVER_RATIO)

    def _issue(self, kind: str) -> str:
        token = f"fake-{kind}-" + secrets.token_urlsafe(32)
        self._tokens[token] = _Token(kind, time.monotonic() + self._ttl)
        self._current[kind] = token
        return token

    def _check_token(self, query: dict) -> Answer | None:
        token = query.get("access_token")
        if not token:
            return _error(41001, "access_token missing")
        with self._lock:
            found = self._tokens.get(token)
            if found is None or found.revoked:
                return _error(40001, "invalid credential, access_token is invalid or not latest")
            if found.expires_at <= time.monotonic():
                return _error(42001, "access_token expired")
        return None

    def _check_app(self, appid, secret) -> Answer | None:
        if appid != self.app_id:
            return _error(40013, "invalid appid")
        if secret != self.app_secret:
            return _error(40125, "invalid appsecret")
        return None

    # -- WeChat endpoints ----------------------------------------------------------------------

    def _stable_token(self, query, raw, body) -> Answer:
        if not isinstance(body, dict):
            return _error(47001, "data format error")
        if body.get("grant_type") != "client_credential":
            return _error(40002, "invalid grant_type")
        refused = self._check_app(body.get("appid"), body.get("secret"))
        if refused:
            return refused
        force = body.get("force_refresh", False) is True
        now = time.monotonic()
        with self._lock:
            current = self._tokens.get(self._current["stable"] or "")
            remaining = current.expires_at - now if current else 0.0
            if not force and remaining > self._handover():
                return _json({"access_token": self._current["stable"], "expires_in": math.ceil(remaining)})
            if current is not None and remaining > 0:
                # The old token stays usable through the handover, as WeChat promises.
                current.expires_at = min(current.expires_at, now + self._handover())
            token = self._issue("stable")
            return _json({"access_token": token, "expires_in": _number(self._ttl)})

    def _legacy_token(self, query, raw, body) -> Answer:
        if query.get("grant_type") != "client_credential":
            return _error(40002, "invalid grant_type")
        refused = self._check_app(query.get("appid"), query.get("secret"))
        if refused:
            return refused
        with self._lock:
            previous = self._tokens.get(self._current["legacy"] or "")
            if previous is not None:
                # Every call cuts off the token handed out before: why the gateway never calls it.
                previous.revoked = True
            token = self._issue("legacy")
            return _json({"access_token": token, "expires_in": _number(self._ttl)})

    def _jscode2session(self, query, raw, body) -> Answer:
        refused = self._check_app(query.get("appid"), query.get("secret"))
        if refused:
            return refused
        if query.get("grant_type") != "authorization_code":
            return _error(40002, "invalid grant_type")
        code = query.get("js_code") or ""
        if not code:
            return _error(41008, "missing code")
        if code == "invalid" or len(code) > MAX_LOGIN_CODE_CHARS:
            return _error(40029, "invalid code")
        if code == "used":
            return _error(40163, "code been used")
        # Unlike WeChat, a code may be used again: a test user can sign in twice with one code.
        openid = f"fake-{code}"
        digest = hmac.new(self.app_secret.encode(), openid.encode(), hashlib.sha256).digest()
        answer = {"openid": openid, "session_key": base64.b64encode(digest[:16]).decode()}
        if self._with_unionid:
            answer["unionid"] = f"fake-union-{code}"
        return _json(answer)

    def _callback_ip(self, query, raw, body) -> Answer:
        return self._check_token(query) or _json({"ip_list": ["127.0.0.1"]})

    def _wxacode_unlimit(self, query, raw, body) -> Answer:
        refused = self._check_token(query)
        if refused:
            return refused
        if not isinstance(body, dict):
            return _error(47001, "data format error")
        scene = body.get("scene")
        if not isinstance(scene, str) or not _SCENE_RE.match(scene):
            return _error(40169, "invalid length for scene, or the data is not json string")
        page = body.get("page")
        checked = page is not None and body.get("check_path", True) is not False
        if checked and (not isinstance(page, str) or not _PAGE_RE.match(page)):
            return _error(41030, "invalid page")
        if body.get("env_version", "release") not in ("release", "trial", "develop"):
            return _error(40097, "invalid args")
        width = body.get("width", 430)
        width = min(1280, max(280, width if isinstance(width, int) else 430))
        return 200, "image/png", _png(width, scene, page or "")

    def _msg_sec_check(self, query, raw, body) -> Answer:
        refused = self._check_token(query) or self._check_sec_request(body)
        if refused:
            return refused
        content = body.get("content")
        if not isinstance(content, str):
            return _error(47001, "data format error")
        if not content:
            return _error(44002, "empty post data")
        if len(content) > MSG_SEC_CHECK_MAX_CHARS:
            # WeChat documents the limit but not its error; the fake answers "data format error".
            return _error(47001, "data format error: content longer than 2500 characters")
        # Title and nickname are judged with the content, as WeChat does.
        text = "\n".join(str(body.get(k) or "") for k in ("title", "nickname", "content"))
        with self._lock:
            risky = next((w for w in self._risky_words if w in text), None)
            review = next((w for w in self._review_words if w in text), None)
        if risky:
            suggest, label, keyword = "risky", LABEL_RISKY, risky
        elif review:
            suggest, label, keyword = "review", LABEL_REVIEW, review
        else:
            suggest, label, keyword = "pass", LABEL_NORMAL, None
        detail = [{"strategy": "content_model", "errcode": 0, "suggest": suggest, "label": label, "prob": 90}]
        if keyword:
            detail.append({"strategy": "keyword", "errcode": 0, "suggest": suggest, "label": label,
                           "level": 90, "keyword": keyword})
        return _json({"errcode": 0, "errmsg": "ok", "result": {"suggest": suggest, "label": label},
                      "detail": detail, "trace_id": _trace_id()})

    def _media_check_async(self, query, raw, body) -> Answer:
        refused = self._check_token(query) or self._check_sec_request(body)
        if refused:
            return refused
        media_url = body.get("media_url")
        if not isinstance(media_url, str) or not media_url:
            return _error(44002, "empty media_url")
        if not media_url.startswith(("http://", "https://")):
            return _error(47001, "data format error: media_url")
        if body.get("media_type") not in (1, 2):  # 1 audio, 2 image
            return _error(47001, "data format error: media_type")
        trace_id = _trace_id()
        with self._lock:
            self._media_checks.append({"trace_id": trace_id, "media_url": media_url,
                                       "media_type": body["media_type"], "openid": body["openid"],
                                       "scene": body["scene"]})
            judge = self._media_judge
        if judge is not None:
            # Later, on a thread of its own, as WeChat pushes its verdict after answering the call:
            # the app stores the trace id only once it has the answer.
            timer = threading.Timer(judge["delay_seconds"], self._judge_by_itself, args=(trace_id, judge))
            timer.daemon = True
            timer.start()
        return _json({"errcode": 0, "errmsg": "ok", "trace_id": trace_id})

    def _judge_by_itself(self, trace_id: str, judge: dict) -> None:
        try:
            status, text = self.judge_media(trace_id, judge["suggest"], judge["callback_url"], token=judge["token"],
                                            aes_key=judge["aes_key"], fmt=judge["fmt"])
        except Exception as exc:  # a thread of its own: nobody else would see it
            print(f"fake WeChat: pushing the verdict on {trace_id} failed: {exc!r}", flush=True)
            return
        if status != 200 or text != "success":
            print(f"fake WeChat: the app answered the verdict on {trace_id} with {status} {text[:80]!r}", flush=True)

    def _subscribe_send(self, query, raw, body) -> Answer:
        refused = self._check_token(query)
        if refused:
            return refused
        if not isinstance(body, dict):
            return _error(47001, "data format error")
        touser = body.get("touser")
        if not isinstance(touser, str) or not touser:
            return _error(40003, "invalid openid")
        template_id = body.get("template_id")
        keywords = self._templates.get(template_id) if isinstance(template_id, str) else None
        if keywords is None:
            return _error(40037, "invalid template_id")
        page = body.get("page")
        if page is not None and (not isinstance(page, str) or not _MESSAGE_PAGE_RE.match(page)):
            return _error(41030, "invalid page")
        state = body.get("miniprogram_state")
        if state is not None and state not in _MINIPROGRAM_STATES:
            return _error(47003, "argument invalid! miniprogram_state")
        lang = body.get("lang")
        if lang is not None and lang not in _LANGS:
            return _error(47003, "argument invalid! lang")
        bad = fake_subscribe.bad_data(keywords, body.get("data"))
        if bad:
            return _error(47003, f"argument invalid! {bad}")
        now = self.now()
        day = now.astimezone(_BEIJING).date().isoformat()
        with self._lock:
            if (touser, template_id) in self._refusals or (touser, None) in self._refusals:
                return _error(43101, "user refuse to accept the msg")
            grant_key = (touser, template_id)
            if self._grant_mode == "strict" and self._grants.get(grant_key, 0) <= 0:
                return _error(43101, "user refuse to accept the msg")
            limit = self._quotas.get((template_id, day), self._quotas.get((template_id, None)))
            count_key = (template_id, day)
            if limit is not None and self._sent_per_day.get(count_key, 0) >= limit:
                return _error(45009, "reach max api daily quota limit")
            if self._grant_mode == "strict":
                self._grants[grant_key] -= 1
            self._sent_per_day[count_key] = self._sent_per_day.get(count_key, 0) + 1
            self._next_msgid += 1 + secrets.randbelow(1000)
            msgid = self._next_msgid
            self._messages.append({"msgid": msgid, "touser": touser, "template_id": template_id, "page": page,
                                   "data": body["data"], "miniprogram_state": state, "lang": lang,
                                   "received_at": now.astimezone(_BEIJING).isoformat()})
        return _json({"errcode": 0, "errmsg": "ok", "msgid": msgid})

    @staticmethod
    def _check_sec_request(body) -> Answer | None:
        """What msgSecCheck and mediaCheckAsync v2 both require: version 2, an openid, a scene."""
        if not isinstance(body, dict):
            return _error(47001, "data format error")
        if body.get("version") != 2:
            return _error(47001, "data format error: version must be 2")
        openid = body.get("openid")
        if not isinstance(openid, str) or not openid:
            return _error(40003, "invalid openid")
        if body.get("scene") not in _SEC_SCENES or isinstance(body.get("scene"), bool):
            return _error(40129, "invalid scene")
        return None


_ROUTES = {
    "/cgi-bin/stable_token": ("POST", FakeWeChat._stable_token),
    "/cgi-bin/token": ("GET", FakeWeChat._legacy_token),
    "/cgi-bin/getcallbackip": ("GET", FakeWeChat._callback_ip),
    "/sns/jscode2session": ("GET", FakeWeChat._jscode2session),
    "/wxa/getwxacodeunlimit": ("POST", FakeWeChat._wxacode_unlimit),
    "/wxa/msg_sec_check": ("POST", FakeWeChat._msg_sec_check),
    "/wxa/media_check_async": ("POST", FakeWeChat._media_check_async),
    SUBSCRIBE_SEND: ("POST", FakeWeChat._subscribe_send),
}

_ERRMSG = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40029: "invalid code",
    40163: "code been used",
    42001: "access_token expired",
    43101: "user refuse to accept the msg",
    45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit mustslower retry next minute",
    61010: "user access record expired",
    87014: "risky content",
}


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeWeChat/1.0"
    # Keep-alive, as WeChat's servers do: a client that opened a connection for every call here
    # would be slower than against the real thing, and measure wrong.
    protocol_version = "HTTP/1.1"
    # Headers and body go out as two writes; on a kept-alive connection Nagle's algorithm would
    # hold the body back until the client's delayed ACK, ~40 ms a call.
    disable_nagle_algorithm = True

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def log_message(self, format, *args):
        pass  # the call log is the record; stderr noise would drown test output

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        status, content_type, body = self.server.fake.answer(method, url.path, query, raw)
        if status == _DROPPED[0]:
            # Closed once this handler returns, not a byte answered: the client sees the
            # connection end after it sent its request.
            self.close_connection = True
            return
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a delay beyond its timeout): nothing to answer


def _norm(path: str) -> str:
    return "/" + path.lstrip("/")


def _take(rules: list[dict], path: str) -> dict | None:
    """The first rule for `path`, used once (dropped when its `times` run out)."""
    for rule in rules:
        if rule["path"] == path:
            rule["times"] -= 1
            if rule["times"] <= 0:
                rules.remove(rule)
            return rule
    return None


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def _json_or_none(raw: bytes):
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def _json(value) -> Answer:
    return 200, "application/json", json.dumps(value, ensure_ascii=False).encode()


def _error(errcode: int, errmsg: str) -> Answer:
    # WeChat appends a request id to every error message.
    return _json({"errcode": errcode, "errmsg": f"{errmsg} rid: {secrets.token_hex(4)}-{secrets.token_hex(4)}"})


def _parse_clock(clock: dict) -> tuple[datetime, float, float] | None:
    if not isinstance(clock, dict):
        raise TypeError("clock is {start, speed, origin} or {}")
    if not clock:
        return None
    try:
        start = datetime.fromisoformat(clock["start"])
        speed = float(clock.get("speed", 1.0))
        origin = float(clock["origin"]) if clock.get("origin") is not None else time.time()
    except (KeyError, ValueError) as exc:
        raise TypeError(f"clock: {exc}") from None
    if start.tzinfo is None:
        raise TypeError("clock.start needs an offset")
    return start.astimezone(UTC), origin, speed


def _media_judge(settings: dict) -> dict | None:
    """Checked `configure(media_judge=...)` settings, with their defaults; None for {}."""
    if not isinstance(settings, dict):
        raise TypeError("media_judge is a dict")
    if not settings:
        return None
    unknown = set(settings) - {"callback_url", "token", "aes_key", "fmt", "suggest", "delay_seconds"}
    if unknown:
        raise TypeError(f"media_judge: unknown settings {sorted(unknown)}")
    judge = {"aes_key": None, "fmt": "json", "suggest": "pass", "delay_seconds": 0.5, **settings}
    if not isinstance(judge.get("callback_url"), str) or not judge["callback_url"].startswith(("http://", "https://")):
        raise ValueError("media_judge needs the app's callback_url")
    if not isinstance(judge.get("token"), str) or not judge["token"]:
        raise ValueError("media_judge needs the callback token")
    if judge["suggest"] not in fake_push.LABEL_BY_SUGGEST:
        raise ValueError("media_judge suggest is pass, review or risky")
    if judge["fmt"] not in ("json", "xml"):
        raise ValueError("media_judge fmt is json or xml")
    delay = judge["delay_seconds"]
    if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not 0 <= delay <= 60:
        raise ValueError("media_judge delay_seconds is 0 to 60")
    judge["delay_seconds"] = float(delay)
    return judge


def _words(words) -> list[str]:
    if isinstance(words, str) or not all(isinstance(w, str) and w for w in words):
        raise TypeError("word lists are lists of non-empty strings")
    return list(words)


def _trace_id() -> str:
    # WeChat's trace ids look like "60ae120f-371d5872-7941a05b".
    return "-".join(secrets.token_hex(4) for _ in range(3))


def _png(width: int, scene: str, page: str) -> bytes:
    from PIL import Image, ImageDraw
    from PIL.PngImagePlugin import PngInfo

    image = Image.new("L", (width, width), 255)
    draw = ImageDraw.Draw(image)
    unit = width // 10
    for x, y in ((1, 1), (7, 1), (1, 7)):  # three corner marks, so it looks like a code
        draw.rectangle([x * unit, y * unit, (x + 2) * unit, (y + 2) * unit], fill=0)
    info = PngInfo()
    info.add_text("scene", scene)  # lets tests read back what the code encodes
    info.add_text("page", page)
    out = io.BytesIO()
    image.save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def main(argv: list[str] | None = None) -> None:
    """Serve the fake WeChat in the foreground until interrupted."""
    from config import (
        FAKE_WECHAT_APP_ID,
        FAKE_WECHAT_APP_SECRET,
        FAKE_WECHAT_DEFAULT_PORT,
    )

    parser = argparse.ArgumentParser(description="Fake WeChat API server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=FAKE_WECHAT_DEFAULT_PORT)
    parser.add_argument("--app-id", default=FAKE_WECHAT_APP_ID)
    parser.add_argument("--app-secret", default=FAKE_WECHAT_APP_SECRET)
    parser.add_argument("--token-ttl", type=float, default=7200)
    args = parser.parse_args(argv)

    fake = FakeWeChat(args.app_id, args.app_secret, args.host, args.port, args.token_ttl)
    print(f"fake WeChat listening on {fake.start()}", flush=True)
    fake.serve_until_interrupted()


if __name__ == "__main__":
    main()
