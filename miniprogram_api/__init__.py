"""The mini-program's HTTP layer, `/api/v1`: parse, resolve the caller, call one service, serialise."""
from __future__ import annotations

from flask import Flask

from . import (
    auth,
    deputies,
    deputy_attendance,
    deputy_issues,
    deputy_schedule,
    health,
    issues,
    manage_attendance,
    manage_deputies,
    manage_issues,
    manage_reception,
    manage_reference,
    manage_stats,
    stations,
    subscriptions,
    uploads,
)

API_PREFIX = "/api/v1"


def register_api(app: Flask) -> None:
    for module in (auth, stations, deputies, uploads, issues, deputy_issues, manage_issues, manage_reference,
                   manage_deputies, deputy_attendance, manage_attendance, manage_stats, manage_reception,
                   deputy_schedule, subscriptions):
        app.register_blueprint(module.bp, url_prefix=API_PREFIX)
    app.register_blueprint(health.bp)
