"""Uploaded files on local disk (`UPLOAD_DIR`), the default store."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO

from backend.storage.base import StoredFileMissing, check_key


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
