"""Benchmark: plan and send reception reminders to 100,000 deputies (issue 5's targets).

    .venv/bin/python bench/outbox.py [--deputies 100000] [--senders 2] [--threads 32] [--batch 1]
                                     [--latency-ms 50] [--keep-db]

A fresh PostgreSQL database (migrated), filled by COPY: one county, a station per ten deputies
(逢六, no rosters, so every member is on duty), each deputy bound to a WeChat user holding a
grant for the reminder template. The fake WeChat runs as its own process and answers every
subscribe/send after `--latency-ms`.

1. planning: `reminders.plan_day` for tomorrow's evening slot, timed in this process: every
   station's held days, who is on duty, one outbox row each. Target: <= 10 s.
2. baseline: the same number of threads posting subscribe/send straight to the fake (requests,
   no database): the ceiling the fake's latency and this machine allow, measured in the same run.
3. sending: `--senders` processes of `flask --app wsgi outbox send --threads N`, timed from their
   start until no message is left to send. Target: >= 500 messages/s, zero duplicates (every
   deputy's openid received exactly once by the fake).

A measurement, not a test: exits 0 whether or not the targets are met.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # the project: config, backend

from run import (
    ROOT,
    StepFailed,
    claim_machine,
    cpu_model,
    drop_database,
    free_port,
    proc_stats,
    recreate_database,
    run_step,
)

PLAN_TARGET_S = 10.0
SEND_TARGET_RPS = 500.0


def main() -> int:
    args = parse_args()
    import psycopg

    lock = claim_machine(args.database)
    if lock is None:
        return 2
    admin_url = f"{args.pg}/postgres"
    db_url = f"{args.pg}/{args.database}"
    sa_url = db_url.replace("postgresql://", "postgresql+psycopg://")
    processes: list[subprocess.Popen] = []
    try:
        version = recreate_database(psycopg, admin_url, args.database)
        env = bench_env(sa_url)
        run_step(["db", "upgrade"], env, "migrations")
        seeded = time.perf_counter()
        seed(psycopg, db_url, args.deputies)
        seeded = time.perf_counter() - seeded

        port = free_port()
        fake = subprocess.Popen([sys.executable, "-m", "backend.wechat.fake_server", "--port", str(port)], cwd=ROOT,
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        processes.append(fake)
        base = f"http://127.0.0.1:{port}/"
        wait_for(base)
        env["WECHAT_API_BASE"] = base

        planned, plan_s = plan(env, sa_url)
        baseline_rps = baseline(base, args.senders * args.threads, min(planned, 5000), args.latency_ms)
        control(base, "reset", {})
        control(base, "delay", {"path": "cgi-bin/message/subscribe/send", "seconds": args.latency_ms / 1000,
                                "times": 10**9})

        send_env = {**env, "OUTBOX_CLAIM_BATCH": str(args.batch)}
        started = time.perf_counter()
        stats0 = proc_stats()
        senders = [subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "outbox", "send",
                                     "--threads", str(args.threads)], cwd=ROOT, env=send_env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                   for _ in range(args.senders)]
        processes.extend(senders)
        states = wait_until_sent(psycopg, db_url, senders)
        send_s = time.perf_counter() - started
        stats1 = proc_stats()
        cpu = {f"sender {n}": cpu_seconds(stats0, stats1, p.pid) for n, p in enumerate(senders)}
        cpu["fake WeChat"] = cpu_seconds(stats0, stats1, fake.pid)
        cpu["PostgreSQL"] = sum(cpu_seconds(stats0, stats1, pid) for pid, s in stats1.items() if s.comm == "postgres")
        received = json.loads(urllib.request.urlopen(base + "__fake__/messages", timeout=60).read())
        per_user = Counter(m["touser"] for m in received)
        duplicates = sum(n - 1 for n in per_user.values() if n > 1)

        send_rps = states.get("sent", 0) / send_s
        lines = [
            f"machine: {cpu_model()}, {os.cpu_count()} cores; PostgreSQL {version}",
            f"deputies: {args.deputies:,} (seeded in {seeded:.1f} s), stations: {args.deputies // 10:,}",
            (f"fake WeChat latency: {args.latency_ms} ms a call; senders: {args.senders} x {args.threads} "
             f"threads, claim batch {args.batch}"),
            "",
            f"planning:  {planned:,} messages in {plan_s:.2f} s   target <= {PLAN_TARGET_S:.0f} s: "
            + ("met" if plan_s <= PLAN_TARGET_S else f"NOT met ({plan_s - PLAN_TARGET_S:.1f} s over)"),
            f"baseline:  {baseline_rps:,.0f} calls/s straight to the fake from {args.senders * args.threads} threads",
            f"sending:   {states.get('sent', 0):,} sent in {send_s:.1f} s = {send_rps:,.0f} messages/s "
            f"({send_rps / baseline_rps:.0%} of baseline)   target >= {SEND_TARGET_RPS:.0f}/s: "
            + ("met" if send_rps >= SEND_TARGET_RPS else f"NOT met ({SEND_TARGET_RPS - send_rps:.0f}/s short)"),
            f"outcomes:  {dict(sorted(states.items()))}",
            f"received:  {len(received):,} messages for {len(per_user):,} users; duplicates: {duplicates}",
            "cpu seconds while sending: " + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items()),
        ]
        print("\n".join(lines))
        for sender in senders:
            sender.terminate()
        for sender in senders:
            _, err = sender.communicate(timeout=30)
            if sender.returncode not in (0, -15):
                print(f"sender exited {sender.returncode}:\n{err[-2000:]}", file=sys.stderr)
        return 0
    except StepFailed as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        if not args.keep_db:
            drop_database(psycopg, admin_url, args.database)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deputies", type=int, default=100_000)
    parser.add_argument("--senders", type=int, default=2, help="sender processes")
    parser.add_argument("--threads", type=int, default=32, help="threads (calls in flight) per sender")
    parser.add_argument("--batch", type=int, default=1, help="OUTBOX_CLAIM_BATCH")
    parser.add_argument("--latency-ms", type=int, default=50, help="the fake WeChat's answer time")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="lianluozhan_bench_outbox")
    parser.add_argument("--keep-db", action="store_true")
    return parser.parse_args()


def bench_env(sa_url: str) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("WECHAT_APP_ID", "WECHAT_APP_SECRET", "WECHAT_API_BASE", "REDIS_URL", "FAKE_WECHAT_AUTOSTART"):
        env.pop(name, None)
    env.update(DATABASE_URL=sa_url, PYTHONDONTWRITEBYTECODE="1")
    return env


def seed(psycopg, db_url: str, deputies: int) -> None:
    """COPY the county in: the reminder template's development id is what the app plans with."""
    from config import FAKE_TEMPLATE_IDS

    stations = max(1, deputies // 10)
    template_id = FAKE_TEMPLATE_IDS["reception_reminder"]
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO reception_rule (id, kind, days, label, is_default) "
                     "VALUES (1, 'monthly_days', '[6, 16, 26]', '逢六（每月6日、16日、26日）', true) "
                     "ON CONFLICT (id) DO UPDATE SET is_default = true")
        conn.execute("UPDATE reception_rule SET is_default = (id = 1)")
        conn.execute("INSERT INTO region (id, code, name, level) VALUES (1, '330523000000', '安吉县', 'county')")
        _copy(conn, "station (id, scene, name, kind, address, lat, lng, region_id, opens_at, closes_at, is_active, "
                    "created_at)",
              (f"{n}\tb{n}\t基准联络站{n}\tcommunity\t基准路{n}号\t30.6\t119.6\t1\t09:00\t17:00\tt\tnow"
               for n in range(1, stations + 1)))
        _copy(conn, "app_user (id, openid, token_version, is_active, created_at)",
              (f"{n}\tbench-dep-{n}\t1\tt\tnow" for n in range(1, deputies + 1)))
        _copy(conn, "deputy (id, name, user_id, created_at)",
              (f"{n}\t代表{n}\t{n}\tnow" for n in range(1, deputies + 1)))
        _copy(conn, "station_membership (station_id, deputy_id, started_on, is_leader)",
              (f"{(n - 1) % stations + 1}\t{n}\t2022-01-01\tf" for n in range(1, deputies + 1)))
        _copy(conn, "subscription_grant (user_id, template_id, available, accepted_total, used_total, last_status, "
                    "updated_at)",
              (f"{n}\t{template_id}\t1\t1\t0\taccept\tnow" for n in range(1, deputies + 1)))
        for table in ("station", "app_user", "deputy", "region", "reception_rule"):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        conn.execute("ANALYZE")


def _copy(conn, target: str, lines) -> None:
    with conn.cursor().copy(f"COPY {target} FROM STDIN") as copy:
        buffer = io.StringIO()
        for line in lines:
            buffer.write(line + "\n")
        copy.write(buffer.getvalue())


def plan(env: dict[str, str], sa_url: str) -> tuple[int, float]:
    """Plan tomorrow's evening reminders in this process, as the job does, and time it."""
    os.environ.update({k: v for k, v in env.items() if k in ("DATABASE_URL", "WECHAT_API_BASE")})
    from backend import clock, create_app
    from backend.services.duty import reminders
    from models import db

    app = create_app()
    with app.app_context():
        day = next(d for d in (clock.beijing_today() + timedelta(n) for n in range(1, 40)) if d.day in (6, 16, 26))
        started = time.perf_counter()
        planned = reminders.plan_day(day, reminders.SLOTS[0])
        db.session.commit()
        return planned, time.perf_counter() - started


def baseline(base: str, threads: int, calls: int, latency_ms: int) -> float:
    """Calls/s posting subscribe/send straight to the fake from `threads` threads."""
    import requests

    from config import FAKE_TEMPLATE_IDS

    control(base, "reset", {})
    control(base, "delay", {"path": "cgi-bin/message/subscribe/send", "seconds": latency_ms / 1000, "times": 10**9})
    token = json.loads(_post(base + "cgi-bin/stable_token", {
        "grant_type": "client_credential", "appid": _fake_app()[0], "secret": _fake_app()[1]}))["access_token"]
    body = {"template_id": FAKE_TEMPLATE_IDS["reception_reminder"], "data": {
        "thing1": {"value": "基准联络站"}, "date2": {"value": "2027年1月6日"}, "thing3": {"value": "基准路1号"},
        "thing4": {"value": "请按时到站"}}}
    counter = iter(range(calls))
    lock = threading.Lock()

    def work():
        session = requests.Session()
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                return
            session.post(f"{base}cgi-bin/message/subscribe/send?access_token={token}",
                         json={**body, "touser": f"baseline-{n}"}, timeout=10).raise_for_status()

    started = time.perf_counter()
    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return calls / (time.perf_counter() - started)


def wait_until_sent(psycopg, db_url: str, senders) -> dict[str, int]:
    with psycopg.connect(db_url, autocommit=True) as conn:
        while True:
            # Cheap (an index probe): counting all rows every tenth of a second took a third of a core.
            busy = conn.execute("SELECT EXISTS (SELECT 1 FROM outbox_message "
                                "WHERE state IN ('pending', 'sending'))").fetchone()[0]
            if not busy:
                return dict(conn.execute("SELECT state, count(*) FROM outbox_message GROUP BY state").fetchall())
            for sender in senders:
                if sender.poll() is not None:
                    raise StepFailed(f"a sender died:\n{sender.stderr.read()[-3000:]}")
            time.sleep(0.1)


def cpu_seconds(before, after, pid: int) -> float:
    import run

    if pid not in after:
        return float("nan")
    start = before.get(pid)
    ticks = after[pid].ticks - (start.ticks if start else 0)
    return ticks / run.CLK_TCK


def _fake_app() -> tuple[str, str]:
    from config import FAKE_WECHAT_APP_ID, FAKE_WECHAT_APP_SECRET

    return FAKE_WECHAT_APP_ID, FAKE_WECHAT_APP_SECRET


def control(base: str, name: str, body: dict) -> None:
    _post(f"{base}__fake__/{name}", body)


def _post(url: str, body: dict) -> bytes:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    return urllib.request.urlopen(request, timeout=30).read()


def wait_for(base: str) -> None:
    for _ in range(100):
        try:
            urllib.request.urlopen(base + "__fake__/stats", timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    raise StepFailed("the fake WeChat did not start")


if __name__ == "__main__":
    sys.exit(main())
