"""Signing in to the console and out: the staff password check of the API (`/manage/login`),
lockout by username and address and the limit by address included, with a session cookie
(kept on the server: `services/accounts/console_sessions`) instead of a token."""
from __future__ import annotations

from flask import g, redirect, render_template, request, url_for

from backend.console.blueprint import bp
from backend.client_address import client_address
from backend.console.security import STAFF_ROLES, safe_next, sign_in, sign_out
from backend.errors import AccountLocked, ApiError, RateLimited
from backend.services.accounts import signin
from models import Role, db


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        return render_template("console/login.html", next=safe_next(""))
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    if not username or not password:
        return render_template("console/login.html", error="请输入用户名和密码", username=username,
                               next=safe_next("")), 400
    try:
        caller = signin.staff_login(username, password, client_address())
    except ApiError as error:
        db.session.rollback()
        status = error.status if isinstance(error, (AccountLocked, RateLimited)) else 401
        return render_template("console/login.html", error=error.message, username=username,
                               next=safe_next("")), status
    if not caller.has(*STAFF_ROLES):
        db.session.rollback()
        return render_template("console/login.html", error="该账号没有工作台权限", username=username), 403
    sign_in(caller)
    db.session.commit()
    # A station manager's day starts from what waits for them; a region admin's from the figures.
    landing = "console.dashboard" if caller.has(Role.region_admin) else "console.todo"
    return redirect(safe_next(url_for(landing)))


@bp.post("/logout")
def logout():
    sign_out()
    g.pop("staff", None)
    return redirect(url_for("console.login"))
