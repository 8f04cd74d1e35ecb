"""The mini-program's HTTP layer, `/api/v1`: parse, resolve the caller, call one service, serialise."""
from __future__ import annotations

from flask import Flask

from miniprogram_api import health
from miniprogram_api.accounts import auth
from miniprogram_api.deputies import deputies, manage_deputies
from miniprogram_api.duty import deputy_attendance, deputy_schedule, manage_attendance, manage_reception
from miniprogram_api.issues import deputy_issues, issues, manage_issues, uploads
from miniprogram_api.messaging import subscriptions
from miniprogram_api.reference import manage_reference
from miniprogram_api.reporting import manage_stats
from miniprogram_api.stations import stations

API_PREFIX = "/api/v1"


def register_api(app: Flask) -> None:
    for module in (auth, stations, deputies, uploads, issues, deputy_issues, manage_issues, manage_reference,
                   manage_deputies, deputy_attendance, manage_attendance, manage_stats, manage_reception,
                   deputy_schedule, subscriptions):
        app.register_blueprint(module.bp, url_prefix=API_PREFIX)
    app.register_blueprint(health.bp)
