"""The schema comes from migrations: upgrading an empty database yields exactly the models."""
from __future__ import annotations

import uuid

import psycopg
import pytest
from flask_migrate import check, downgrade, upgrade
from sqlalchemy import inspect

from backend import create_app
from models import db
from tests.conftest import TEST_DATABASE_URL


def _upgrade_and_compare(url: str) -> None:
    app = create_app(SQLALCHEMY_DATABASE_URI=url, TESTING=True)
    with app.app_context():
        upgrade()
        tables = set(inspect(db.engine).get_table_names())
        assert set(db.metadata.tables) <= tables
        check()  # raises when the models and the migrated schema differ
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        db.engine.dispose()


def test_migrations_build_the_models_on_sqlite(tmp_path):
    _upgrade_and_compare(f"sqlite:///{tmp_path / 'migrated.sqlite3'}")


@pytest.mark.postgres
def test_migrations_build_the_models_on_postgresql():
    # A database of its own: the shared test database holds the suite's tables.
    name = f"lianluozhan_migrations_{uuid.uuid4().hex[:8]}"
    admin_url = TEST_DATABASE_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        _upgrade_and_compare(TEST_DATABASE_URL.rsplit("/", 1)[0] + "/" + name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_0008_encrypts_the_deputies_phones_already_stored(tmp_path):
    from sqlalchemy import text

    from models import Deputy

    app = create_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'phones.sqlite3'}", TESTING=True)
    with app.app_context():
        upgrade(revision="3b7e5d21c9f4")  # 0007: phones in plain text
        db.session.execute(text("INSERT INTO deputy (name, phone, created_at) VALUES "
                                "('张三', '13800001234', '2026-01-01 00:00:00'), ('李四', NULL, '2026-01-01 00:00:00')"))
        db.session.commit()
        upgrade()
        raw = db.session.execute(text("SELECT phone FROM deputy ORDER BY id")).scalars().all()
        assert raw[0] and "13800001234" not in raw[0] and raw[1] is None
        assert [d.phone for d in db.session.scalars(db.select(Deputy).order_by(Deputy.id))] == ["13800001234", None]
        db.session.remove()
        downgrade(revision="3b7e5d21c9f4")
        assert db.session.execute(text("SELECT phone FROM deputy ORDER BY id")).scalars().all() == [
            "13800001234", None]
        db.session.remove()
        db.engine.dispose()
