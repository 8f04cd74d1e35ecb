"""Clearing away uploads never attached to an issue: `purge_unattached_uploads` and
`flask uploads purge`. Attached and recent uploads stay; rows go first, then their files."""
from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from backend import clock
from backend.services.content import uploads
from backend.storage import get_storage, new_key
from models import Category, Issue, IssueImage, IssueStatus, Upload, User, db
from tests import images
from tests.factories import create_categories, create_region_tree, create_station

NOW = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def upload_dir(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "UPLOAD_DIR", str(tmp_path / "uploads"))
    return tmp_path / "uploads"


@pytest.fixture
def world(app):
    """A resident and a station with categories, to attach images to issues."""
    with app.app_context():
        create_categories()
        station = create_station(create_region_tree()["township"], scene="purge01")
        user = User(openid="fake-purge")
        db.session.add(user)
        db.session.commit()
        return {"user": user.id, "station": station.id,
                "category": db.session.scalar(db.select(Category.id).limit(1))}


def make_upload(world, age: timedelta) -> tuple[int, str]:
    """An upload of `world`'s resident made `age` before NOW, with its file; (id, key)."""
    storage = get_storage()
    key = new_key("images", "jpg")
    data = images.jpeg()
    storage.save(key, data, "image/jpeg")
    upload = Upload(owner_id=world["user"], storage_key=key, content_type="image/jpeg", size_bytes=len(data),
                    sha256="0" * 64, width=32, height=32, created_at=NOW - age)
    db.session.add(upload)
    db.session.commit()
    return upload.id, key


_issue_seq = iter(range(1, 10_000))


def attach(world, *upload_ids: int) -> None:
    issue = Issue(no=f"20261206-{next(_issue_seq):06d}", station_id=world["station"], category_id=world["category"],
                  content="路灯坏了。", submitter_id=world["user"], status=IssueStatus.submitted, content_check="pass")
    db.session.add(issue)
    db.session.flush()
    db.session.add_all(IssueImage(issue_id=issue.id, upload_id=u, position=i) for i, u in enumerate(upload_ids))
    db.session.commit()


def remaining_ids() -> set[int]:
    db.session.rollback()
    return set(db.session.scalars(db.select(Upload.id)))


def test_only_old_unattached_uploads_go_with_their_files(app, ctx, world):
    clock.freeze(NOW)
    _, old_key = make_upload(world, timedelta(hours=25))
    _, older_key = make_upload(world, timedelta(days=30))
    attached, attached_key = make_upload(world, timedelta(days=3))
    recent, recent_key = make_upload(world, timedelta(hours=23))
    edge, edge_key = make_upload(world, timedelta(hours=24))  # not older than 24 hours
    attach(world, attached)
    storage = get_storage()

    assert uploads.purge_unattached_uploads(timedelta(hours=24)) == 2

    assert remaining_ids() == {attached, recent, edge}
    assert not storage.exists(old_key) and not storage.exists(older_key)
    assert storage.exists(attached_key) and storage.exists(recent_key) and storage.exists(edge_key)
    # Nothing left to do: a second run removes nothing.
    assert uploads.purge_unattached_uploads(timedelta(hours=24)) == 0


def test_the_default_is_a_day(app, ctx, world):
    clock.freeze(NOW)
    make_upload(world, timedelta(hours=25))
    kept, _ = make_upload(world, timedelta(hours=2))
    assert uploads.purge_unattached_uploads() == 1
    assert remaining_ids() == {kept}


def test_many_uploads_are_purged_in_batches(app, ctx, world, monkeypatch):
    monkeypatch.setattr(uploads, "_PURGE_BATCH", 2)
    clock.freeze(NOW)
    made = [make_upload(world, timedelta(days=2)) for _ in range(5)]
    attached = make_upload(world, timedelta(days=2))[0]
    attach(world, attached)
    assert uploads.purge_unattached_uploads() == 5
    assert remaining_ids() == {attached}
    assert not any(get_storage().exists(key) for _id, key in made)


def test_an_upload_attached_after_it_was_picked_is_kept(app, ctx, world, monkeypatch):
    """Between choosing what to delete and deleting it, a resident submits an issue with one
    of the images: the DELETE checks again and leaves it, file and all."""
    clock.freeze(NOW)
    doomed, doomed_key = make_upload(world, timedelta(days=2))
    saved, saved_key = make_upload(world, timedelta(days=2))
    delete = uploads._delete_unattached

    def attach_first(ids, *args):
        assert set(ids) == {doomed, saved}
        with app.app_context():  # another session, committed: another request
            attach(world, saved)
        return delete(ids, *args)

    monkeypatch.setattr(uploads, "_delete_unattached", attach_first)
    assert uploads.purge_unattached_uploads() == 1
    assert remaining_ids() == {saved}
    assert get_storage().exists(saved_key) and not get_storage().exists(doomed_key)


def test_a_file_that_cannot_be_deleted_does_not_stop_the_purge(app, ctx, world, monkeypatch, caplog):
    clock.freeze(NOW)
    _, first_key = make_upload(world, timedelta(days=2))
    _, second_key = make_upload(world, timedelta(days=2))
    storage = get_storage()
    real_delete = storage.delete

    class Flaky:
        def __getattr__(self, name):
            return getattr(storage, name)

        def delete(self, key):
            if key == first_key:
                raise OSError("read-only file system")
            real_delete(key)

    monkeypatch.setitem(app.extensions, "storage", Flaky())
    assert uploads.purge_unattached_uploads() == 2
    assert remaining_ids() == set()
    assert not storage.exists(second_key)
    assert first_key in caplog.text


@pytest.mark.postgres
def test_an_attachment_committed_while_the_delete_waits_keeps_the_upload(app, ctx, world):
    """PostgreSQL: a submission holds the image (FOR KEY SHARE, as `owned_uploads` and the foreign
    key take it) while the purge's DELETE waits for it; once the submission commits the purge
    leaves the image alone."""
    clock.freeze(NOW)
    contested, contested_key = make_upload(world, timedelta(days=2))
    free, _ = make_upload(world, timedelta(days=2))

    submission = db.engine.connect()
    transaction = submission.begin()
    other = Session(bind=submission)  # another request's session, its transaction left open
    other.scalars(db.select(Upload).where(Upload.id == contested).with_for_update(read=True, key_share=True)).all()
    issue = Issue(no="20261206-000999", station_id=world["station"], category_id=world["category"],
                  content="路灯坏了。", submitter_id=world["user"], status=IssueStatus.submitted, content_check="pass")
    other.add(issue)
    other.flush()
    other.add(IssueImage(issue_id=issue.id, upload_id=contested, position=0))
    other.flush()

    result: dict = {}

    def purge():
        with app.app_context():
            try:
                result["removed"] = uploads.purge_unattached_uploads()
            except Exception as exc:  # noqa: BLE001 - reported to the test below
                result["error"] = exc

    worker = threading.Thread(target=purge)
    worker.start()
    try:
        # Wait until the purge's DELETE is blocked on the submission's lock.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            waiting = db.session.scalar(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND query LIKE 'DELETE FROM upload%'"))
            db.session.rollback()
            if waiting:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the purge never waited for the submission")
        transaction.commit()
    finally:
        if transaction.is_active:
            transaction.rollback()
        other.close()
        submission.close()
        worker.join(timeout=10)

    assert result == {"removed": 1}
    assert remaining_ids() == {contested}
    assert get_storage().exists(contested_key)
    assert free not in remaining_ids()


# --- the command ------------------------------------------------------------------------------

def test_the_command_says_how_many_it_removed(app, world):
    clock.freeze(NOW)
    with app.app_context():
        make_upload(world, timedelta(hours=30))
        make_upload(world, timedelta(hours=50))
        attached, _ = make_upload(world, timedelta(hours=50))
        attach(world, attached)
        recent, _ = make_upload(world, timedelta(hours=10))
    runner = app.test_cli_runner()

    result = runner.invoke(args=["uploads", "purge", "--older-than-hours", "40"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "已删除 1 张超过 40 小时未使用的图片。"

    result = runner.invoke(args=["uploads", "purge"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "已删除 1 张超过 24 小时未使用的图片。"
    with app.app_context():
        assert remaining_ids() == {attached, recent}


def test_the_command_refuses_less_than_an_hour(app):
    result = app.test_cli_runner().invoke(args=["uploads", "purge", "--older-than-hours", "0"])
    assert result.exit_code != 0 and "older-than-hours" in result.output
