"""Generations are bumped when, and only when, the outermost transaction commits; and a
savepoint nests inside the request's transaction on every database."""
from __future__ import annotations

import pytest

from backend.caches import tagged_cache
from backend.services.issues.issue_page_cache import EVERYTHING
from models import Category, db
from tests.factories import create_categories


def _gen(app) -> bytes:
    return tagged_cache.generation(EVERYTHING)


@pytest.mark.redis
def test_a_savepoint_rolled_back_does_not_forget_the_changes_before_it(app, ctx):
    create_categories()
    before = _gen(app)
    db.session.scalar(db.select(Category).filter_by(name="其他")).sort_order = 99
    db.session.flush()
    savepoint = db.session.begin_nested()
    savepoint.rollback()
    assert _gen(app) == before
    db.session.commit()
    assert int(_gen(app)) == int(before) + 1


@pytest.mark.redis
def test_a_savepoint_released_inside_a_transaction_rolled_back_bumps_nothing(app, ctx):
    create_categories()
    before = _gen(app)
    with db.session.begin_nested():
        db.session.scalar(db.select(Category).filter_by(name="其他")).sort_order = 98
    db.session.rollback()
    assert _gen(app) == before
    assert db.session.scalar(db.select(Category.sort_order).filter_by(name="其他")) != 98


def test_a_rollback_undoes_what_a_savepoint_released_before_any_other_write(ctx):
    """SQLite's driver would let the savepoint's RELEASE commit on its own (backend/extensions.py)."""
    create_categories()
    with db.session.begin_nested():
        db.session.add(Category(name="临时分类", sort_order=50))
    db.session.rollback()
    assert db.session.scalar(db.select(Category).filter_by(name="临时分类")) is None
