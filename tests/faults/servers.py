"""Servers the fault tests start, stop and break themselves — never the machine's shared
PostgreSQL (5432) and Redis (6379), which other suites are using meanwhile.

- `PgCluster`: a PostgreSQL cluster of its own (`initdb` + `pg_ctl` from /usr/lib/postgresql/*/bin)
  in a temporary directory, on a free port. The server refuses to run as root, so under root
  every command runs as the `postgres` OS user (`runuser`), in a directory that user owns.
- `RedisServer`: a `redis-server` on a free port, which can be stopped (keeping its data in a
  dump file, as a Redis with persistence does), paused (SIGSTOP: a Redis that hangs or sits behind
  a broken network) and started again.
- `Gunicorn`: the app served as in production — a master and 2+ sync or gthread workers — with a
  config file that records which worker is handling which request (`inflight()`, so a test can
  SIGKILL the one holding a submission) and an access log of every request's time in the worker.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import requests

from config import PROJECT_ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, poll: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


# --- PostgreSQL ----------------------------------------------------------------------------------

def tail(log: Path, lines: int) -> str:
    """The last `lines` of a server's log, for a failure message ("" when there is none yet)."""
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def postgres_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin holding initdb, pg_ctl and postgres."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
                        if Path(p).parent.name.isdigit() else 0)
    for path in reversed(candidates):
        if all(Path(path, tool).exists() for tool in ("initdb", "pg_ctl", "postgres")):
            return Path(path)
    return None


def missing_postgres() -> str | None:
    """Why this machine cannot run a cluster of the tests' own, or None when it can."""
    if postgres_bindir() is None:
        return "PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin"
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return "running as root, and runuser (to start PostgreSQL as the postgres user) is missing"
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root, and there is no postgres OS user to run PostgreSQL as"
    return None


class PgCluster:
    def __init__(self):
        self.bindir = postgres_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="lianluozhan-faults-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            owner = pwd.getpwnam("postgres")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)

    def _run(self, tool: str, *args: str, timeout: float = 60) -> None:
        cmd = [str(self.bindir / tool), *args]
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout}{done.stderr}\n{self.log_tail()}")

    def init(self) -> None:
        # --no-sync and fsync=off: a test cluster need not survive the machine crashing, only its
        # server being killed, which loses nothing the kernel already has. synchronous_commit stays
        # on: with it off, a commit would be acknowledged before its WAL left the server's memory,
        # and an immediate stop would lose writes the app had answered 2xx.
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--no-locale", "--no-sync")
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                       f"unix_socket_directories = '{self.root}'\nfsync = off\nfull_page_writes = off\n"
                       "shared_buffers = 32MB\nmax_connections = 60\njit = off\n")

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def restart(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-m", mode, "-w", "-t", "60", "restart")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=database,
                               autocommit=True, connect_timeout=5)

    def accepts_connections(self) -> bool:
        try:
            with self.connect() as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def log_tail(self, lines: int = 30) -> str:
        return tail(self.log, lines)

    def destroy(self) -> None:
        if self.running():
            try:
                self.stop("immediate")
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(self.root, ignore_errors=True)


# --- Redis ---------------------------------------------------------------------------------------

class RedisServer:
    def __init__(self, root: Path):
        self.binary = shutil.which("redis-server")
        self.root = root
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        # No save points: like the shared Redis, nothing is written unless asked for (`stop(save=True)`);
        # a dump left by that is loaded back on start, as a Redis with persistence would.
        log = open(self.root / "redis.log", "ab")  # noqa: SIM115 — written by the server until it ends
        self.proc = subprocess.Popen(
            [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(self.root), "--dbfilename", "dump.rdb"],
            stdout=log, stderr=subprocess.STDOUT)
        wait_for(self._answers, 10, "redis-server to answer")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, *, save: bool) -> None:
        """Shut down; with `save`, its data comes back on the next start."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"SHUTDOWN SAVE\r\n" if save else b"SHUTDOWN NOSAVE\r\n")
            try:
                s.recv(64)
            except OSError:
                pass
        self.proc.wait(timeout=10)
        if not save:
            (self.root / "dump.rdb").unlink(missing_ok=True)

    def pause(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def destroy(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(timeout=10)


# --- the app under gunicorn ----------------------------------------------------------------------

# Loaded by gunicorn (-c): the project's own gunicorn.conf.py (request limits, metrics across
# workers — the app served as in production), then which worker handles which request right now,
# one file per worker, and each request's time in the worker in an access log.
_GUNICORN_CONF = '''
import os
import runpy

globals().update({name: value for name, value in runpy.run_path(os.environ["FAULTS_PROJECT_CONF"]).items()
                  if not name.startswith("__")})

_INFLIGHT = os.environ["FAULTS_INFLIGHT_DIR"]
accesslog = os.environ["FAULTS_ACCESS_LOG"]
access_log_format = "%(p)s %(m)s %(U)s %(s)s %(D)s"


def pre_request(worker, req):
    with open(os.path.join(_INFLIGHT, str(os.getpid())), "w") as f:
        f.write(req.method + " " + req.path)


def post_request(worker, req, environ, resp):
    try:
        os.remove(os.path.join(_INFLIGHT, str(os.getpid())))
    except OSError:
        pass
'''


@dataclass
class Served:
    """One request as the access log recorded it."""

    pid: int
    method: str
    path: str
    status: int
    seconds: float


@dataclass
class Gunicorn:
    root: Path
    env: dict
    workers: int = 2
    threads: int = 1
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def inflight_dir(self) -> Path:
        return self.root / "inflight"

    @property
    def access_log(self) -> Path:
        return self.root / "access.log"

    @property
    def error_log(self) -> Path:
        return self.root / "gunicorn.log"

    def start(self) -> None:
        self.inflight_dir.mkdir(parents=True, exist_ok=True)
        conf = self.root / "gunicorn_conf.py"
        conf.write_text(_GUNICORN_CONF)
        metrics = self.root / "metrics"
        metrics.mkdir(exist_ok=True)
        env = dict(self.env, FAULTS_INFLIGHT_DIR=str(self.inflight_dir), FAULTS_ACCESS_LOG=str(self.access_log),
                   FAULTS_PROJECT_CONF=str(PROJECT_ROOT / "gunicorn.conf.py"),
                   # Within the test's directory: the server is killed, never left to clean up.
                   PROMETHEUS_MULTIPROC_DIR=str(metrics), PYTHONDONTWRITEBYTECODE="1")
        cmd = [sys.executable, "-m", "gunicorn", "-c", str(conf), "--bind", f"127.0.0.1:{self.port}",
               "--workers", str(self.workers), "--threads", str(self.threads),
               "--worker-class", "gthread" if self.threads > 1 else "sync",
               "--graceful-timeout", "5", "--error-logfile", str(self.error_log), "--log-level", "info",
               # Several gunicorns at once (other tests, other checkouts) must not share one socket.
               "--no-control-socket",
               "wsgi:app"]
        if os.path.isdir("/dev/shm"):
            cmd[3:3] = ["--worker-tmp-dir", "/dev/shm"]
        with open(self.error_log, "ab") as sink:
            # A session of its own: stopping it never signals the test run.
            self.proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"gunicorn exited {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(self.base_url + "/healthz", timeout=2).status_code == 200 \
                        and len(self.worker_pids()) == self.workers:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise AssertionError(f"gunicorn not answering after 60 s:\n{self.log_tail()}")

    def worker_pids(self) -> set[int]:
        pids = set()
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == self.proc.pid:
                pids.add(int(entry.name))
        return pids

    def inflight(self) -> dict[int, str]:
        """Worker pid → "METHOD /path" of the request it is handling now."""
        found = {}
        for path in self.inflight_dir.iterdir():
            try:
                found[int(path.name)] = path.read_text()
            except (OSError, ValueError):
                continue
        return found

    def served(self) -> list[Served]:
        rows = []
        if not self.access_log.exists():
            return rows
        for line in self.access_log.read_text().splitlines():
            parts = line.split()  # "<pid>" method path status microseconds
            if len(parts) == 5 and parts[0].strip("<>").isdigit():
                rows.append(Served(int(parts[0].strip("<>")), parts[1], parts[2], int(parts[3]), int(parts[4]) / 1e6))
        return rows

    def wait_served(self, path: str, count: int) -> list[Served]:
        """The requests to `path` once `count` are in the access log: a worker writes its line
        just after sending the answer, so the client can be a moment ahead."""
        def logged():
            rows = [s for s in self.served() if s.path == path]
            return rows if len(rows) >= count else None
        return wait_for(logged, 5, f"{count} requests to {path} in the access log")

    def log_tail(self, lines: int = 60) -> str:
        return tail(self.error_log, lines)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        # Killed outright, master and workers (the group this test started, nothing else): a test
        # server has nothing to finish, and gunicorn's graceful stop costs seconds of waiting.
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
