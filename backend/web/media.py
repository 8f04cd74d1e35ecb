"""`GET /media/<id>`: an uploaded image behind a signed, expiring link.

The mini-program's `<image src>` cannot send the bearer token, so the link itself is the
permission (`services.uploads.media_url` decides who gets one). A bad or expired link is a 404
in the API's error shape.

The bytes come from `get_storage()` — local disk, or streamed from the S3 bucket — and always
through this route, never a presigned link to the store: the store may be out of reach of county
networks, WeChat's fetcher and the mini-program's allowed domains, and this route re-checks the
image's WeChat verdict on every fetch (see backend/storage/s3.py).
"""
from __future__ import annotations

from flask import Blueprint, request, send_file

from backend.services.content import uploads

bp = Blueprint("media", __name__)


@bp.get(uploads.MEDIA_RULE)
def media(upload_id: int):
    found = uploads.open_media(upload_id, request.args.get("a"), request.args.get("e"), request.args.get("s"))
    response = send_file(found.stream, mimetype=found.content_type, etag=found.etag, conditional=False)
    # send_file cannot know a stream's length: without it there is no Content-Length and no
    # byte ranges, which image viewers use to resume.
    response.content_length = found.size
    response.make_conditional(request, accept_ranges=True, complete_length=found.size)
    # Private: the image may be visible to its sender only; no shared cache may keep it.
    response.headers["Cache-Control"] = f"private, max-age={found.max_age}"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
