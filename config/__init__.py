"""Settings. The only code in the project that reads environment variables.

`load_config()` returns a plain dict for `app.config.from_mapping`. A newcomer gets the embedded
default (a SQLite file, the built-in fake WeChat); a county deployment sets `DATABASE_URL`,
`REDIS_URL`, `SECRET_KEY` and its real WeChat app id and secret.
"""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Development values of the fake WeChat that ships with the project. They are not secrets: the
# fake server accepts exactly these, and real ones only ever come from the environment.
FAKE_WECHAT_APP_ID = "wxf00dfacefake0001"
FAKE_WECHAT_APP_SECRET = "fake-wechat-dev-secret-0123456789"
FAKE_WECHAT_DEFAULT_PORT = 8765
# The push callback's token and EncodingAESKey (43 characters) in development.
FAKE_WECHAT_CALLBACK_TOKEN = "fake-callback-token"
FAKE_WECHAT_CALLBACK_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
# Subscribe-message templates by our name. A real mini-program picks its templates in the WeChat
# admin and its ids come from WECHAT_TEMPLATE_<NAME>; these development ids are the fake's.
SUBSCRIBE_TEMPLATE_NAMES = ("reception_reminder", "issue_status", "issue_escalation", "manager_digest")
FAKE_TEMPLATE_IDS = {name: f"fake-tmpl-{name.replace('_', '-')}" for name in SUBSCRIBE_TEMPLATE_NAMES}
# The development SECRET_KEY. It is public (it is right here), so anyone could sign a region
# admin's token with it: `production_problems` refuses it wherever real WeChat credentials are set.
DEV_SECRET_KEY = "dev-only-secret-change-me"


class ConfigError(RuntimeError):
    """A setting that must not be started with; the message names the variable."""


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _env_int(name: str, default: int) -> int:
    value = _env(name)
    return int(value) if value is not None else default


def _env_bool(name: str, default: bool) -> bool:
    value = _env(name)
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


# Where printed codes point when PUBLIC_BASE_URL is unset and WeChat is the fake (tests).
PLACEHOLDER_BASE_URL = "https://lianluozhan.example.cn"
# The newcomer's database, when DATABASE_URL is unset.
DEFAULT_DATABASE_URL = f"sqlite:///{PROJECT_ROOT / 'instance' / 'lianluozhan.sqlite3'}"


def _database_url(url: str | None) -> str:
    if url is None:
        return DEFAULT_DATABASE_URL
    # Hosting panels hand out postgres:// URLs; SQLAlchemy wants a driver name, and we use psycopg 3.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _env_list(name: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in (_env(name) or "").split(",") if part.strip())


def _networks(name: str) -> tuple[str, ...]:
    """A comma-separated list of addresses or networks; a bad entry stops the start, naming it."""
    import ipaddress

    entries = _env_list(name)
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ConfigError(f"{name}: {entry!r} is not an IP address or network") from None
    return entries


def _env_float(name: str, default: float | None) -> float | None:
    value = _env(name)
    return float(value) if value is not None else default


def load_config(**overrides) -> dict:
    """Settings from the environment, then `overrides` (tests and commands pass these)."""
    app_id = _env("WECHAT_APP_ID")
    fake_port = _env_int("FAKE_WECHAT_PORT", FAKE_WECHAT_DEFAULT_PORT)
    cfg = {
        "SECRET_KEY": _env("SECRET_KEY", DEV_SECRET_KEY),
        "SQLALCHEMY_DATABASE_URI": _database_url(_env("DATABASE_URL")),
        # hide_parameters: a statement's values (residents' words, names) stay out of exception
        # texts, hence out of logged tracebacks, and out of SQL echo. pool_pre_ping: a connection
        # the database dropped (a restart) is replaced when it is taken from the pool, so the
        # first request after the database is back succeeds.
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True, "hide_parameters": True},
        # Seconds to wait for a PostgreSQL connection (libpq's connect_timeout, at least 2).
        "DATABASE_CONNECT_TIMEOUT_SECONDS": _env_int("DATABASE_CONNECT_TIMEOUT_SECONDS", 5),
        "REDIS_URL": _env("REDIS_URL"),
        # Sign-in
        "TOKEN_TTL_SECONDS": _env_int("TOKEN_TTL_SECONDS", 7 * 24 * 3600),
        # The lockout: LOGIN_MAX_FAILURES wrong passwords for one username from one client address
        # within the window lock that username for that address only, so nobody elsewhere can
        # lock its owner out. LOGIN_ADDRESS_MAX_FAILURES failures from one address, whatever the
        # usernames (password spraying), stop that address; successes never count, so an office
        # signing everyone in from one address is never stopped.
        "LOGIN_MAX_FAILURES": 5,
        "LOGIN_LOCK_WINDOW_SECONDS": 15 * 60,
        "LOGIN_ADDRESS_MAX_FAILURES": _env_int("LOGIN_ADDRESS_MAX_FAILURES", 20),
        # The reverse proxies (nginx, a load balancer) in front of the app, by address or network
        # (comma-separated, e.g. "127.0.0.1,10.0.0.0/8"). A request arriving from one of them is
        # from the address it reports in X-Forwarded-For; from anywhere else, from the socket's
        # peer (an X-Forwarded-For sent by a client itself is ignored).
        "TRUSTED_PROXIES": _networks("TRUSTED_PROXIES"),
        # Invite codes (bind-deputy): wrong codes one user, or one address, may try per hour.
        "BIND_MAX_FAILURES_PER_USER": _env_int("BIND_MAX_FAILURES_PER_USER", 10),
        "BIND_MAX_FAILURES_PER_ADDRESS": _env_int("BIND_MAX_FAILURES_PER_ADDRESS", 30),
        # wx-login calls per client address a minute (each costs a WeChat code2session call; a
        # carrier's NAT puts many residents behind one address, hence the room), and follow /
        # unfollow calls per user a minute.
        "WX_LOGIN_PER_ADDRESS_PER_MINUTE": _env_int("WX_LOGIN_PER_ADDRESS_PER_MINUTE", 120),
        "FOLLOW_PER_USER_PER_MINUTE": _env_int("FOLLOW_PER_USER_PER_MINUTE", 30),
        "INVITE_TTL_DAYS": _env_int("INVITE_TTL_DAYS", 14),
        # The staff console's session cookie: only under /console, never readable by scripts,
        # not sent with cross-site requests, and Secure (HTTPS only) wherever real WeChat
        # credentials are set — the development server speaks plain HTTP.
        "SESSION_COOKIE_NAME": "llz_console",
        "SESSION_COOKIE_PATH": "/console",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _env_bool("SESSION_COOKIE_SECURE", app_id is not None),
        "PERMANENT_SESSION_LIFETIME": _env_int("CONSOLE_SESSION_HOURS", 12) * 3600,
        "CONSOLE_IDLE_MINUTES": _env_int("CONSOLE_IDLE_MINUTES", 60),
        # WeChat. With no app id the app talks to the fake WeChat with its development values.
        "WECHAT_FAKE": app_id is None,
        "WECHAT_APP_ID": app_id or FAKE_WECHAT_APP_ID,
        "WECHAT_APP_SECRET": _env("WECHAT_APP_SECRET") if app_id else FAKE_WECHAT_APP_SECRET,
        "WECHAT_API_BASE": _env(
            "WECHAT_API_BASE",
            None if app_id else f"http://127.0.0.1:{fake_port}/",
        ) or "https://api.weixin.qq.com/",
        "WECHAT_TIMEOUT_SECONDS": float(_env("WECHAT_TIMEOUT_SECONDS", "5")),
        # Refresh the shared access token this long before WeChat says it expires.
        "WECHAT_TOKEN_MARGIN_SECONDS": 300,
        "FAKE_WECHAT_PORT": fake_port,
        # Subscribe messages: template ids by our name, and which version of the mini-program a
        # tap on the message opens (developer / trial / formal).
        "SUBSCRIBE_TEMPLATE_IDS": {
            name: _env(f"WECHAT_TEMPLATE_{name.upper()}", None if app_id else FAKE_TEMPLATE_IDS[name])
            for name in SUBSCRIBE_TEMPLATE_NAMES
        },
        "WECHAT_MINIPROGRAM_STATE": _env("WECHAT_MINIPROGRAM_STATE", "formal" if app_id else "developer"),
        # The push callback (/wechat/callback): the token of the signature; with an EncodingAESKey
        # the secure mode; the data format chosen in the WeChat admin (json or xml).
        "WECHAT_CALLBACK_TOKEN": _env("WECHAT_CALLBACK_TOKEN", None if app_id else FAKE_WECHAT_CALLBACK_TOKEN),
        "WECHAT_CALLBACK_AES_KEY": _env("WECHAT_CALLBACK_AES_KEY", None if app_id else FAKE_WECHAT_CALLBACK_AES_KEY),
        "WECHAT_CALLBACK_FORMAT": _env("WECHAT_CALLBACK_FORMAT", "json"),
        # Start the fake WeChat inside the process when nothing listens on its port yet
        # (the dev server does; tests and gunicorn start their own).
        "FAKE_WECHAT_AUTOSTART": _env_bool("FAKE_WECHAT_AUTOSTART", False),
        # The dev server's fake WeChat judges every uploaded image by itself and pushes this
        # verdict to /wechat/callback, as WeChat does (pass, review, risky; off: none, images
        # stay pending). Tests give their verdicts by hand.
        "FAKE_WECHAT_MEDIA_VERDICT": _env("FAKE_WECHAT_MEDIA_VERDICT", "pass"),
        # Printed codes and posters
        # With real WeChat credentials it must be set (production_problems): codes printed with a
        # placeholder domain would lead residents nowhere. The devserver sets its own address.
        "PUBLIC_BASE_URL": (_env("PUBLIC_BASE_URL", None if app_id else PLACEHOLDER_BASE_URL) or "").rstrip("/"),
        "POSTER_FONT_PATH": _env("POSTER_FONT_PATH"),
        # Request limits: JSON bodies are small; uploads raise this per route. Bodies without a
        # Content-Length (chunked) are held to the same limit. Form fields (the console's forms)
        # are held in memory up to MAX_FORM_MEMORY_SIZE, in at most MAX_FORM_PARTS parts (a region
        # admin's form ticks a checkbox per station). Past any of them: 413 payload_too_large.
        # The request line and headers are limited by gunicorn (gunicorn.conf.py).
        "MAX_CONTENT_LENGTH": _env_int("MAX_CONTENT_LENGTH", 1024 * 1024),
        "MAX_FORM_MEMORY_SIZE": _env_int("MAX_FORM_MEMORY_SIZE", 500_000),
        "MAX_FORM_PARTS": _env_int("MAX_FORM_PARTS", 1000),
        "JSON_AS_ASCII": False,
        # Residents' images (POST /api/v1/uploads): local disk by default; keys are random names.
        "UPLOAD_DIR": _env("UPLOAD_DIR", str(PROJECT_ROOT / "instance" / "uploads")),
        # `s3`: an S3-compatible object store shared by several app machines (backend/storage/s3.py).
        # Checked when the app is created: s3 without a bucket does not start.
        "STORAGE_BACKEND": (_env("STORAGE_BACKEND", "local") or "local").strip().lower(),
        "S3_BUCKET": _env("S3_BUCKET"),
        # MinIO, OSS, COS …: their S3 endpoint, e.g. https://oss-cn-hangzhou.aliyuncs.com; unset for AWS.
        "S3_ENDPOINT_URL": _env("S3_ENDPOINT_URL"),
        "S3_REGION": _env("S3_REGION"),
        # Unset: boto3's own chain (AWS_* variables, ~/.aws, an instance role).
        "S3_ACCESS_KEY_ID": _env("S3_ACCESS_KEY_ID"),
        "S3_SECRET_ACCESS_KEY": _env("S3_SECRET_ACCESS_KEY"),
        # Keys below this prefix: several deployments (or environments) in one bucket.
        "S3_PREFIX": _env("S3_PREFIX", ""),
        # path for MinIO; virtual (bucket.host) for OSS and COS, which refuse path style; auto: boto3 decides.
        "S3_ADDRESSING_STYLE": (_env("S3_ADDRESSING_STYLE", "auto") or "auto").strip().lower(),
        # A slow store holds a web worker at most about attempts × (connect + read) seconds.
        "S3_CONNECT_TIMEOUT_SECONDS": _env_float("S3_CONNECT_TIMEOUT_SECONDS", 2.0),
        "S3_READ_TIMEOUT_SECONDS": _env_float("S3_READ_TIMEOUT_SECONDS", 5.0),
        "S3_MAX_ATTEMPTS": _env_int("S3_MAX_ATTEMPTS", 2),
        "UPLOAD_MAX_BYTES": _env_int("UPLOAD_MAX_BYTES", 5 * 1024 * 1024),
        # Decoding is what costs memory (3 bytes a pixel), not the file size: a 5 MB PNG can
        # claim 40000 × 40000 pixels. 40 MP covers phone cameras.
        "UPLOAD_MAX_PIXELS": _env_int("UPLOAD_MAX_PIXELS", 40_000_000),
        # Images one user may store per hour: an issue takes at most a few, and each costs disk
        # and a WeChat image check.
        "UPLOAD_MAX_PER_HOUR": _env_int("UPLOAD_MAX_PER_HOUR", 60),
        # Signed /media links: for viewers in the mini-program (re-issued with every answer that
        # shows the image), and for WeChat's image check, which fetches the image from outside
        # (PUBLIC_BASE_URL) some time within 30 minutes — a day leaves room for its retries.
        "MEDIA_URL_TTL_SECONDS": _env_int("MEDIA_URL_TTL_SECONDS", 3600),
        "MEDIA_CHECK_URL_TTL_SECONDS": _env_int("MEDIA_CHECK_URL_TTL_SECONDS", 24 * 3600),
        # WeChat content security scene (1 资料, 2 评论, 3 论坛, 4 社交日志): an issue is a post
        # of its own read by others, closest to 论坛.
        "CONTENT_CHECK_SCENE": _env_int("CONTENT_CHECK_SCENE", 3),
        # Encrypts personal data at rest (phones); derived from SECRET_KEY when unset.
        "DATA_ENCRYPTION_KEY": _env("DATA_ENCRYPTION_KEY"),
        # Deputies on duty per reception day in a station's first roster (排班); each station's
        # later rosters keep what its staff last chose.
        "DUTY_DEPUTIES_PER_DAY": _env_int("DUTY_DEPUTIES_PER_DAY", 2),
        # The scheduler (`flask --app wsgi scheduler run`). A standby asks for the lead this often,
        # so it takes over well within a minute of the leader dying.
        "SCHEDULER_STANDBY_POLL_SECONDS": _env_float("SCHEDULER_STANDBY_POLL_SECONDS", 10.0),
        "SCHEDULER_LOCK_FILE": _env("SCHEDULER_LOCK_FILE", str(PROJECT_ROOT / "instance" / "scheduler.lock")),
        # With a tick, every job runs every so many seconds instead of on its timetable (jobs are
        # idempotent and plan what is due by the clock): for tests on an accelerated clock.
        "SCHEDULER_TICK_SECONDS": _env_float("SCHEDULER_TICK_SECONDS", None),
        # An accelerated clock for tests and demos: it reads CLOCK_START (ISO 8601 with offset) at
        # the wall-clock instant CLOCK_ORIGIN (Unix seconds; default: when the process starts) and
        # runs CLOCK_SPEED times faster than the wall clock. Never set in production.
        "CLOCK_START": _env("CLOCK_START"),
        "CLOCK_SPEED": _env_float("CLOCK_SPEED", 1.0),
        "CLOCK_ORIGIN": _env_float("CLOCK_ORIGIN", None),
        # Outbox senders (`flask --app wsgi outbox send`): calls in flight per process, rows a
        # thread claims at once (a killed sender's claimed rows all end `unknown`, sent or not:
        # one keeps that to the message actually in flight), attempts before a message fails.
        "OUTBOX_SEND_THREADS": _env_int("OUTBOX_SEND_THREADS", 16),
        "OUTBOX_CLAIM_BATCH": _env_int("OUTBOX_CLAIM_BATCH", 1),
        "OUTBOX_MAX_ATTEMPTS": _env_int("OUTBOX_MAX_ATTEMPTS", 5),
        # A claim older than this with no outcome is a sender that died mid-send: `unknown`.
        "OUTBOX_STALE_CLAIM_SECONDS": _env_int("OUTBOX_STALE_CLAIM_SECONDS", 300),
        # Fault injection for tests: "pause-after-call:N" makes a sender stop between its Nth
        # WeChat call and that call's commit (so a test can SIGKILL it there).
        "OUTBOX_FAULT_HOOK": _env("OUTBOX_FAULT_HOOK"),
        # /metrics (Prometheus text) asks for this bearer token when set; with real WeChat
        # credentials it is closed (401 to everyone) until set.
        "METRICS_TOKEN": _env("METRICS_TOKEN"),
        # How long audit entries are kept (at least 180 days, whatever is set: the law's minimum)
        # and personal data once its purpose is served (backend/services/privacy/retention.py).
        "AUDIT_RETENTION_DAYS": _env_int("AUDIT_RETENTION_DAYS", 365),
        "PERSONAL_DATA_RETENTION_DAYS": _env_int("PERSONAL_DATA_RETENTION_DAYS", 365),
        # Where gunicorn's workers share their request metrics (prometheus_client's multiprocess
        # mode). gunicorn.conf.py makes a fresh directory when unset; other processes leave it.
        "PROMETHEUS_MULTIPROC_DIR": _env("PROMETHEUS_MULTIPROC_DIR"),
        # Logs: one JSON object per line where a deployment is (real WeChat credentials), text
        # for people at a terminal otherwise; either can be chosen.
        "LOG_FORMAT": (_env("LOG_FORMAT", "json" if app_id else "text") or "").lower(),
        "LOG_LEVEL": (_env("LOG_LEVEL", "INFO") or "").upper(),
        # Strict-Transport-Security max-age, sent on every answer wherever the console's cookie is
        # Secure (SESSION_COOKIE_SECURE: the site is served over HTTPS); 0 never sends it.
        "HSTS_SECONDS": _env_int("HSTS_SECONDS", 365 * 24 * 3600),
    }
    cfg.update(overrides)
    return cfg


def production_problems(cfg: dict) -> list[str]:
    """What a deployment (real WeChat credentials: `WECHAT_FAKE` false) must not start with.

    The development SECRET_KEY is public: with it anyone can sign any user's token, and the key
    encrypting residents' phones derives from it when DATA_ENCRYPTION_KEY is unset.
    """
    if cfg.get("WECHAT_FAKE"):
        return []
    problems = []
    if not cfg.get("PUBLIC_BASE_URL"):
        # Codes printed with a placeholder domain would lead residents nowhere.
        problems.append("PUBLIC_BASE_URL is required with real WeChat credentials: the https:// address "
                        "residents reach the service at, printed in every station code")
    key = cfg.get("SECRET_KEY")
    if not key or key == DEV_SECRET_KEY:
        problems.append("SECRET_KEY is not set: set a long random value (e.g. `python -c "
                        "'import secrets; print(secrets.token_hex(32))'`) before starting with real WeChat credentials")
    elif len(key) < 16:
        problems.append("SECRET_KEY is too short: use at least 16 random characters (32 bytes of hex is usual)")
    return problems


def check_production(cfg: dict) -> None:
    """:raise ConfigError: naming each variable `production_problems` finds at fault."""
    problems = production_problems(cfg)
    if problems:
        raise ConfigError("; ".join(problems))
