"""联络站与代表: the stations of the caller's reach, one station with its details (edited within
the caller's rights), its printed code and poster, its deputies (invite codes, retirement);
new stations, closing and reopening (region admins); the 代表名册 and 联络站 Excel imports; a
deputy's 履职档案 as an Excel file.

Rules live in `station_admin`, `station_import`, `deputy_import`, `signin.create_invite` and
`retirement`."""
from __future__ import annotations

from flask import Response, flash, g, redirect, render_template, request, url_for
from sqlalchemy import func, select

from backend import clock
from backend.console import forms
from backend.console.blueprint import bp
from backend.console.dashboard import xlsx_response
from backend.console.security import admin_only, upload_limit
from backend.errors import ApiError, InvalidInput, PayloadTooLarge
from backend.permissions import access_managed_deputy, station_scope_clause
from backend.services.accounts import signin
from backend.services.deputies import deputy_import, retirement
from backend.services.duty import duty_exports
from backend.services.privacy import audit
from backend.services.stations import station_admin, station_import, stations
from backend.web.downloads import attachment
from models import Region, Role, Station, StationMembership, db

PER_PAGE = 50
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FIELDS = ("name", "address", "region_code", "kind", "lat", "lng", "opens_at", "closes_at", "phone", "intro")
MAX_IMPORT_BYTES = 5 * 1024 * 1024
# The roster file may be larger than a JSON body: this form alone accepts more.
upload_limit("console.import_deputies", MAX_IMPORT_BYTES + 64 * 1024)
upload_limit("console.import_stations", MAX_IMPORT_BYTES + 64 * 1024)


@bp.get("/stations")
def station_list():
    q = forms.text_arg("q", 50)
    region_code = forms.text_arg("region", 12)
    where = [station_scope_clause(g.staff)]
    if q:
        where.append(Station.name.icontains(q, autoescape=True))
    if region_code:
        region = db.session.scalar(select(Region).where(Region.code == region_code))
        if region is None:
            raise InvalidInput({"region": "未找到该行政区划"})
        where.append(Station.region_id.in_(select(Region.id).where(Region.code.startswith(region.scope_prefix))))
    total = db.session.scalar(select(func.count(Station.id)).where(*where))
    pages = max(1, -(-total // PER_PAGE))
    page = min(forms.int_arg("page", "页码") or 1, pages)
    today = clock.beijing_today()
    members = (select(func.count(StationMembership.id)).where(StationMembership.station_id == Station.id,
                                                              StationMembership.current_on(today))
               .correlate(Station).scalar_subquery())
    rows = db.session.execute(select(Station, members).where(*where).order_by(Station.is_active.desc(), Station.name,
                                                                              Station.id)
                              .limit(PER_PAGE).offset((page - 1) * PER_PAGE)).all()
    args = {key: value for key, value in request.args.items() if value and key != "page"}
    return render_template("console/stations.html", rows=rows, total=total, page=page, pages=pages, args=args,
                           regions=forms.region_choices(g.staff), kinds=station_admin.KIND_LABELS)


def _station_form() -> dict:
    """The form's station fields; empty optional ones mean "none"."""
    values = {name: (request.form.get(name) or "").strip() for name in FIELDS if name in request.form}
    for name in ("phone", "intro"):
        if name in values and not values[name]:
            values[name] = None
    if request.form.get("parent_station_id") is not None:
        values["parent_station_id"] = forms.int_arg("parent_station_id", "上级联络站")
    return values


@bp.route("/stations/new", methods=["GET", "POST"])
@admin_only
def new_station():
    if request.method == "POST":
        station = forms.attempt(lambda: station_admin.create_station(g.staff, **_station_form()), "已新建联络站")
        if station is not None:
            return redirect(url_for("console.station_page", station_id=station.id))
    return render_template("console/station_form.html", station=None, form=request.form,
                           kinds=station_admin.KIND_LABELS, regions=_regions_within())


def _regions_within() -> list[Region]:
    """Regions a region admin may place a station in (theirs and below), for the picker."""
    region = g.staff.staff.region
    if region is None:
        return []
    return list(db.session.scalars(select(Region).where(Region.code.startswith(region.scope_prefix))
                                   .order_by(Region.code).limit(forms.MAX_STATION_CHOICES)))


@bp.get("/stations/<int:station_id>")
def station_page(station_id: int):
    station = station_admin.access_managed_station(g.staff, station_id)
    today = clock.beijing_today()
    return render_template("console/station.html", station=station, kinds=station_admin.KIND_LABELS,
                           deputies=stations.station_deputies(station, today) if station.is_active else [],
                           regions=_regions_within() if g.staff.has(Role.region_admin) else [],
                           manager_fields=station_admin.MANAGER_FIELDS, form={})


@bp.get("/stations/<int:station_id>/poster.pdf")
def station_poster(station_id: int):
    """The poster to save and print: an attachment, where the API's link opens in the browser."""
    station = station_admin.access_managed_station(g.staff, station_id)
    response = Response(stations.station_poster(station), mimetype="application/pdf")
    response.headers["Content-Disposition"] = attachment(f"{station.name}-张贴海报.pdf",
                                                         f"station-{station.scene}-poster.pdf")
    return response


@bp.post("/stations/<int:station_id>")
def edit_station(station_id: int):
    station = station_admin.access_managed_station(g.staff, station_id)
    changes = _station_form()
    if not g.staff.has(Role.region_admin):
        changes = {k: v for k, v in changes.items() if k in station_admin.MANAGER_FIELDS}
    forms.attempt(lambda: station_admin.update_station(g.staff, station, **changes), "已保存")
    return redirect(url_for("console.station_page", station_id=station_id))


@bp.post("/stations/<int:station_id>/close")
@admin_only
def close_station(station_id: int):
    station = station_admin.access_managed_station(g.staff, station_id)
    reason = request.form.get("reason", "")
    forms.attempt(lambda: station_admin.close_station(g.staff, station, reason), f"已停用 {station.name}",
                  failure="未能停用：")
    return redirect(url_for("console.station_page", station_id=station_id))


@bp.post("/stations/<int:station_id>/reopen")
@admin_only
def reopen_station(station_id: int):
    station = station_admin.access_managed_station(g.staff, station_id)
    forms.attempt(lambda: station_admin.reopen_station(g.staff, station), f"已恢复启用 {station.name}，请重新排班")
    return redirect(url_for("console.station_page", station_id=station_id))


# --- deputies ---

@bp.post("/deputies/<int:deputy_id>/invite")
def invite_deputy(deputy_id: int):
    deputy = access_managed_deputy(g.staff, deputy_id)
    invite = forms.attempt(lambda: signin.create_invite(deputy, created_by=g.staff.user), "已生成邀请码")
    if invite is not None:
        expires = invite.expires_at.astimezone(clock.BEIJING).strftime("%Y-%m-%d")
        flash(f"{deputy.name}的邀请码：{invite.code}（{expires} 前有效，仅可使用一次）。请代表在小程序「我是代表」中输入。",
              "invite")
    return redirect(_back_to_station())


@bp.post("/deputies/<int:deputy_id>/retire")
@admin_only
def retire_deputy(deputy_id: int):
    deputy = access_managed_deputy(g.staff, deputy_id)
    reason = forms.text_arg("reason", 200)
    done = forms.attempt(lambda: retirement.retire_deputy(g.staff, deputy.id, None, reason),
                         f"已办理{deputy.name}离任")
    if done is not None and done.handed_over:
        flash(f"{len(done.handed_over)} 条未办结的意见建议已转交站长办理", "success")
    return redirect(_back_to_station())


@bp.get("/deputies/<int:deputy_id>/duty-record.xlsx")
def deputy_duty_record_xlsx(deputy_id: int):
    deputy = access_managed_deputy(g.staff, deputy_id)
    this_year = clock.beijing_today().year
    year = forms.int_arg("year", "年份") or this_year
    if not 2000 <= year <= this_year:
        raise InvalidInput({"year": f"年份应在2000至{this_year}之间"}, message=f"年份应在2000至{this_year}之间")
    data = duty_exports.duty_record_workbook(deputy, year)
    db.session.commit()  # reading a record syncs its points ledger, as the API's read does
    return xlsx_response(data, f"履职档案-{deputy.name}-{year}.xlsx", f"duty-record-{deputy.id}-{year}.xlsx")


def _back_to_station() -> str:
    station_id = forms.int_arg("station", "联络站")
    return url_for("console.station_page", station_id=station_id) if station_id else url_for("console.station_list")


def _uploaded_workbook() -> bytes:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise InvalidInput({"file": "请选择要导入的 Excel 文件（.xlsx）"}, message="请选择要导入的 Excel 文件（.xlsx）")
    data = upload.read(MAX_IMPORT_BYTES + 1)
    if len(data) > MAX_IMPORT_BYTES:
        raise PayloadTooLarge("文件超过 5 MB，请分批导入")
    return data


def _run_import(run):
    """One uploaded import, all or nothing: committed and audited when every row passed; else
    audited as refused, and the report (its refused rows) or the error shown on the page."""
    data = _uploaded_workbook()
    try:
        report = run(g.staff, data)
    except ApiError as error:
        audit.refused_staff_write(g.staff, error.status)
        flash(forms.error_text(error), "error")
        return None
    if report.ok:
        audit.staff_write(g.staff)
        db.session.commit()
    else:
        audit.refused_staff_write(g.staff, 422)
    return report


@bp.route("/stations/import", methods=["GET", "POST"])
@admin_only
def import_stations():
    report = None
    if request.method == "POST":
        report = _run_import(station_import.import_stations)
    return render_template("console/station_import.html", report=report, max_rows=station_import.MAX_ROWS)


@bp.get("/stations/import/template.xlsx")
@admin_only
def station_import_template():
    response = Response(station_import.template_workbook(), mimetype=XLSX)
    response.headers["Content-Disposition"] = attachment(station_import.TEMPLATE_FILENAME,
                                                         "station-import-template.xlsx")
    return response


@bp.route("/deputies/import", methods=["GET", "POST"])
def import_deputies():
    report = None
    if request.method == "POST":
        report = _run_import(deputy_import.import_roster)
    return render_template("console/import.html", report=report, max_rows=deputy_import.MAX_ROWS)


@bp.get("/deputies/import/template.xlsx")
def import_template():
    response = Response(deputy_import.template_workbook(), mimetype=XLSX)
    response.headers["Content-Disposition"] = attachment(deputy_import.TEMPLATE_FILENAME,
                                                         "deputy-roster-template.xlsx")
    return response

