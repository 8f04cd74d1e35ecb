"""gunicorn's settings for the web workers: `gunicorn wsgi:app` run from this directory reads this
file by itself (elsewhere: `gunicorn -c /path/to/gunicorn.conf.py wsgi:app`); options given on the
command line win over it (bench/run.py sets workers and threads that way).

- Request line and headers are limited here, before the app sees anything; bodies are limited
  by the app (MAX_CONTENT_LENGTH and friends in config/), answering 413 in API.md's shape.
- Request metrics are shared by all workers through prometheus_client's multiprocess mode:
  PROMETHEUS_MULTIPROC_DIR, a directory for this server alone, emptied when gunicorn starts (a
  file left by an earlier server would add its counts to ours). Unset, a temporary directory is
  made and removed when gunicorn stops. It is exported before any worker imports the app, which
  is when prometheus_client decides between memory and files.
- Logs: the app writes its own access line (no query string), so gunicorn's is off; with
  LOG_FORMAT=json gunicorn's own lines (workers booting, timeouts) are JSON objects as well.
- Garbage collection: each worker freezes what loading the app made (gc.freeze). Python's
  oldest-generation collection walks every tracked object; with the app loaded that took ~120 ms,
  and a request that allocates much (the 500-row Excel ledger: 130 ms) paid it every few
  requests (250 ms). The app's own objects live as long as the worker anyway.
"""
import gc
import os
import shutil
import sys
import tempfile

# `config` and `backend` import from here whatever directory gunicorn was started in.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from config import load_config

_settings = load_config()

# A request line holds a path and a query (signed media links are ~200 bytes); 50 headers and
# 8 KiB a header leave room for a proxy's X-Forwarded-* and the console's cookie. Past these
# gunicorn answers 414 (line) or 431 (headers) before the app runs.
limit_request_line = 4094
limit_request_fields = 50
limit_request_field_size = 8190

accesslog = None  # the app's access line (backend/observability/middleware.py) replaces it

# --- request metrics across workers ------------------------------------------------------------

_OWN_METRICS_DIR = os.path.join(tempfile.gettempdir(), f"lianluozhan-metrics-{os.getpid()}")
metrics_dir = _settings["PROMETHEUS_MULTIPROC_DIR"] or _OWN_METRICS_DIR
os.makedirs(metrics_dir, exist_ok=True)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir


def on_starting(server):
    for name in os.listdir(metrics_dir):
        if name.endswith(".db"):
            os.remove(os.path.join(metrics_dir, name))
    server.log.info("request metrics shared by the workers in %s", metrics_dir)


def post_worker_init(worker):
    gc.freeze()


def child_exit(server, worker):
    # A dead worker's counters stay (totals never go back); its live gauges, if any, go.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, metrics_dir)


def on_exit(server):
    # Not after handing over to a new master (USR2): it goes on with the same directory.
    if metrics_dir == _OWN_METRICS_DIR and not getattr(server, "reexec_pid", 0):
        shutil.rmtree(metrics_dir, ignore_errors=True)


# --- logs --------------------------------------------------------------------------------------

if _settings["LOG_FORMAT"] == "json":
    from gunicorn.glogging import Logger

    from backend.observability.logs import JsonFormatter

    class JsonLogger(Logger):
        """gunicorn's error log, one JSON object a line like the app's (wherever --error-logfile says)."""

        def setup(self, cfg):
            super().setup(cfg)
            for handler in self.error_log.handlers:
                handler.setFormatter(JsonFormatter())

    logger_class = JsonLogger
