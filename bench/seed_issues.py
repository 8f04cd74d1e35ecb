"""Bulk data for bench/issues.py: resident users, a year of issues, deputies bound to users, tokens.

    python bench/seed_issues.py --out DIR [--residents 2000] [--issues 100000] [--deputies 20]

Run by bench/issues.py with the bench environment (DATABASE_URL of the bench database), after
`db upgrade` and `seed-demo`. Rows go in with PostgreSQL COPY through the app's own engine; tokens
are minted with `backend.auth.issue_token` in an app context, exactly as sign-in mints them. Writes
to DIR: `residents.txt` and `deputies.txt` (one bearer token a line: secrets, keep DIR private),
`scenes.txt`, `categories.txt` and `summary.json`.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BEIJING = timezone(timedelta(hours=8))

# Status mix of a year of issues: most long closed, a steady share still open.
STATUS_MIX = [
    ("closed", 40), ("resolved", 8), ("replied", 14), ("transferred", 5), ("accepted", 10),
    ("submitted", 12), ("rejected", 5), ("reopened", 2), ("pending_review", 4),
]
CONTENTS = [
    "小区门口的路灯坏了好几天，晚上出行很不方便，希望尽快修理。",
    "建议在菜市场附近增设公交站点，方便老年人出行。",
    "村里的垃圾清运不及时，夏天气味很大，请协调环卫部门。",
    "学校门口早晚高峰拥堵严重，建议增派交警或志愿者疏导。",
    "希望社区卫生服务中心延长周末的门诊时间。",
    "老旧小区加装电梯的补贴政策能否再详细解释一下？",
]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--residents", type=int, default=2000)
    p.add_argument("--issues", type=int, default=100_000)
    p.add_argument("--deputies", type=int, default=20, help="deputies bound to a user, each with a token")
    p.add_argument("--seed", type=int, default=2026)
    args = p.parse_args()

    from backend.auth import issue_token
    from backend.crypto import encrypt_text, mask_phone
    from models import User, db
    from wsgi import app

    rng = random.Random(args.seed)
    now = datetime.now(timezone.utc)
    with app.app_context():
        raw = db.engine.raw_connection()
        conn = raw.driver_connection  # psycopg 3
        today = now.astimezone(BEIJING).date()
        stations = conn.execute("SELECT id, scene FROM station ORDER BY id").fetchall()
        categories = conn.execute("SELECT id, name FROM category WHERE is_active ORDER BY sort_order, id").fetchall()
        members: dict[int, list[int]] = defaultdict(list)
        for station_id, deputy_id in conn.execute(
                "SELECT m.station_id, m.deputy_id FROM station_membership m JOIN deputy d ON d.id = m.deputy_id"
                " WHERE m.started_on <= %s AND (m.ended_on IS NULL OR m.ended_on >= %s) AND d.retired_at IS NULL"
                " ORDER BY m.id", (today, today)):
            members[station_id].append(deputy_id)

        # Residents: WeChat users with an openid and nothing else.
        with conn.cursor().copy("COPY app_user (openid, token_version, is_active, created_at) FROM STDIN") as cp:
            for i in range(args.residents):
                cp.write_row((f"bench-resident-{i:05d}", 1, True, now - timedelta(days=400)))
        residents = [r[0] for r in conn.execute(
            "SELECT id FROM app_user WHERE openid LIKE 'bench-resident-%' ORDER BY id")]

        # Deputies bound to WeChat users: one per station first, so the inbox load spans stations.
        chosen: list[int] = []
        for station_id, _scene in stations:
            for deputy_id in members.get(station_id, []):
                if deputy_id not in chosen:
                    chosen.append(deputy_id)
                    break
            if len(chosen) >= args.deputies:
                break
        deputy_users = []
        for n, deputy_id in enumerate(chosen):
            uid = conn.execute(
                "INSERT INTO app_user (openid, token_version, is_active, created_at) VALUES (%s, 1, true, %s)"
                " RETURNING id", (f"bench-deputy-{n:03d}", now - timedelta(days=400))).fetchone()[0]
            conn.execute("UPDATE deputy SET user_id = %s WHERE id = %s", (uid, deputy_id))
            deputy_users.append(uid)

        # Issues over the last year, none in the last day: the submissions' rate limit (10 an hour per
        # user) and today's tracking numbers start clean.
        statuses = [s for s, w in STATUS_MIX for _ in range(w)]
        start = now - timedelta(days=365)
        span = (now - timedelta(days=1) - start).total_seconds()
        created = sorted(start + timedelta(seconds=rng.random() * span) for _ in range(args.issues))
        per_day: dict[date, int] = defaultdict(int)
        counts: dict[str, int] = defaultdict(int)
        ratings, events = [], []
        with conn.cursor().copy(
                "COPY issue (id, no, station_id, category_id, content, submitter_id, is_anonymous,"
                " contact_phone_encrypted, contact_phone_masked, contact_phone_shared, addressed_deputy_id, assigned_deputy_id,"
                " escalated_to_manager, status, content_check, content_check_trace_id, unsatisfied_count,"
                " resolution_round, created_at, accepted_at, first_response_at, resolved_at, closed_at,"
                " accept_due_on, reply_due_on, deadline_estimated, resolution_summary, reject_reason)"
                " FROM STDIN") as cp:
            for issue_id, at in enumerate(created, start=1):
                day = at.astimezone(BEIJING).date()
                per_day[day] += 1
                station_id = rng.choice(stations)[0]
                deputies = members.get(station_id) or [None]
                status = rng.choice(statuses)
                counts[status] += 1
                addressed = rng.choice(deputies) if rng.random() < 0.15 else None
                assigned = None if status in ("submitted", "pending_review", "rejected") else (
                    addressed or rng.choice(deputies))
                accepted_at = at + timedelta(hours=rng.uniform(2, 72)) if assigned else None
                replied = status in ("replied", "transferred", "resolved", "closed", "reopened")
                first_response = accepted_at + timedelta(hours=rng.uniform(1, 120)) if replied else None
                resolved_at = first_response + timedelta(days=rng.uniform(1, 20)) if status in (
                    "resolved", "closed") else None
                closed_at = resolved_at + timedelta(days=rng.uniform(0, 7)) if status == "closed" else None
                rounds = 1 if status in ("resolved", "closed", "reopened") else 0
                # A third leave their phone, encrypted at rest as submission stores it.
                phone = f"138{rng.randrange(10 ** 8):08d}" if rng.random() < 0.3 else None
                cp.write_row((
                    issue_id, f"{day:%Y%m%d}-{per_day[day]:06d}", station_id, rng.choice(categories)[0],
                    rng.choice(CONTENTS) + f"（{issue_id}）", rng.choice(residents), rng.random() < 0.1,
                    encrypt_text(phone) if phone else None, mask_phone(phone) if phone else None,
                    phone is not None and rng.random() < 0.5,
                    addressed, assigned, False, status,
                    "review" if status == "pending_review" else "pass", f"bench-{issue_id:08x}",
                    1 if status == "reopened" else 0, rounds, at, accepted_at, first_response, resolved_at,
                    closed_at, day + timedelta(days=7), (day + timedelta(days=21)) if assigned else None, False,
                    "已协调有关部门处理完毕。" if resolved_at else None,
                    "不属于本站受理范围。" if status == "rejected" else None,
                ))
                events.append((issue_id, at, status))
                if status == "closed":
                    ratings.append((issue_id, rng.choice(["satisfied", "satisfied", "basically_satisfied"]), closed_at))
        with conn.cursor().copy("COPY issue_event (issue_id, kind, from_status, to_status, actor_role, created_at)"
                                " FROM STDIN") as cp:
            for issue_id, at, status in events:
                cp.write_row((issue_id, "submitted", None,
                              "pending_review" if status == "pending_review" else "submitted", "resident", at))
        with conn.cursor().copy("COPY rating (issue_id, resolution_round, score, created_at) FROM STDIN") as cp:
            for issue_id, score, at in ratings:
                cp.write_row((issue_id, 1, score, at))
        with conn.cursor().copy("COPY issue_number_counter (day, last) FROM STDIN") as cp:
            for day, last in per_day.items():
                cp.write_row((day, last))
        conn.execute("SELECT setval(pg_get_serial_sequence('issue', 'id'), (SELECT max(id) FROM issue))")
        conn.commit()
        conn.autocommit = True
        # What autovacuum does to a table after a bulk load, done now rather than mid-run: the
        # statistics, and the visibility map that lets counts read the index alone.
        conn.execute("VACUUM ANALYZE")
        raw.close()

        # Tokens, minted as sign-in mints them.
        args.out.mkdir(parents=True, exist_ok=True)
        users = {u.id: u for u in db.session.scalars(db.select(User).where(User.id.in_(residents + deputy_users)))}
        (args.out / "residents.txt").write_text("".join(issue_token(users[i])[0] + "\n" for i in residents))
        (args.out / "deputies.txt").write_text("".join(issue_token(users[i])[0] + "\n" for i in deputy_users))
        (args.out / "scenes.txt").write_text("".join(s + "\n" for _, s in stations), encoding="utf-8")
        (args.out / "categories.txt").write_text("".join(n + "\n" for _, n in categories), encoding="utf-8")

        # How big each bound deputy's inbox is (the same service as GET /deputy/inbox).
        from backend.auth import caller_for
        from backend.services.issues.inbox import deputy_inbox
        inbox = []
        for user_id in deputy_users:
            caller = caller_for(users[user_id])
            inbox.append(deputy_inbox(caller.deputy_id, caller.deputy_station_ids, None, 1, 1)[1])
        db.session.rollback()
        summary = {"residents": len(residents), "issues": args.issues, "statuses": dict(counts),
                   "ratings": len(ratings), "stations": len(stations), "categories": len(categories),
                   "deputies": len(chosen), "inbox_sizes": inbox,
                   "deputy_ids": chosen}
        (args.out / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
