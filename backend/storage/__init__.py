"""Where uploaded files live: one `Storage` interface; local disk (`UPLOAD_DIR`) by default, or an
S3-compatible object store (`STORAGE_BACKEND=s3`, `backend/storage/s3.py`) shared by several app
machines, installed as `app.extensions["storage"]` when the app is created (`init_storage`).

Keys are made here (`new_key`), never from a user's file name, so a key is a safe relative path
on any backend. Everything that reads or writes a stored file goes through `get_storage()`.
"""
from __future__ import annotations

import os
import re
import secrets
import tempfile
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from flask import Flask, current_app

# Segments of letters, digits, "_" and "-" with an optional extension: never "..", never absolute.
_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*(/[A-Za-z0-9][A-Za-z0-9_\-]*)*(\.[A-Za-z0-9]{1,8})?$")


class StoredFileMissing(LookupError):
    """No file is stored under this key."""


class StorageUnavailable(OSError):
    """The store failed or refused the request (network, timeout, credentials, a missing bucket).

    Never means "no such file": a caller that answers 404 for a missing file must not answer it
    for an outage. An OSError, as a failing disk raises.
    """


class StorageMisconfigured(RuntimeError):
    """The storage settings cannot work; raised when the app is created, not at the first upload."""


@runtime_checkable
class Storage(Protocol):
    """What every backend does. A failure other than a missing file is an OSError
    (`StorageUnavailable` for a remote store), never StoredFileMissing."""

    def save(self, key: str, data: bytes, content_type: str) -> None:
        """Store `data` under `key`, whole or not at all (a reader never sees half a file)."""

    def open(self, key: str) -> BinaryIO:
        """The stored bytes as a binary file object the caller closes.

        :raise StoredFileMissing: nothing is stored under `key`.
        """

    def read(self, key: str) -> bytes:
        """:raise StoredFileMissing: nothing is stored under `key`."""

    def delete(self, key: str) -> None:
        """Forget `key`; deleting what is not there is not an error."""

    def exists(self, key: str) -> bool: ...


def new_key(prefix: str, extension: str) -> str:
    """A fresh random key such as `images/3f/3fa9….jpg`.

    The two-character directory keeps any one directory small on disk (and spreads S3 prefixes).
    """
    name = secrets.token_hex(16)
    return check_key(f"{prefix}/{name[:2]}/{name}.{extension}")


def check_key(key: str) -> str:
    if not isinstance(key, str) or len(key) > 200 or not _KEY_RE.match(key):
        raise ValueError(f"not a storage key: {key!r}")
    return key


class LocalDiskStorage:
    """Files under one directory; a key is a relative path below it."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalDiskStorage({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def save(self, key: str, data: bytes, content_type: str) -> None:
        # content_type matters to object stores (they serve it back); a file does not keep one.
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write a temporary file beside the target, then rename: the rename is atomic on one
        # filesystem, so a crash or a full disk leaves no half-written image under the key.
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

    def open(self, key: str) -> BinaryIO:
        try:
            return self._path(key).open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise StoredFileMissing(key) from None

    def read(self, key: str) -> bytes:
        with self.open(key) as stored:
            return stored.read()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()


STORAGE_BACKENDS = ("local", "s3")


def init_storage(app: Flask) -> None:
    """Install the configured store, or fail now with a message naming the setting at fault.

    Local disk installs nothing: `get_storage` builds it per call from `UPLOAD_DIR`.
    """
    backend = app.config.get("STORAGE_BACKEND") or "local"
    if backend not in STORAGE_BACKENDS:
        raise StorageMisconfigured(f"STORAGE_BACKEND={backend!r}: expected one of {', '.join(STORAGE_BACKENDS)}")
    if backend == "s3":
        # Imported only when chosen: boto3 costs a few hundred milliseconds at start-up.
        from backend.storage.s3 import S3Storage

        app.extensions["storage"] = S3Storage.from_config(app.config)


def get_storage() -> Storage:
    """The app's storage: one installed in `app.extensions["storage"]`, else local disk.

    The local one is built per call from `UPLOAD_DIR` (cheap), so a changed setting (a test's
    own directory) takes effect at once.
    """
    installed = current_app.extensions.get("storage")
    if installed is not None:
        return installed
    return LocalDiskStorage(current_app.config["UPLOAD_DIR"])
