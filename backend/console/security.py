"""Who is signed in to the console, and the web's defences around every page.

- The session is Flask's signed cookie, holding only the user id, their token version, the id
  of its `ConsoleSession` row (`services/accounts/console_sessions`: signing out closes the row,
  so a copied cookie dies with it) and a CSRF token; roles come from the database through the
  identity cache on every request (as for bearer tokens: `auth.identify`), so a disabled
  account or a password reset (which bumps the token version and closes the rows) ends console
  sessions at once. The cookie is HttpOnly, SameSite=Lax,
  Secure outside development, scoped to /console; sessions end after CONSOLE_IDLE_MINUTES
  without a request.
- Every POST carries the session's CSRF token (a hidden `csrf_token` field, or the
  `X-CSRF-Token` header), compared in constant time; the sign-in form too, so a session cannot
  be planted from another site.
- Every answer carries a strict Content-Security-Policy (scripts and styles only from our own
  files: no inline script, no inline style, nothing from a CDN), and is never cached: pages
  show residents' words and deputies' names.
"""
from __future__ import annotations

import hmac
import secrets
import time
from functools import wraps
from urllib.parse import urlsplit

from flask import (
    Flask,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.exceptions import NotFound as WerkzeugNotFound

from backend.auth import Caller, identify
from backend.console.blueprint import bp
from backend.console.forms import error_text
from backend.errors import ApiError, NotFound, Unauthorized, database_error, error_response
from backend.services.accounts import console_sessions
from models import Role, db

STAFF_ROLES = (Role.station_manager, Role.region_admin)
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; font-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
# Endpoints reachable without signing in.
PUBLIC = {"console.login", "console.static"}
# Forms that upload a file larger than the app's MAX_CONTENT_LENGTH: endpoint → bytes.
_UPLOAD_LIMITS: dict[str, int] = {}


def upload_limit(endpoint: str, limit: int) -> None:
    _UPLOAD_LIMITS[endpoint] = limit


def init_security(app: Flask) -> None:
    """The app-wide part (the blueprint's hooks are set below, once, when this module loads)."""
    # A path under /console that matches no page belongs to no blueprint: the app's JSON handler
    # would answer it. People typing a console address get a page.
    json_not_found = json_handler = app.error_handler_spec[None][None].get(HTTPException)

    @app.errorhandler(WerkzeugNotFound)
    def _not_found(error):
        if request.path.startswith(bp.url_prefix + "/"):
            return _routing_error_page(error)
        return json_not_found(error) if json_not_found else error_response(NotFound())

    # The same for a known console address asked with a method it does not take (a GET of a
    # form's POST-only address, from a bookmark or an old sign-in link): a page, never JSON.
    @app.errorhandler(MethodNotAllowed)
    def _method_not_allowed(error):
        if request.path.startswith(bp.url_prefix + "/"):
            return _routing_error_page(error)
        return json_handler(error) if json_handler else error_response(ApiError("不支持该请求方法"))

    def _routing_error_page(error):
        # Routing failed before the blueprint's hooks ran: find who is signed in here, so the
        # page keeps its navigation bar.
        if "staff" not in g:
            try:
                g.staff = _signed_in()
            except (ApiError, SQLAlchemyError):
                g.staff = None
        return _http_error_page(error)


def csrf_token() -> str:
    token = session.get("csrf")
    if token is None:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def sign_in(caller: Caller) -> None:
    """Start a console session for `caller` (a fresh CSRF token: nothing of a session begun
    before signing in survives it). Its row is written in the request's transaction: the caller
    commits."""
    session.clear()
    session.permanent = True
    session.update(uid=caller.user_id, ver=caller.user.token_version, sid=console_sessions.start(caller.user_id),
                   csrf=secrets.token_urlsafe(32), seen=int(time.time()))


def sign_out(reason: str = "logout") -> None:
    """End the session on the server too (every copy of the cookie), then forget the cookie."""
    sid = session.get("sid")
    session.clear()
    if sid:
        try:
            console_sessions.end(sid, reason)
            db.session.commit()
        except SQLAlchemyError:
            db.session.rollback()
            raise


def _before():
    if request.endpoint in _UPLOAD_LIMITS:
        # Before anything reads the form (the CSRF check below does).
        request.max_content_length = _UPLOAD_LIMITS[request.endpoint]
    posted = request.method not in ("GET", "HEAD", "OPTIONS")
    # Checked before the session is looked at: an idle session is cleared by that look, and a
    # form sent from a page of the expired session still carries its genuine token.
    token_ok = not posted or _csrf_ok()
    if request.endpoint in PUBLIC:
        if not token_ok:
            abort(400, description="页面已过期，请刷新页面后重试")
        return None
    g.staff = _signed_in()
    if g.staff is None:
        if request.endpoint == "console.logout":
            return redirect(url_for("console.login"))  # signed out already: nothing to refuse
        if posted:
            # A form sent after the session ended (typically a long reply typed past the idle
            # time): sign in again, then back on the page the form was on — never its POST-only
            # address — with what was typed. Only a form of this session (its token checked)
            # has its fields carried; another site's form gets nothing filled in.
            return _expired_form(request.form if token_ok else None)
        return redirect(url_for("console.login", next=_local_path(request.full_path)))
    if not token_ok:
        abort(400, description="页面已过期，请刷新页面后重试")
    return None


def _csrf_ok() -> bool:
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    expected = session.get("csrf")
    return bool(expected) and hmac.compare_digest(sent.encode(), expected.encode())


def _expired_form(form):
    back = _form_page()
    # Never a password (a staff account's form): it would sit in the page and the browser's storage.
    draft = {} if form is None else {
        name: value for name, value in form.items(multi=False)
        if name != "csrf_token" and "password" not in name and value}
    return render_template("console/login.html", next=back, draft=draft, draft_action=request.path,
                           error="登录已超时，请重新登录。" + (
                               "您刚才输入的内容已保留，登录后将回到原页面，请核对后再次提交。" if draft
                               else "登录后将回到原页面，请重新提交。")), 401


def _form_page() -> str | None:
    """The console page a posted form was on: the Referer when it is ours, else the page the
    form's address sits under (`/console/issues/<no>/reply` → `/console/issues/<no>`)."""
    referer = urlsplit(request.referrer or "")
    if referer.netloc == request.host:
        back = _local_path(referer.path + ("?" + referer.query if referer.query else ""))
        if back:
            return back
    adapter = current_app.url_map.bind_to_environ(request.environ)
    path = request.path.rstrip("/")
    while "/" in path.strip("/"):
        path = path.rsplit("/", 1)[0]
        try:
            adapter.match(path, method="GET")
            return path
        except HTTPException:
            continue
    return None


def _signed_in() -> Caller | None:
    uid, version, seen = session.get("uid"), session.get("ver"), session.get("seen")
    if not isinstance(uid, int) or not isinstance(seen, int):
        return None
    now = int(time.time())
    if now - seen > current_app.config["CONSOLE_IDLE_MINUTES"] * 60:
        sign_out("idle")
        return None
    if not console_sessions.is_open(session.get("sid"), uid):
        # Signed out (perhaps in another browser holding a copy), reset, disabled, or too old.
        session.clear()
        return None
    try:
        caller = identify(uid, version)
    except Unauthorized:
        sign_out("revoked")
        return None
    if not caller.has(*STAFF_ROLES):
        sign_out("revoked")
        return None
    if now - seen > 60:  # rewriting the cookie on every request would be wasted bytes
        session["seen"] = now
    return caller


def _local_path(target: str | None) -> str | None:
    """`target` if it is a console path on this site, else None (no open redirect)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/console") or target.startswith("//"):
        return None
    return target.rstrip("?")


def safe_next(default: str) -> str:
    return _local_path(request.values.get("next")) or default


def _headers(response):
    if not request.path.startswith("/console"):
        return response
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    if request.endpoint != "console.static":
        response.headers["Cache-Control"] = "no-store"
    return response


def _api_error_page(error: ApiError):
    try:
        db.session.rollback()
    except SQLAlchemyError:
        pass  # the database went away: there is nothing left to roll back
    return render_template("console/error.html", title=_TITLES.get(error.status, "出错了"),
                           message=error_text(error)), error.status


_TITLES = {400: "请求有误", 403: "没有权限", 404: "未找到", 405: "不支持的操作", 409: "状态已变化", 413: "文件过大",
           503: "暂时无法访问"}


def _http_error_page(error: HTTPException):
    status = error.code or 500
    if status >= 500:
        return _api_error_page(ApiError("服务器开小差了，请稍后再试"))
    message = error.description if status == 400 else {
        403: "您没有权限查看此页面", 404: "您要找的页面不存在，或不在您管理的范围内",
        405: "不支持的操作", 413: "上传的文件过大"}.get(status, "请求有误")
    return render_template("console/error.html", title=_TITLES.get(status, "出错了"), message=message), status


def admin_only(view):
    """For views that only region admins may open (station managers get 403)."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        if not g.staff.has(Role.region_admin):
            abort(403)
        return view(*args, **kwargs)
    return wrapper


bp.before_request(_before)
# On the app, not the blueprint: a /console path no page matches gets them too.
bp.after_app_request(_headers)
bp.register_error_handler(ApiError, _api_error_page)
bp.register_error_handler(HTTPException, _http_error_page)
# A database restarting or unreachable: a page saying so (503), as the API answers.
bp.register_error_handler(SQLAlchemyError, lambda error: _api_error_page(database_error(error)))
bp.app_context_processor(lambda: {"csrf_token": csrf_token, "staff": g.get("staff")})
