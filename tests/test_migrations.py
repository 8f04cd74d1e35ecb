"""The schema comes from migrations: upgrading an empty database yields exactly the models."""
from __future__ import annotations

import uuid
from contextlib import contextmanager

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


@contextmanager
def _own_postgresql_database():
    """The URL of a database of its own: the shared test database holds the suite's tables."""
    name = f"lianluozhan_migrations_{uuid.uuid4().hex[:8]}"
    admin_url = TEST_DATABASE_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield TEST_DATABASE_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.postgres
def test_migrations_build_the_models_on_postgresql():
    with _own_postgresql_database() as url:
        _upgrade_and_compare(url)


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


def _rolled_up_then_migrated_again(url: str) -> None:
    """0009 on a database rolled up before it: the day and month rows get their hours to first
    reply, the days rolled up are known — as the roll-ups write them now."""
    from datetime import UTC, date, datetime, timedelta

    from sqlalchemy import text

    from backend.services.reporting import rollups
    from models import RolledUpDay, StationDayFigures, StationMonthFigures
    from tests.factories import create_issue, create_region_tree, create_station

    app = create_app(SQLALCHEMY_DATABASE_URI=url, TESTING=True)
    with app.app_context():
        upgrade()  # the categories are seeded by the migrations
        regions = create_region_tree()
        a, b = create_station(regions["township"], scene="mig-a"), create_station(regions["community"], scene="mig-b")
        # 23:30 UTC on 10-31 is 07:30 on 11-01 in Beijing: the 1st's, in November's month row.
        for station, created, hours in ((a, datetime(2026, 10, 31, 23, 30, tzinfo=UTC), 5.5),
                                        (a, datetime(2026, 11, 1, 2, 0, tzinfo=UTC), 20),
                                        (b, datetime(2026, 11, 3, 2, 0, tzinfo=UTC), 1),
                                        (b, datetime(2026, 11, 3, 3, 0, tzinfo=UTC), None)):
            create_issue(station, created_at=created,
                         first_response_at=created + timedelta(hours=hours) if hours else None)
        rollups.roll_up_days([date(2026, 11, 1) + timedelta(days=n) for n in range(5)], today=date(2026, 11, 6))

        def snapshot():
            return ({(r.station_id, r.day): round(r.first_response_hours, 6)
                     for r in db.session.scalars(db.select(StationDayFigures))},
                    {(r.station_id, r.month): round(r.first_response_hours, 6)
                     for r in db.session.scalars(db.select(StationMonthFigures))},
                    set(db.session.scalars(db.select(RolledUpDay.day).where(
                        RolledUpDay.day.in_(db.select(StationDayFigures.day))))))

        before = snapshot()
        assert before[0] == {(a.id, date(2026, 11, 1)): 25.5, (b.id, date(2026, 11, 3)): 1.0}
        assert before[1] == {(a.id, date(2026, 11, 1)): 25.5, (b.id, date(2026, 11, 1)): 1.0}
        db.session.remove()
        downgrade(revision="5c2e8f1a7d30")  # 0008: no hours, no record of the days
        assert "rolled_up_day" not in inspect(db.engine).get_table_names()
        upgrade()
        assert snapshot() == before
        assert db.session.execute(text("SELECT count(*) FROM rolled_up_day")).scalar() == 2
        db.session.remove()
        downgrade(revision="base")
        db.engine.dispose()


def test_0009_fills_in_the_hours_and_the_days_rolled_up_on_sqlite(tmp_path):
    _rolled_up_then_migrated_again(f"sqlite:///{tmp_path / 'rolled.sqlite3'}")


@pytest.mark.postgres
def test_0009_fills_in_the_hours_and_the_days_rolled_up_on_postgresql():
    with _own_postgresql_database() as url:
        _rolled_up_then_migrated_again(url)
