"""What a newcomer does first, from a fresh clone: `flask --app wsgi db upgrade` and
`python -m backend.devserver`, as real processes on ports of their own."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from backend.devserver import demo_file
from backend.services.stations import station_codes
from config import DEFAULT_DATABASE_URL, PROJECT_ROOT, ConfigError, check_production, load_config


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _env(**extra) -> dict:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("CLOCK_", "SCHEDULER_", "REDIS_", "METRICS_", "WECHAT_", "PUBLIC_", "DATABASE_",
                                  "FAKE_WECHAT", "HOST", "PORT", "LOG_"))}
    env.update(extra)
    return env


def test_db_upgrade_makes_the_sqlite_folder(tmp_path):
    # A fresh clone has no instance/: the SQLite file's folder is missing.
    database = tmp_path / "not-yet" / "instance" / "lianluozhan.sqlite3"
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=PROJECT_ROOT,
                          env=_env(DATABASE_URL=f"sqlite:///{database}"), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert database.exists()
    assert "Running upgrade" in done.stderr  # alembic says what it did


def test_each_database_has_its_own_demo_file(tmp_path):
    default = demo_file(str(tmp_path), DEFAULT_DATABASE_URL)
    assert default == str(tmp_path / "demo.json")  # the README's name, for the README's database
    others = {demo_file(str(tmp_path), url) for url in (
        "sqlite:////tmp/a/dev.sqlite3", "sqlite:////tmp/b/dev.sqlite3",
        "postgresql+psycopg://postgres:secret@127.0.0.1:5432/dev", "postgresql+psycopg://postgres@10.0.0.2:5432/dev")}
    assert len(others) == 4 and default not in others
    assert all(Path(name).name.startswith("demo-dev-") and "secret" not in name for name in others)


def test_real_wechat_needs_a_public_base_url(monkeypatch):
    monkeypatch.setenv("WECHAT_APP_ID", "wx0123456789abcdef")
    monkeypatch.setenv("WECHAT_APP_SECRET", "real-secret")
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    with pytest.raises(ConfigError, match="PUBLIC_BASE_URL"):
        check_production(load_config())
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://llz.anji.gov.cn/")
    assert load_config()["PUBLIC_BASE_URL"] == "https://llz.anji.gov.cn"


def test_the_devserver_logs_requests_and_points_codes_at_itself(tmp_path):
    port, wechat_port = _free_port(), _free_port()
    database = tmp_path / "dev.sqlite3"
    url = f"sqlite:///{database}"
    out = Path(demo_file(str(PROJECT_ROOT / "instance"), url))
    log = tmp_path / "devserver.log"
    with open(log, "w") as handle:
        server = subprocess.Popen([sys.executable, "-m", "backend.devserver"], cwd=PROJECT_ROOT, stdout=handle,
                                  stderr=subprocess.STDOUT,
                                  env=_env(DATABASE_URL=url, PORT=str(port), FAKE_WECHAT_PORT=str(wechat_port),
                                           DEVSERVER_JOBS="0"))
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(base + "/readyz", timeout=2).read()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.5)
        demo = json.loads(out.read_text(encoding="utf-8"))
        station = demo["stations"][0]
        scan = json.loads(urllib.request.urlopen(f"{base}/api/v1/stations/scan/{station['scene']}").read())
        assert scan["station"]["id"] == station["id"]
        svg = urllib.request.urlopen(f"{base}/api/v1/stations/{station['id']}/qrcode.svg").read()
        assert svg == station_codes.qr_svg(f"{base}/s/{station['scene']}")  # here, not the production host
        time.sleep(0.5)
        lines = log.read_text()
        assert f"GET /api/v1/stations/scan/{station['scene']} 200" in lines, lines[-3000:]
        assert f"GET /api/v1/stations/{station['id']}/qrcode.svg 200" in lines
    finally:
        server.terminate()
        server.wait(timeout=20)
        out.unlink(missing_ok=True)
