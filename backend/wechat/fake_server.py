"""The project's own fake WeChat: a real HTTP server that answers like WeChat's documented API.

The app reaches it through wechatpy over a socket exactly as it reaches api.weixin.qq.com, so
tests exercise the real gateway. Errors come back as WeChat sends them: HTTP 200 with
{"errcode", "errmsg"}. Control endpoints under /__fake__/ let tests (in any process) inject
failures and delays, read the call log and expire tokens; FakeWeChat mirrors them as methods.

Content security (msgSecCheck v2, mediaCheckAsync v2) judges by word lists, not by meaning:
text containing a risky word is "risky", one containing a review word is "review", anything
else "pass". Images are not judged at all: mediaCheckAsync only records what it was asked (the
push of its verdict is not played yet), so tests can read the media_url WeChat would fetch.

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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

# WeChat renews a stable token in the last 5 minutes of its 2 hours and keeps the old one usable
# meanwhile; a shortened test ttl keeps the same ratio.
_HANDOVER_RATIO = 300 / 7200
_SCENE_RE = re.compile(r"^[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]{1,32}$")
_PAGE_RE = re.compile(r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*$")

# Defaults of the content-security word lists (reset() restores them). Plain words a test can
# type: 赌博 and 枪支 stand for illegal content, 示威 for text a person should look at.
DEFAULT_RISKY_WORDS = ("赌博", "枪支")
DEFAULT_REVIEW_WORDS = ("示威",)
# msgSecCheck v2 limits: "文本字数的上限为2500字"; scene 1 资料, 2 评论, 3 论坛, 4 社交日志.
MSG_SEC_CHECK_MAX_CHARS = 2500
_SEC_SCENES = (1, 2, 3, 4)
# The labels the fake answers with, from WeChat's list: 100 正常, 20006 违法犯罪, 21000 其他.
LABEL_NORMAL, LABEL_RISKY, LABEL_REVIEW = 100, 20006, 21000

Answer = tuple[int, str, bytes]


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

    def __enter__(self) -> FakeWeChat:
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
        """Hold the next `times` answers to `path` for `seconds` before answering."""
        with self._lock:
            self._delay_rules.append({"path": _norm(path), "seconds": seconds, "times": times})

    def expire_tokens(self) -> None:
        """Every token issued so far is expired from now on."""
        now = time.monotonic()
        with self._lock:
            for token in self._tokens.values():
                token.expires_at = min(token.expires_at, now)

    def configure(self, token_ttl_seconds: float | None = None, handover_seconds: float | None = None,
                  with_unionid: bool | None = None, risky_words: list[str] | None = None,
                  review_words: list[str] | None = None) -> None:
        """Change the lifetime of tokens issued from now on, the handover window (by default
        5 minutes of 2 hours, scaled to the ttl), whether jscode2session adds a unionid, or the
        words msgSecCheck judges by (a list replaces the current one; [] judges nothing so)."""
        with self._lock:
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
        if delay:
            time.sleep(delay["seconds"])
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
        actions = {
            "reset": lambda: self.reset(),
            "fail": lambda: self.fail(**body),
            "delay": lambda: self.delay(**body),
            "expire-tokens": lambda: self.expire_tokens(),
            "config": lambda: self.configure(**body),
        }
        if method != "POST" or name not in actions:
            return 404, "application/json", b'{"error":"unknown control endpoint"}'
        try:
            actions[name]()
        except TypeError as exc:
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
        if code == "invalid":
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
        if page is not None and body.get("check_path", True) is not False:
            if not isinstance(page, str) or not _PAGE_RE.match(page):
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
        return _json({"errcode": 0, "errmsg": "ok", "trace_id": trace_id})

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
}

_ERRMSG = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40029: "invalid code",
    40163: "code been used",
    42001: "access_token expired",
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
