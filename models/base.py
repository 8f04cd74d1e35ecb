"""The declarative base, the shared `db` object and column types used by every model."""
from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, MetaData, String, TypeDecorator
from sqlalchemy.orm import DeclarativeBase, registry

# Stable constraint names, so migrations can drop and alter constraints on both engines.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """An aware UTC datetime on both engines.

    SQLite keeps no zone, so values are normalised to UTC on the way in and marked UTC on the
    way out; Asia/Shanghai is applied only at the edges (serialisers, date rules).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class EncryptedString(TypeDecorator):
    """Personal data encrypted at rest; plain text in Python.

    Encrypted with the app's data key by the cipher `backend.crypto` installs in
    `app.extensions["data_cipher"]` (models import nothing from backend/). The ciphertext is
    not deterministic: such a column can be read and written, never searched or compared in SQL.
    A value the key cannot decrypt (a wrong or rotated key) reads as None, never as ciphertext.
    """

    impl = String(255)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else current_app.extensions["data_cipher"].encrypt(value)

    def process_result_value(self, value, dialect):
        return None if value is None else current_app.extensions["data_cipher"].decrypt(value)


class Base(DeclarativeBase):
    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime()},
    )


db = SQLAlchemy(model_class=Base)


def utcnow() -> datetime:
    return datetime.now(UTC)
