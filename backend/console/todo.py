"""待办: a station manager's landing page — red and yellow issues, reviews, far check-ins and
reception days without duty at their stations (services/reporting/todo.py), each issue one click
from 催办 or its page."""
from __future__ import annotations

from flask import g, render_template

from backend import clock
from backend.console.blueprint import bp
from backend.services.issues.issue_serialize import issue_summary
from backend.services.reporting import todo as todo_service


@bp.get("/todo")
def todo():
    today = clock.beijing_today()
    board = todo_service.todo_for(g.staff, today)
    return render_template(
        "console/todo.html", board=board, today=today, far_days=todo_service.FAR_CHECK_IN_DAYS,
        red=[issue_summary(i, g.staff) for i in board.red.items],
        yellow=[issue_summary(i, g.staff) for i in board.yellow.items],
        reviews=[issue_summary(i, g.staff) for i in board.reviews.items])
