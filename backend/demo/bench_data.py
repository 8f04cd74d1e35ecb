"""`flask --app wsgi bench-data --scale county|province [--issues N]`: realistic data in bulk,
for benchmarks and for trying the console at scale. PostgreSQL only (COPY), into a migrated,
empty database.

What it writes, by scale (`SCALES`):
- regions (province → cities → counties → townships) with division codes; the 逢六 rule;
- stations, a center (代表联络站) per township and community stations under it, with GCJ-02
  coordinates clustered as places are: counties across Zhejiang, townships around their county
  seat, stations around their township's centre;
- deputies at five levels (township deputies at their home station, county and higher at their
  township's center), seats and memberships, each bound to a WeChat user (so deputies can sign in);
  phones encrypted with the app's data key, as the app stores them;
- residents; staff: `province-admin`, `city-admin`, `county-admin` (region admins) and
  `station-manager` (the first township's stations), all with BENCH_PASSWORD;
- a year of issues (statuses by age, busier and quieter stations, categories by weight) with
  their timelines: events for each step, deputies' replies, transfers, ratings;
- published 逢六 rosters for 13 months, check-ins for ~85% of past duty days, leave, 接待登记;
- the roll-ups of the year (`rollups.roll_up_days`), so dashboards read as in production.

Fast by construction: COPY, foreign-key triggers off for the session (rows are consistent by
construction), secondary indexes dropped and built once after the load, then VACUUM ANALYZE.
"""
from __future__ import annotations

import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime, timedelta

from flask import current_app
from sqlalchemy.engine import make_url

from backend import clock
from backend.services.accounts.signin import hash_password

BENCH_PASSWORD = "Bench-console-1"  # a benchmark's staff accounts; never a real deployment's
# Bumped whenever the rows written change: benchmarks rebuild a database they kept from before.
GENERATOR_VERSION = 3


@dataclass(frozen=True)
class Sizes:
    cities: int
    counties: int
    townships: int
    stations: int
    deputies: int
    residents: int
    issues: int


# A province as the issue sizes it (Zhejiang: 11 cities, 90 county-level divisions, ~1,300
# townships and streets); a county as a large one runs (15 townships, 200 stations).
SCALES = {
    "county": Sizes(cities=1, counties=1, townships=15, stations=200, deputies=2_300, residents=20_000,
                    issues=50_000),
    "province": Sizes(cities=11, counties=90, townships=1_300, stations=13_000, deputies=150_000,
                      residents=100_000, issues=1_000_000),
}

CITY_NAMES = ("杭州市", "宁波市", "温州市", "嘉兴市", "湖州市", "绍兴市", "金华市", "衢州市", "舟山市", "台州市", "丽水市")
SURNAMES = "王李张陈刘杨黄赵吴周徐孙朱胡沈钱潘何俞汪施姚程许章叶蒋吕郑邵方金丁严范陆鲍宋夏余费凌庞任"
GIVEN = "建国明伟强军华平林荣海忠杰斌峰勇良春新文志宏永福金根德卫东涛坚浩宇凯晨俊磊秀英芳丽敏静燕红玲萍霞娟梅琴慧婷雅蕾晓琳洁佳颖月美兰凤雪瑶莉"
CONTENTS = (
    "小区门口的路灯坏了好几天，晚上出行很不方便，希望尽快修理。",
    "建议在菜市场附近增设公交站点，方便老年人出行。",
    "村里的垃圾清运不及时，夏天气味很大，请协调环卫部门。",
    "学校门口早晚高峰拥堵严重，建议增派交警或志愿者疏导。",
    "希望社区卫生服务中心延长周末的门诊时间。",
    "老旧小区加装电梯的补贴政策能否再详细解释一下？",
    "河道里漂浮垃圾较多，建议加强日常保洁。",
    "农村道路年久失修，雨天坑洼积水，请列入改造计划。",
)
REPLIES = (
    "您反映的问题已收到，我已与街道和有关部门沟通，近期安排处理，请留意后续进展。",
    "感谢您的建议，已在代表接待日上提出，相关部门表示将纳入今年的工作计划。",
    "经了解，该事项已列入改造项目，预计下月开工，届时会在社区公告。",
)
# Issue status by age: recent issues are still being handled, a year's are mostly closed, and a
# few older ones are overdue (submitted, accepted without an answer, transferred past its date).
STATUS_BY_AGE = (
    (7, {"submitted": 28, "pending_review": 3, "accepted": 25, "replied": 14, "transferred": 4, "resolved": 12,
         "closed": 10, "rejected": 4}),
    (30, {"submitted": 3, "pending_review": 1, "accepted": 8, "replied": 14, "transferred": 5, "resolved": 22,
          "closed": 41, "rejected": 5, "reopened": 1}),
    (10**6, {"submitted": 0.1, "pending_review": 0.1, "accepted": 0.4, "replied": 2.5, "transferred": 0.8,
             "resolved": 6, "closed": 84, "rejected": 5.6, "reopened": 0.5}),
)
CATEGORY_WEIGHTS = (22, 18, 12, 8, 9, 10, 11, 5, 5)  # 城乡建设 … 其他, in the migration's order
LEVELS = (("national", 0.002), ("provincial", 0.006), ("municipal", 0.035), ("county", 0.25), ("township", 1.0))
CONGRESS = {"national": ("全国人民代表大会", 14, date(2023, 3, 5)),
            "provincial": ("浙江省人民代表大会", 14, date(2023, 1, 13)),
            "municipal": ("市人民代表大会", 9, date(2022, 1, 6)),
            "county": ("县人民代表大会", 18, date(2021, 12, 28)),
            "township": ("镇人民代表大会", 18, date(2021, 12, 15))}
# Tables loaded in bulk: their secondary indexes are dropped for the load and built after.
BULK_TABLES = ("issue", "issue_event", "reply", "rating", "transfer", "duty_assignment", "check_in", "deputy",
               "deputy_seat", "station_membership", "reception_record", "deputy_leave", "app_user")


class NotEmpty(RuntimeError):
    """The database already holds stations: bench data goes only into an empty one."""


def sizes_for(scale: str, issues: int | None = None) -> Sizes:
    sizes = SCALES[scale]
    return replace(sizes, issues=issues) if issues is not None else sizes


def _copy(conn, target: str, rows: Iterable) -> int:
    count = 0
    with conn.cursor().copy(f"COPY {target} FROM STDIN") as cp:
        for row in rows:
            cp.write_row(row)
            count += 1
    return count


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.75 else "")


def _libpq_url() -> str:
    url = make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() != "postgresql":
        raise RuntimeError("bench-data 只支持 PostgreSQL（批量导入用 COPY）：请把 DATABASE_URL 指向 PostgreSQL")
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def generate(sizes: Sizes, *, seed: int = 2026, roll_up: bool = True,
             progress: Callable[[str], None] = lambda line: None) -> dict:
    """Fill the app's (empty, migrated) PostgreSQL database. Returns row counts and seconds per phase.

    :raise NotEmpty: the database already has stations.
    :raise RuntimeError: the database is not PostgreSQL.
    """
    import psycopg

    rng = random.Random(seed)
    url = _libpq_url()
    phases: dict[str, float] = {}
    started = [time.perf_counter()]

    def phase(name: str) -> None:
        now_s = time.perf_counter()
        phases[name] = round(now_s - started[0], 1)
        started[0] = now_s
        progress(f"{name}: {phases[name]:.1f} s")

    with psycopg.connect(url) as conn:
        if conn.execute("SELECT EXISTS (SELECT 1 FROM station)").fetchone()[0]:
            raise NotEmpty("数据库里已有联络站：bench-data 只写入空库（先 dropdb/createdb 再 db upgrade）")
        conn.execute("SET session_replication_role = replica")
        conn.execute("SET maintenance_work_mem = '512MB'")
        indexes = conn.execute(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i"
            " WHERE i.indrelid::regclass::text = ANY(%s)"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
            (list(BULK_TABLES),)).fetchall()
        for name, _definition in indexes:
            conn.execute(f"DROP INDEX {name}")
        counts = _Writer(conn, sizes, rng, phase).write()
        for table in ("region", "station", "app_user", "deputy", "issue", "reception_rule", "reply", "duty_roster"):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        for _name_, definition in indexes:
            conn.execute(definition)
        conn.commit()
        phase("secondary indexes")
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
        phase("vacuum analyze")
    if roll_up:
        from backend.services.reporting import rollups

        today = clock.beijing_today()
        counts["station_day_figures"] = rollups.roll_up_days(
            [today - timedelta(days=n) for n in range(365, -1, -1)], today=today)
        phase("roll-ups of the year")
    return {"sizes": asdict(sizes), "seed": seed, "counts": counts, "phases": phases}


class _Writer:
    """One generation: ids are assigned here, in order, so rows can refer to each other before
    the database has seen them."""

    def __init__(self, conn, sizes: Sizes, rng: random.Random, phase: Callable[[str], None]):
        self.conn, self.sizes, self.rng, self.phase = conn, sizes, rng, phase
        self.now = clock.now()
        self.today = clock.beijing_today()
        self.created = self.now - timedelta(days=900)
        self.counts: dict[str, int] = {}

    def write(self) -> dict[str, int]:
        self.regions_and_stations()
        self.people()
        self.staff()
        self.issues()
        self.timelines()
        self.duty()
        return self.counts

    # --- regions and stations ------------------------------------------------------------------

    def regions_and_stations(self) -> None:
        conn, sizes, rng = self.conn, self.sizes, self.rng
        conn.execute("INSERT INTO reception_rule (id, kind, days, label, is_default) VALUES "
                     "(1, 'monthly_days', '[6, 16, 26]', '逢六（每月6日、16日、26日）', true)")
        regions = [(1, "330000000000", "浙江省", "province", None, 1)]
        self.cities, self.counties, self.townships = [], [], []
        for c in range(sizes.cities):
            name = CITY_NAMES[c] if c < len(CITY_NAMES) else f"第{c + 1}市"
            regions.append((len(regions) + 1, f"33{c + 1:02d}00000000", name, "city", 1, None))
            self.cities.append(len(regions))
        for k in range(sizes.counties):
            city = self.cities[k % len(self.cities)]
            n = k // len(self.cities) + 1
            code = regions[city - 1][1][:4] + f"{n:02d}000000"
            regions.append((len(regions) + 1, code, f"{regions[city - 1][2][:-1]}{n}县", "county", city, None))
            self.counties.append(len(regions))
        for k in range(sizes.townships):
            county = self.counties[k % len(self.counties)]
            n = k // len(self.counties) + 1
            code = regions[county - 1][1][:6] + f"{n:03d}000"
            regions.append((len(regions) + 1, code, f"{regions[county - 1][2]}第{n}镇", "township", county, None))
            self.townships.append(len(regions))
        self.regions = regions
        self.counts["region"] = _copy(conn, "region (id, code, name, level, parent_id, reception_rule_id)", regions)

        # Places as they lie: a county somewhere in Zhejiang's extent, its townships within ~20 km
        # of its seat, a township's stations within ~3 km of its centre (what `nearby` searches).
        # GCJ-02, like every coordinate the app keeps.
        seat = {c: (rng.uniform(27.4, 30.9), rng.uniform(118.3, 122.2)) for c in self.counties}
        centre = {}
        for town in self.townships:
            lat0, lng0 = seat[regions[town - 1][4]]
            centre[town] = (lat0 + rng.uniform(-0.18, 0.18), lng0 + rng.uniform(-0.2, 0.2))
        per_town = sizes.stations / len(self.townships)
        rows, self.coords, self.town_of, self.center_of = [], {}, {}, {}
        for sid in range(1, sizes.stations + 1):
            town = self.townships[min(int((sid - 1) / per_town), len(self.townships) - 1)]
            tname = regions[town - 1][2]
            lat0, lng0 = centre[town]
            lat, lng = round(lat0 + rng.uniform(-0.027, 0.027), 6), round(lng0 + rng.uniform(-0.03, 0.03), 6)
            self.coords[sid] = (lat, lng)
            self.town_of[sid] = town
            is_center = town not in self.center_of
            if is_center:
                self.center_of[town] = sid
            rows.append((sid, f"pv{sid:06d}", f"{tname}人大代表联络站" if is_center else f"{tname}第{sid}社区联络站",
                         "center" if is_center else "community", f"{tname}党群服务中心", lat, lng, town,
                         None if is_center else self.center_of[town], "09:00", "17:00",
                         f"0571-{8000_0000 + sid}", None, None, True, self.created))
        self.counts["station"] = _copy(
            conn, "station (id, scene, name, kind, address, lat, lng, region_id, parent_station_id, opens_at,"
                  " closes_at, phone, intro, reception_rule_id, is_active, created_at)", rows)
        self.phase("regions, stations")

    # --- residents, deputies, staff -------------------------------------------------------------

    def people(self) -> None:
        conn, sizes, rng = self.conn, self.sizes, self.rng
        cipher = current_app.extensions["data_cipher"]
        residents = sizes.residents
        # Users: residents 1..R, then one per deputy (bound, so deputies can sign in), then staff.
        self.deputy_user0 = residents
        self.staff_user0 = residents + sizes.deputies + 1
        self.counts["app_user"] = _copy(
            conn, "app_user (id, openid, token_version, is_active, created_at)",
            ((i, f"pv-user-{i:07d}", 1, True, self.created) for i in range(1, self.staff_user0)))
        self.members: dict[int, list[int]] = defaultdict(list)
        level_of: list[str] = []
        with conn.cursor().copy("COPY deputy (id, name, gender, occupation, phone, user_id, created_at)"
                                " FROM STDIN") as cp:
            for did in range(1, sizes.deputies + 1):
                roll = rng.random()
                level = next(lv for lv, upto in LEVELS if roll < upto)
                level_of.append(level)
                home = (did - 1) % sizes.stations + 1
                station = home if level == "township" else self.center_of[self.town_of[home]]
                self.members[station].append(did)
                phone = cipher.encrypt(f"13{rng.randint(0, 9)}{rng.randint(0, 99_999_999):08d}")
                cp.write_row((did, _name(rng), "女" if rng.random() < 0.35 else "男", "社区工作者", phone,
                              self.deputy_user0 + did, self.created))
        self.counts["deputy"] = sizes.deputies

        def seats():
            for did, level in enumerate(level_of, start=1):
                name, term, start = CONGRESS[level]
                yield (did, level, name, term, start, None)
                if level == "county" and rng.random() < 0.25:  # also in their town's congress
                    yield (did, "township", CONGRESS["township"][0], 18, CONGRESS["township"][2], None)

        self.counts["deputy_seat"] = _copy(
            conn, "deputy_seat (deputy_id, level, congress, term, started_on, ended_on)", seats())
        self.counts["station_membership"] = _copy(
            conn, "station_membership (station_id, deputy_id, started_on, ended_on, is_leader)",
            ((sid, did, date(2022, 1, 1), None, n == 0)
             for sid in range(1, sizes.stations + 1) for n, did in enumerate(self.members[sid])))
        self.phase("residents, deputies, seats, memberships")

    def staff(self) -> None:
        conn = self.conn
        password_hash = hash_password(BENCH_PASSWORD)
        town0, city0, county0 = self.townships[0], self.cities[0], self.counties[0]
        self.managed = [sid for sid in range(1, self.sizes.stations + 1) if self.town_of[sid] == town0]
        accounts = [("province-admin", "浙江省人大常委会代表工委", "region_admin", 1),
                    ("city-admin", f"{self.regions[city0 - 1][2]}人大常委会代表工委", "region_admin", city0),
                    ("county-admin", f"{self.regions[county0 - 1][2]}人大常委会代表工委", "region_admin", county0),
                    ("station-manager", f"{self.regions[town0 - 1][2]}联络站站长", "station_manager", town0)]
        for n, (username, display, role, region_id) in enumerate(accounts):
            uid = self.staff_user0 + n
            conn.execute("INSERT INTO app_user (id, token_version, is_active, created_at) VALUES (%s, 1, true, %s)",
                         (uid, self.created))
            account_id = conn.execute(
                "INSERT INTO staff_account (user_id, username, password_hash, display_name, role, region_id,"
                " is_active, created_at) VALUES (%s, %s, %s, %s, %s, %s, true, %s) RETURNING id",
                (uid, username, password_hash, display, role, region_id, self.created)).fetchone()[0]
            if role == "station_manager":
                self.manager_user = uid
                _copy(conn, "staff_station (staff_account_id, station_id)", ((account_id, s) for s in self.managed))
        self.counts["staff_account"] = len(accounts)

    # --- issues and their timelines -------------------------------------------------------------

    def issues(self) -> None:
        conn, sizes, rng, now = self.conn, self.sizes, self.rng, self.now
        categories = [r[0] for r in conn.execute("SELECT id FROM category ORDER BY sort_order, id")]
        weights = list(CATEGORY_WEIGHTS[: len(categories)]) + [5] * max(0, len(categories) - len(CATEGORY_WEIGHTS))
        activity = [rng.lognormvariate(0, 0.8) for _ in range(sizes.stations)]  # busy and quiet stations
        span = timedelta(days=365) - timedelta(minutes=10)
        created_at = sorted(now - timedelta(days=365) + span * rng.random() for _ in range(sizes.issues))
        station_of = rng.choices(range(1, sizes.stations + 1), weights=activity, k=sizes.issues)
        category_of = rng.choices(categories, weights=weights, k=sizes.issues)
        buckets = [(limit, list(w), list(w.values())) for limit, w in STATUS_BY_AGE]
        per_day: dict[date, int] = defaultdict(int)
        statuses: Counter = Counter()
        ratings, transfers = [], []

        def later(t: datetime, hours: float) -> datetime:
            return min(t + timedelta(hours=hours), now)

        def rows():
            for iid, at in enumerate(created_at, start=1):
                day = at.astimezone(clock.BEIJING).date()
                per_day[day] += 1
                age = (now - at).days
                _limit, names, status_weights = next(b for b in buckets if age < b[0])
                status = rng.choices(names, status_weights)[0]
                statuses[status] += 1
                sid = station_of[iid - 1]
                group = self.members.get(sid) or [None]
                addressed = rng.choice(group) if rng.random() < 0.15 else None
                assigned = None if status in ("submitted", "pending_review", "rejected") else (
                    addressed or rng.choice(group))
                accepted_at = later(at, rng.uniform(2, 72)) if assigned else None
                answered = status in ("replied", "transferred", "resolved", "closed", "reopened")
                first_response = later(accepted_at, rng.uniform(1, 120)) if answered else None
                resolved_at = later(first_response, rng.uniform(24, 480)) if status in ("resolved", "closed") else None
                closed_at = later(resolved_at, rng.uniform(0, 168)) if status == "closed" else None
                rounds = 1 if status in ("resolved", "closed", "reopened") else 0
                accepted_day = accepted_at.astimezone(clock.BEIJING).date() if accepted_at else None
                if status == "closed" and rng.random() < 0.6:
                    ratings.append((iid, 1, rng.choices(("satisfied", "basically_satisfied"), (75, 25))[0], closed_at))
                elif status == "reopened":
                    ratings.append((iid, 1, "unsatisfied", later(first_response, 72)))
                if status == "transferred":
                    moved = later(accepted_at, rng.uniform(1, 48))
                    transfers.append((iid, "县住建局", moved.astimezone(clock.BEIJING).date() + timedelta(days=15),
                                      self.manager_user, moved))
                yield (iid, f"{day:%Y%m%d}-{per_day[day]:06d}", sid, category_of[iid - 1],
                       rng.choice(CONTENTS) + f"（{iid}）", rng.randint(1, sizes.residents), rng.random() < 0.1,
                       None, None, False, addressed, assigned, False, status,
                       "review" if status == "pending_review" else "pass", f"pv-{iid:08x}",
                       1 if status == "reopened" else 0, rounds, at, accepted_at, first_response, resolved_at,
                       closed_at, day + timedelta(days=7), accepted_day + timedelta(days=21) if accepted_day else None,
                       False, "已协调有关部门处理完毕。" if resolved_at else None,
                       "不属于本站受理范围。" if status == "rejected" else None)

        self.counts["issue"] = _copy(
            conn, "issue (id, no, station_id, category_id, content, submitter_id, is_anonymous,"
                  " contact_phone_encrypted, contact_phone_masked, contact_phone_shared, addressed_deputy_id,"
                  " assigned_deputy_id, escalated_to_manager, status, content_check, content_check_trace_id,"
                  " unsatisfied_count, resolution_round, created_at, accepted_at, first_response_at, resolved_at,"
                  " closed_at, accept_due_on, reply_due_on, deadline_estimated, resolution_summary, reject_reason)",
            rows())
        self.counts["rating"] = _copy(conn, "rating (issue_id, resolution_round, score, created_at)", ratings)
        self.counts["transfer"] = _copy(
            conn, "transfer (issue_id, department_name, due_on, created_by_id, created_at)", transfers)
        self.counts["issue_number_counter"] = _copy(conn, "issue_number_counter (day, last)", sorted(per_day.items()))
        self.counts.update({f"status {k}": v for k, v in sorted(statuses.items())})
        self.phase("issues, ratings, transfers")

    def timelines(self) -> None:
        """Each issue's events and replies, derived in the database from its own times (a
        statement a step rather than a round trip a row): what the state machine would have
        written, step by step."""
        event = ("INSERT INTO issue_event (issue_id, kind, from_status, to_status, actor_id, actor_role, note,"
                 " created_at) ")
        by_deputy = " FROM issue i JOIN deputy d ON d.id = i.assigned_deputy_id WHERE "
        steps = (
            ("SELECT id, 'submitted', NULL, CASE WHEN status = 'pending_review' THEN 'pending_review' ELSE"
            " 'submitted' END, submitter_id, 'resident', NULL, created_at FROM issue"),
            ("SELECT id, 'rejected', 'submitted', 'rejected', %(manager)s, 'station_manager', reject_reason,"
            " LEAST(created_at + interval '20 hours', now()) FROM issue WHERE status = 'rejected'"),
            "SELECT i.id, 'accepted', 'submitted', 'accepted', d.user_id, 'deputy', NULL, i.accepted_at"
            + by_deputy + "i.accepted_at IS NOT NULL",
            "SELECT i.id, 'replied', 'accepted', 'replied', d.user_id, 'deputy', NULL, i.first_response_at"
            + by_deputy + "i.first_response_at IS NOT NULL",
            ("SELECT issue_id, 'transferred', 'replied', 'transferred', created_by_id, 'station_manager',"
            " department_name, created_at FROM transfer"),
            "SELECT i.id, 'resolved', 'replied', 'resolved', d.user_id, 'deputy', i.resolution_summary, i.resolved_at"
            + by_deputy + "i.resolved_at IS NOT NULL",
            ("SELECT r.issue_id, 'rated', 'resolved', CASE WHEN r.score = 'unsatisfied' THEN 'reopened' ELSE 'closed'"
            " END, i.submitter_id, 'resident', NULL, r.created_at FROM rating r JOIN issue i ON i.id = r.issue_id"),
            # Resolved, never rated: the auto-close job closed it.
            ("SELECT i.id, 'auto_closed', 'resolved', 'closed', NULL, 'scheduler', NULL, i.closed_at FROM issue i"
            " WHERE i.closed_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM rating r WHERE r.issue_id = i.id)"),
        )
        self.counts["issue_event"] = sum(
            self.conn.execute(event + step, {"manager": self.manager_user}).rowcount for step in steps)
        content = "CASE i.id %% {n} {whens} END".format(
            n=len(REPLIES), whens=" ".join(f"WHEN {k} THEN '{text}'" for k, text in enumerate(REPLIES)))
        self.counts["reply"] = self.conn.execute(
            "INSERT INTO reply (issue_id, author_id, deputy_id, kind, content, is_public, created_at)"
            f" SELECT i.id, d.user_id, d.id, 'reply', {content}, i.id %% 5 = 0, i.first_response_at"
            + by_deputy + "i.first_response_at IS NOT NULL", {}).rowcount
        self.phase("timelines: events, replies")

    # --- duty ----------------------------------------------------------------------------------

    def duty(self) -> None:
        first = (self.today - timedelta(days=365)).replace(day=1)
        months, month = [], first
        while month <= self.today.replace(day=1):
            months.append(month)
            month = (month + timedelta(days=32)).replace(day=1)
        fengliu = [month.replace(day=d) for month in months for d in (6, 16, 26)]
        station_days = {sid: [(d, d) for d in fengliu] for sid in range(1, self.sizes.stations + 1)}
        self.counts.update(write_duty(self.conn, station_days, self.members, self.coords, self.today, self.rng,
                                      self.manager_user))
        self.phase("rosters, duty, check-ins")


def write_duty(conn, station_days: dict[int, list[tuple[date, date]]], members: dict[int, list[int]],
               coords: dict[int, tuple[float, float]], today: date, rng: random.Random, recorder_id: int, *,
               per_day: int = 2, attend: float = 0.85) -> dict[str, int]:
    """Published rosters for every month of the held days given ((date held, rule date) per
    station), `per_day` members on duty a day in turn, a check-in for ~`attend` of the duty days
    up to today, leave covering a fifth of the missed ones, a few visits off duty, and residents
    received (接待登记) on about a third of the days held."""
    now = datetime.now(UTC)
    base = conn.execute("SELECT coalesce(max(id), 0) FROM duty_roster").fetchone()[0]
    months = sorted({(sid, rule.replace(day=1)) for sid, days in station_days.items() for _d, rule in days})
    roster_ids = {key: base + n for n, key in enumerate(months, start=1)}
    with conn.cursor().copy("COPY duty_roster (id, station_id, month, status, deputies_per_day, generated_at,"
                            " published_at) FROM STDIN") as cp:
        for (sid, month), rid in roster_ids.items():
            published = datetime.combine(month - timedelta(days=5), datetime.min.time(), clock.BEIJING)
            cp.write_row((rid, sid, month, "published", per_day, published - timedelta(hours=2), published))
    check_ins, leaves, records = [], [], []
    counts: Counter = Counter()
    with conn.cursor().copy("COPY duty_assignment (roster_id, station_id, duty_date, deputy_id, created_at)"
                            " FROM STDIN") as cp:
        for sid in sorted(station_days):
            group = members.get(sid) or []
            if not group:
                continue
            lat, lng = coords[sid]
            for k, (held, rule) in enumerate(station_days[sid]):
                rid = roster_ids[(sid, rule.replace(day=1))]
                on_duty = list(dict.fromkeys(group[(per_day * k + i) % len(group)] for i in range(per_day)))
                created = datetime.combine(rule.replace(day=1) - timedelta(days=6), datetime.min.time(), clock.BEIJING)
                past = held <= today
                for deputy_id in on_duty:
                    cp.write_row((rid, sid, held, deputy_id, created))
                    counts["duty_assignment"] += 1
                    if not past:
                        continue
                    if rng.random() < attend:
                        at = datetime.combine(held, datetime.min.time(), clock.BEIJING) + timedelta(
                            hours=8.5, minutes=rng.uniform(0, 150))
                        check_ins.append((deputy_id, sid, held, at, lat, lng, rng.uniform(5, 200), False, True))
                    elif rng.random() < 0.2:
                        leaves.append((deputy_id, held, held, "外出开会", now))
                if past and len(group) > per_day and rng.random() < 0.08:
                    visitor = group[(per_day * k + per_day) % len(group)]
                    if visitor not in on_duty:
                        at = datetime.combine(held, datetime.min.time(), clock.BEIJING) + timedelta(hours=14)
                        check_ins.append((visitor, sid, held, at, lat, lng, rng.uniform(5, 200), False, True))
                if past and rng.random() < 0.3:
                    records.append((sid, held, on_duty[0], recorder_id, rng.randint(1, 6), "环境整治、道路维修等",
                                    datetime.combine(held, datetime.min.time(), clock.BEIJING) + timedelta(hours=16)))
    for target, rows in (
            ("check_in (deputy_id, station_id, on_date, checked_in_at, lat, lng, distance_m, is_far, on_reception_day)",
             check_ins),
            ("deputy_leave (deputy_id, starts_on, ends_on, reason, created_at)", leaves),
            ("reception_record (station_id, on_date, deputy_id, recorded_by_id, residents, topics, created_at)",
             records)):
        counts[target.split()[0]] = _copy(conn, target, rows)
    counts["duty_roster"] = len(roster_ids)
    conn.execute("SELECT setval(pg_get_serial_sequence('duty_roster', 'id'), (SELECT max(id) FROM duty_roster))")
    return dict(counts)
