"""Residents' images: judged by their bytes, stored under random keys, checked by WeChat, and
shown through signed, expiring `/media` links.

Who sees an image: its sender always; anyone else only after WeChat's image check
(mediaCheckAsync v2) said "pass". Who "anyone else" is — the issue's deputies, its station's
staff — is for the issue service to decide: it calls `media_url` only for viewers who may see
the issue, and gets None back while the image may not be shown to them yet.

Links are signed rather than guarded by the bearer token because the mini-program's `<image>`
cannot send an Authorization header. A link names its audience (sender, viewer, moderator,
WeChat) and the `/media` route serves a viewer's link only while the image still passes.
"""
from __future__ import annotations

import hashlib
import io
import logging
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import BinaryIO

from flask import current_app
from itsdangerous import Signer
from PIL import Image, ImageOps
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import FileStorage

from backend import clock
from backend.caches import rate_limit
from backend.errors import InvalidInput, NotFound, PayloadTooLarge, UnsupportedMediaType
from backend.storage import StoredFileMissing, get_storage, new_key
from backend.wechat import WeChatError, WeChatUnavailable, get_gateway
from models import IssueImage, MediaCheckStatus, Upload, User, db

log = logging.getLogger(__name__)

MEDIA_RULE = "/media/<int:upload_id>"
_SALT = "lianluozhan.media-link.v1"
# Link expiries are rounded up to this step, so the links handed out within one step are the
# same URL and the mini-program's image cache can reuse what it fetched.
_EXPIRY_STEP_SECONDS = 600

# Audiences of a link.
OWNER, VIEWER, MODERATOR, WECHAT = "o", "v", "m", "w"
_AUDIENCES = (OWNER, VIEWER, MODERATOR, WECHAT)

ACCEPTED_TYPES = ("image/jpeg", "image/png", "image/webp")


class UnsupportedImage(UnsupportedMediaType):
    message = "仅支持 JPG、PNG、WebP 格式的图片，请重新选择"

    def __init__(self, message: str | None = None):
        super().__init__(message, details={"accepted": list(ACCEPTED_TYPES)})


class ImageTooLarge(PayloadTooLarge):
    def __init__(self, message: str | None = None):
        limit = current_app.config["UPLOAD_MAX_BYTES"]
        super().__init__(message or f"图片不能超过{limit / (1024 * 1024):g}MB，请压缩后再上传",
                         details={"max_bytes": limit})


@dataclass(frozen=True)
class ImageFormat:
    pillow: str
    content_type: str
    extension: str


JPEG = ImageFormat("JPEG", "image/jpeg", "jpg")
PNG = ImageFormat("PNG", "image/png", "png")
WEBP = ImageFormat("WEBP", "image/webp", "webp")


@dataclass(frozen=True)
class ImageInfo:
    format: ImageFormat
    width: int  # as displayed: EXIF rotation applied
    height: int


@dataclass
class MediaFile:
    """What `/media` sends: the bytes, their type and length, an ETag and how long a browser may
    keep them."""

    stream: BinaryIO
    content_type: str
    size: int
    etag: str
    max_age: int


# --- judging the bytes ------------------------------------------------------------------------

def sniff(data: bytes) -> ImageFormat | None:
    """The format the magic numbers announce, whatever the file was called or declared as."""
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    return None


def inspect_image(data: bytes, max_pixels: int) -> ImageInfo:
    """What the image is, once its magic numbers and a full decode agree it is one.

    :raise 415 unsupported_media_type: not JPEG, PNG or WebP, or corrupt or truncated.
    :raise 413 payload_too_large: more than `max_pixels` pixels (decoding would exhaust memory).
    """
    fmt = sniff(data)
    if fmt is None:
        raise UnsupportedImage()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[fmt.pillow]) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise ImageTooLarge("图片分辨率过高，请压缩后再上传")
                image.verify()  # checksums and structure, without decoding
            # verify() leaves the image unusable; a decode from a fresh open finds truncated data.
            with Image.open(io.BytesIO(data), formats=[fmt.pillow]) as image:
                if fmt is JPEG:
                    # Decode at 1/8 scale: every byte is still read, with 1/64 of the memory.
                    image.draft(None, (max(1, width // 8), max(1, height // 8)))
                image.load()
                orientation = image.getexif().get(0x0112)
    except ImageTooLarge:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLarge("图片分辨率过高，请压缩后再上传") from None
    except Exception:  # noqa: BLE001 - hostile bytes make Pillow raise almost anything
        raise UnsupportedImage("图片已损坏或不完整，请重新选择") from None
    if orientation in (5, 6, 7, 8):  # rotated a quarter turn: shown the other way round
        width, height = height, width
    return ImageInfo(fmt, width, height)


GPS_IFD = 0x8825


def without_location(data: bytes, fmt: ImageFormat) -> bytes:
    """The image without where it was taken.

    Phones write GPS coordinates into photos; kept, they would tell deputies and staff where an
    anonymous resident stood. A photo that carries them is re-encoded without any metadata,
    turned upright first so people still see it as taken. Others are kept byte for byte.
    """
    with Image.open(io.BytesIO(data), formats=[fmt.pillow]) as image:
        if GPS_IFD not in image.getexif():
            return data
        upright = ImageOps.exif_transpose(image)
        out = io.BytesIO()
        options = {"quality": 92} if fmt is JPEG else {"quality": 90} if fmt is WEBP else {}
        upright.save(out, format=fmt.pillow, **options)
        return out.getvalue()


# --- uploading ----------------------------------------------------------------------------------

def create_upload(user: User, file: FileStorage | None) -> Upload:
    """Store `user`'s image and ask WeChat to check it.

    Commits the new row before asking WeChat: WeChat fetches the image through its link, which
    must already work. If WeChat cannot be asked now the image stays `pending` without a trace
    id, for the scheduler to ask again. An upload refused for any reason does not count against
    the hourly limit (see `backend.caches.rate_limit`).

    :raise 400 invalid_input: no `file` part, or an empty one.
    :raise 413 payload_too_large: more than UPLOAD_MAX_BYTES (or UPLOAD_MAX_PIXELS).
    :raise 415 unsupported_media_type: not a whole JPEG, PNG or WebP image.
    :raise 429 rate_limited: UPLOAD_MAX_PER_HOUR uploads by `user` in the last hour.
    """
    with _upload_slot(user):
        if file is None:
            raise InvalidInput({"file": "请选择要上传的图片"})
        limit = current_app.config["UPLOAD_MAX_BYTES"]
        data = file.stream.read(limit + 1)
        if len(data) > limit:
            raise ImageTooLarge()
        if not data:
            raise InvalidInput({"file": "请选择要上传的图片"})
        info = inspect_image(data, current_app.config["UPLOAD_MAX_PIXELS"])
        data = without_location(data, info.format)

        storage = get_storage()
        key = new_key("images", info.format.extension)
        storage.save(key, data, info.format.content_type)
        upload = Upload(owner_id=user.id, storage_key=key, content_type=info.format.content_type,
                        size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest(),
                        width=info.width, height=info.height,
                        media_check_status=MediaCheckStatus.pending, created_at=clock.now())
        db.session.add(upload)
        try:
            db.session.commit()
        except BaseException:
            db.session.rollback()
            storage.delete(key)  # no row, no file
            raise
    request_media_check(upload)
    return upload


UPLOAD_RATE_BUCKET = "upload"
_UPLOAD_RATE_WINDOW = timedelta(hours=1)


def _upload_slot(user: User):
    """A slot in the user's hourly upload limit, given back if the upload fails."""
    limit = current_app.config["UPLOAD_MAX_PER_HOUR"]

    def count_in_db() -> int:
        since = clock.now() - _UPLOAD_RATE_WINDOW
        return db.session.scalar(db.select(db.func.count(Upload.id)).where(
            Upload.owner_id == user.id, Upload.created_at > since))

    return rate_limit.reserve(UPLOAD_RATE_BUCKET, user.id, limit, _UPLOAD_RATE_WINDOW, count_in_db,
                              message=f"上传过于频繁，每小时最多上传{limit}张图片，请稍后再试")


def request_media_check(upload: Upload) -> bool:
    """Ask WeChat to check the image (mediaCheckAsync v2); the verdict arrives later by push.

    True when WeChat took the request (its trace id is stored). WeChat busy or unreachable:
    False, still pending, to be asked again. WeChat refusing the request itself: `error`.
    Flushes; never raises for WeChat's sake.
    """
    openid = upload.owner.openid if upload.owner is not None else None
    if not openid:
        # mediaCheckAsync needs the sender's openid; a staff account has none.
        _set_status(upload, MediaCheckStatus.error)
        return False
    payload = {
        # WeChat downloads the image from outside, so the link is public and lasts a day.
        "media_url": _link(upload.id, WECHAT, current_app.config["MEDIA_CHECK_URL_TTL_SECONDS"]),
        "media_type": 2,  # an image
        "version": 2,
        "scene": current_app.config["CONTENT_CHECK_SCENE"],
        "openid": openid,
    }
    try:
        answer = get_gateway().post_json("wxa/media_check_async", payload)
    except WeChatUnavailable:
        return False
    except WeChatError as exc:
        log.warning("media check refused for upload %s: errcode=%s", upload.id, exc.errcode)
        _set_status(upload, MediaCheckStatus.error)
        return False
    # The HTTPS answer says trace_id; WeChat's cloud call is reported to say traceId.
    trace_id = answer.get("trace_id") or answer.get("traceId")
    if not trace_id:
        log.warning("media check answered without a trace id for upload %s", upload.id)
        return False
    upload.media_check_trace_id = str(trace_id)
    db.session.flush()
    return True


def record_media_verdict(trace_id: str, suggest: str) -> Upload | None:
    """Store WeChat's verdict on the image it checked under `trace_id` (for the push callback).

    `suggest` is WeChat's "pass", "review" or "risky"; anything else records `error`. Returns
    the upload, or None for a trace id we never got (logged, not an error: pushes are retried).
    Flushes.
    """
    # No trace id must not match the uploads still waiting for one (`== None` is IS NULL).
    upload = db.session.scalar(db.select(Upload).where(Upload.media_check_trace_id == trace_id)) if trace_id else None
    if upload is None:
        log.warning("media check verdict for an unknown trace id %s", trace_id)
        return None
    status = {"pass": MediaCheckStatus.pass_, "review": MediaCheckStatus.review,
              "risky": MediaCheckStatus.risky}.get(suggest, MediaCheckStatus.error)
    _set_status(upload, status)
    if status is not MediaCheckStatus.pass_:
        log.info("media check: upload %s is %s (trace_id=%s)", upload.id, status.value, trace_id)
    return upload


def _set_status(upload: Upload, status: MediaCheckStatus) -> None:
    upload.media_check_status = status
    upload.checked_at = clock.now()
    db.session.flush()


def owned_uploads(owner_id: int, upload_ids) -> list[Upload]:
    """`owner_id`'s uploads with these ids, in the order given (to attach to an issue).

    The media check status is not judged here: the caller decides what a pending or risky
    image means for what it attaches them to.

    :raise 400 invalid_input (`details.fields.images`): an id twice, or one not theirs.
    """
    ids = list(upload_ids)
    if not ids:
        return []
    if len(set(ids)) != len(ids):
        raise InvalidInput({"images": "同一张图片只能添加一次"})
    # FOR KEY SHARE (PostgreSQL): until the caller's transaction ends, the purge of unattached
    # uploads waits for it instead of deleting an image being attached; an image it deleted
    # first is simply not found.
    found = {u.id: u for u in db.session.scalars(
        db.select(Upload).where(Upload.id.in_(ids), Upload.owner_id == owner_id)
        .with_for_update(read=True, key_share=True))}
    if len(found) != len(ids):
        raise InvalidInput({"images": "图片不存在或已失效，请重新上传"})
    return [found[i] for i in ids]


# --- clearing away what was never used ---------------------------------------------------------

UNATTACHED_UPLOAD_TTL = timedelta(hours=24)
_PURGE_BATCH = 200
_PURGE_RETRIES = 3


def purge_unattached_uploads(older_than: timedelta = UNATTACHED_UPLOAD_TTL) -> int:
    """Delete uploads older than `older_than` that no issue uses, rows first, then their files.

    A resident who uploads and then gives up leaves an image nobody else may see: kept, it
    only takes disk. Each batch is deleted with a conditional DELETE that checks again, in the
    database, that no issue uses the image, and is committed before any file goes: an image
    attached meanwhile is kept, and a row never points at a missing file. A job, not part of a
    request: it commits per batch and ends whatever transaction the session had.
    Returns how many uploads were deleted.
    """
    cutoff = clock.now() - older_than
    unattached = ~db.exists().where(IssueImage.upload_id == Upload.id)
    storage = get_storage()
    removed = 0
    after_id = 0
    while True:
        ids = db.session.scalars(
            db.select(Upload.id).where(Upload.id > after_id, Upload.created_at < cutoff, unattached)
            .order_by(Upload.id).limit(_PURGE_BATCH)).all()
        # End the read before writing: SQLite cannot turn a read begun before another writer's
        # commit into a write. The DELETE judges again anyway.
        db.session.rollback()
        if not ids:
            return removed
        after_id = ids[-1]
        keys = _delete_unattached(ids, cutoff, unattached)
        for key in keys:
            try:
                storage.delete(key)
            except Exception:  # a file left behind must not stop the purge
                log.exception("purge: the row of %s is gone but its file could not be deleted", key)
        removed += len(keys)


def _delete_unattached(ids: list[int], cutoff: datetime, unattached) -> list[str]:
    """Delete those of `ids` still unattached; commit; their storage keys."""
    statement = (db.delete(Upload).where(Upload.id.in_(ids), Upload.created_at < cutoff, unattached)
                 .returning(Upload.storage_key))
    for attempt in range(_PURGE_RETRIES):
        try:
            keys = list(db.session.scalars(statement, execution_options={"synchronize_session": False}))
            db.session.commit()
            return keys
        except IntegrityError:
            # PostgreSQL: an image of the batch was attached by a transaction that committed
            # while this DELETE waited for it; the foreign key refused the whole batch. Again:
            # the NOT EXISTS now sees the attachment and leaves that image out.
            db.session.rollback()
            log.info("purge: an upload was attached meanwhile (attempt %d)", attempt + 1)
    log.warning("purge: uploads %s..%s skipped after %d attempts", ids[0], ids[-1], _PURGE_RETRIES)
    return []


# --- links and serving ------------------------------------------------------------------------

def media_url(upload: Upload, viewer_user_id: int | None, *, moderator: bool = False,
              base: str | None = None) -> str | None:
    """A signed link to the image for this viewer, or None while they may not see it.

    The sender always gets one; others only once WeChat said "pass". `moderator`: staff deciding
    whether to release a held issue, who must see the image whatever its check says. The issue
    service calls this only for viewers who may see the issue at all. `base`: what the link
    starts with, PUBLIC_BASE_URL by default (the mini-program needs absolute links); the console
    passes its own root so that its pages show images from wherever it is served.
    """
    if viewer_user_id is not None and viewer_user_id == upload.owner_id:
        audience = OWNER
    elif moderator:
        audience = MODERATOR
    elif upload.media_check_status is MediaCheckStatus.pass_:
        audience = VIEWER
    else:
        return None
    return _link(upload.id, audience, current_app.config["MEDIA_URL_TTL_SECONDS"], base)


def open_media(upload_id: int, audience: str | None, expires: str | None, signature: str | None) -> MediaFile:
    """The image a `/media` link points at, if the link is genuine, unexpired and still good.

    :raise 404 not_found: a bad or expired signature, an unknown image, or a viewer's link to an
        image no longer passing its check — all alike, so links cannot be probed.
    """
    if audience not in _AUDIENCES or not expires or not expires.isdigit() or not signature:
        raise NotFound()
    if not _signer().verify_signature(_message(upload_id, audience, int(expires)), signature.encode()):
        raise NotFound()
    remaining = int(expires) - int(clock.now().timestamp())
    if remaining <= 0:
        raise NotFound()
    upload = db.session.get(Upload, upload_id)
    if upload is None or not _may_serve(upload, audience):
        raise NotFound()
    storage = get_storage()
    try:
        if audience == WECHAT and upload.content_type == WEBP.content_type:
            # mediaCheckAsync lists jpg, png, bmp and gif, not WebP: WeChat checks a JPEG of it.
            rendition = _jpeg_of(storage.read(upload.storage_key))
            return MediaFile(io.BytesIO(rendition), JPEG.content_type, len(rendition), f"{upload.sha256}-jpeg",
                             remaining)
        return MediaFile(storage.open(upload.storage_key), upload.content_type, upload.size_bytes, upload.sha256,
                         remaining)
    except StoredFileMissing:
        log.error("upload %s has no stored file (%s)", upload.id, upload.storage_key)
        raise NotFound() from None


def _may_serve(upload: Upload, audience: str) -> bool:
    status = upload.media_check_status
    if audience == VIEWER:
        return status is MediaCheckStatus.pass_  # a later verdict withdraws links handed out
    if audience == WECHAT:
        return status is not MediaCheckStatus.risky
    return True  # the sender, a moderator


def _signer() -> Signer:
    return Signer(current_app.config["SECRET_KEY"], salt=_SALT, digest_method=hashlib.sha256,
                  key_derivation="hmac")


def _message(upload_id: int, audience: str, expires: int) -> bytes:
    return f"{upload_id}.{audience}.{expires}".encode()


def _link(upload_id: int, audience: str, ttl_seconds: int, base: str | None = None) -> str:
    now = int(clock.now().timestamp())
    expires = -(-(now + ttl_seconds) // _EXPIRY_STEP_SECONDS) * _EXPIRY_STEP_SECONDS
    signature = _signer().get_signature(_message(upload_id, audience, expires)).decode()
    path = MEDIA_RULE.replace("<int:upload_id>", str(upload_id))
    # Absolute, on the public address, unless told otherwise: an <image src> and WeChat's fetcher
    # both need one.
    if base is None:
        base = current_app.config["PUBLIC_BASE_URL"]
    return f"{base}{path}?a={audience}&e={expires}&s={signature}"


def _jpeg_of(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        rgba = image.convert("RGBA")
    flat = Image.new("RGB", rgba.size, (255, 255, 255))
    flat.paste(rgba, mask=rgba.getchannel("A"))
    out = io.BytesIO()
    flat.save(out, format="JPEG", quality=90)
    return out.getvalue()
