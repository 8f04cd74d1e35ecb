from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import db, utcnow


class MediaCheckStatus(str, enum.Enum):
    """Where WeChat's image check (mediaCheckAsync) stands. Only `pass` lets others see it."""

    pending = "pending"  # asked, or still to ask (no trace id yet): the verdict comes by push
    pass_ = "pass"
    review = "review"  # WeChat is unsure: treated like risky until a person looks
    risky = "risky"
    error = "error"  # WeChat refused to check it (not a busy refusal: asking again won't help)


class Upload(db.Model):
    """An image a user uploaded (a resident's issue picture), stored under a random key.

    The bytes live in the storage (`backend.storage`); this row says whose they are, what they
    are (judged from the bytes, never from the name or declared type) and what WeChat made of them.
    """

    __tablename__ = "upload"
    # The scheduler asks again for images still pending without a trace id.
    __table_args__ = (Index("ix_upload_media_check_status_created_at", "media_check_status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    storage_key: Mapped[str] = mapped_column(String(128), unique=True)
    content_type: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int]
    height: Mapped[int]
    # Values, not member names, in the column: `pass` is a Python keyword but the API's word.
    media_check_status: Mapped[MediaCheckStatus] = mapped_column(
        Enum(MediaCheckStatus, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]),
        default=MediaCheckStatus.pending)
    # WeChat's push names the image only by this id.
    media_check_trace_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    checked_at: Mapped[datetime | None]

    owner = relationship("User")
