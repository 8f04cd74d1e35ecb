"""What every store of uploaded files is: the `Storage` interface, its errors, and the keys
files are stored under — made here (`new_key`), never from a user's file name, so a key is a safe
relative path on any backend."""
from __future__ import annotations

import re
import secrets
from typing import BinaryIO, Protocol, runtime_checkable

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
