"""`Idempotency-Key` on creating writes (API.md).

The key is claimed in a transaction of its own, before the work, so a concurrent replay sees
it at once and gets 409 `conflict`; the first answer is stored in the request's transaction,
so the answer and the write it describes are committed together or not at all. A failed first
attempt (any error) releases the key: the client may fix its request and send it again. A
claim whose request died without an answer (a killed worker) is taken over after
`ABANDONED_AFTER`, so the retry can do the work once.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from flask import Request, Response
from sqlalchemy import bindparam, delete, text, update
from sqlalchemy.orm import Session

from models import IdempotencyRecord, UTCDateTime, db

from . import clock
from .errors import ApiError, Conflict, InvalidInput
from .extensions import own_transaction

KEEP_FOR = timedelta(hours=24)
ABANDONED_AFTER = timedelta(minutes=2)
HEADER = "Idempotency-Key"


class KeyReused(ApiError):
    status, code, message = 422, "idempotency_key_reused", "该幂等键已用于另一个请求"


@dataclass
class Claim:
    record_id: int


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
            return Claim(record.id)
        if record.request_hash != fingerprint:
            raise KeyReused()
        if record.response_status is not None:
            return Response(record.response_body, status=record.response_status, mimetype="application/json")
        if record.created_at > now - ABANDONED_AFTER:
            raise Conflict("相同请求正在处理中，请稍后查看结果")
        taken = session.execute(update(IdempotencyRecord).where(
            IdempotencyRecord.id == record.id, IdempotencyRecord.response_status.is_(None),
            IdempotencyRecord.created_at == record.created_at).values(created_at=now)).rowcount
        if taken != 1:
            raise Conflict("相同请求正在处理中，请稍后查看结果")
        return Claim(record.id)


def _claim(user_id: int, key: str, fingerprint: str, now) -> Claim | None:
    """Claim a key nobody holds, or one held longer than KEEP_FOR, in one statement committed at
    once (so a concurrent replay sees it); None when someone holds it."""
    with own_transaction() as connection:
        record_id = connection.execute(_CLAIM, {
            "user_id": user_id, "key": key, "request_hash": fingerprint, "created_at": now,
            "expired_before": now - KEEP_FOR}).scalar()
    return Claim(record_id) if record_id is not None else None


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
                                                           IdempotencyRecord.response_status.is_(None)))


def purge_expired() -> int:
    """Delete records older than KEEP_FOR (the scheduler runs this daily)."""
    result = db.session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < clock.now() - KEEP_FOR))
    return result.rowcount

