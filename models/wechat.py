from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import db


class WeChatAccessToken(db.Model):
    """The shared access token of one app id, for deployments without Redis.

    Every worker process reads it here; the one that finds it stale refreshes it while holding
    this row locked, so one `stable_token` fetch serves all workers.
    """

    __tablename__ = "wechat_access_token"

    app_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    token: Mapped[str | None] = mapped_column(String(512))
    expires_at: Mapped[datetime | None]
