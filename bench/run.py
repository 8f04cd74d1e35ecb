"""Benchmark: the scan call (GET /api/v1/stations/scan/<scene>) against a bare Flask endpoint.

    .venv/bin/python bench/run.py [--connections 64] [--duration 10] [--workers N] [--threads M]

Builds its own PostgreSQL database (dropped and recreated each run), migrates and seeds the demo
county into it, serves the app and bench/bare_app.py with one and the same gunicorn config, warms
both, loads each with wrk for the duration and prints requests/s, latency percentiles, errors and
the scan/bare throughput ratio against the target. See bench/README.md for what the figures mean.

This is a measurement, not a test: it exits 0 whether or not the target is met, and non-zero only
when it could not measure (wrk missing, PostgreSQL down, a server that would not start, ...).
"""
from __future__ import annotations

import argparse
import fcntl
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from harness import (  # bench/ is not a package
    PROTECTED_DATABASES,
    ROOT,
    Server,
    ServerFailed,
    StepFailed,
    clean_up_on_signals,
    drop_database,
    recreate_database,
    run_step,
)

BENCH = ROOT / "bench"
LUA = BENCH / "scan.lua"
RESULTS = BENCH / "results"  # raw wrk output and server logs; gitignored

TARGET_RATIO = 0.35
TARGET_P99_MS = 50.0
# Above this much CPU taken by processes outside the benchmark (or stolen), a run says it was noisy.
NOISE_CORES = 0.15

# The scenes rotated over: enough that the scan is not one hot row, few enough that every worker
# sees each of them during the warm-up.
MAX_SCENES = 29

CLK_TCK = os.sysconf("SC_CLK_TCK")


def claim_machine(database: str):
    """Refuse the databases that are not ours, take the machine-wide benchmark lock and make
    Ctrl-C and SIGTERM clean up. Returns the lock (keep it open for the run), or None after
    saying why the run cannot go on."""
    if database in PROTECTED_DATABASES:
        print(f"refusing to use database {database!r}", file=sys.stderr)
        return None
    # Two runs at once would drop each other's database mid-load, and skew each other's figures.
    lock = open(Path(tempfile.gettempdir()) / "lianluozhan-bench.lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print("another benchmark is running on this machine; wait for it", file=sys.stderr)
        return None
    clean_up_on_signals()
    return lock


def main() -> int:
    args = parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed. Install it (Debian):  apt-get install -y wrk", file=sys.stderr)
        return 2
    try:
        import gunicorn  # noqa: F401  - the servers run on this interpreter
        import psycopg
    except ImportError as exc:
        print(f"{exc}: run with the project's venv, .venv/bin/python bench/run.py", file=sys.stderr)
        return 2
    lock = claim_machine(args.database)
    if lock is None:
        return 2

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out_dir = RESULTS / stamp
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="lianluozhan-bench-"))
    servers: list[Server] = []
    admin_url = f"{args.pg}/postgres"
    db_url = f"{args.pg}/{args.database}"
    db_created = False
    try:
        pg_version = recreate_database(psycopg, admin_url, args.database)
        db_created = True
        env = app_env(db_url, args.redis)
        run_step(["db", "upgrade"], env, "migrations")
        summary_file = work / "demo.json"  # holds demo passwords: kept in the temp dir only
        run_step(["seed-demo", "--out", str(summary_file)], env, "seed-demo")
        summary = json.loads(summary_file.read_text(encoding="utf-8"))
        scenes = [s["scene"] for s in summary["stations"]][:MAX_SCENES]
        data_size = count_rows(psycopg, db_url)

        scan_paths = work / "scan_paths.txt"
        scan_paths.write_text("".join(f"/api/v1/stations/scan/{s}\n" for s in scenes), encoding="utf-8")
        bare_paths = work / "bare_paths.txt"
        bare_paths.write_text("/bare\n", encoding="utf-8")

        gconf = gunicorn_config(args.workers, args.threads)
        app = Server.gunicorn("scan", ["wsgi:app"], env, gconf, out_dir)
        servers.append(app)
        bare = Server.gunicorn("bare", ["--chdir", str(BENCH), "bare_app:app"], env, gconf, out_dir)
        servers.append(bare)
        app.wait_ready(f"/api/v1/stations/scan/{scenes[0]}")
        bare.wait_ready("/bare")

        # Every path must answer 200 before the load: wrk only counts statuses >= 400 as errors.
        scan_sizes = [check_200(app.url(p)) for p in read_lines(scan_paths)]
        bare_size = check_200(bare.url("/bare"))

        targets = [(app, scan_paths), (bare, bare_paths)]
        for server, paths in targets:
            wrk(server, paths, args.connections, args.warmup, args.wrk_threads, out_dir / f"warmup-{server.name}.txt")

        results: dict[str, Result] = {}
        load_before = os.getloadavg()
        for server, paths in targets:
            results[server.name] = measure(server, paths, args, out_dir, servers)

        report = Report(
            when=datetime.now(timezone.utc), args=args, gconf=gconf, pg_version=pg_version,
            data_size=data_size, scenes=len(scenes), scan_body=sum(scan_sizes) / len(scan_sizes),
            bare_body=bare_size, load_before=load_before, results=results, out_dir=out_dir,
        )
        text = report.render()
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
        for server in servers:
            server.stop()
        if db_created and not args.keep_db:
            drop_database(psycopg, admin_url, args.database)
        shutil.rmtree(work, ignore_errors=True)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--duration", type=int, default=10, help="seconds of load per target")
    # 2 sync workers: measured best for the scan on 2 cores (docs/performance.md); the scan is
    # CPU-bound Python, so more workers or threads only add contention.
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers (both servers)")
    p.add_argument("--threads", type=int, default=1,
                   help="threads per worker; 1 = sync workers, more = gthread (both servers)")
    p.add_argument("--warmup", type=int, default=3, help="seconds of load per target before measuring")
    # One wrk thread: it keeps up with these servers and leaves the second core to them.
    p.add_argument("--wrk-threads", type=int, default=1)
    p.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432",
                   help="PostgreSQL server (no database name)")
    p.add_argument("--database", default="lianluozhan_bench", help="dropped and recreated each run")
    p.add_argument("--redis", default="redis://127.0.0.1:6379/14",
                   help="REDIS_URL for the app (the scan cache), flushed first; 'none' runs without Redis")
    p.add_argument("--keep-db", action="store_true", help="leave the database for a look afterwards")
    args = p.parse_args()
    if args.threads < 1 or args.workers < 1 or args.connections < 1 or args.duration < 1:
        p.error("workers, threads, connections and duration must be at least 1")
    return args


def count_rows(psycopg, db_url: str) -> dict[str, int]:
    tables = ["region", "station", "deputy", "deputy_seat", "station_membership", "topic_group"]
    with psycopg.connect(db_url) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


def app_env(db_url: str, redis_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env["DATABASE_URL"] = db_url
    # The scan touches no WeChat; a caller's real credentials must not leak into a benchmark
    # (without WECHAT_APP_ID the app uses the fake WeChat, never started here).
    for name in ("WECHAT_APP_ID", "WECHAT_APP_SECRET", "WECHAT_API_BASE", "REDIS_URL", "FAKE_WECHAT_AUTOSTART"):
        env.pop(name, None)
    if redis_url != "none":
        import redis

        redis.Redis.from_url(redis_url).flushdb()  # a cold cache at the start of every run
        env["REDIS_URL"] = redis_url
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def read_lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line]


# --- servers ----------------------------------------------------------------------------------

def gunicorn_config(workers: int, threads: int) -> list[str]:
    # The project's gunicorn.conf.py for both servers, named: the bare one runs with --chdir,
    # where gunicorn would not find it by itself.
    conf = ["--config", str(ROOT / "gunicorn.conf.py"), "--workers", str(workers), "--threads", str(threads),
            "--worker-class", "gthread" if threads > 1 else "sync",
            "--log-level", "warning"]
    if os.path.isdir("/dev/shm"):
        conf += ["--worker-tmp-dir", "/dev/shm"]  # heartbeat files off the (possibly slow) disk
    return conf


def server_pids(server: Server) -> set[int]:
    """A server's process and its children (a gunicorn master's workers)."""
    found = {server.proc.pid}
    for stat in proc_stats().values():
        if stat.ppid == server.proc.pid:
            found.add(stat.pid)
    return found


def check_200(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            body = response.read()
            if response.status != 200:
                raise ServerFailed(f"{url} answered {response.status}")
            json.loads(body)
            return len(body)
    except urllib.error.HTTPError as exc:
        raise ServerFailed(f"{url} answered {exc.code}: {exc.read()[:300]!r}") from None


# --- load -------------------------------------------------------------------------------------

@dataclass
class ProcStat:
    pid: int
    ppid: int
    comm: str
    ticks: int  # utime + stime
    child_ticks: int = 0  # cutime + cstime: children it has reaped (PostgreSQL's parallel workers)


def proc_stats() -> dict[int, ProcStat]:
    stats = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(entry.path, "stat").read_text()
        except OSError:
            continue  # exited meanwhile
        # comm may hold spaces and parentheses; the fields after the last ')' are fixed.
        comm = raw[raw.index("(") + 1:raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2:].split()
        stats[int(entry.name)] = ProcStat(int(entry.name), int(fields[1]), comm, int(fields[11]) + int(fields[12]),
                                          int(fields[13]) + int(fields[14]))
    return stats


def cpu_times() -> list[int]:
    # user nice system idle iowait irq softirq steal ...
    return [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]


@dataclass
class Result:
    requests: int
    seconds: float
    bytes: int
    errors: int  # connect + read + write + timeouts
    timeouts: int
    non_2xx: int  # wrk's status counter: responses with status >= 400
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    cpu: dict[str, float]  # cores used on average during the run, by who

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def bytes_per_response(self) -> float:
        return self.bytes / self.requests if self.requests else 0.0


def wrk(server: Server, paths: Path | None, connections: int, seconds: int, threads: int, out: Path,
        lua: Path = LUA, lua_env: dict[str, str] | None = None) -> dict:
    """One wrk run. `lua`/`lua_env`: another script and its settings (bench/issues.py's)."""
    threads = min(threads, connections)
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(lua),
           server.url("/")]
    env = dict(os.environ, **(lua_env or {}))
    if paths is not None:
        env["BENCH_PATHS"] = str(paths)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 60)
    out.write_text(" ".join(cmd) + "\n\n" + done.stdout + done.stderr, encoding="utf-8")
    match = re.search(r"^BENCH_RESULT (\{.*\})$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or match is None:
        raise StepFailed(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return json.loads(match.group(1))


def measure(server: Server, paths: Path | None, args, out_dir: Path, servers: list[Server],
            lua: Path = LUA, lua_env: dict[str, str] | None = None) -> Result:
    own = {s.name: server_pids(s) for s in servers}
    cpu0, procs0, kids0 = cpu_times(), proc_stats(), resource.getrusage(resource.RUSAGE_CHILDREN)
    raw = wrk(server, paths, args.connections, args.duration, args.wrk_threads, out_dir / f"wrk-{server.name}.txt",
              lua=lua, lua_env=lua_env)
    cpu1, procs1, kids1 = cpu_times(), proc_stats(), resource.getrusage(resource.RUSAGE_CHILDREN)
    # wrk has exited by now, so /proc no longer shows it: its CPU is in this process's children.
    wrk_seconds = (kids1.ru_utime + kids1.ru_stime) - (kids0.ru_utime + kids0.ru_stime)
    ms = lambda us: us / 1000.0  # noqa: E731
    return Result(
        requests=raw["requests"], seconds=raw["duration_us"] / 1e6, bytes=raw["bytes"],
        errors=raw["connect_errors"] + raw["read_errors"] + raw["write_errors"] + raw["timeouts"],
        timeouts=raw["timeouts"], non_2xx=raw["status_errors"],
        p50_ms=ms(raw["p50_us"]), p90_ms=ms(raw["p90_us"]), p99_ms=ms(raw["p99_us"]),
        max_ms=ms(raw["max_us"]), mean_ms=ms(raw["mean_us"]),
        cpu=cpu_split(cpu0, cpu1, procs0, procs1, own, wrk_seconds),
    )


def cpu_split(cpu0, cpu1, procs0, procs1, own: dict[str, set[int]], wrk_seconds: float) -> dict[str, float]:
    """Cores used on average during a run, by gunicorn server, PostgreSQL, wrk and the rest.

    Tells whether the machine was saturated and who had the CPU: the figure that says whether a
    slow scan is Python, the database, or the load generator.
    """
    wall = sum(cpu1) - sum(cpu0)  # all cores' ticks
    cores = os.cpu_count() or 1
    seconds = wall / cores / CLK_TCK
    busy = {"user": 0, "nice": 1, "system": 2, "irq": 5, "softirq": 6}
    used = sum(cpu1[i] - cpu0[i] for i in busy.values())
    steal = cpu1[7] - cpu0[7] if len(cpu1) > 7 else 0
    split = {name: 0 for name in own} | {"postgres": 0, "redis": 0, "wrk": round(wrk_seconds * CLK_TCK)}
    for pid, stat in procs1.items():
        delta = stat.ticks - (procs0[pid].ticks if pid in procs0 and procs0[pid].comm == stat.comm else 0)
        who = next((name for name, pids in own.items() if pid in pids), None)
        if who is None and stat.comm == "postgres":
            who = "postgres"
            # Parallel query workers live for one query: gone from /proc by the end of the run, their
            # CPU is in the postmaster's reaped-children time (a backend that ended mid-run would add
            # its time from before the run too; the app's pooled connections outlive a run).
            if pid in procs0 and procs0[pid].comm == stat.comm:
                delta += stat.child_ticks - procs0[pid].child_ticks
        elif who is None and stat.comm.startswith("redis-server"):
            who = "redis"  # the scan cache: part of the scan's cost, not noise
        if who is not None:
            split[who] += delta
    per_sec = lambda ticks: ticks / CLK_TCK / seconds if seconds else 0.0  # noqa: E731
    result = {name: per_sec(t) for name, t in split.items()}
    result["other"] = max(0.0, per_sec(used) - sum(result.values()))
    result["total busy"] = per_sec(used)
    result["steal"] = per_sec(steal)
    return result


# --- report -----------------------------------------------------------------------------------

def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def wrk_version() -> str:
    done = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    return (done.stdout + done.stderr).splitlines()[0].split(" Copyright")[0] if (done.stdout + done.stderr) else "wrk"


@dataclass
class Report:
    when: datetime
    args: argparse.Namespace
    gconf: list[str]
    pg_version: str
    data_size: dict[str, int]
    scenes: int
    scan_body: float
    bare_body: int
    load_before: tuple[float, float, float]
    results: dict[str, Result]
    out_dir: Path

    def render(self) -> str:
        a = self.args
        kind = f"gthread, {a.threads} threads" if a.threads > 1 else "sync"
        lines = [
            f"date           {self.when:%Y-%m-%d %H:%M} UTC",
            f"machine        {os.cpu_count()} cores ({cpu_model()}), load avg before {self.load_before[0]:.2f}"
            f" {self.load_before[1]:.2f} {self.load_before[2]:.2f}",
            f"software       Python {platform.python_version()}, {gunicorn_version()}, PostgreSQL {self.pg_version},"
            f" {wrk_version()}",
            f"gunicorn       {a.workers} workers ({kind}), same config for both servers",
            f"scan cache     {'Redis ' + a.redis + ' (cold at start; warm-up fills it)' if a.redis != 'none' else 'none (no Redis)'}",
            f"load           wrk -t{min(a.wrk_threads, a.connections)} -c{a.connections} -d{a.duration}s"
            f" (closed loop; percentiles not corrected for coordinated omission), after {a.warmup}s warm-up each",
            f"data           {self.scenes} station scenes rotated; rows: "
            + ", ".join(f"{k} {v}" for k, v in self.data_size.items()),
            f"bodies         scan {self.scan_body:.0f} B mean, bare {self.bare_body} B",
            "",
            *result_lines(self.results),
        ]
        scan, bare = self.results["scan"], self.results["bare"]
        ratio = scan.rps / bare.rps if bare.rps else 0.0
        ratio_ok = ratio >= TARGET_RATIO
        # Timed-out requests (wrk: 2 s) are not in wrk's histogram; with any, the p99 is not known.
        p99_ok = scan.p99_ms <= TARGET_P99_MS and scan.timeouts == 0
        clean = scan.errors == 0 and scan.non_2xx == 0 and bare.errors == 0 and bare.non_2xx == 0
        lines += [
            "",
            f"scan/bare throughput  {ratio:.1%}  (target >= {TARGET_RATIO:.0%}: {'met' if ratio_ok else 'NOT met'})",
            f"scan p99              {scan.p99_ms:.1f} ms  (target <= {TARGET_P99_MS:.0f} ms:"
            f" {'met' if p99_ok else 'NOT met'})",
        ]
        if not clean:
            lines.append("errors or non-2xx responses during the runs: the figures above are not a clean result")
        busy = {name: r.cpu["other"] + r.cpu["steal"] for name, r in self.results.items()}
        if max(busy.values()) > NOISE_CORES:
            lines.append("NOISY: other processes or the hypervisor took "
                         + ", ".join(f"{v:.2f} cores during {k}" for k, v in busy.items())
                         + ": both figures are low and their ratio is skewed; run again")
        lines.append(f"TARGET {'MET' if ratio_ok and p99_ok and clean else 'NOT MET'}")
        lines.append(f"raw wrk output and server logs: {self.out_dir.relative_to(ROOT)}/")
        return "\n".join(lines)


def result_lines(results: dict[str, Result]) -> list[str]:
    """The figures table and the CPU split, as printed by run.py and bench/issues.py."""
    lines = [f"{'target':<7}{'req/s':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}"
             f"{'errors':>8}{'non-2xx':>9}{'B/resp':>8}"]
    for name, r in results.items():
        lines.append(f"{name:<7}{r.rps:>9.0f}{r.p50_ms:>9.1f}{r.p90_ms:>9.1f}{r.p99_ms:>9.1f}{r.max_ms:>9.1f}"
                     f"{r.errors:>8}{r.non_2xx:>9}{r.bytes_per_response:>8.0f}")
    lines.append("")
    lines.append("CPU during each run, cores busy on average (of " f"{os.cpu_count()}):")
    for name, r in results.items():
        lines.append(f"  {name:<5} " + ", ".join(f"{k} {v:.2f}" for k, v in r.cpu.items()))
    return lines


def gunicorn_version() -> str:
    import gunicorn

    return f"gunicorn {gunicorn.__version__}"


if __name__ == "__main__":
    sys.exit(main())
