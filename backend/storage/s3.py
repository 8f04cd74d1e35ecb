"""Residents' images in an S3-compatible object store (AWS S3, MinIO, 阿里云 OSS, 腾讯云 COS …), so
that several app machines share them. Chosen with `STORAGE_BACKEND=s3`; `storage.init_storage`
installs one `S3Storage` per app.

Images are still served by the app through its signed `/media` links, never by presigned links
to the store: county networks and WeChat's image check reach the app's public address but may not
reach the store; a mini-program may only load images from the domains registered in its admin;
and `/media` checks the image's WeChat verdict on every fetch (a later "risky" withdraws links
already handed out), which a presigned link cannot do. The cost is that the bytes pass through a
web worker, bounded by the client's timeouts below.
"""
from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any, BinaryIO

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from backend.storage.base import StorageMisconfigured, StorageUnavailable, StoredFileMissing, check_key

ADDRESSING_STYLES = ("auto", "path", "virtual")
# The one answer that means "no object under this key" (a GET's or a DELETE's XML error). Not
# NoSuchBucket, AccessDenied, nor a bare 404 from a proxy at the wrong address: those are a
# broken deployment, not a missing image.
_NO_SUCH_KEY = "NoSuchKey"


def make_client(config: Mapping[str, Any]):
    """A boto3 S3 client from the S3_* settings.

    One per app: clients are thread-safe (sessions are not, so the session lives only here).
    Without S3_ACCESS_KEY_ID boto3's own chain finds credentials (environment, ~/.aws, an
    instance role). Timeouts and attempts are bounded so that a slow store holds a web worker
    at most about S3_MAX_ATTEMPTS × (connect + read timeout).
    """
    session = boto3.session.Session(
        aws_access_key_id=config.get("S3_ACCESS_KEY_ID"),
        aws_secret_access_key=config.get("S3_SECRET_ACCESS_KEY"),
        region_name=config.get("S3_REGION"),
    )
    client_config = Config(
        connect_timeout=config["S3_CONNECT_TIMEOUT_SECONDS"],
        read_timeout=config["S3_READ_TIMEOUT_SECONDS"],
        retries={"mode": "standard", "total_max_attempts": config["S3_MAX_ATTEMPTS"]},
        s3={"addressing_style": config["S3_ADDRESSING_STYLE"]},
        # boto3 ≥ 1.36 adds CRC checksum headers to every upload by default, which several
        # S3-compatible stores refuse; checksums only where an operation requires one. The
        # upload's integrity is checked with Content-MD5, which they all understand.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return session.client("s3", endpoint_url=config.get("S3_ENDPOINT_URL"), config=client_config)


def normalize_prefix(prefix: str | None) -> str:
    """The prefix as keys begin with it ("/county-a" → "county-a/", "" → ""), as plain as a key."""
    prefix = (prefix or "").strip("/")
    if not prefix:
        return ""
    try:
        check_key(prefix)
    except ValueError:
        raise StorageMisconfigured(f"S3_PREFIX={prefix!r}: letters, digits, '_', '-' and '/' only") from None
    return prefix + "/"


def check_config(config: Mapping[str, Any]) -> None:
    """:raise StorageMisconfigured: settings with which no request could work."""
    if not config.get("S3_BUCKET"):
        raise StorageMisconfigured("STORAGE_BACKEND=s3 needs S3_BUCKET: the bucket residents' images are kept in")
    if bool(config.get("S3_ACCESS_KEY_ID")) != bool(config.get("S3_SECRET_ACCESS_KEY")):
        raise StorageMisconfigured("set both S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY, or neither "
                                   "(then boto3 looks for credentials in its usual places)")
    if config.get("S3_ADDRESSING_STYLE") not in ADDRESSING_STYLES:
        raise StorageMisconfigured(f"S3_ADDRESSING_STYLE={config.get('S3_ADDRESSING_STYLE')!r}: "
                                   f"expected one of {', '.join(ADDRESSING_STYLES)}")
    if not config["S3_CONNECT_TIMEOUT_SECONDS"] > 0 or not config["S3_READ_TIMEOUT_SECONDS"] > 0:
        raise StorageMisconfigured("S3_CONNECT_TIMEOUT_SECONDS and S3_READ_TIMEOUT_SECONDS must be positive")
    if config["S3_MAX_ATTEMPTS"] < 1:
        raise StorageMisconfigured("S3_MAX_ATTEMPTS must be at least 1")


class S3Storage:
    """Objects in one bucket, each key below an optional prefix (one bucket, several deployments)."""

    def __init__(self, client, bucket: str, prefix: str = ""):
        self.client = client
        self.bucket = bucket
        self.prefix = normalize_prefix(prefix)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> S3Storage:
        """:raise StorageMisconfigured: see `check_config`."""
        check_config(config)
        return cls(make_client(config), config["S3_BUCKET"], config.get("S3_PREFIX") or "")

    def __repr__(self) -> str:
        return f"S3Storage({self.bucket!r}, prefix={self.prefix!r})"

    def object_key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def save(self, key: str, data: bytes, content_type: str) -> None:
        # A PUT replaces the object whole or not at all: readers never see half an image. The
        # store checks the body against Content-MD5 and refuses one damaged on the way.
        digest = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        self._call("put_object", key, Body=data, ContentType=content_type, ContentMD5=digest)

    def open(self, key: str) -> BinaryIO:
        # The body streams from the store as the caller reads it (`/media` sends it on in
        # blocks), and holds a pooled connection until closed.
        return self._call("get_object", key, may_be_missing=True)["Body"]

    def read(self, key: str) -> bytes:
        body = self.open(key)
        try:
            return body.read()
        except BotoCoreError as exc:  # a read timeout or a connection dropped mid-body
            raise StorageUnavailable(f"S3 get_object {key}: {exc}") from exc
        finally:
            body.close()

    def delete(self, key: str) -> None:
        # S3 answers 204 for a key that is not there; a store that answers NoSuchKey is fine too.
        self._call("delete_object", key, tolerate=(_NO_SUCH_KEY,))

    def exists(self, key: str) -> bool:
        # A one-byte GET rather than a HEAD: a HEAD's 404 has no body, so "no such key" and "no
        # such bucket" would look alike, and a wrong bucket must not read as "no file".
        try:
            # InvalidRange: the object is empty, so it has no byte 0 — but it is there.
            answer = self._call("get_object", key, may_be_missing=True, tolerate=("InvalidRange",),
                                Range="bytes=0-0")
        except StoredFileMissing:
            return False
        if answer is not None:
            answer["Body"].close()
        return True

    def _call(self, operation: str, key: str, *, may_be_missing: bool = False, tolerate: tuple[str, ...] = (),
              **params) -> dict | None:
        """One request for `key`: its answer, or None for an error code in `tolerate`.

        :raise StoredFileMissing: the store says NoSuchKey (only when `may_be_missing`).
        :raise StorageUnavailable: any other failure — network, timeout, credentials, bucket.
        """
        try:
            return getattr(self.client, operation)(Bucket=self.bucket, Key=self.object_key(key), **params)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = error.get("Code")
            if may_be_missing and code == _NO_SUCH_KEY:
                raise StoredFileMissing(key) from None
            if code in tolerate:
                return None
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            raise StorageUnavailable(f"S3 {operation} {key}: {status} {code} {error.get('Message', '')}") from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(f"S3 {operation} {key}: {exc}") from exc
