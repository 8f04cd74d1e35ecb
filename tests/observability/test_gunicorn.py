"""The app as deployed: gunicorn with two worker processes and the project's gunicorn.conf.py.

Request metrics are summed over both workers (a worker that dies keeps its counts), every line
on stderr is a JSON object, and the request line, headers and chunked bodies are limited."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.jobs.test_metrics import parse
from tests.observability.test_request_limits import is_too_large, json_of, send_chunked

ROOT = Path(__file__).resolve().parents[2]
HEALTHZ = ("lianluozhan_http_requests_total", frozenset({("method", "GET"), ("route", "/healthz"), ("status", "200")}))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Gunicorn:
    def __init__(self, base: str, metrics_dir: Path, stderr: Path, proc: subprocess.Popen):
        self.base, self.metrics_dir, self.stderr, self.proc = base, metrics_dir, stderr, proc

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(self.base + path, timeout=10, **kwargs)

    def worker_pids(self) -> set[int]:
        """Workers that have counted a request: each writes files of its own."""
        return {int(m[1]) for name in os.listdir(self.metrics_dir) if (m := re.fullmatch(r"counter_(\d+)\.db", name))}

    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.stderr.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def gunicorn(app, database_url, fake_wechat, tmp_path_factory):
    """One server for the module (two workers take seconds to start)."""
    tmp_path = tmp_path_factory.mktemp("gunicorn")
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    # Left by an earlier server: gunicorn must empty the directory before counting (an unreadable
    # file would break every scrape, a readable one would add its counts).
    (metrics_dir / "counter_4194303.db").write_bytes(b"\x00not a metrics file")
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("WECHAT_", "REDIS_"))}
    env.update(DATABASE_URL=database_url, WECHAT_API_BASE=fake_wechat.base_url, LOG_FORMAT="json",
               PROMETHEUS_MULTIPROC_DIR=str(metrics_dir), SECRET_KEY="test-secret")
    stderr = tmp_path / "gunicorn.err"
    with open(stderr, "wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2", "wsgi:app"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=sink, start_new_session=True)
    server = Gunicorn(f"http://127.0.0.1:{port}", metrics_dir, stderr, proc)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, stderr.read_text()
            try:
                if server.get("/healthz").status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, stderr.read_text()
            time.sleep(0.2)
        yield server
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def _healthz_count(server) -> float:
    response = server.get("/metrics")
    assert response.status_code == 200, response.text
    return parse(response.text).get(HEALTHZ, 0)


def test_every_stderr_line_is_json_with_the_request_ids(gunicorn):
    assert gunicorn.get("/healthz", headers={"X-Request-Id": "from-nginx-1"}).headers["X-Request-Id"] == "from-nginx-1"
    assert gunicorn.get("/api/v1/stations/scan/nowhere?sig=SECRET").status_code == 404
    time.sleep(0.3)  # lines written after the answer
    lines = gunicorn.lines()  # fails on any line that is not JSON
    assert any(line["logger"] == "gunicorn.error" and line["message"].startswith("Booting worker") for line in lines)
    access = [line for line in lines if line["logger"] == "backend.access"]
    assert any(line["request_id"] == "from-nginx-1" and line["path"] == "/healthz" for line in access)
    assert any(line["route"] == "/api/v1/stations/scan/<scene>" for line in access)
    assert all(re.fullmatch(r"[0-9a-f]{32}|from-nginx-1", line["request_id"]) for line in access)
    assert "SECRET" not in gunicorn.stderr.read_text()


def test_request_line_headers_and_chunked_bodies_are_limited(gunicorn):
    assert gunicorn.get("/healthz?" + "a" * 5000).status_code == 414
    too_many = {f"X-Extra-{n}": "1" for n in range(60)}
    assert gunicorn.get("/healthz", headers=too_many).status_code == 431
    assert gunicorn.get("/healthz", headers={"X-Big": "a" * 9000}).status_code in (400, 431)
    status, _, body = send_chunked(gunicorn.base, "/api/v1/auth/wx-login", json_of(1024 * 1024 + 100_000))
    is_too_large(status, body)


def test_metrics_are_summed_over_the_workers_and_kept_when_one_dies(gunicorn):
    """Last in the module: it kills a worker."""
    assert "counter_4194303.db" not in os.listdir(gunicorn.metrics_dir)
    sent = _healthz_count(gunicorn)  # so far (the readiness check, other tests)
    with ThreadPoolExecutor(8) as pool:
        for _ in range(25):  # until both workers have answered some (bounded)
            assert all(r.status_code == 200 for r in pool.map(lambda _: gunicorn.get("/healthz"), range(16)))
            sent += 16
            if len(gunicorn.worker_pids()) == 2:
                break
    pids = gunicorn.worker_pids()
    assert len(pids) == 2, "one worker answered everything"
    # Whichever worker answers the scrape, it counts both.
    assert [_healthz_count(gunicorn) for _ in range(6)] == [sent] * 6

    victim = min(pids)
    os.kill(victim, signal.SIGKILL)  # gunicorn starts another; the dead one's counts stay
    deadline = time.monotonic() + 30
    while sum(1 for line in gunicorn.lines() if line["message"].startswith("Booting worker")) < 3:
        assert time.monotonic() < deadline, "no worker replaced the dead one"
        time.sleep(0.2)
    for _ in range(10):
        assert gunicorn.get("/healthz").status_code == 200
    sent += 10
    assert _healthz_count(gunicorn) == sent
    assert victim in gunicorn.worker_pids()  # its file is still read
