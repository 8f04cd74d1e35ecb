"""`GET /metrics`: the outbox, the scheduler and HTTP requests in Prometheus' text format (0.0.4).

Asks for `Authorization: Bearer <METRICS_TOKEN>` when that is set (answers 401 otherwise). With
real WeChat credentials (a deployment) and no METRICS_TOKEN it answers 401 to everyone: set the
token to scrape it. Only the development set-up (the fake WeChat) serves it without one. The
gauges below are read from the database at each scrape and written by hand; the request metrics are prometheus_client's
(`backend/observability/http_metrics.py`), summed over gunicorn's workers through PROMETHEUS_MULTIPROC_DIR.

Gauges:
  lianluozhan_outbox_messages{state}                 messages in each OutboxState (every state, 0s too)
  lianluozhan_outbox_unknown_messages                messages sent or not, nobody knows (never resent)
  lianluozhan_outbox_unknown_undecided_messages      of those, the ones no region admin has decided on
  lianluozhan_outbox_oldest_due_seconds              how long the oldest due, unsent message has waited
  lianluozhan_scheduler_leader{holder}               1 for the process reported as leading ("host:pid")
  lianluozhan_scheduler_heartbeat_age_seconds        since the leader last checked its lock (+Inf: never)
  lianluozhan_job_last_run_timestamp_seconds{job}    Unix time the job's latest run started (0: never)
  lianluozhan_job_last_success_timestamp_seconds{job} Unix time its latest ok run finished (0: never)
  lianluozhan_job_last_status{job,status}            1 for the latest run's status (running/ok/failed)

Requests (all processes of the web server together; route is the URL rule, `<unmatched>` when
none matched; method is GET/HEAD/POST/PUT/PATCH/DELETE/OPTIONS or `other`):
  lianluozhan_http_requests_total{method,route,status}            counter: answers given
  lianluozhan_http_request_duration_seconds{method,route}         histogram: time to make the answer
      (_bucket{le=0.005 … 10, +Inf}, _sum, _count)

Alerts an operator should set (Prometheus rules; the leader polls every 10 s by default):
  - No scheduler acting: `lianluozhan_scheduler_heartbeat_age_seconds > 120` for 2 minutes
    (critical: no reminders are planned and nothing is escalated).
  - Messages of unknown fate waiting for a decision: `lianluozhan_outbox_unknown_undecided_messages > 0`
    (warning: a sender died mid-send; the console's 提醒 page lists them for a region admin to
    resend or close).
  - Senders stopped or behind: `lianluozhan_outbox_oldest_due_seconds > 600` for 5 minutes.
  - Nightly figures missing: `time() - lianluozhan_job_last_success_timestamp_seconds{job="rollup"}
    > 26 * 3600`; the same for `auto-close` (26 h), `reception-reminders` (1 h) and
    `outbox-reap` (10 min).
  - A job failing: `lianluozhan_job_last_status{status="failed"} == 1` for 1 hour.
  - WeChat refusing: `increase(lianluozhan_outbox_messages{state="failed"}[1h]) > 0`.
  - Errors served: `sum(rate(lianluozhan_http_requests_total{status=~"5.."}[5m]))
    / sum(rate(lianluozhan_http_requests_total[5m])) > 0.01` for 10 minutes.
  - The scan slow: `histogram_quantile(0.99, sum by (le) (rate(
    lianluozhan_http_request_duration_seconds_bucket{route="/api/v1/stations/scan/<scene>"}[5m]))) > 0.05`.
"""
from __future__ import annotations

import hmac
import math

from flask import Blueprint, Response, current_app, request

from backend.errors import Unauthorized
from backend.observability import http_metrics
from backend.services.reporting import monitoring

bp = Blueprint("metrics", __name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@bp.get("/metrics")
def metrics():
    _check_token()
    body = render(monitoring.snapshot()) + http_metrics.exposition().decode("utf-8")
    return Response(body, content_type=CONTENT_TYPE)


def _check_token() -> None:
    token = current_app.config.get("METRICS_TOKEN")
    if not token:
        if current_app.config.get("WECHAT_FAKE"):
            return  # development: the fake WeChat, nobody else's data
        # A deployment without a token is closed, not open: no token given can match.
        raise Unauthorized("需要监控令牌", headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise Unauthorized("需要监控令牌", headers={"WWW-Authenticate": 'Bearer realm="metrics"'})


def render(snap: monitoring.Snapshot) -> str:
    """The snapshot in the exposition format."""
    out = Exposition()
    out.gauge("lianluozhan_outbox_messages", "Outbox messages in each state.",
              [({"state": state}, count) for state, count in snap.outbox_counts.items()])
    out.gauge("lianluozhan_outbox_unknown_messages",
              "Messages whose request went out with no answer back: maybe delivered, never resent.",
              [({}, snap.outbox_counts.get("unknown", 0))])
    out.gauge("lianluozhan_outbox_unknown_undecided_messages",
              "Unknown messages no region admin has yet decided to resend or close.",
              [({}, snap.unknown_undecided)])
    out.gauge("lianluozhan_outbox_oldest_due_seconds",
              "Seconds the oldest due, unsent message has waited (0 when none is due).",
              [({}, snap.oldest_due_seconds)])
    out.gauge("lianluozhan_scheduler_leader", "The scheduler process reported as leading (host:pid).",
              [({"holder": snap.leader}, 1)] if snap.leader else [])
    out.gauge("lianluozhan_scheduler_heartbeat_age_seconds",
              "Seconds since the leading scheduler last checked its lock (+Inf: no scheduler ever led).",
              [({}, snap.heartbeat_age_seconds if snap.heartbeat_age_seconds is not None else math.inf)])
    out.gauge("lianluozhan_job_last_run_timestamp_seconds",
              "Unix time the job's latest run started (0: never ran).",
              [({"job": j.name}, _unix(j.last_started_at)) for j in snap.jobs])
    out.gauge("lianluozhan_job_last_success_timestamp_seconds",
              "Unix time the job's latest successful run finished (0: never succeeded).",
              [({"job": j.name}, _unix(j.last_success_at)) for j in snap.jobs])
    out.gauge("lianluozhan_job_last_status", "1 for the status of the job's latest run.",
              [({"job": j.name, "status": status}, int(j.last_status == status))
               for j in snap.jobs for status in monitoring.JOB_STATUSES])
    return out.text()


def _unix(moment) -> float:
    return moment.timestamp() if moment is not None else 0


class Exposition:
    """Lines of the text format: HELP and TYPE, then one `name{labels} value` per sample."""

    def __init__(self):
        self._lines: list[str] = []

    def gauge(self, name: str, help_text: str, samples: list[tuple[dict, float]]) -> None:
        self._lines.append(f"# HELP {name} {_escape_help(help_text)}")
        self._lines.append(f"# TYPE {name} gauge")
        for labels, value in samples:
            self._lines.append(f"{name}{_labels(labels)} {_value(value)}")

    def text(self) -> str:
        return "\n".join(self._lines) + "\n"


def _labels(labels: dict) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{key}="{_escape(str(value))}"' for key, value in labels.items()) + "}"


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape(value: str) -> str:
    """A label value: backslash, double quote and line feed escaped, as the format asks."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _value(value: float) -> str:
    if isinstance(value, int):  # bools too
        return str(int(value))
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return repr(float(value))
