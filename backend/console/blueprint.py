"""The console's blueprint, apart from the package so that its pages can add routes to it while
`init_console` imports them: no page imports the package that imports it."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
               static_folder="static", static_url_path="/static")
