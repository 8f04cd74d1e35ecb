"""Schemathesis against the served OpenAPI document, signed in as each role.

    .venv/bin/python tests/fuzz/run_schemathesis.py [--database lianluozhan_fuzz] [--redis URL]
                                                    [--seed N] [--max-examples 50] [--role NAME ...]

Builds its own PostgreSQL database (dropped and recreated each run; `test` and the system
databases are refused), migrates it and seeds the demo county with its six months of activity,
starts the fake WeChat and gunicorn serving `wsgi:app` on free localhost ports, signs in a
resident (wx-login), a deputy (wx-login, then bind-deputy with a demo invite code), a station
manager and a region admin (manage/login), and runs `schemathesis run` on `/api/openapi.json`
once without a token and once per role, with a fixed seed and at least `--max-examples` cases per
operation. Every run checks that no answer is a 5xx, that each status is documented for its
operation, and that each body and Content-Type matches what the document says of that status.

Exits 1 on any finding (or when it could not run), 0 when every run passed. Stops the servers
and drops the database afterwards, also on a failure, Ctrl-C or SIGTERM (`--keep-db` keeps it).
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from harness import (  # bench/ is not a package; its servers and databases serve here too
    PROTECTED_DATABASES,
    Server,
    ServerFailed,
    StepFailed,
    clean_up_on_signals,
    drop_database,
    free_port,
    recreate_database,
    run_step,
)

# What every run checks. `not_a_server_error`: never a 5xx. `status_code_conformance`: the
# status is one the operation documents. `content_type_conformance`, `response_schema_conformance`
# and `response_headers_conformance`: the answer is what the document says of that status.
# `negative_data_rejection`: input the document calls invalid is refused with a 4xx.
# `ignored_auth`: an operation that declares a security scheme refuses a request without it.
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",
    "ignored_auth",
]


@dataclass(frozen=True)
class RoleRun:
    name: str
    # Operations fuzzed with this role's token: the ones it may call. Every operation also runs
    # without a token, which must answer 401 wherever one is needed.
    include_path_regex: str | None


RUNS = [
    RoleRun("anonymous", None),
    # Not /auth/me: its DELETE ends the account, and the rest of the run would be refused.
    RoleRun("resident", r"^/api/v1/(?!manage/|deputy/|auth/me$)"),
    # The deputy's run comes before the staff's: a region admin's run may retire that deputy.
    RoleRun("deputy", r"^/api/v1/(deputy/|issues/\{no\}$|auth/me$)"),
    RoleRun("station_manager", r"^/api/v1/manage/"),
    RoleRun("region_admin", r"^/api/v1/manage/"),
    # Last, with a resident of its own: reading and deleting one's own account.
    RoleRun("leaving_resident", r"^/api/v1/auth/me$"),
]


def main() -> int:
    args = parse_args()
    if args.database in PROTECTED_DATABASES:
        print(f"refusing to use database {args.database!r}", file=sys.stderr)
        return 2
    clean_up_on_signals()
    import psycopg

    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="lianluozhan-fuzz-"))
    servers: list[Server] = []
    admin_url = f"{args.pg}/postgres"
    db_url = f"{args.pg}/{args.database}"
    db_created = False
    try:
        recreate_database(psycopg, admin_url, args.database)
        db_created = True
        fake_port = free_port()
        env = app_env(db_url, args.redis, fake_port, work)
        run_step(["db", "upgrade"], env)
        summary_file = work / "demo.json"  # holds demo passwords and invite codes: temp dir only
        run_step(["seed-demo", "--with-activity", "--out", str(summary_file)], env)
        summary = json.loads(summary_file.read_text(encoding="utf-8"))
        picks = pick_demo_data(psycopg, db_url, summary)

        fake = Server.launch("fake-wechat", [sys.executable, "-m", "backend.wechat.fake_server",
                                             "--port", str(fake_port)], env, work / "fake-wechat.log", fake_port)
        servers.append(fake)
        fake.wait_listening()
        app = Server.launch("gunicorn", [sys.executable, "-m", "gunicorn", "--bind", "127.0.0.1:{port}",
                                         "--workers", "2", "--threads", "4", "--worker-class", "gthread",
                                         "--log-level", "warning", "wsgi:app"], env, work / "gunicorn.log")
        servers.append(app)
        app.wait_ready("/readyz")

        tokens = sign_in(app.url(""), summary, picks)
        config = write_config(work, picks)
        print(f"setup: {time.monotonic() - started:.0f} s; seed {args.seed}, {args.max_examples} examples "
              f"per operation, checks: {', '.join(CHECKS)}", flush=True)

        outcomes: dict[str, tuple[int, float]] = {}
        for run in RUNS:
            if args.role and run.name not in args.role:
                continue
            t0 = time.monotonic()
            code = run_schemathesis(app.url("/api/openapi.json"), run, tokens.get(run.name), config, args, work)
            outcomes[run.name] = (code, time.monotonic() - t0)
            for server in servers:
                server.check_alive()

        print("\n== schemathesis, per role ==")
        for name, (code, seconds) in outcomes.items():
            print(f"  {name:16} {'passed' if code == 0 else f'FAILED (exit {code})':20} {seconds:6.0f} s")
        failed = sum(1 for code, _ in outcomes.values() if code != 0)
        print(f"  total {time.monotonic() - started:.0f} s")
        # The plain closing line CI reads, one case per role run.
        print(f"schemathesis: {len(outcomes) - failed} passed, {failed} failed")
        return 1 if failed else 0
    except (StepFailed, ServerFailed) as exc:
        print(f"fuzzing could not run: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        for server in reversed(servers):
            server.stop()
            if any("Traceback" in line or "ERROR" in line for line in server.tail().splitlines()):
                print(f"{server.name}'s log ends with errors:\n{server.tail()}", file=sys.stderr)
        if db_created and not args.keep_db:
            drop_database(psycopg, admin_url, args.database)
        shutil.rmtree(work, ignore_errors=True)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432", help="PostgreSQL server (no database)")
    p.add_argument("--database", default="lianluozhan_fuzz", help="dropped and recreated each run")
    p.add_argument("--redis", default="redis://127.0.0.1:6379/13", help="REDIS_URL for the app, flushed first")
    p.add_argument("--seed", type=int, default=20240606, help="Schemathesis' seed: the same cases every run")
    p.add_argument("--max-examples", type=int, default=50, help="fuzzed cases per operation (at least)")
    # One: with threads, Hypothesis parses sources with `ast` concurrently, which Python 3.11 gets
    # wrong now and then ("AST constructor recursion depth mismatch"), and the order of cases,
    # hence what a seed finds, depends on the threads' timing.
    p.add_argument("--workers", type=int, default=1, help="Schemathesis' concurrent workers")
    p.add_argument("--role", action="append", choices=[r.name for r in RUNS], help="only these runs")
    p.add_argument("--keep-db", action="store_true", help="leave the database for a look afterwards")
    p.add_argument("--continue-on-failure", action="store_true",
                   help="every failing case of an operation, not only the first (to list findings)")
    args = p.parse_args()
    if args.max_examples < 1:
        p.error("--max-examples must be at least 1")
    return args


# --- database and app -------------------------------------------------------------------------

def app_env(db_url: str, redis_url: str, fake_port: int, work: Path) -> dict[str, str]:
    import redis

    try:
        redis.Redis.from_url(redis_url).flushdb()  # no cached answer from an earlier database
    except redis.RedisError as exc:
        raise StepFailed(f"Redis unreachable at {redis_url}: {exc}") from None
    env = dict(os.environ)
    # The fake WeChat this script starts, never a real one whatever the caller's environment says.
    for name in ("WECHAT_APP_ID", "WECHAT_APP_SECRET", "WECHAT_API_BASE", "METRICS_TOKEN", "CLOCK_START"):
        env.pop(name, None)
    env.update({
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "FAKE_WECHAT_PORT": str(fake_port),
        "FAKE_WECHAT_AUTOSTART": "0",
        "SECRET_KEY": secrets.token_hex(32),
        "UPLOAD_DIR": str(work / "uploads"),
        "SCHEDULER_LOCK_FILE": str(work / "scheduler.lock"),
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    return env


@dataclass
class DemoPicks:
    """Real rows of the demo, offered to the fuzzer beside random values so that cases reach
    past "not found" into the services."""

    deputy_invite: str
    manager: dict
    admin: dict
    station_ids: list[int]
    scenes: list[str]
    deputy_ids: list[int]
    region_codes: list[str]
    issue_nos: list[str]
    category_ids: list[int]


def pick_demo_data(psycopg, db_url: str, summary: dict) -> DemoPicks:
    with psycopg.connect(db_url) as conn:
        # The deputy with the most open issues assigned: their inbox has moves to make.
        deputy_id = conn.execute(
            "SELECT assigned_deputy_id FROM issue WHERE assigned_deputy_id IS NOT NULL"
            " AND status IN ('accepted', 'replied', 'transferred', 'reopened')"
            " GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1").fetchone()[0]
        # A few issues in every state, so each move meets states it may and may not leave.
        issue_nos = [row[0] for row in conn.execute(
            "SELECT no FROM (SELECT no, row_number() OVER (PARTITION BY status ORDER BY id) AS n FROM issue) s"
            " WHERE n <= 4 ORDER BY no")]
        issue_nos += [row[0] for row in conn.execute(
            "SELECT no FROM issue WHERE assigned_deputy_id = %s ORDER BY id LIMIT 6", (deputy_id,))]
        region_codes = [row[0] for row in conn.execute("SELECT code FROM region ORDER BY code LIMIT 12")]
        category_ids = [row[0] for row in conn.execute("SELECT id FROM category ORDER BY id")]
    invite = next(d["invite_code"] for d in summary["deputies"] if d["id"] == deputy_id)
    admin = next(s for s in summary["staff"] if s["role"] == "region_admin")
    manager = next(s for s in summary["staff"] if s["role"] == "station_manager" and s["stations"])
    stations = summary["stations"]
    return DemoPicks(
        deputy_invite=invite, manager=manager, admin=admin,
        station_ids=sorted({*manager["stations"], *(s["id"] for s in stations[:6])}),
        scenes=[s["scene"] for s in stations[:6]],
        deputy_ids=sorted({deputy_id, *(d["id"] for d in summary["deputies"][:6])}),
        region_codes=region_codes, issue_nos=sorted(set(issue_nos)), category_ids=category_ids,
    )


def post_json(url: str, body: dict, token: str | None = None) -> dict:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise StepFailed(f"POST {url} answered {exc.code}: {exc.read()[:300]!r}") from None


def sign_in(base: str, summary: dict, picks: DemoPicks) -> dict[str, str]:
    """A bearer token per role, signed in through the API as the mini-program and staff do."""
    api = f"{base}/api/v1"
    resident = post_json(f"{api}/auth/wx-login", {"code": "fuzz-resident"})["token"]
    deputy_wx = post_json(f"{api}/auth/wx-login", {"code": "fuzz-deputy"})["token"]
    deputy = post_json(f"{api}/auth/bind-deputy", {"invite_code": picks.deputy_invite}, deputy_wx)
    if "deputy" not in deputy["user"]["roles"]:
        raise StepFailed(f"bind-deputy gave no deputy role: {deputy['user']}")
    leaving = post_json(f"{api}/auth/wx-login", {"code": "fuzz-leaving"})["token"]
    tokens = {"resident": resident, "deputy": deputy["token"], "leaving_resident": leaving}
    for role, account in (("station_manager", picks.manager), ("region_admin", picks.admin)):
        answer = post_json(f"{api}/manage/login", {"username": account["username"], "password": account["password"]})
        if role not in answer["user"]["roles"]:
            raise StepFailed(f"{account['username']} signed in without the role {role}: {answer['user']}")
        tokens[role] = answer["token"]
    return tokens


# --- schemathesis -----------------------------------------------------------------------------

def write_config(work: Path, picks: DemoPicks) -> Path:
    """schemathesis.toml: run settings and dictionaries of real demo values for named parameters.

    A bound parameter takes a value from its dictionary half the time and a generated one
    otherwise, so the services see real stations, deputies and issues as well as odd input.
    """
    today = date.today()
    months = sorted({f"{(today.replace(day=1) + timedelta(days=31 * k)).strftime('%Y-%m')}" for k in range(-2, 3)})
    days = [(today + timedelta(days=k)).isoformat() for k in (-10, -3, 0, 1, 6, 16, 40)]
    dictionaries = {
        "station_ids": picks.station_ids,
        "scenes": picks.scenes,
        "deputy_ids": picks.deputy_ids,
        "region_codes": picks.region_codes,
        "issue_nos": picks.issue_nos,
        "category_ids": picks.category_ids,
        "months": months,
        "days": days,
        "years": [today.year - 1, today.year, today.year + 1],
    }
    bindings = {
        "station_ids": ["path.station_id", "body.station_id", "query.station"],
        "scenes": ["path.scene", "body.scene"],
        "deputy_ids": ["path.deputy_id", "body.deputy_id", "body.deputy_ids[*]", "query.deputy"],
        "region_codes": ["path.code", "query.region"],
        "issue_nos": ["path.no", "body.issue_no"],
        "category_ids": ["path.category_id", "body.category_id"],
        "months": ["path.month"],
        "days": ["path.day", "body.date", "body.moved_to", "query.from", "query.to"],
        "years": ["path.year", "query.year"],
    }
    lines = [
        "# Written by tests/fuzz/run_schemathesis.py for one run.",
        "[cache]", "enabled = false", "",
        "[generation]", 'database = "none"', "",
    ]
    for name, values in dictionaries.items():
        lines += [f"[dictionaries.{name}]", f"values = {json.dumps(values)}", ""]
    lines.append("[parameters]")
    for name, keys in bindings.items():
        for key in keys:
            lines.append(f'"{key}" = {{ dictionary = "{name}", probability = 0.5 }}')
    path = work / "schemathesis.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_schemathesis(schema_url: str, run: RoleRun, token: str | None, config: Path, args, work: Path) -> int:
    print(f"\n== schemathesis: {run.name} ==", flush=True)
    cmd = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "--no-color", "run", schema_url,
           "--seed", str(args.seed), "--max-examples", str(args.max_examples), "--workers", str(args.workers),
           "--checks", ",".join(CHECKS), "--request-timeout", "30", "--output-truncate", "true"]
    if token is not None:
        cmd += ["--header", f"Authorization: Bearer {token}"]
    if run.include_path_regex is not None:
        cmd += ["--include-path-regex", run.include_path_regex]
    if args.continue_on_failure:
        cmd.append("--continue-on-failure")
    return subprocess.run(cmd, check=False, cwd=work).returncode


# --- servers ----------------------------------------------------------------------------------

if __name__ == "__main__":
    sys.exit(main())
