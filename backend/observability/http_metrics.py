"""Request counts and durations for Prometheus, right across gunicorn's worker processes.

Each worker is a process of its own, so counters kept in its memory would tell a scraper only
about the worker that happened to answer `/metrics`. With `PROMETHEUS_MULTIPROC_DIR` set in the
environment before prometheus_client is first imported (gunicorn.conf.py sets it in the master,
and workers inherit it), every process writes its samples to files there and `/metrics` sums the
files of all processes, dead ones included: a counter never goes back when a worker is replaced.
Without it (the dev server, tests, a single process) the samples live in this process's memory.

Labels are bounded: the route is the URL rule (`/api/v1/issues/<no>`), never the path asked for
(`<unmatched>` when no rule matched); unusual methods count as `other`.
"""
from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
    values,
)

# `_created` series double what is stored and say nothing our alerts use (multiprocess mode
# never has them: the two modes give the same names).
disable_created_metrics()

# Seconds. Dense around the scan's target (p99 ≤ 50 ms), then up to a WeChat call's timeout (5 s).
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "<unmatched>"

# Our own registry, not prometheus_client's global one: nothing else (process or GC collectors
# of one worker) gets mixed into the answer.
registry = CollectorRegistry(auto_describe=True)

requests_total = Counter(
    "lianluozhan_http_requests", "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"], registry=registry)
request_duration = Histogram(
    "lianluozhan_http_request_duration_seconds", "Time to build the answer, by method and route template.",
    ["method", "route"], buckets=BUCKETS, registry=registry)


def observe(method: str, route: str | None, status: int, seconds: float) -> None:
    method = method if method in METHODS else "other"
    route = route or UNMATCHED
    requests_total.labels(method, route, str(status)).inc()
    request_duration.labels(method, route).observe(seconds)


def shared_between_processes() -> bool:
    """Whether samples go to PROMETHEUS_MULTIPROC_DIR's files. prometheus_client decides it once,
    when first imported, from the environment; we follow what it decided."""
    return bool(getattr(values.ValueClass, "_multiprocess", False))


def exposition() -> bytes:
    """The request metrics in Prometheus' text format (0.0.4), summed over all processes."""
    if not shared_between_processes():
        return generate_latest(registry)
    merged = CollectorRegistry()
    multiprocess.MultiProcessCollector(merged)  # reads the directory prometheus_client writes to
    return generate_latest(merged)
