"""Benchmark: every hot path on one database at scale, against a bare Flask endpoint (issue 7).

    apt-get install -y wrk
    .venv/bin/python bench/load.py [--scale county|province] [--duration 10] [--workers 2] [--only scan,inbox]

One command: a PostgreSQL database made by `flask bench-data --scale …` (recreated each run;
`--keep-db` keeps it, and `--reuse` then loads a kept one again without regenerating), Redis db 14
flushed, the fake WeChat in its own process (submissions run the real content check through it),
gunicorn serving `wsgi:app` and, with the same config, `bench/bare_app.py`. Each path is checked
once (it must answer 2xx), warmed for `--warmup` s, then loaded with wrk (bench/load.lua) for
`--duration` s at its stated number of connections, rotating over many tokens, stations and issues:

    bare       GET /bare (bench/bare_app.py): Flask + JSON, no database; measured first and last
    scan       GET /api/v1/stations/scan/<scene>                  64   ≥ 35% of bare's req/s
    nearby     GET /api/v1/stations/nearby?lat=&lng=              64   ≥ 1,500 req/s, p99 ≤ 60 ms
    my-issues  GET /api/v1/issues/mine (residents with issues)    64   ≥ 1,500 req/s, p99 ≤ 60 ms
    inbox      GET /api/v1/deputy/inbox (deputies with open ones) 64   ≥ 1,500 req/s, p99 ≤ 60 ms
    submit     POST /api/v1/issues (content check included)       16   ≥ 300 req/s, p99 ≤ 100 ms
    reply      POST /api/v1/deputy/issues/<no>/reply              16   (no target: reported)
    stats      GET /api/v1/manage/stats as the county's admin      8   p99 ≤ 200 ms (county)
    dashboard  GET /console/ as the county's admin                 8   p99 ≤ 200 ms (county)
  and on a province also, as the province's admin: stats-province, dashboard-province, 8, p99 ≤ 500 ms.

Prints, for each: req/s, p50, p99, errors, non-2xx, the ratio to bare's req/s, the target and
whether it was met (a run with errors or non-2xx answers never meets one), and the CPU split.
A measurement, not a test: exits 0 whether or not targets are met; non-zero only when it could
not measure. Report and logs: bench/results/<UTC time>-load/.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from console import inprocess_app, province_marker, save_marker, sign_in
from harness import (
    PROTECTED_DATABASES,
    Server,
    ServerFailed,
    StepFailed,
    drop_database,
    free_port,
    recreate_database,
    run_step,
)
from issues import start_fake_wechat
from run import (
    BENCH,
    RESULTS,
    Result,
    app_env,
    claim_machine,
    cpu_model,
    gunicorn_config,
    gunicorn_version,
    measure,
    read_lines,
    wrk,
    wrk_version,
)

from backend.demo.bench_data import BENCH_PASSWORD, GENERATOR_VERSION, sizes_for

LUA = BENCH / "load.lua"
ROTATION = 2000  # tokens, stations, issues a path rotates over
# The reads answered from caches: each of their requests is made once before the path is loaded,
# so the load measures a day's steady state (every station scanned, every list opened once);
# the first views' rate is printed beside it.
PREWARMED = ("scan", "nearby", "my-issues", "inbox")


@dataclass(frozen=True)
class HotPath:
    name: str
    connections: int
    what: str
    min_rps: float | None = None
    max_p99_ms: float | None = None
    min_bare_ratio: float | None = None

    def target(self) -> str:
        parts = []
        if self.min_bare_ratio is not None:
            parts.append(f">= {self.min_bare_ratio:.0%} of bare")
        if self.min_rps is not None:
            parts.append(f">= {self.min_rps:,.0f}/s")
        if self.max_p99_ms is not None:
            parts.append(f"p99 <= {self.max_p99_ms:.0f} ms")
        return ", ".join(parts) or "-"

    def verdict(self, r: Result, bare: Result | None) -> str:
        if r.requests == 0:
            return "not measured: no answer within the run"
        if self.target() == "-":
            return ""
        if r.errors or r.non_2xx:
            return "NOT met (errors)"
        misses = []
        if self.min_bare_ratio is not None and (bare is None or r.rps < self.min_bare_ratio * bare.rps):
            misses.append("throughput vs bare")
        if self.min_rps is not None and r.rps < self.min_rps:
            misses.append(f"{self.min_rps - r.rps:,.0f}/s short")
        if self.max_p99_ms is not None and r.p99_ms > self.max_p99_ms:
            misses.append(f"p99 {r.p99_ms - self.max_p99_ms:.0f} ms over")
        return "met" if not misses else "NOT met: " + "; ".join(misses)


PATHS = [
    HotPath("bare", 64, "GET /bare (Flask, jsonify of a fixed scan answer)"),
    HotPath("scan", 64, "GET /api/v1/stations/scan/<scene>", min_bare_ratio=0.35),
    HotPath("nearby", 64, "GET /api/v1/stations/nearby?lat=&lng=", 1500, 60),
    HotPath("my-issues", 64, "GET /api/v1/issues/mine", 1500, 60),
    HotPath("inbox", 64, "GET /api/v1/deputy/inbox", 1500, 60),
    HotPath("submit", 16, "POST /api/v1/issues", 300, 100),
    HotPath("reply", 16, "POST /api/v1/deputy/issues/<no>/reply"),
    HotPath("stats", 8, "GET /api/v1/manage/stats (county admin)", max_p99_ms=200),
    HotPath("dashboard", 8, "GET /console/ (county admin)", max_p99_ms=200),
    HotPath("stats-province", 8, "GET /api/v1/manage/stats (province admin)", max_p99_ms=500),
    HotPath("dashboard-province", 8, "GET /console/ (province admin)", max_p99_ms=500),
]


def say(line: str = "", out: list[str] | None = None) -> None:
    print(line, flush=True)
    if out is not None:
        out.append(line)


def prepare_data(args, psycopg, admin_url: str, db_url: str, env: dict[str, str], work: Path) -> dict:
    """The database at scale: reused when kept from an earlier run of the same sizes, else made."""
    sizes = vars(sizes_for(args.scale, args.issues))
    marker = province_marker(psycopg, admin_url, args.database) if args.reuse else None
    if marker is not None and marker.get("sizes") == sizes and marker.get("generator") == GENERATOR_VERSION:
        run_step(["db", "upgrade"], env, "migrations")
        return marker | {"reused": True}
    recreate_database(psycopg, admin_url, args.database)
    run_step(["db", "upgrade"], env, "migrations")
    started = time.perf_counter()
    flags = ["--scale", args.scale, "--out", str(work / "bench-data.json")]
    if args.issues is not None:
        flags += ["--issues", str(args.issues)]
    run_step(["bench-data", *flags], env, "bench-data")
    made = json.loads((work / "bench-data.json").read_text(encoding="utf-8"))
    marker = {"sizes": sizes, "generator": GENERATOR_VERSION, "counts": made["counts"], "phases": made["phases"],
              "generate_seconds": round(time.perf_counter() - started, 1),
              "generated_at": datetime.now(UTC).isoformat(timespec="seconds")}
    save_marker(psycopg, admin_url, args.database, marker)
    return marker | {"reused": False}


def request_files(args, db_url: str, app_server: Server, work: Path) -> dict[str, Path]:
    """One file of requests per path (bench/load.lua's format), made with the app's own token
    minting in process and the console's sign-in over HTTP."""
    from sqlalchemy import func, select

    from backend.auth import issue_token
    from models import (
        Category,
        Deputy,
        Issue,
        IssueStatus,
        StaffAccount,
        Station,
        User,
        db,
    )

    def write(name: str, rows: list[tuple]) -> Path:
        if not rows:
            raise StepFailed(f"no data to load {name} with")
        path = work / f"{name}.tsv"
        path.write_text("".join("\t".join(map(str, row)) + "\n" for row in rows), encoding="utf-8")
        return path

    bearer = lambda user: "Bearer " + issue_token(user)[0]
    files: dict[str, Path] = {}
    app = inprocess_app(db_url, args.redis)
    with app.app_context():
        stations = db.session.execute(select(Station.scene, Station.lat, Station.lng).order_by(func.random())
                                      .limit(ROTATION)).all()
        files["scan"] = write("scan", [("GET", f"/api/v1/stations/scan/{s.scene}") for s in stations])
        files["nearby"] = write("nearby", [("GET", (f"/api/v1/stations/nearby?lat={s.lat + 0.003:.5f}"
                                                   f"&lng={s.lng - 0.002:.5f}")) for s in stations])
        submitters = db.session.scalars(select(User).where(User.id.in_(
            select(Issue.submitter_id).distinct().limit(ROTATION)))).all()
        files["my-issues"] = write("my-issues", [("GET", "/api/v1/issues/mine", "Authorization", bearer(u))
                                                 for u in submitters])
        # Residents who submit: users that are neither deputies nor staff, rotated so none nears
        # the hourly limit (10 each: 2,000 users allow 20,000 submissions).
        residents = db.session.scalars(select(User).where(
            User.openid.is_not(None), ~User.id.in_(select(Deputy.user_id).where(Deputy.user_id.is_not(None))))
            .order_by(User.id.desc()).limit(ROTATION)).all()
        category = db.session.scalar(select(Category.name).order_by(Category.sort_order))
        body = json.dumps({"scene": "{scene}", "category": category,
                           "content": "压力测试 {n}：小区东门的路灯坏了，晚上出行不便，请尽快修理。"}, ensure_ascii=False)
        files["submit"] = write("submit", [("POST", "/api/v1/issues", "Authorization", bearer(u),
                                            body.replace("{scene}", stations[k % len(stations)].scene))
                                           for k, u in enumerate(residents)])
        # Deputies with issues in hand: their inbox, and a reply to one of them.
        in_hand = db.session.execute(
            select(Deputy.user_id, Issue.no).join(Issue, Issue.assigned_deputy_id == Deputy.id)
            .where(Issue.status.in_([IssueStatus.accepted, IssueStatus.replied]))
            .order_by(Issue.id.desc()).limit(ROTATION)).all()
        users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_({r[0] for r in in_hand})))}
        tokens = {uid: bearer(user) for uid, user in users.items()}
        files["inbox"] = write("inbox", [("GET", "/api/v1/deputy/inbox", "Authorization", t) for t in tokens.values()])
        reply = json.dumps({"content": "压力测试答复 {n}：已与有关部门沟通，近期处理。"}, ensure_ascii=False)
        files["reply"] = write("reply", [("POST", f"/api/v1/deputy/issues/{no}/reply", "Authorization", tokens[uid],
                                          reply) for uid, no in in_hand])
        admins = {a.username: bearer(a.user) for a in db.session.scalars(select(StaffAccount))}
    base = app_server.url("")
    for suffix, username in (("", "county-admin"), ("-province", "province-admin")):
        files[f"stats{suffix}"] = write(f"stats{suffix}", [("GET", "/api/v1/manage/stats", "Authorization",
                                                            admins[username])])
        session = sign_in(base, username, BENCH_PASSWORD)
        cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
        files[f"dashboard{suffix}"] = write(f"dashboard{suffix}", [("GET", "/console/", "Cookie", cookie)])
    return files


def settle(server: Server, limit: float = 300) -> None:
    """Wait until the server answers a trivial request at once: a path whose requests outlived
    wrk's 2 s timeout leaves them queued in the workers, and the next path would wait behind them."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        started = time.monotonic()
        try:
            with urllib.request.urlopen(server.url("/healthz"), timeout=limit) as response:
                response.read()
        except (urllib.error.URLError, TimeoutError, ConnectionError):
            pass
        if time.monotonic() - started < 0.5:
            return
    raise ServerFailed(f"{server.name} still busy after {limit:.0f} s")


def prewarm(server: Server, requests_file: Path, threads: int = 4) -> float:
    """Each request of the file once, on a few threads: the cached reads as after a day of use
    (every station scanned, every user's list opened once). Returns the seconds it took."""
    from concurrent.futures import ThreadPoolExecutor

    started = time.monotonic()

    def get(line: str) -> None:
        with urllib.request.urlopen(request_of(server, line), timeout=120) as answer:
            answer.read()

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(get, read_lines(requests_file)))
    return time.monotonic() - started


def request_of(server: Server, line: str) -> urllib.request.Request:
    """A line of a requests file (bench/load.lua's format) as a request; "{n}" in a body is "check"."""
    method, path, *rest = line.split("\t")
    headers = {rest[0]: rest[1]} if rest and rest[0] else {}
    data = rest[2].replace("{n}", "check").encode() if len(rest) > 2 and rest[2] else None
    if data is not None:
        headers["Content-Type"] = "application/json"
    return urllib.request.Request(server.url(path), data=data, headers=headers, method=method)


def check(server: Server, requests_file: Path) -> None:
    """The first request of the file must answer 2xx, or the load would measure refusals."""
    req = request_of(server, read_lines(requests_file)[0])
    what = f"{req.get_method()} {req.selector}"
    try:
        with urllib.request.urlopen(req, timeout=120) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        raise ServerFailed(f"{what} answered {exc.code}: {exc.read()[:300]!r}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise ServerFailed(f"{what}: no answer within 120 s ({exc})") from None


def main() -> int:
    args = parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed. Install it (Debian):  apt-get install -y wrk", file=sys.stderr)
        return 2
    if args.database in PROTECTED_DATABASES:
        print(f"refusing to use database {args.database!r}", file=sys.stderr)
        return 2
    import psycopg

    lock = claim_machine(args.database)
    if lock is None:
        return 2
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out_dir = RESULTS / f"{stamp}-load"
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="lianluozhan-load-"))  # tokens live here only
    report: list[str] = []
    servers: list[Server] = []
    admin_url, db_url = f"{args.pg}/postgres", f"{args.pg}/{args.database}"
    paths = [p for p in PATHS if (args.scale == "province" or not p.name.endswith("-province"))
             and (not args.only or p.name in args.only or p.name == "bare")]
    try:
        env = app_env(db_url, args.redis)
        wechat_port = free_port()
        env["WECHAT_API_BASE"] = f"http://127.0.0.1:{wechat_port}/"
        env["FAKE_WECHAT_PORT"] = str(wechat_port)
        env["SESSION_COOKIE_SECURE"] = "0"
        say(f"date {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores ({cpu_model()}), load avg "
            f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}; {gunicorn_version()}, {wrk_version()}", report)
        data = prepare_data(args, psycopg, admin_url, db_url, env, work)
        say(f"data: bench-data --scale {args.scale}: " + ", ".join(f"{k} {v:,}" for k, v in data["sizes"].items())
            + (" (kept from an earlier run)" if data["reused"] else
               f"; generated in {data['generate_seconds']:.0f} s: "
               + ", ".join(f"{k} {v:.1f} s" for k, v in data["phases"].items())), report)
        servers.append(start_fake_wechat(wechat_port, env, out_dir))
        gconf = gunicorn_config(args.workers, args.threads) + ["--timeout", "120"]
        app_server = Server.gunicorn("app", ["wsgi:app"], env, gconf, out_dir)
        servers.append(app_server)
        bare_server = Server.gunicorn("bare", ["--chdir", str(BENCH), "bare_app:app"], env, gconf, out_dir)
        servers.append(bare_server)
        app_server.wait_ready("/api/v1/categories")
        bare_server.wait_ready("/bare")
        files = request_files(args, db_url, app_server, work)
        files["bare"] = work / "bare.tsv"
        files["bare"].write_text("GET\t/bare\n", encoding="utf-8")
        kind = "sync workers" if args.threads == 1 else f"gthread x {args.threads}"
        say(f"servers: gunicorn {args.workers} {kind} for the app and for bare; PostgreSQL {args.pg}, Redis "
            f"{args.redis} (flushed), fake WeChat answering at once; wrk {args.wrk_threads} thread, closed loop, "
            f"{args.warmup} s warm-up then {args.duration} s per path", report)

        results: dict[str, Result] = {}
        order = [p for p in paths if p.name != "bare"]
        for path in [PATHS[0], *order, PATHS[0]]:
            server = bare_server if path.name == "bare" else app_server
            settle(server)
            check(server, files[path.name])
            if path.name in PREWARMED and args.prewarm:
                count = len(read_lines(files[path.name]))
                seconds = prewarm(server, files[path.name])
                say(f"  {path.name}: each of its {count:,} requests made once first, {seconds:.1f} s on 4 threads "
                    f"({count / seconds:,.0f}/s: first views, uncached)", report)
            lua_env = {"BENCH_REQUESTS": str(files[path.name]), "BENCH_LABEL": f"{stamp}-{path.name}-warm"}
            wrk(server, None, path.connections, args.warmup, args.wrk_threads, out_dir / f"warmup-{path.name}.txt",
                lua=LUA, lua_env=lua_env)
            args.connections = path.connections
            name = path.name if path.name not in results else "bare-end"
            # A copy named for the path: wrk's output file is named after the server it loads.
            results[name] = measure(replace(server, name=name), None, args, out_dir, servers, lua=LUA,
                                    lua_env=lua_env | {"BENCH_LABEL": f"{stamp}-{path.name}"})
            r = results[name]
            say(f"  {name:<19} {r.rps:>8,.0f} req/s  p99 {r.p99_ms:>7.1f} ms", None)

        bare = results["bare"]
        say("", report)
        say(f"{'path':<19}{'conn':>5}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'non-2xx':>8}"
            f"{'/bare':>7}  {'target':<32}verdict", report)
        for path in [PATHS[0], *order]:
            r = results[path.name]
            say(f"{path.name:<19}{path.connections:>5}{r.rps:>9,.0f}{r.p50_ms:>9.1f}{r.p99_ms:>9.1f}{r.errors:>8}"
                f"{r.non_2xx:>8}{r.rps / bare.rps:>7.1%}  {path.target():<32}{path.verdict(r, bare)}", report)
        end = results["bare-end"]
        say(f"{'bare (again, last)':<19}{64:>5}{end.rps:>9,.0f}{end.p50_ms:>9.1f}{end.p99_ms:>9.1f}{end.errors:>8}"
            f"{end.non_2xx:>8}{end.rps / bare.rps:>7.1%}  (drift of the machine over the run)", report)
        say("", report)
        say(f"CPU during each run, cores busy on average (of {os.cpu_count()}):", report)
        for name, r in results.items():
            say(f"  {name:<19}" + ", ".join(f"{k} {v:.2f}" for k, v in r.cpu.items()), report)
        return 0
    except (StepFailed, ServerFailed) as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        for server in reversed(servers):
            server.stop()
        if not args.keep_db:
            drop_database(psycopg, admin_url, args.database)
        shutil.rmtree(work, ignore_errors=True)
        (out_dir / "report.txt").write_text("\n".join(report) + "\n", encoding="utf-8")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scale", choices=("county", "province"), default="county")
    p.add_argument("--issues", type=int, default=None, help="issues in the database (default: the scale's)")
    p.add_argument("--only", type=lambda s: set(s.split(",")), default=None, help="comma-separated paths")
    p.add_argument("--duration", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--wrk-threads", type=int, default=1)
    p.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432")
    p.add_argument("--database", default="lianluozhan_bench_load")
    p.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    p.add_argument("--keep-db", action="store_true", help="keep the database (a province takes minutes to make)")
    p.add_argument("--reuse", action="store_true", help="load a database kept by --keep-db, if of the same sizes")
    p.add_argument("--prewarm", action=argparse.BooleanOptionalAction, default=True,
                   help="make each request of the cached reads once before loading them (as after a day)")
    return p.parse_args()


if __name__ == "__main__":
    sys.exit(main())
