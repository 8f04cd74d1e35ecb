"""The storage interface and its local-disk default."""
from __future__ import annotations

import os

import pytest
from flask import Flask

from backend.storage import LocalDiskStorage, Storage, StoredFileMissing, get_storage, new_key


@pytest.fixture
def storage(tmp_path):
    return LocalDiskStorage(tmp_path / "files")


def test_save_read_open_exists_delete(storage, tmp_path):
    key = new_key("images", "png")
    assert not storage.exists(key)
    storage.save(key, b"\x89PNG data", "image/png")
    assert storage.exists(key)
    assert storage.read(key) == b"\x89PNG data"
    with storage.open(key) as stored:
        assert stored.read() == b"\x89PNG data"
    assert (tmp_path / "files" / key).read_bytes() == b"\x89PNG data"
    storage.delete(key)
    assert not storage.exists(key)
    storage.delete(key)  # deleting twice is fine
    with pytest.raises(StoredFileMissing):
        storage.read(key)
    with pytest.raises(StoredFileMissing):
        storage.open(key)


def test_keys_are_random_and_sharded():
    first, second = new_key("images", "jpg"), new_key("images", "jpg")
    assert first != second
    prefix, shard, name = first.split("/")
    assert prefix == "images" and name.startswith(shard) and len(name) == 32 + len(".jpg")


@pytest.mark.parametrize("key", ["../escape.jpg", "images/../../etc/passwd", "/etc/passwd", "images//a.jpg",
                                 ".hidden", "images/.tmp-x", "images/a b.jpg", "", "images/a.jpg/"])
def test_keys_that_are_not_plain_relative_paths_are_refused(storage, key):
    with pytest.raises(ValueError):
        storage.save(key, b"x", "image/jpeg")
    with pytest.raises(ValueError):
        storage.exists(key)


def test_a_failed_write_leaves_nothing_behind(storage, tmp_path, monkeypatch):
    key = new_key("images", "jpg")

    def disk_full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(OSError):
        storage.save(key, b"data", "image/jpeg")
    assert not storage.exists(key)
    assert [p for p in (tmp_path / "files").rglob("*") if p.is_file()] == []


def test_saving_again_replaces_whole(storage):
    key = new_key("images", "jpg")
    storage.save(key, b"first version, longer", "image/jpeg")
    storage.save(key, b"second", "image/jpeg")
    assert storage.read(key) == b"second"


def test_local_disk_storage_is_a_storage(storage):
    assert isinstance(storage, Storage)


def test_get_storage_follows_the_setting_or_the_installed_one(tmp_path):
    app = Flask("storage_test")
    app.config["UPLOAD_DIR"] = str(tmp_path / "a")
    with app.app_context():
        assert get_storage().root == tmp_path / "a"
        app.config["UPLOAD_DIR"] = str(tmp_path / "b")
        assert get_storage().root == tmp_path / "b"
        installed = LocalDiskStorage(tmp_path / "s3-stand-in")
        app.extensions["storage"] = installed
        assert get_storage() is installed
