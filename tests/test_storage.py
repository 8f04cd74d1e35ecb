"""The storage interface: its contract, kept by local disk and by the S3 backend (talking to a
real S3-compatible server over a socket), and what is particular to each."""
from __future__ import annotations

import os
import socket
import threading
import time

import pytest
from flask import Flask

from backend import create_app
from backend.storage import (
    LocalDiskStorage,
    Storage,
    StorageMisconfigured,
    StorageUnavailable,
    StoredFileMissing,
    get_storage,
    new_key,
)
from backend.storage.s3 import S3Storage, make_client
from config import load_config


@pytest.fixture(params=["local", "s3"])
def storage(request, tmp_path):
    if request.param == "local":
        return LocalDiskStorage(tmp_path / "files")
    return request.getfixturevalue("s3_storage")


@pytest.fixture
def local_storage(tmp_path):
    return LocalDiskStorage(tmp_path / "files")


# --- the contract, on both backends ---------------------------------------------------------------

def test_save_read_open_exists_delete(storage):
    key = new_key("images", "png")
    assert not storage.exists(key)
    storage.save(key, b"\x89PNG data", "image/png")
    assert storage.exists(key)
    assert storage.read(key) == b"\x89PNG data"
    with storage.open(key) as stored:
        assert stored.read() == b"\x89PNG data"
    storage.delete(key)
    assert not storage.exists(key)
    storage.delete(key)  # deleting twice is fine
    with pytest.raises(StoredFileMissing):
        storage.read(key)
    with pytest.raises(StoredFileMissing):
        storage.open(key)


def test_a_key_never_saved_is_missing_not_an_error(storage):
    key = new_key("images", "jpg")
    assert not storage.exists(key)
    with pytest.raises(StoredFileMissing):
        storage.open(key)
    with pytest.raises(StoredFileMissing):
        storage.read(key)
    storage.delete(key)


def test_open_gives_a_file_to_read_in_blocks(storage):
    key = new_key("images", "jpg")
    data = os.urandom(200_000)
    storage.save(key, data, "image/jpeg")
    with storage.open(key) as stored:
        assert stored.readable()
        blocks = []
        while block := stored.read(8192):
            assert len(block) <= 8192
            blocks.append(block)
    assert b"".join(blocks) == data and len(blocks) > 1


def test_an_empty_file_exists(storage):
    key = new_key("images", "jpg")
    storage.save(key, b"", "image/jpeg")
    assert storage.exists(key) and storage.read(key) == b""


def test_keys_are_random_and_sharded():
    first, second = new_key("images", "jpg"), new_key("images", "jpg")
    assert first != second
    prefix, shard, name = first.split("/")
    assert prefix == "images" and name.startswith(shard) and len(name) == 32 + len(".jpg")


@pytest.mark.parametrize("key", ["../escape.jpg", "images/../../etc/passwd", "/etc/passwd", "images//a.jpg",
                                 ".hidden", "images/.tmp-x", "images/a b.jpg", "", "images/a.jpg/"])
def test_keys_that_are_not_plain_relative_paths_are_refused(storage, key):
    for call in (lambda: storage.save(key, b"x", "image/jpeg"), lambda: storage.exists(key),
                 lambda: storage.read(key), lambda: storage.delete(key)):
        with pytest.raises(ValueError):
            call()


def test_saving_again_replaces_whole(storage):
    key = new_key("images", "jpg")
    storage.save(key, b"first version, longer", "image/jpeg")
    storage.save(key, b"second", "image/jpeg")
    assert storage.read(key) == b"second"


def test_every_backend_is_a_storage(storage):
    assert isinstance(storage, Storage)


# --- local disk -------------------------------------------------------------------------------------

def test_local_files_are_plain_files_under_the_root(local_storage, tmp_path):
    key = new_key("images", "png")
    local_storage.save(key, b"\x89PNG data", "image/png")
    assert (tmp_path / "files" / key).read_bytes() == b"\x89PNG data"


def test_a_failed_write_leaves_nothing_behind(local_storage, tmp_path, monkeypatch):
    key = new_key("images", "jpg")

    def disk_full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(OSError):
        local_storage.save(key, b"data", "image/jpeg")
    assert not local_storage.exists(key)
    assert [p for p in (tmp_path / "files").rglob("*") if p.is_file()] == []


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


# --- S3 -------------------------------------------------------------------------------------------

def test_s3_keeps_the_content_type_under_the_prefix(s3_config, s3_client):
    storage = S3Storage.from_config(s3_config)
    key = new_key("images", "webp")
    storage.save(key, b"RIFF....WEBP", "image/webp")
    listed = s3_client.list_objects_v2(Bucket=s3_config["S3_BUCKET"])
    assert [item["Key"] for item in listed["Contents"]] == [f"llz/test/{key}"]
    head = s3_client.head_object(Bucket=s3_config["S3_BUCKET"], Key=f"llz/test/{key}")
    assert head["ContentType"] == "image/webp" and head["ContentLength"] == len(b"RIFF....WEBP")


def test_s3_prefixes_keep_deployments_apart(s3_config, s3_client):
    bucket = s3_config["S3_BUCKET"]
    county = S3Storage(s3_client, bucket, "county-a/")
    other = S3Storage(s3_client, bucket, "/county-b")
    bare = S3Storage(s3_client, bucket)
    key = new_key("images", "jpg")
    county.save(key, b"a", "image/jpeg")
    assert county.exists(key) and not other.exists(key) and not bare.exists(key)
    with pytest.raises(StoredFileMissing):
        other.read(key)
    other.delete(key)  # another deployment's delete cannot touch it
    assert county.read(key) == b"a"
    bare.save(key, b"b", "image/jpeg")
    assert sorted(item["Key"] for item in s3_client.list_objects_v2(Bucket=bucket)["Contents"]) == sorted([key, f"county-a/{key}"])


def test_a_missing_bucket_is_an_outage_not_a_missing_file(s3_config, s3_client):
    storage = S3Storage(s3_client, "llz-no-such-bucket")
    key = new_key("images", "jpg")
    for call in (lambda: storage.open(key), lambda: storage.read(key), lambda: storage.exists(key),
                 lambda: storage.save(key, b"x", "image/jpeg"), lambda: storage.delete(key)):
        with pytest.raises(StorageUnavailable, match="NoSuchBucket"):
            call()


def test_refused_credentials_are_an_outage_not_a_missing_file(s3_server, s3_config):
    import requests

    storage = S3Storage.from_config(s3_config)
    key = new_key("images", "jpg")
    # From now on the server checks signatures against the accounts it knows: ours is unknown.
    requests.post(f"{s3_server}/moto-api/reset-auth", data=b"0", timeout=5).raise_for_status()
    try:
        for call in (lambda: storage.open(key), lambda: storage.read(key), lambda: storage.exists(key),
                     lambda: storage.save(key, b"x", "image/jpeg"), lambda: storage.delete(key)):
            with pytest.raises(StorageUnavailable, match="403 InvalidAccessKeyId"):
                call()
    finally:
        requests.post(f"{s3_server}/moto-api/reset-auth", data=b"inf", timeout=5).raise_for_status()
    assert not storage.exists(key)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_store_is_an_outage(s3_config):
    storage = S3Storage.from_config({**s3_config, "S3_ENDPOINT_URL": f"http://127.0.0.1:{_free_port()}"})
    key = new_key("images", "jpg")
    for call in (lambda: storage.open(key), lambda: storage.exists(key),
                 lambda: storage.save(key, b"x", "image/jpeg"), lambda: storage.delete(key)):
        with pytest.raises(StorageUnavailable):
            call()


class _SilentServer:
    """Accepts connections and never answers: a store that hangs."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def _accept(self):
        try:
            while True:
                self.accepted.append(self.listener.accept()[0])
        except OSError:  # closed
            return

    def close(self):
        self.listener.close()
        for conn in self.accepted:
            conn.close()


def test_a_hanging_store_holds_a_worker_only_for_the_bounded_attempts(s3_config):
    silent = _SilentServer()
    try:
        storage = S3Storage.from_config({**s3_config, "S3_ENDPOINT_URL": silent.url, "S3_READ_TIMEOUT_SECONDS": 0.3,
                                         "S3_MAX_ATTEMPTS": 2})
        started = time.monotonic()
        with pytest.raises(StorageUnavailable, match="timeout"):
            storage.read(new_key("images", "jpg"))
        elapsed = time.monotonic() - started
        assert 0.6 <= elapsed < 3, elapsed  # two attempts of 0.3 s, a short backoff between
        assert len(silent.accepted) == 2
    finally:
        silent.close()


def test_the_client_is_bounded_as_configured(s3_config):
    client = make_client({**s3_config, "S3_CONNECT_TIMEOUT_SECONDS": 1.5, "S3_READ_TIMEOUT_SECONDS": 4.0,
                          "S3_MAX_ATTEMPTS": 3})
    config = client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (1.5, 4.0)
    assert config.retries == {"mode": "standard", "total_max_attempts": 3}
    assert config.s3 == {"addressing_style": "path"}
    assert client.meta.endpoint_url == s3_config["S3_ENDPOINT_URL"]


# --- settings checked when the app is created -----------------------------------------------------

def _app(**settings):
    return create_app(TESTING=True, SQLALCHEMY_DATABASE_URI="sqlite://", **settings)


def test_the_app_installs_s3_when_configured(s3_config):
    app = _app(**{name: value for name, value in s3_config.items() if name.startswith(("STORAGE_", "S3_"))})
    installed = app.extensions["storage"]
    assert isinstance(installed, S3Storage)
    assert (installed.bucket, installed.prefix) == (s3_config["S3_BUCKET"], "llz/test/")
    with app.app_context():
        assert get_storage() is installed
        key = new_key("images", "jpg")
        get_storage().save(key, b"shared", "image/jpeg")
    # Another app machine with the same settings sees the same file.
    with _app(**{n: v for n, v in s3_config.items() if n.startswith(("STORAGE_", "S3_"))}).app_context():
        assert get_storage().read(key) == b"shared"


def test_local_disk_is_the_default():
    settings = load_config()
    if settings["STORAGE_BACKEND"] != "local":
        pytest.skip("STORAGE_BACKEND is set in this shell")
    assert "storage" not in _app().extensions


@pytest.mark.parametrize("settings, complaint", [
    ({"STORAGE_BACKEND": "s3", "S3_BUCKET": None}, "needs S3_BUCKET"),
    ({"STORAGE_BACKEND": "s3", "S3_BUCKET": ""}, "needs S3_BUCKET"),
    ({"STORAGE_BACKEND": "nfs"}, "STORAGE_BACKEND='nfs'"),
    ({"STORAGE_BACKEND": "s3", "S3_BUCKET": "b-1", "S3_ACCESS_KEY_ID": "id", "S3_SECRET_ACCESS_KEY": None},
     "both S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY"),
    ({"STORAGE_BACKEND": "s3", "S3_BUCKET": "b-1", "S3_ADDRESSING_STYLE": "subdomain"}, "S3_ADDRESSING_STYLE"),
    ({"STORAGE_BACKEND": "s3", "S3_BUCKET": "b-1", "S3_PREFIX": "../up"}, "S3_PREFIX"),
    ({"STORAGE_BACKEND": "s3", "S3_BUCKET": "b-1", "S3_READ_TIMEOUT_SECONDS": 0}, "must be positive"),
    ({"STORAGE_BACKEND": "s3", "S3_BUCKET": "b-1", "S3_MAX_ATTEMPTS": 0}, "at least 1"),
])
def test_settings_that_cannot_work_stop_the_app_at_start(settings, complaint):
    with pytest.raises(StorageMisconfigured, match=complaint.replace("(", r"\(")):
        _app(**settings)


def test_storage_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("STORAGE_BACKEND", " S3 ")
    monkeypatch.setenv("S3_BUCKET", "llz-images")
    monkeypatch.setenv("S3_ENDPOINT_URL", "https://oss-cn-hangzhou.aliyuncs.com")
    monkeypatch.setenv("S3_ADDRESSING_STYLE", "virtual")
    monkeypatch.setenv("S3_MAX_ATTEMPTS", "3")
    monkeypatch.delenv("S3_ACCESS_KEY_ID", raising=False)
    settings = load_config()
    assert settings["STORAGE_BACKEND"] == "s3" and settings["S3_BUCKET"] == "llz-images"
    assert settings["S3_ENDPOINT_URL"] == "https://oss-cn-hangzhou.aliyuncs.com"
    assert (settings["S3_ADDRESSING_STYLE"], settings["S3_MAX_ATTEMPTS"]) == ("virtual", 3)
    assert settings["S3_ACCESS_KEY_ID"] is None and settings["S3_PREFIX"] == ""
