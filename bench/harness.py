"""What the benchmarks and the CI's fuzzing run (tests/fuzz/run_schemathesis.py) share: a
database of their own made and dropped, flask commands run as steps, servers started as child
processes in their own session and stopped in order, and a clean-up on Ctrl-C or SIGTERM."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Databases a script must never drop, whatever --database says (`test` is the CI suite's).
PROTECTED_DATABASES = {"test", "postgres", "template0", "template1"}


class StepFailed(Exception):
    pass


class ServerFailed(Exception):
    pass


def clean_up_on_signals() -> None:
    """Ctrl-C and SIGTERM (a CI timeout) must still stop the servers and drop the database: both
    end in an exception that runs the caller's `finally`. SIGINT is reset explicitly: a shell
    starting a script in the background ignores it."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _terminated)


def _terminated(*_):
    print("terminated", file=sys.stderr)
    sys.exit(143)


# --- database -------------------------------------------------------------------------------

def recreate_database(psycopg, admin_url: str, name: str) -> str:
    """Drop and create database `name`; returns the server's version."""
    from psycopg import sql

    try:
        conn = psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise StepFailed(f"PostgreSQL unreachable at {admin_url}: {exc}") from None
    with conn:
        # FORCE: a previous run killed mid-way may have left connections open.
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return conn.execute("SHOW server_version").fetchone()[0]


def drop_database(psycopg, admin_url: str, name: str) -> None:
    from psycopg import sql

    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        print(f"could not drop database {name}: {exc}", file=sys.stderr)


def run_step(flask_args: list[str], env: dict[str, str], what: str | None = None) -> None:
    """`flask --app wsgi <flask_args>` in the project, or StepFailed with its output."""
    cmd = [sys.executable, "-m", "flask", "--app", "wsgi", *flask_args]
    done = subprocess.run(cmd, check=False, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise StepFailed(f"{what or ' '.join(flask_args)} failed ({' '.join(cmd)}):\n{done.stdout}{done.stderr}")


# --- servers ----------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    name: str
    proc: subprocess.Popen
    port: int
    log: Path

    @classmethod
    def launch(cls, name: str, cmd: list[str], env: dict[str, str], log: Path, port: int | None = None,
               cwd: Path = ROOT) -> Server:
        """Start `cmd` ("{port}" in it is the server's port), its output appended to `log`."""
        port = port or free_port()
        with open(log, "ab") as sink:
            # Own session: a Ctrl-C reaches only the script, which then stops the servers in order.
            proc = subprocess.Popen([part.format(port=port) for part in cmd], cwd=cwd, env=env, stdout=sink,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        return cls(name, proc, port, log)

    @classmethod
    def gunicorn(cls, name: str, target: list[str], env: dict[str, str], config: list[str], out_dir: Path,
                 cwd: Path = ROOT) -> Server:
        log = out_dir / f"gunicorn-{name}.log"
        return cls.launch(name, [sys.executable, "-m", "gunicorn", "--bind", "127.0.0.1:{port}", *config,
                                 "--error-logfile", str(log), *target], env, log, cwd=cwd)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise ServerFailed(f"{self.name} exited {self.proc.returncode}:\n{self.tail()}")

    def wait_listening(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise ServerFailed(f"{self.name} not listening after {timeout:.0f}s:\n{self.tail()}")

    def wait_ready(self, path: str, timeout: float = 60) -> None:
        """Until `path` answers 2xx or 3xx."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                with urllib.request.urlopen(self.url(path), timeout=2):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        raise ServerFailed(f"{self.name} not answering {path} after {timeout:.0f}s:\n{self.tail()}")

    def tail(self) -> str:
        try:
            return "\n".join(self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-30:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)  # graceful: a gunicorn master stops its workers
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)  # only the group this script created
            self.proc.wait(timeout=5)
