"""工作人员账号: region admins create station managers for the stations of their region, change
which stations they run, reset passwords (which also lifts a lockout), see and lift lockouts
(解除锁定) and disable accounts.
The rules are `services/accounts/staff_accounts`'s."""
from __future__ import annotations

from flask import g, redirect, render_template, request, url_for

from backend.console import forms
from backend.console.blueprint import bp
from backend.console.security import admin_only
from backend.services.accounts import staff_accounts


def _station_ids() -> list[int]:
    return [int(v) for v in request.form.getlist("station_id") if v.isdigit() and int(v) <= 2**31 - 1]


@bp.route("/staff", methods=["GET", "POST"])
@admin_only
def staff_list():
    if request.method == "POST":
        account = forms.attempt(lambda: staff_accounts.create_station_manager(
            g.staff, username=request.form.get("username", "").strip(),
            display_name=request.form.get("display_name", "").strip(), password=request.form.get("password", ""),
            station_ids=_station_ids()), "已创建站长账号")
        if account is not None:
            return redirect(url_for("console.staff_page", account_id=account.id))
    accounts = staff_accounts.list_accounts(g.staff)
    return render_template("console/staff.html", accounts=accounts, locks=staff_accounts.lock_states(accounts),
                           stations=forms.station_choices(g.staff), form=request.form)


@bp.get("/staff/<int:account_id>")
@admin_only
def staff_page(account_id: int):
    account = staff_accounts.access_managed_account(g.staff, account_id)
    return render_template("console/staff_account.html", account=account, stations=forms.station_choices(g.staff),
                           own={s.id for s in account.stations}, is_self=account.id == g.staff.staff_id,
                           lock=staff_accounts.lock_states([account])[account.id])


@bp.post("/staff/<int:account_id>/<action>")
@admin_only
def staff_action(account_id: int, action: str):
    account = staff_accounts.access_managed_account(g.staff, account_id)
    actions = {
        "stations": (lambda: staff_accounts.set_stations(g.staff, account, _station_ids()), "已更新管理的联络站"),
        "password": (lambda: staff_accounts.reset_password(g.staff, account, request.form.get("password", "")),
                     "已重置密码，该账号需用新密码重新登录"),
        "disable": (lambda: staff_accounts.disable_account(g.staff, account), "已停用该账号"),
        "enable": (lambda: staff_accounts.enable_account(g.staff, account), "已启用该账号"),
        "unlock": (lambda: staff_accounts.unlock_account(g.staff, account), "已解除锁定"),
    }
    if action not in actions:
        return redirect(url_for("console.staff_page", account_id=account_id))
    change, success = actions[action]
    forms.attempt(change, success)
    return redirect(url_for("console.staff_page", account_id=account_id))
