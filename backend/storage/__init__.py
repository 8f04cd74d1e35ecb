"""Where uploaded files live: one `Storage` interface (`base`); local disk (`UPLOAD_DIR`, `local`)
by default, or an S3-compatible object store (`STORAGE_BACKEND=s3`, `s3`) shared by several app
machines, installed as `app.extensions["storage"]` when the app is created (`init_storage`).

Everything that reads or writes a stored file goes through `get_storage()`.
"""
from __future__ import annotations

from flask import Flask, current_app

from backend.storage.base import (  # noqa: F401  (the package's face: callers import these from here)
    Storage,
    StorageMisconfigured,
    StorageUnavailable,
    StoredFileMissing,
    check_key,
    new_key,
)
from backend.storage.local import LocalDiskStorage

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
