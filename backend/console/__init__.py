"""The staff console (`/console`): web pages for station managers and region admins.

An HTTP layer over the same services as the API (STYLE.md: thin routes) — every rule lives in
`backend/services`; these modules parse a form, call one service, commit, and render. Pages are
server-rendered Jinja with a little JavaScript from our own files (no inline script: the
Content-Security-Policy forbids it) and ECharts served by the app itself.
"""
from __future__ import annotations

from flask import Flask


def init_console(app: Flask) -> None:
    from backend.console import (  # noqa: F401  (each adds its routes to the blueprint)
        audit_log,
        dashboard,
        issues,
        labels,
        reception,
        reminders,
        security,
        signin,
        staff,
        stations,
        todo,
    )
    from backend.console.blueprint import bp

    security.init_security(app)
    app.register_blueprint(bp)
