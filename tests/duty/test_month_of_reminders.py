"""A month of reception days end to end, on PostgreSQL, with real processes: two schedulers and
two senders (`flask --app wsgi scheduler run`, `outbox send`) against the fake WeChat, on a
clock running 4 hours a second. One scheduler is killed while it leads, one sender between a
WeChat call and its commit. Every reminder due must reach WeChat once and none twice; the killed
send counts `unknown`; a refused user (43101) is asked once; the day WeChat's quota runs out
(45009) the rest go the next morning.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import date, datetime, timedelta

import pytest

from backend import clock
from backend.wechat import templates
from config import PROJECT_ROOT
from models import (
    JobRun,
    OutboxMessage,
    OutboxState,
    SchedulerLease,
    StationFollow,
    SubscriptionGrant,
    User,
    db,
)
from tests.factories import create_deputy, create_region_tree, create_station

pytestmark = pytest.mark.postgres

BJ = clock.BEIJING
START = datetime(2027, 1, 5, 12, 0, tzinfo=BJ)
END = datetime(2027, 1, 26, 13, 0, tzinfo=BJ)
SPEED = 4 * 3600  # four hours a second: the month in about two minutes
RECEPTION_DAYS = [date(2027, 1, 6), date(2027, 1, 16), date(2027, 1, 26)]
QUOTA_DAY = date(2027, 1, 15)  # the evening before the 16th
DEFERRED = 3
REFUSED = "month-dep-0-0"
S = OutboxState


def _county() -> dict[str, list[str]]:
    """Three 逢六 stations with four bound deputies each and two followers each (one resident
    follows two stations). Returns each station's recipients' openids."""
    regions = create_region_tree()
    recipients: dict[str, list[str]] = {}
    users: list[User] = []
    shared = User(openid="month-res-shared")
    db.session.add(shared)
    stations = [create_station(regions["township"], name=f"月测联络站{n}") for n in range(3)]
    for n, station in enumerate(stations):
        openids = []
        for m in range(4):
            deputy = create_deputy(stations=[station])
            user = User(openid=f"month-dep-{n}-{m}")
            db.session.add(user)
            db.session.flush()
            deputy.user_id = user.id
            users.append(user)
            openids.append(user.openid)
        follower = User(openid=f"month-res-{n}")
        db.session.add(follower)
        db.session.flush()
        users.append(follower)
        followers = [follower] + ([shared] if n < 2 else [])
        for user in followers:
            db.session.add(StationFollow(user_id=user.id, station_id=station.id))
        openids += [u.openid for u in followers]
        recipients[station.name] = openids
    db.session.flush()
    users.append(shared)
    template_id = templates.template_id("reception_reminder")
    for user in users:
        # Each reminder uses a one-time grant: enough for the month.
        db.session.add(SubscriptionGrant(user_id=user.id, template_id=template_id, available=20,
                                         accepted_total=20, last_status="accept"))
    db.session.commit()
    return recipients


def _spawn(args: list[str], env: dict, log_path) -> subprocess.Popen:
    with open(log_path, "w") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=PROJECT_ROOT,
                                env=env, stdout=log, stderr=subprocess.STDOUT)


def _sim_now(origin: float) -> datetime:
    return START + timedelta(seconds=(time.time() - origin) * SPEED)


def _holder_pid() -> int | None:
    db.session.expire_all()
    lease = db.session.get(SchedulerLease, "scheduler")
    return int(lease.holder.rsplit(":", 1)[1]) if lease else None


def test_a_month_of_reception_days(app, fake_wechat, database_url, tmp_path):
    with app.app_context():
        recipients = _county()
        calls_per_slot = sum(len(v) for v in recipients.values()) - 1  # the refused one is asked once
        template_id = templates.template_id("reception_reminder")
    origin = time.time() + 4.0  # the timeline starts once the processes are up
    fake_wechat.configure(clock={"start": START.isoformat(), "speed": SPEED, "origin": origin})
    fake_wechat.quota(template_id, calls_per_slot - DEFERRED, day=QUOTA_DAY.isoformat())
    fake_wechat.refuse(REFUSED)
    marker = tmp_path / "paused-sender"
    env = {
        **os.environ,
        "DATABASE_URL": database_url, "WECHAT_API_BASE": fake_wechat.base_url, "FAKE_WECHAT_AUTOSTART": "0",
        "CLOCK_START": START.isoformat(), "CLOCK_SPEED": str(SPEED), "CLOCK_ORIGIN": str(origin),
        "SCHEDULER_TICK_SECONDS": "0.25", "SCHEDULER_STANDBY_POLL_SECONDS": "0.25",
        # Three wall-clock seconds: long past any live call, soon enough for the test.
        "OUTBOX_STALE_CLAIM_SECONDS": str(3 * SPEED),
        "WECHAT_TIMEOUT_SECONDS": "2",
    }
    env.pop("REDIS_URL", None)
    processes = {
        "scheduler-a": _spawn(["scheduler", "run"], env, tmp_path / "scheduler-a.log"),
        "scheduler-b": _spawn(["scheduler", "run"], env, tmp_path / "scheduler-b.log"),
        "sender-a": _spawn(["outbox", "send", "--threads", "1"],
                           {**env, "OUTBOX_FAULT_HOOK": f"pause-after-call:5:{marker}"}, tmp_path / "sender-a.log"),
        "sender-b": _spawn(["outbox", "send", "--threads", "4"], env, tmp_path / "sender-b.log"),
    }
    killed: dict[str, tuple[int, datetime]] = {}
    try:
        with app.app_context():
            while _sim_now(origin) < END:
                killed_pids = {pid for pid, _ in killed.values()}
                for name, process in processes.items():
                    assert process.poll() is None or process.pid in killed_pids, \
                        f"{name} died: {(tmp_path / f'{name}.log').read_text()}"
                if marker.exists() and "sender-a" not in killed:
                    processes["sender-a"].send_signal(signal.SIGKILL)
                    killed["sender-a"] = (processes["sender-a"].pid, _sim_now(origin))
                if _sim_now(origin) > datetime(2027, 1, 10, tzinfo=BJ) and "scheduler" not in killed:
                    pid = _holder_pid()
                    leader = next(p for p in processes.values() if p.pid == pid)
                    leader.send_signal(signal.SIGKILL)
                    killed["scheduler"] = (pid, _sim_now(origin))
                time.sleep(0.05)
            # Let the survivors finish what is due (and the reaper call the killed send unknown).
            deadline = time.time() + 20
            while time.time() < deadline:
                db.session.expire_all()
                busy = db.session.scalar(db.select(db.func.count()).select_from(OutboxMessage).where(
                    OutboxMessage.state.in_([S.pending, S.sending, S.deferred])))
                if not busy:
                    break
                time.sleep(0.2)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    assert set(killed) == {"sender-a", "scheduler"}, f"not both faults were played: {killed}"
    with app.app_context():
        rows = list(db.session.scalars(db.select(OutboxMessage)))
        states = Counter(r.state for r in rows)
        # Every reminder due: each recipient, each reception day, evening and morning.
        expected = Counter()
        for openids in recipients.values():
            for openid in openids:
                for day in RECEPTION_DAYS:
                    expected[(openid, templates.date_value(day))] += 2
        received = Counter((m["touser"], m["data"]["date2"]["value"]) for m in fake_wechat.messages()
                           if m["template_id"] == template_id)
        refused = {k: v for k, v in expected.items() if k[0] == REFUSED}
        for key in refused:
            del expected[key]
        assert received == expected, "missing or duplicated reminders"
        # The refused user: asked once (43101), never again.
        refused_calls = [c for c in fake_wechat.calls("cgi-bin/message/subscribe/send")
                         if (c["json"] or {}).get("touser") == REFUSED]
        assert len(refused_calls) == 1
        assert states[S.no_grant] == sum(refused.values())
        # The send killed between its call and its commit: received, counted unknown, not resent.
        unknown = [r for r in rows if r.state == S.unknown]
        assert len(unknown) == 1 and received[(unknown[0].openid, unknown[0].data["date2"]["value"])] >= 1
        # The quota day: three went the next morning.
        deferred = [r for r in rows if r.last_errcode == 45009]
        assert len(deferred) == DEFERRED
        assert all(r.state == S.sent and r.sent_at >= datetime(2027, 1, 16, 8, 0, tzinfo=BJ) for r in deferred)
        assert states[S.sent] == len(rows) - states[S.no_grant] - 1
        # The surviving scheduler took over: it ran jobs after the leader died, the dead one none.
        dead_pid, killed_at = killed["scheduler"]
        runners = Counter(r.runner.rsplit(":", 1)[1] for r in db.session.scalars(
            db.select(JobRun).where(JobRun.started_at > killed_at + timedelta(hours=1))))
        assert str(dead_pid) not in runners and runners
