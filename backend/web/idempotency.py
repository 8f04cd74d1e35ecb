"""`Idempotency-Key` on creating writes (API.md).

The key is claimed in a transaction of its own, before the work, so a concurrent replay sees
it at once and gets 409 `conflict`; the first answer is stored in the request's transaction,
so the answer and the write it describes are committed together or not at all. A failed first
attempt (any error) releases the key: the client may fix its request and send it again.

A claim can outlive its request: a worker SIGKILLed (or timed out by gunicorn) mid-request, or a
database that went away before the key could be released. The resident's app retries such a
request at once, with the same key, and must not be told "still running" for minutes. So on
PostgreSQL the request that holds a key also holds a transaction-level advisory lock on it, in
its own transaction: the lock ends exactly when that transaction does — at the commit that
stores the answer, at a rollback, or when the server notices the connection of a dead worker
close. A replay that gets the lock while the record has no answer knows nobody is working on it,
and takes it over at once; a replay that cannot get it answers 409. (Idempotent views must
therefore not commit before the endpoint does: that would end the lock early.) SQLite has no
such lock: there a claim without an answer is taken over once `ABANDONED_AFTER` has passed.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Request, Response
from sqlalchemy import bindparam, delete, text, update
from sqlalchemy.orm import Session

from backend import clock
from backend.errors import ApiError, Conflict, InvalidInput
from backend.extensions import own_transaction
from models import IdempotencyRecord, UTCDateTime, db

KEEP_FOR = timedelta(hours=24)
ABANDONED_AFTER = timedelta(minutes=2)
HEADER = "Idempotency-Key"


class KeyReused(ApiError):
    status, code, message = 422, "idempotency_key_reused", "该幂等键已用于另一个请求"


@dataclass
class Claim:
    record_id: int
    # When this request claimed the key: a request taking over a dead claim stamps its own, so the
    # dead one's late `release` cannot delete the live claim.
    created_at: datetime


def _fingerprint(request: Request) -> str:
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.path}\n".encode())
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def begin(user_id: int, request: Request) -> Claim | Response | None:
    """Claim the request's key for `user_id`.

    Returns None when the request has no key, a Claim to finish once the work is done, or the
    stored first answer when this is a replay.
    :raise 409 conflict: the first request with this key is still running.
    :raise 422 idempotency_key_reused: the key came with a different request before.
    """
    key = request.headers.get(HEADER)
    if key is None:
        return None
    key = key.strip()
    if not 1 <= len(key) <= 128:
        raise InvalidInput({HEADER: "长度应为1到128个字符"})
    fingerprint = _fingerprint(request)
    now = clock.now()
    locking = db.engine.dialect.name == "postgresql"
    if locking and not db.session.scalar(_TRY_LOCK, {"lock_key": _lock_key(user_id, key)}):
        raise Conflict("相同请求正在处理中，请稍后查看结果")  # a live request holds the key
    claim = _claim(user_id, key, fingerprint, now)
    if claim is not None:
        return claim
    with Session(db.engine) as session, session.begin():
        record = session.scalar(db.select(IdempotencyRecord).where(
            IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key))
        if record is None:  # released by its first request in the meantime: ours now
            record = IdempotencyRecord(user_id=user_id, key=key, request_hash=fingerprint, created_at=now)
            session.add(record)
            session.flush()
            return Claim(record.id, now)
        if record.request_hash != fingerprint:
            raise KeyReused()
        if record.response_status is not None:
            return Response(record.response_body, status=record.response_status, mimetype="application/json")
        # No answer yet. Holding the lock, we know its request ended without one; without the
        # lock (SQLite) only its age tells.
        if not locking and record.created_at > now - ABANDONED_AFTER:
            raise Conflict("相同请求正在处理中，请稍后查看结果")
        taken = session.execute(update(IdempotencyRecord).where(
            IdempotencyRecord.id == record.id, IdempotencyRecord.response_status.is_(None),
            IdempotencyRecord.created_at == record.created_at).values(created_at=now)).rowcount
        if taken != 1:
            raise Conflict("相同请求正在处理中，请稍后查看结果")
        return Claim(record.id, now)


def _claim(user_id: int, key: str, fingerprint: str, now) -> Claim | None:
    """Claim a key nobody holds, or one held longer than KEEP_FOR, in one statement committed at
    once (so a concurrent replay sees it); None when someone holds it."""
    with own_transaction() as connection:
        record_id = connection.execute(_CLAIM, {
            "user_id": user_id, "key": key, "request_hash": fingerprint, "created_at": now,
            "expired_before": now - KEEP_FOR}).scalar()
    return Claim(record_id, now) if record_id is not None else None


# Taken in the request's own transaction (see the module docstring), so it ends with it.
_TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(:lock_key)")


def _lock_key(user_id: int, key: str) -> int:
    """The advisory lock of one user's key: 64 bits of a hash (a collision costs a spurious 409)."""
    digest = hashlib.sha256(f"idempotency\0{user_id}\0{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


# Written out because SQLAlchemy does not cache a compiled ON CONFLICT statement, and this one runs
# on every creating write. The same SQL on PostgreSQL and SQLite (3.35+).
_CLAIM = text("""
    INSERT INTO idempotency_record (user_id, "key", request_hash, created_at)
    VALUES (:user_id, :key, :request_hash, :created_at)
    ON CONFLICT (user_id, "key") DO UPDATE
      SET request_hash = excluded.request_hash, created_at = excluded.created_at,
          response_status = NULL, response_body = NULL
      WHERE idempotency_record.created_at < :expired_before
    RETURNING id
""").bindparams(bindparam("created_at", type_=UTCDateTime()), bindparam("expired_before", type_=UTCDateTime()))

_FINISH = update(IdempotencyRecord).where(IdempotencyRecord.id == bindparam("record_id")).values(
    response_status=bindparam("status"), response_body=bindparam("body"))


def finish(claim: Claim, response: Response) -> None:
    """Store the first answer, in the request's own transaction (committed with the write)."""
    db.session.connection().execute(_FINISH, {"record_id": claim.record_id, "status": response.status_code,
                                              "body": response.get_data(as_text=True)})


def release(claim: Claim) -> None:
    """The first attempt failed: forget the key, so the client may send the request again."""
    with own_transaction() as connection:
        connection.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == claim.record_id,
                                                           IdempotencyRecord.response_status.is_(None),
                                                           IdempotencyRecord.created_at == claim.created_at))


def purge_expired() -> int:
    """Delete records older than KEEP_FOR (the scheduler runs this daily)."""
    result = db.session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < clock.now() - KEEP_FOR))
    return result.rowcount

