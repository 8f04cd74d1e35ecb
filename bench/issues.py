"""Benchmark: residents submitting issues and deputies reading their inbox (issue 3's targets).

    .venv/bin/python bench/issues.py {submit,inbox} [--connections N] [--duration 10] [--workers 2]

Same machinery as bench/run.py (imported from it, not copied): a fresh PostgreSQL database,
migrations, seed-demo, then bench/seed_issues.py (2,000 resident users, 100,000 issues over the
last year, deputies bound to users, their tokens), gunicorn serving `wsgi:app`, Redis db 14 flushed,
wrk with bench/issues.lua, the CPU split per process. Submissions run the real content check
against the project's fake WeChat, started here as its own process (`flask --app wsgi fake-wechat`).

    submit  POST /api/v1/issues, 16 connections by default: a rotating resident token, the scene
            rotating over the stations, a distinct content every request.
            Target: >= 300 req/s, p99 <= 100 ms.
    inbox   GET /api/v1/deputy/inbox (first page, 20 items), 64 connections by default, rotating
            over the bound deputies' tokens. Target: >= 1,500 req/s, p99 <= 60 ms.

A measurement, not a test: exits 0 whether or not the target is met.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402  - bench/ is not a package
    ROOT,
    Server,
    ServerFailed,
    StepFailed,
    drop_database,
    free_port,
    recreate_database,
    run_step,
)
from run import (  # noqa: E402  - bench/ is not a package
    BENCH,
    NOISE_CORES,
    RESULTS,
    Result,
    app_env,
    claim_machine,
    cpu_model,
    gunicorn_config,
    gunicorn_version,
    measure,
    result_lines,
    wrk,
    wrk_version,
)

LUA = BENCH / "issues.lua"


@dataclass(frozen=True)
class Target:
    name: str
    connections: int
    min_rps: float
    max_p99_ms: float


TARGETS = {
    "submit": Target("submit", 16, 300, 100),
    "inbox": Target("inbox", 64, 1500, 60),
}


def main() -> int:
    args = parse_args()
    target = TARGETS[args.target]
    if args.connections is None:
        args.connections = target.connections
    if shutil.which("wrk") is None:
        print("wrk is not installed. Install it (Debian):  apt-get install -y wrk", file=sys.stderr)
        return 2
    import psycopg

    lock = claim_machine(args.database)
    if lock is None:
        return 2

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out_dir = RESULTS / f"{stamp}-{target.name}"
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="lianluozhan-bench-"))  # tokens live here only
    servers: list[Server] = []
    admin_url = f"{args.pg}/postgres"
    db_url = f"{args.pg}/{args.database}"
    db_created = False
    try:
        pg_version = recreate_database(psycopg, admin_url, args.database)
        db_created = True
        env = app_env(db_url, args.redis)
        wechat_port = free_port()
        env["WECHAT_API_BASE"] = f"http://127.0.0.1:{wechat_port}/"
        env["FAKE_WECHAT_PORT"] = str(wechat_port)
        run_step(["db", "upgrade"], env, "migrations")
        run_step(["seed-demo", "--out", str(work / "demo.json")], env, "seed-demo")
        t0 = time.monotonic()
        seed = subprocess.run([sys.executable, str(BENCH / "seed_issues.py"), "--out", str(work),
                               "--residents", str(args.residents), "--issues", str(args.issues)],
                              cwd=ROOT, env=env, capture_output=True, text=True)
        if seed.returncode != 0:
            raise StepFailed(f"seed_issues failed:\n{seed.stdout}{seed.stderr}")
        seed_seconds = time.monotonic() - t0
        data = json.loads((work / "summary.json").read_text(encoding="utf-8"))

        if target.name == "submit":
            wechat = start_fake_wechat(wechat_port, env, out_dir)
            servers.append(wechat)
        gconf = gunicorn_config(args.workers, args.threads)
        app = Server.gunicorn(target.name, ["wsgi:app"], env, gconf, out_dir)
        servers.append(app)
        app.wait_ready("/api/v1/categories")

        lua_env = {"BENCH_TOKENS": str(work / ("residents.txt" if target.name == "submit" else "deputies.txt"))}
        if target.name == "submit":
            lua_env |= {"BENCH_SCENES": str(work / "scenes.txt"), "BENCH_CATEGORIES": str(work / "categories.txt")}
            check_submit(app, work)
        else:
            lua_env["BENCH_PATH"] = "/api/v1/deputy/inbox"
            check_inbox(app, work)

        wrk(app, None, args.connections, args.warmup, args.wrk_threads, out_dir / f"warmup-{target.name}.txt",
            lua=LUA, lua_env=lua_env | {"BENCH_LABEL": f"{stamp}-warmup"})
        load_before = os.getloadavg()
        result = measure(app, None, args, out_dir, servers, lua=LUA,
                         lua_env=lua_env | {"BENCH_LABEL": f"{stamp}-run"})
        after = issue_counts(psycopg, db_url)
        text = render(target, args, gconf, pg_version, data, seed_seconds, load_before, result, after, out_dir)
        if args.floor:
            text += "\n" + measure_floor(args, env, gconf, out_dir, servers, lua_env, stamp, result)
        print(text)
        (out_dir / "report.txt").write_text(text + "\n", encoding="utf-8")
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
        if db_created and not args.keep_db:
            drop_database(psycopg, admin_url, args.database)
        shutil.rmtree(work, ignore_errors=True)


def measure_floor(args, env, gconf, out_dir: Path, servers: list[Server], lua_env, stamp, real: Result) -> str:
    """The same load on bench/floor_app.py (submission's I/O on the raw drivers), right after."""
    floor = Server.gunicorn("floor", ["--chdir", str(BENCH), "floor_app:app"], env, gconf, out_dir)
    servers.append(floor)
    floor.wait_ready("/healthz")
    wrk(floor, None, args.connections, args.warmup, args.wrk_threads, out_dir / "warmup-floor.txt",
        lua=LUA, lua_env=lua_env | {"BENCH_LABEL": f"{stamp}-floor-warmup"})
    r = measure(floor, None, args, out_dir, servers, lua=LUA, lua_env=lua_env | {"BENCH_LABEL": f"{stamp}-floor"})
    return "\n".join([
        "floor: the same I/O from a bare Flask handler on psycopg, redis-py and requests (bench/floor_app.py)",
        *result_lines({"floor": r}),
        f"submit / floor throughput  {real.rps / r.rps:.1%}" if r.rps else "floor answered nothing",
    ])


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("target", choices=sorted(TARGETS))
    p.add_argument("--connections", type=int, default=None, help="default: the target's (submit 16, inbox 64)")
    p.add_argument("--duration", type=int, default=10)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--wrk-threads", type=int, default=1)
    p.add_argument("--residents", type=int, default=2000,
                   help="resident users rotated over (each may submit 10 issues an hour)")
    p.add_argument("--issues", type=int, default=100_000, help="issues in the database before the load")
    p.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432")
    p.add_argument("--database", default="lianluozhan_bench")
    p.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    p.add_argument("--keep-db", action="store_true")
    p.add_argument("--floor", action="store_true",
                   help="submit only: also load bench/floor_app.py, the same I/O without the application")
    return p.parse_args()


def start_fake_wechat(port: int, env: dict[str, str], out_dir: Path) -> Server:
    server = Server.launch("wechat", [sys.executable, "-m", "flask", "--app", "wsgi", "fake-wechat", "--port", "{port}"],
                           env, out_dir / "fake-wechat.log", port)
    try:
        server.wait_listening()
    except ServerFailed:
        server.stop()
        raise
    return server



def _call(url: str, token: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Authorization": f"Bearer {token}",
                                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise ServerFailed(f"{url} answered {exc.code}: {exc.read()[:300]!r}") from None


def check_submit(app: Server, work: Path) -> None:
    """One submission as wrk will send it must be 201 and pass the content check (not pending review)."""
    # The last resident: wrk starts its rotation at the first, so nobody nears the rate limit.
    token = (work / "residents.txt").read_text().split()[-1]
    scene = (work / "scenes.txt").read_text(encoding="utf-8").split()[0]
    category = (work / "categories.txt").read_text(encoding="utf-8").split()[0]
    status, body = _call(app.url("/api/v1/issues"), token,
                         {"scene": scene, "category": category, "content": "基准测试：检查一次提交。"})
    if status != 201 or body["issue"]["status"] != "submitted":
        raise ServerFailed(f"submission answered {status} {body}: the content check did not pass")


def check_inbox(app: Server, work: Path) -> None:
    for token in (work / "deputies.txt").read_text().split():
        status, body = _call(app.url("/api/v1/deputy/inbox"), token)
        if status != 200 or not body["items"]:
            raise ServerFailed(f"inbox answered {status} with {len(body.get('items', []))} items")


def issue_counts(psycopg, db_url: str) -> dict[str, int]:
    with psycopg.connect(db_url) as conn:
        return dict(conn.execute("SELECT content_check, count(*) FROM issue WHERE created_at > now() - interval '1 hour'"
                                 " GROUP BY content_check").fetchall())


def render(target: Target, args, gconf, pg_version, data, seed_seconds, load_before, r: Result, after,
           out_dir: Path) -> str:
    kind = f"gthread, {args.threads} threads" if args.threads > 1 else "sync"
    what = ("POST /api/v1/issues, content check against the fake WeChat (own process)"
            if target.name == "submit" else "GET /api/v1/deputy/inbox (first page, 20 a page)")
    rotate = (f"{data['residents']} resident tokens, {data['stations']} scenes, {data['categories']} categories,"
              " a distinct content a request" if target.name == "submit" else
              f"{data['deputies']} deputy tokens; their inboxes hold {min(data['inbox_sizes'])}–"
              f"{max(data['inbox_sizes'])} issues (mean {sum(data['inbox_sizes']) / len(data['inbox_sizes']):.0f})")
    lines = [
        f"date           {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"machine        {os.cpu_count()} cores ({cpu_model()}), load avg before {load_before[0]:.2f}"
        f" {load_before[1]:.2f} {load_before[2]:.2f}",
        f"software       Python {sys.version.split()[0]}, {gunicorn_version()}, PostgreSQL {pg_version}, {wrk_version()}",
        f"gunicorn       {args.workers} workers ({kind})",
        f"call           {what}",
        f"load           wrk -t{min(args.wrk_threads, args.connections)} -c{args.connections} -d{args.duration}s"
        f" ({args.connections} connections; closed loop, percentiles not corrected for coordinated omission),"
        f" after {args.warmup}s warm-up",
        f"rotation       {rotate}",
        f"data           {data['issues']} issues over the last year ({', '.join(f'{k} {v}' for k, v in sorted(data['statuses'].items()))}),"
        f" {data['ratings']} ratings, {data['residents']} residents; bulk-loaded in {seed_seconds:.0f}s",
        "",
        *result_lines({target.name: r}),
    ]
    if target.name == "submit":
        lines.append("  issues created in the last hour by content check: "
                     + ", ".join(f"{k} {v}" for k, v in sorted(after.items())))
    # wrk leaves requests that timed out (2 s) out of its histogram: with timeouts the true p99 is
    # at least that, whatever the histogram says.
    rps_ok = r.rps >= target.min_rps
    p99_ok = r.p99_ms <= target.max_p99_ms and r.timeouts == 0
    p99 = f"{r.p99_ms:.1f} ms" if r.timeouts == 0 else f"unknown, >= 2000 ms ({r.timeouts} wrk timeouts)"
    clean = r.errors == 0 and r.non_2xx == 0
    lines += [
        "",
        f"{target.name} throughput  {r.rps:.0f} req/s  (target >= {target.min_rps:,.0f} at {args.connections}"
        f" connections: {'met' if rps_ok else 'NOT met'})",
        f"{target.name} p99         {p99}  (target <= {target.max_p99_ms:.0f} ms:"
        f" {'met' if p99_ok else 'NOT met'})",
    ]
    if args.connections != target.connections:
        lines.append(f"connections {args.connections}, not the target's {target.connections}: no verdict on the target")
    if not clean:
        lines.append("errors or non-2xx responses during the run: the figures above are not a clean result")
    noise = r.cpu["other"] + r.cpu["steal"]
    if noise > NOISE_CORES:
        lines.append(f"NOISY: other processes or the hypervisor took {noise:.2f} cores: run again")
    met = rps_ok and p99_ok and clean and args.connections == target.connections
    lines.append(f"TARGET {'MET' if met else 'NOT MET'}")
    lines.append(f"raw wrk output and server logs: {out_dir.relative_to(ROOT)}/")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
