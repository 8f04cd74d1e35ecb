"""Liveness and readiness, for the load balancer and the process supervisor."""
from __future__ import annotations

from flask import jsonify
from sqlalchemy import text

from backend.extensions import get_redis
from backend.web.endpoint import ApiBlueprint
from miniprogram_api.schemas import HealthOut, ReadyOut
from models import db

bp = ApiBlueprint("health", __name__, tag="运维")


@bp.get("/healthz", response=HealthOut)
def healthz():
    """进程存活"""
    return HealthOut(status="ok")


@bp.get("/readyz", response=ReadyOut, other_statuses={503: "未就绪：数据库（或已配置的 Redis）不可用"})
def readyz():
    """可以接收请求：数据库可用即可，否则 503。Redis 不可用时照常服务（不用缓存），在 checks 中标出"""
    checks = {"database": "ok", "redis": "not_configured"}
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 — any failure means "not ready", never a 500
        checks["database"] = "unavailable"
        try:
            db.session.rollback()
        except Exception:  # noqa: BLE001, S110 — a dropped connection has nothing to roll back
            pass
    client = get_redis()
    if client is not None:
        try:
            client.ping()
            checks["redis"] = "ok"
        except Exception:  # noqa: BLE001
            checks["redis"] = "unavailable"
    # Without Redis the service answers from the database (backend/caches/redis_guard.py): a load
    # balancer that took every instance out on a cache outage would turn it into a full one.
    ready = checks["database"] == "ok"
    response = jsonify(ReadyOut(status="ok" if ready else "unavailable", checks=checks).model_dump())
    response.status_code = 200 if ready else 503
    return response
