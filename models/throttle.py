"""Attempts counted by the rate limits (`backend/caches/rate_limit.py`) when Redis is not there.

Limits on actions that leave rows of their own (issues, uploads) count those rows; limits on
attempts that leave nothing — a wrong invite code, a wx-login, a follow — count these.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import db, utcnow


class ThrottleHit(db.Model):
    __tablename__ = "throttle_hit"
    __table_args__ = (Index("ix_throttle_hit_bucket_key_at", "bucket", "key", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bucket: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)
