"""The outbox of subscribe messages (订阅消息): planned in the transaction of their cause, sent
after it commits, each at most once — and exactly once whenever WeChat answered.

`subscribe/send` takes no idempotency key, so nothing may ever send a message twice:
- Planning inserts one row per (recipient, template, cause) and ignores a duplicate, so a job that
  runs twice, or two schedulers for a moment, plan one message.
- A sender claims due rows (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so senders never take the
  same row), marks them `sending` and commits *before* calling WeChat. The answer's outcome is
  committed right after the call. A sender that dies in between leaves the row `sending`;
  `reap_stale_claims` later calls it `unknown` — counted and shown to staff, never resent by
  itself, because WeChat may well have delivered it (a region admin decides: `unknowns`).
- Outcomes: errcode 0 → `sent`; 43101 → `no_grant` (final: the user refused or used their
  grant); 45009 → `deferred` to the next Beijing day (the template's daily quota is spent);
  -1, busy, or a failure before any byte went out → retried with backoff; a timeout or a closed
  connection after the request went out → `unknown`; anything else WeChat refuses (bad data)
  → `failed`.
"""
from __future__ import annotations

import json
import logging
import os
import random
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import Flask, current_app
from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from backend import clock
from backend.observability import logs
from backend.services.messaging import subscriptions
from backend.wechat import templates
from backend.wechat.errors import QuotaExceeded, SubscriptionRefused, WeChatError, WeChatUnavailable
from backend.wechat.gateway import WeChatGateway
from models import SENDABLE_SQL, OutboxMessage, OutboxState, db

log = logging.getLogger(__name__)

S = OutboxState
_T = OutboxMessage.__table__
# PostgreSQL wakes sleeping senders on this channel when new messages commit.
NOTIFY_CHANNEL = "lianluozhan_outbox"
# Retries after -1 or a failure before sending: 30 s, 1 min, 2 min … at most 30 min apart.
_BACKOFF_FIRST = timedelta(seconds=30)
_BACKOFF_MAX = timedelta(minutes=30)
# A deferred message waits for the next Beijing day's quota, and for a decent hour to arrive.
DEFERRED_UNTIL_HOUR = 8


# --- planning --------------------------------------------------------------------------------------

def enqueue(recipient_id: int, template: str, cause: str, data: dict, *, openid: str | None,
            station_id: int | None = None, page: str | None = None, not_before: datetime | None = None,
            expires_at: datetime | None = None) -> None:
    """Plan one message in the current transaction; nothing happens if it was planned already."""
    enqueue_many([{"recipient_id": recipient_id, "template": template, "cause": cause, "data": data,
                   "openid": openid, "station_id": station_id, "page": page, "not_before": not_before,
                   "expires_at": expires_at}])


def enqueue_many(rows: list[dict]) -> int:
    """Plan many messages (dicts of `enqueue`'s arguments) in the current transaction.

    Messages of a template this deployment has not configured are not planned. Returns how
    many rows were new.
    """
    now = clock.now()
    values = []
    for row in rows:
        template_id = templates.template_id(row["template"])
        if template_id is None:
            log.warning("subscribe template %s is not configured; message %s not planned",
                        row["template"], row["cause"])
            continue
        values.append({
            "recipient_id": row["recipient_id"], "template": row["template"], "cause": row["cause"],
            "template_id": template_id, "openid": row.get("openid"), "station_id": row.get("station_id"),
            "page": row.get("page") or templates.TEMPLATES[row["template"]].page,
            "data": row["data"], "not_before": row.get("not_before") or now, "expires_at": row.get("expires_at"),
        })
    if not values:
        return 0
    postgres = db.engine.dialect.name == "postgresql"
    if postgres and len(values) >= _COPY_FROM:
        inserted = _copy_in(values, now)
    else:
        dialect_insert = postgresql.insert if postgres else sqlite.insert
        statement = (dialect_insert(_T).on_conflict_do_nothing(index_elements=["recipient_id", "template", "cause"])
                     .returning(_T.c.id))  # counts what went in: rowcount of a many-row insert is -1
        inserted = len(db.session.execute(statement, [{**v, "state": S.pending, "attempts": 0, "created_at": now}
                                                      for v in values]).all())
    if inserted and postgres:
        # Delivered at commit (and dropped on rollback): senders wake at once, not at their poll.
        db.session.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
    return inserted


# Many rows (a reception day's reminders) go in by COPY into a temporary table, then one INSERT
# … SELECT that skips those planned already. A multi-row VALUES took the driver longer to build and
# parse than the server to insert: 19 s for 100,000 reminders, 14 of them in psycopg.
_COPY_FROM = 500
_COPY_COLUMNS = ("recipient_id", "template", "cause", "template_id", "station_id", "openid", "page", "data",
                 "not_before", "expires_at")


def _copy_in(values: list[dict], now: datetime) -> int:
    connection = db.session.connection().connection.driver_connection
    columns = ", ".join(_COPY_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE IF NOT EXISTS outbox_planning (recipient_id integer, template text, "
            "cause text, template_id text, station_id integer, openid text, page text, data text, "
            "not_before timestamptz, expires_at timestamptz) ON COMMIT DELETE ROWS")
        with cursor.copy(f"COPY outbox_planning ({columns}) FROM STDIN") as copy:
            for row in values:
                copy.write_row((row["recipient_id"], row["template"], row["cause"], row["template_id"],
                                row["station_id"], row["openid"], row["page"],
                                json.dumps(row["data"], ensure_ascii=False), row["not_before"], row["expires_at"]))
        cursor.execute(
            f"INSERT INTO outbox_message ({columns}, state, attempts, created_at) "
            "SELECT recipient_id, template, cause, template_id, station_id, openid, page, CAST(data AS json), "
            "not_before, "
            "expires_at, %s, 0, %s FROM outbox_planning "
            "ON CONFLICT (recipient_id, template, cause) DO NOTHING", (S.pending.value, now))
        inserted = cursor.rowcount
        cursor.execute("DELETE FROM outbox_planning")  # a second call in this transaction starts empty
    return inserted


# --- sending ---------------------------------------------------------------------------------------

@dataclass
class Claimed:
    id: int
    recipient_id: int
    template: str
    template_id: str
    openid: str | None
    page: str | None
    data: dict
    attempts: int
    expires_at: datetime | None


@dataclass
class SendReport:
    """What a sender did: rows claimed, and the outcome of each (the sender's threads share one)."""
    claimed: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def took(self, count: int) -> None:
        with self._lock:
            self.claimed += count

    def add(self, outcome: str) -> None:
        with self._lock:
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


# The sender's statements, built once: a sender runs them hundreds of times a second, and building
# a statement (and its cache key) each time cost more CPU than running it.
_CLAIM = (
    update(_T)
    .where(_T.c.id.in_(
        select(_T.c.id).where(text(SENDABLE_SQL), _T.c.not_before <= bindparam("now"))
        .order_by(_T.c.not_before, _T.c.id).limit(bindparam("limit"))
        .with_for_update(skip_locked=True).scalar_subquery()))
    .values(state=S.sending, claimed_by=bindparam("sender"), claimed_at=bindparam("now"),
            attempts=_T.c.attempts + 1)
    .returning(_T.c.id, _T.c.recipient_id, _T.c.template, _T.c.template_id, _T.c.openid, _T.c.page,
               _T.c.data, _T.c.attempts, _T.c.expires_at))
_FINISH_SENT = (
    update(_T)
    .where(_T.c.id == bindparam("message_id"), _T.c.state == S.sending, _T.c.claimed_by == bindparam("sender"))
    .values(state=S.sent, finished_at=bindparam("now"), sent_at=bindparam("now"),
            wechat_msgid=bindparam("msgid")))


def claim(sender_id: str, limit: int, report: SendReport | None = None) -> list[Claimed]:
    """Take up to `limit` due messages for this sender and commit the claim (and whatever the
    session holds: the Sender leaves each outcome to be committed with its next claim).

    Rows with nothing to send (no openid, expired, no grant left) are finished here instead, and
    counted in `report`; the rest are returned to be sent.
    """
    now = clock.now()
    rows = db.session.execute(_CLAIM, {"now": now, "limit": limit, "sender": sender_id}).all()
    ready = []
    for row in rows:
        message = Claimed(*row)
        if message.openid is None:
            outcome, error = S.skipped, "收件人没有微信 openid"
        elif message.expires_at is not None and message.expires_at <= now:
            outcome, error = S.skipped, "已过时效，不再发送"
        elif not subscriptions.consume_grant(message.recipient_id, message.template_id):
            outcome, error = S.no_grant, "用户没有可用的订阅授权"
        else:
            ready.append(message)
            continue
        _finish(message.id, sender_id, outcome, error=error)
        if report is not None:
            report.add(outcome.value)
    db.session.commit()
    if report is not None:
        report.took(len(rows))
    return ready


def send_one(gateway: WeChatGateway, sender_id: str, message: Claimed, *, max_attempts: int,
             after_call=None, commit: bool = True) -> str:
    """Send one claimed message and record its outcome; returns the outcome's name.

    With `commit=False` the outcome waits in the session for the caller's next commit — the
    Sender's next claim, which saves a transaction per message. Dying before it is dying between
    call and commit: the message ends `unknown`, as it would anyway.
    """
    outcome, values = S.sent, {}
    try:
        answer = gateway.send_subscribe_message(
            message.openid, message.template_id, message.data, page=message.page,
            miniprogram_state=current_app.config["WECHAT_MINIPROGRAM_STATE"])
        values = {"wechat_msgid": str(answer["msgid"]) if answer.get("msgid") is not None else None}
    except SubscriptionRefused as exc:
        outcome, values = S.no_grant, _error(exc)
        subscriptions.revoke_grants(message.recipient_id, message.template_id)
    except QuotaExceeded as exc:
        outcome, values = S.deferred, {**_error(exc), "not_before": next_quota_day(clock.now())}
        subscriptions.return_grant(message.recipient_id, message.template_id)
    except WeChatUnavailable as exc:
        if exc.request_sent:
            outcome, values = S.unknown, _error(exc)
        elif message.attempts >= max_attempts:
            outcome, values = S.failed, _error(exc)
            subscriptions.return_grant(message.recipient_id, message.template_id)
        else:
            outcome, values = S.pending, {**_error(exc), "not_before": clock.now() + backoff(message.attempts)}
            subscriptions.return_grant(message.recipient_id, message.template_id)
    except WeChatError as exc:  # the message itself is refused (47003, 40037 …): sending again won't help
        outcome, values = S.failed, _error(exc)
        subscriptions.return_grant(message.recipient_id, message.template_id)
    if after_call is not None:
        after_call()
    if outcome == S.sent:
        now = clock.now()
        changed = db.session.execute(_FINISH_SENT, {"message_id": message.id, "sender": sender_id, "now": now,
                                                    "msgid": values["wechat_msgid"]}).rowcount
        if not changed:
            _not_ours(message.id, outcome)
    else:
        _finish(message.id, sender_id, outcome, **values)
    if commit:
        db.session.commit()
    return outcome.value


def _error(exc: WeChatError) -> dict:
    return {"last_errcode": exc.errcode, "last_error": (exc.errmsg or type(exc).__name__)[:500]}


def _finish(message_id: int, sender_id: str, state: OutboxState, *, error: str | None = None, **values) -> None:
    """Record an outcome, if the row is still this sender's claim (a reaper may have called it
    unknown meanwhile: then that stands)."""
    final = state not in (S.pending, S.deferred)
    if error is not None:
        values["last_error"] = error
    if state == S.sent:
        values["sent_at"] = clock.now()
    changed = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.state == S.sending,
               OutboxMessage.claimed_by == sender_id)
        .values(state=state, finished_at=clock.now() if final else None, **values)
        .execution_options(synchronize_session=False)).rowcount
    if not changed:
        _not_ours(message_id, state)


def _not_ours(message_id: int, state: OutboxState) -> None:
    log.warning("outbox message %s: outcome %s not recorded, the claim was no longer ours", message_id, state.value)


def backoff(attempts: int) -> timedelta:
    """How long to wait before attempt `attempts + 1`: doubling, capped, with some jitter so
    retries of many messages do not arrive together."""
    delay = min(_BACKOFF_FIRST * (2 ** max(attempts - 1, 0)), _BACKOFF_MAX)
    return delay * random.uniform(0.8, 1.2)


def next_quota_day(now: datetime) -> datetime:
    """When a message refused for the day's quota may go: the next Beijing day, 08:00."""
    tomorrow = now.astimezone(clock.BEIJING).date() + timedelta(days=1)
    return datetime(tomorrow.year, tomorrow.month, tomorrow.day, DEFERRED_UNTIL_HOUR, tzinfo=clock.BEIJING)


def reap_stale_claims(now: datetime | None = None) -> int:
    """Claims older than OUTBOX_STALE_CLAIM_SECONDS without an outcome belong to a sender that
    died mid-send: WeChat may have delivered them, so they become `unknown`, never resent."""
    now = now or clock.now()
    cutoff = now - timedelta(seconds=current_app.config["OUTBOX_STALE_CLAIM_SECONDS"])
    reaped = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.state == S.sending, OutboxMessage.claimed_at < cutoff)
        .values(state=S.unknown, finished_at=now, last_error="发送进程在调用微信前后中断，结果未知")
        .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    if reaped:
        log.warning("outbox: %s messages of a stopped sender are now unknown", reaped)
    return reaped


def reap_stale_claims_job(now: datetime) -> dict:
    """The scheduler's `outbox-reap` job."""
    return {"unknown": reap_stale_claims(now)}


def counts_by_state(station_ids=None) -> dict[str, int]:
    """Messages in each state, every state listed (for metrics and the console); with
    `station_ids` (a select of ids), only the messages about those stations."""
    query = select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)
    if station_ids is not None:
        query = query.where(OutboxMessage.station_id.in_(station_ids))
    counts = dict(db.session.execute(query).tuples().all())
    return {state.value: counts.get(state, 0) for state in OutboxState}


# --- the sender process ----------------------------------------------------------------------------

class Sender:
    """`flask --app wsgi outbox send`: threads that claim and send until stopped.

    Each thread has its own app context (so its own database session) and its own gateway (so
    its own HTTP connection), and claims OUTBOX_CLAIM_BATCH rows at a time (one by default): a
    claim commits before its call and each outcome right after it, so when the process is killed
    only the rows claimed and not yet finished end `unknown` — with one, just the message in flight.
    """

    def __init__(self, app: Flask, threads: int | None = None, batch: int | None = None):
        cfg = app.config
        self.app = app
        self.threads = threads or cfg["OUTBOX_SEND_THREADS"]
        self.batch = batch or cfg["OUTBOX_CLAIM_BATCH"]
        self.max_attempts = cfg["OUTBOX_MAX_ATTEMPTS"]
        self.sender_id = f"{socket.gethostname()}:{os.getpid()}"
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self._calls = 0
        self._calls_lock = threading.Lock()
        self._fault = _parse_fault(cfg.get("OUTBOX_FAULT_HOOK"))

    def run(self, *, until_idle: bool = False) -> SendReport:
        """Send until stopped; with `until_idle`, until nothing is due (for `--once` and tests)."""
        report = SendReport()
        idle = [False] * self.threads
        workers = [threading.Thread(target=self._work, args=(n, report, idle, until_idle),
                                    name=f"outbox-sender-{n}", daemon=True) for n in range(self.threads)]
        listener = None
        if not until_idle and self.app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
            listener = threading.Thread(target=self._listen, name="outbox-listener", daemon=True)
            listener.start()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        return report

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()

    def _work(self, n: int, report: SendReport, idle: list[bool], until_idle: bool) -> None:
        # A thread starts with no context: its lines are named for the sender and the thread.
        with logs.bound_run(f"outbox:{self.sender_id}/{n}"), self.app.app_context():
            gateway = WeChatGateway.from_app(self.app)
            try:
                while not self.stopping.is_set():
                    try:
                        claimed = claim(self.sender_id, self.batch, report)
                        idle[n] = not claimed
                        if not claimed:
                            if until_idle and all(idle):
                                return
                            self.wake.wait(0.05 if until_idle else 1.0)
                            self.wake.clear()
                            continue
                        for message in claimed:
                            report.add(send_one(gateway, self.sender_id, message, max_attempts=self.max_attempts,
                                                after_call=self._after_call, commit=False))
                    except Exception:
                        # The database went away, most likely. A message caught between its claim
                        # and its outcome stays `sending` and the reaper calls it unknown; this
                        # thread carries on once the database is back.
                        log.exception("outbox sender thread %s: error, going on in a second", n)
                        db.session.rollback()
                        self.stopping.wait(1.0)
            finally:
                try:
                    db.session.commit()  # the last outcome
                except Exception:
                    log.exception("outbox sender thread %s: the last outcome was not recorded", n)
                db.session.remove()

    def _after_call(self) -> None:
        if self._fault is None:
            return
        with self._calls_lock:
            self._calls += 1
            calls = self._calls
        after, marker = self._fault
        if calls == after:
            # The fault the outbox test plays: the call went out, its outcome is not committed.
            with open(marker, "w") as handle:
                handle.write(str(os.getpid()))
            log.warning("fault hook: pausing after WeChat call %s, before its commit", calls)
            while True:
                time.sleep(3600)

    def _listen(self) -> None:
        """Wake the threads when new messages commit (PostgreSQL NOTIFY); polling covers the rest."""
        import psycopg

        url = self.app.config["SQLALCHEMY_DATABASE_URI"].replace("postgresql+psycopg://", "postgresql://")
        logs.run_id.set(f"outbox:{self.sender_id}/listener")  # this thread's own context, for good
        while not self.stopping.is_set():
            try:
                with psycopg.connect(url, autocommit=True) as connection:
                    connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    while not self.stopping.is_set():
                        # Returns after a second without news, so a stop is noticed.
                        for _ in connection.notifies(timeout=1.0):
                            self.wake.set()
            except Exception:  # a lost connection: polling still works; try again shortly
                log.info("outbox listener reconnecting", exc_info=True)
                self.stopping.wait(5.0)


def _parse_fault(setting: str | None) -> tuple[int, str] | None:
    """"pause-after-call:N:MARKER_FILE" → (N, MARKER_FILE)."""
    if not setting:
        return None
    kind, count, marker = setting.split(":", 2)
    if kind != "pause-after-call":
        raise ValueError(f"unknown OUTBOX_FAULT_HOOK {setting!r}")
    return int(count), marker
