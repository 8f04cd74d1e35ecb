"""意见建议: the queue with its filters, one issue with its timeline and every move staff may make,
and the filtered queue as the Excel ledger (台账). Filters are parsed by the API's own query
schema and run by `issue_queue`, so the console and `/api/v1/manage/issues` cannot disagree."""
from __future__ import annotations

from flask import Response, g, redirect, render_template, request, session, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from backend import clock
from backend.console import forms
from backend.console.blueprint import bp
from backend.console.security import safe_next
from backend.errors import InvalidInput, NotFound
from backend.services.issues import issue_flow, issue_queue
from backend.services.issues.issue_schemas import (
    AssignIn,
    DepartmentResultIn,
    ReasonIn,
    ReplyIn,
    ResolveIn,
    TransferIn,
)
from backend.services.issues.issue_serialize import STATUS_LABEL, issue_detail, issue_summary
from backend.services.issues.queue_schemas import QueueQuery
from backend.services.reference import reference_data
from backend.services.stations import stations
from backend.validation import parse_query, validate
from backend.web.downloads import attachment
from models import Deputy, Issue, db

PER_PAGE = 20
COUNT_CAP = 10_000
# Each relation by its own query: joined into the page query, they would be joined to every
# issue of the queue before its LIMIT (the API's inbox, a few rows per branch, joins them).
PAGE_LOADS = (selectinload(Issue.station), selectinload(Issue.addressed_deputy),
              selectinload(Issue.assigned_deputy), selectinload(Issue.ratings), selectinload(Issue.transfers))
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# Each move staff can make here: its button, the form it needs, and the verb it calls.
VERBS = {
    "release": ("审核通过", None, lambda issue, actor, body: issue_flow.release_issue(issue, actor)),
    "reject": ("不予受理", ReasonIn, lambda issue, actor, body: issue_flow.reject_issue(issue, actor, body.reason)),
    "accept": ("受理", None, lambda issue, actor, body: issue_flow.accept_issue(issue, actor)),
    "reply": ("答复", ReplyIn,
              lambda issue, actor, body: issue_flow.reply_to_issue(issue, actor, body.content, body.public)),
    "transfer": ("交办", TransferIn,
                 lambda issue, actor, body: issue_flow.transfer_issue(issue, actor, body.department, body.deadline)),
    "department_result": ("登记办理结果", DepartmentResultIn,
                          lambda issue, actor, body: issue_flow.record_department_result(issue, actor, body.content)),
    "resolve": ("办结", ResolveIn, lambda issue, actor, body: issue_flow.resolve_issue(issue, actor, body.summary)),
    "assign": ("分派", AssignIn, lambda issue, actor, body: issue_flow.reassign_issue(issue, actor, _deputy(body))),
    "urge": ("催办", None, lambda issue, actor, body: issue_flow.urge_issue(issue, actor)),
}
# The queue's filters of this session, so that "back to the list" (from an issue, after a move
# or a bulk assignment) returns to the same filtered page.
QUEUE_ARGS = "queue_args"
# Filters the queue knows (a session cookie is no place for whatever a URL carried).
_QUEUE_KEYS = ("status", "category", "station", "region", "clock", "from", "to", "q", "deputy", "escalated", "page")
MAX_BULK = 100
COLOUR_LABEL = {"green": "绿（正常）", "yellow": "黄（将超期）", "red": "红（已超期）"}


def _deputy(body: AssignIn) -> Deputy:
    deputy = db.session.get(Deputy, body.deputy_id)
    if deputy is None:
        raise InvalidInput({"deputy_id": "代表不存在"})
    return deputy


def _query() -> QueueQuery:
    if len(request.args.getlist("status")) > 1:
        # The form's status picker is single; a hand-made URL with several would be narrowed.
        raise InvalidInput({"status": "多个状态请用英文逗号分隔"})
    return parse_query(request, QueueQuery)


@bp.get("/issues")
def queue():
    query = _query()
    select_issues = issue_queue.queue_select(g.staff, query.to_filter())
    # Counted up to a cap: a province's queue has a million issues, and nobody pages past 500.
    total = db.session.scalar(select(func.count()).select_from(
        select_issues.order_by(None).limit(COUNT_CAP + 1).subquery()))
    page = min(query.page, max(1, -(-min(total, COUNT_CAP) // PER_PAGE)))
    issues = db.session.scalars(select_issues.options(*PAGE_LOADS).limit(PER_PAGE)
                                .offset((page - 1) * PER_PAGE)).unique().all()
    args = {key: value for key, value in request.args.items() if value and key != "page"}
    session[QUEUE_ARGS] = {key: value[:100] for key, value in request.args.items()
                           if value and key in _QUEUE_KEYS} | ({"page": str(page)} if page > 1 else {})
    today = clock.beijing_today()
    choices = forms.station_choices(g.staff)
    # The deputies of one station (the filtered one, or a manager's only one): a page's queries
    # must not grow with the number of stations in scope.
    bulk_stations = [s for s in choices if str(s.id) == request.args.get("station")] or choices
    return render_template(
        "console/issues.html", issues=[issue_summary(i, g.staff) for i in issues], total=total, page=page,
        pages=max(1, -(-min(total, COUNT_CAP) // PER_PAGE)), capped=total > COUNT_CAP, args=args,
        statuses=STATUS_LABEL, colours=COLOUR_LABEL, categories=reference_data.list_categories(),
        stations=choices, regions=forms.region_choices(g.staff), export_url=url_for("console.queue_xlsx", **args),
        bulk_deputies=[(station, stations.station_deputies(station, today)) for station in bulk_stations]
        if len(bulk_stations) == 1 else [])




def queue_url() -> str:
    """The queue as this session last showed it (its filters and page)."""
    return url_for("console.queue", **session.get(QUEUE_ARGS, {}))


@bp.post("/issues/assign")
def bulk_assign():
    nos = list(dict.fromkeys(request.form.getlist("no")))[:MAX_BULK + 1]  # a number ticked twice is one issue
    if len(nos) > MAX_BULK:
        raise InvalidInput({"no": f"一次最多分派 {MAX_BULK} 件"})
    deputy_id = request.form.get("deputy_id", "")
    actor = issue_flow.staff_actor(g.staff)

    def assign():
        deputy = _deputy(validate(AssignIn, {"deputy_id": deputy_id}))
        issue_flow.reassign_issues([issue_queue.access_managed_issue(g.staff, no) for no in nos], actor, deputy)
        return deputy

    forms.attempt(assign, lambda deputy: f"已将 {len(nos)} 件意见建议分派给{deputy.name}：{'、'.join(nos)}",
                  failure="批量分派未成功：")
    return redirect(queue_url())


@bp.get("/issues.xlsx")
def queue_xlsx():
    query = _query()
    data = issue_queue.export_ledger(g.staff, query.to_filter(), status_label=STATUS_LABEL)
    filename = issue_queue.ledger_filename(clock.beijing_today())
    response = Response(data, mimetype=XLSX)
    response.headers["Content-Disposition"] = attachment(filename, "issue-ledger-" + filename.rsplit("-", 1)[1])
    return response


@bp.get("/issues/<no>")
def issue_page(no: str):
    issue = issue_queue.access_managed_issue(g.staff, no)
    verbs = issue_flow.staff_verbs(issue)
    today = clock.beijing_today()
    if issue.assigned_deputy_id is None:
        verbs = [verb for verb in verbs if verb != "urge"]  # nobody to urge: 分派 first
    # Image links on the console's own root: its CSP allows images from 'self' only, and it may
    # be served on another address than PUBLIC_BASE_URL (an intranet one, the dev server).
    detail = issue_detail(issue, g.staff, media_base=request.script_root)
    return render_template(
        "console/issue.html", issue=detail, verbs=verbs, labels=VERBS, back=queue_url(),
        deputies=stations.station_deputies(issue.station, today) if "assign" in verbs else [],
        departments=[d for d, _ in reference_data.list_departments(g.staff)] if "transfer" in verbs else [],
        today=today)


@bp.post("/issues/<no>/<verb>")
def act(no: str, verb: str):
    if verb not in VERBS:
        raise NotFound()
    label, schema, apply = VERBS[verb]
    issue = issue_queue.access_managed_issue(g.staff, no)
    forms.attempt(lambda: apply(issue, issue_flow.staff_actor(g.staff),
                                validate(schema, _form_fields(schema)) if schema else None),
                  f"已{label}：{issue.no}", failure=f"{label}未成功：")
    # A move made from another page (催办 on the to-do page) goes back there.
    return redirect(safe_next(url_for("console.issue_page", no=no)))


def _form_fields(schema) -> dict:
    """The form's fields the schema knows; an unchecked checkbox sends nothing, which is false."""
    data = {name: request.form.get(name) for name in schema.model_fields if request.form.get(name) not in (None, "")}
    if "public" in schema.model_fields:
        data["public"] = request.form.get("public") == "on"
    return data
