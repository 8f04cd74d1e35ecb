"""One error type, one JSON shape: `{"error": {"code", "message", "details"}}` (API.md).

Domain code raises an `ApiError` subclass; one handler renders it. HTTP errors Werkzeug raises
itself (unknown path, wrong method, oversized body) are rendered in the same shape, and so is a
database that cannot serve right now (restarting, unreachable, out of connections): 503
`service_unavailable`, which the mini-program can retry — not a 500, which says we have a bug.
"""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException

from backend.storage import StorageUnavailable

log = logging.getLogger(__name__)


class ApiError(Exception):
    status = 400
    code = "invalid_input"
    message = "请求有误"

    def __init__(self, message: str | None = None, *, details: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message or self.message)
        self.message = message or self.message
        self.details = details or {}
        self.headers = headers or {}

    def to_dict(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class InvalidInput(ApiError):
    """400 with `details.fields`: each bad field and what is wrong with it."""

    def __init__(self, fields: dict[str, str] | None = None, message: str = "提交的内容有误，请检查后重试"):
        super().__init__(message, details={"fields": fields or {}})


class Unauthorized(ApiError):
    status, code, message = 401, "unauthorized", "请先登录"


class TokenExpired(ApiError):
    status, code, message = 401, "token_expired", "登录已过期，请重新登录"


class Forbidden(ApiError):
    status, code, message = 403, "forbidden", "没有权限进行此操作"


class NotFound(ApiError):
    status, code, message = 404, "not_found", "请求的内容不存在"


class StationNotFound(NotFound):
    code, message = "station_not_found", "未找到该联络站，请核对二维码"


class DeputyNotFound(NotFound):
    message = "未找到该代表"


class MethodNotAllowed(ApiError):
    status, code, message = 405, "method_not_allowed", "不支持该请求方法"


class Conflict(ApiError):
    status, code, message = 409, "conflict", "操作冲突，请刷新后重试"


class InviteInvalid(ApiError):
    status, code, message = 400, "invite_invalid", "邀请码无效或已过期，请联系联络站工作人员"


class InviteUsed(ApiError):
    status, code, message = 409, "invite_used", "该邀请码已被使用"


class PayloadTooLarge(ApiError):
    status, code, message = 413, "payload_too_large", "提交的内容过大"


class UnsupportedMediaType(ApiError):
    status, code, message = 415, "unsupported_media_type", "请以 JSON 格式提交（Content-Type: application/json）"


class AccountLocked(ApiError):
    status, code, message = 423, "account_locked", "从此网络地址输错密码次数过多，该账号在此处已临时锁定，请15分钟后再试或换用常用网络登录"


class RateLimited(ApiError):
    status, code, message = 429, "rate_limited", "操作过于频繁，请稍后再试"


class WeChatUnavailableError(ApiError):
    status, code, message = 503, "wechat_unavailable", "微信服务暂时不可用，请稍后再试"


class InternalError(ApiError):
    status, code, message = 500, "internal_error", "服务器开小差了，请稍后再试"


class ServiceUnavailable(ApiError):
    """What the answer needs cannot be had right now (the database, the audit log); asking again
    in a few seconds may work."""

    status, code, message = 503, "service_unavailable", "服务暂时不可用，请稍后再试"

    def __init__(self):
        # A restarting PostgreSQL is back within seconds (docs/architecture.md, "When things fail").
        super().__init__(headers={"Retry-After": "5"})


# What SQLite says when it is busy rather than wrong: its other OperationalErrors (no such table,
# a syntax error) are bugs.
_SQLITE_BUSY = ("database is locked", "database table is locked", "unable to open database file",
                "disk I/O error")


def database_unavailable(error: BaseException) -> bool:
    """Whether `error` says the database cannot serve now, as opposed to a bug in a statement:
    no connection (refused, timed out, the server shutting down or starting up), a connection
    lost mid-request, no free connection in the pool, or PostgreSQL giving up on a statement
    (cancelled, lock or deadlock timeout, out of resources) — all of psycopg's OperationalError."""
    if isinstance(error, (sa_exc.DisconnectionError, sa_exc.TimeoutError)):
        return True
    if not isinstance(error, sa_exc.DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    if isinstance(error, sa_exc.OperationalError):
        module = type(error.orig).__module__
        if module.startswith("sqlite3"):
            return any(text in str(error.orig) for text in _SQLITE_BUSY)
        return True
    return False


def database_error(error: sa_exc.SQLAlchemyError) -> ApiError:
    """The answer to a database error: 503 when the database is unavailable, else a logged bug."""
    if database_unavailable(error):
        # One line, not a traceback: an outage raises this on every request until it ends.
        log.warning("database unavailable: %s: %s", type(error).__name__, str(error).splitlines()[0][:300])
        return ServiceUnavailable()
    log.exception("database error")
    return InternalError()


# Werkzeug's own HTTP errors, in API.md's words.
_HTTP_ERRORS: dict[int, type[ApiError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
}


def error_response(error: ApiError):
    response = jsonify(error.to_dict())
    response.status_code = error.status
    for name, value in error.headers.items():
        response.headers[name] = value
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(error: ApiError):
        return error_response(error)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        if error.code == 400:
            # Werkzeug raises a bare 400 for a body it could not parse.
            return error_response(InvalidInput(message="请求格式有误"))
        if error.code == 405:
            allowed = ", ".join(sorted(getattr(error, "valid_methods", None) or []))
            return error_response(MethodNotAllowed(headers={"Allow": allowed} if allowed else None))
        cls = _HTTP_ERRORS.get(error.code or 500)
        if cls is not None:
            return error_response(cls())
        if error.code and error.code < 500:
            generic = ApiError(error.description or "请求有误")
            generic.status, generic.code = error.code, "invalid_input"
            return error_response(generic)
        return error_response(InternalError())

    @app.errorhandler(sa_exc.SQLAlchemyError)
    def _database_error(error: sa_exc.SQLAlchemyError):
        return error_response(database_error(error))

    @app.errorhandler(StorageUnavailable)
    def _storage_unavailable(error: StorageUnavailable):
        # The object store failed (network, credentials, bucket): like a database that cannot
        # serve, an outage to retry, not a bug — but one an operator must hear about.
        log.error("storage unavailable: %s", error)
        return error_response(ServiceUnavailable())

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        # A bug, never a message for users: log it whole, answer without internals.
        log.exception("unhandled error")
        return error_response(InternalError())
