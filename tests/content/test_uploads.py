"""POST /api/v1/uploads and GET /media/<id>: images judged by their bytes, stored under random
keys, checked by the (fake) WeChat, and shown through signed, expiring links — on local disk and
on the S3 backend (a real S3-compatible server over a socket)."""
from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from PIL import Image

from backend import clock
from backend.services.content import uploads
from models import Upload, db
from tests import images
from tests.factories import auth, create_staff, staff_login, wx_login

PUBLIC = "https://lianluozhan.example.cn"
MIB = 1024 * 1024


class DiskFiles:
    """What local disk holds, read behind the app's back (temporary files included)."""

    def __init__(self, root):
        self.root = root

    def keys(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file())

    def read(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def content_type(self, key: str) -> str | None:
        return None  # a file keeps none


class BucketFiles:
    """What the bucket holds, read with a client of the test's own; keys below the prefix."""

    def __init__(self, client, bucket: str, prefix: str):
        self.client, self.bucket, self.prefix = client, bucket, prefix

    def keys(self) -> list[str]:
        listed = self.client.list_objects_v2(Bucket=self.bucket).get("Contents", [])
        # A key outside the prefix is kept whole, so that it shows in a failed comparison.
        return sorted(item["Key"].removeprefix(self.prefix) for item in listed)

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read()

    def content_type(self, key: str) -> str | None:
        return self.client.head_object(Bucket=self.bucket, Key=self.prefix + key)["ContentType"]


@pytest.fixture(autouse=True, params=["local", "s3"])
def stored(request, app, tmp_path, monkeypatch):
    """Storage of this test's own (the app is shared by the whole session): a directory, or a
    bucket of the S3 test server with a key prefix. (An app created with S3_* settings:
    test_uploads_s3.py.)"""
    if request.param == "local":
        path = tmp_path / "uploads"
        monkeypatch.setitem(app.config, "UPLOAD_DIR", str(path))
        return DiskFiles(path)
    bucket = request.getfixturevalue("s3_storage")
    monkeypatch.setitem(app.extensions, "storage", bucket)
    return BucketFiles(bucket.client, bucket.bucket, bucket.prefix)


@pytest.fixture
def token(client):
    return wx_login(client, "resident")["token"]


def post_file(client, token, data: bytes, filename="photo.jpg", content_type="image/jpeg"):
    return client.post("/api/v1/uploads", headers=auth(token) if token else {},
                       data={"file": (io.BytesIO(data), filename, content_type)},
                       content_type="multipart/form-data")


def uploads_in_db(app):
    with app.app_context():
        return db.session.scalars(db.select(Upload).order_by(Upload.id)).all()


def local(url: str) -> str:
    """A public media URL as a path for the test client."""
    assert url.startswith(PUBLIC + "/media/"), url
    return url[len(PUBLIC):]


def assert_nothing_stored(app, stored):
    assert stored.keys() == []
    assert uploads_in_db(app) == []


@pytest.mark.parametrize("fmt, content_type, extension", [
    ("JPEG", "image/jpeg", ".jpg"), ("PNG", "image/png", ".png"), ("WEBP", "image/webp", ".webp"),
])
def test_jpeg_png_and_webp_are_accepted(app, client, token, stored, fmt, content_type, extension):
    data = images.make_image(fmt, (64, 48))
    response = post_file(client, token, data, filename=f"我的照片{extension}", content_type=content_type)

    assert response.status_code == 201, response.get_json()
    upload = response.get_json()["upload"]
    assert set(upload) == {"id", "url", "content_type", "size", "width", "height", "media_check"}
    assert upload["content_type"] == content_type
    assert (upload["size"], upload["width"], upload["height"]) == (len(data), 64, 48)
    assert upload["media_check"] == "pending"

    [row] = uploads_in_db(app)
    assert row.id == upload["id"] and row.sha256 == hashlib.sha256(data).hexdigest()
    # The key is random, never the user's file name, and no temporary file is left behind.
    assert stored.keys() == [row.storage_key]
    assert row.storage_key.endswith(extension) and "照片" not in row.storage_key
    assert stored.read(row.storage_key) == data
    assert stored.content_type(row.storage_key) in (None, content_type)


def test_the_bytes_decide_not_the_name_or_declared_type(app, client, token):
    response = post_file(client, token, images.png(), filename="notes.txt", content_type="text/plain")
    assert response.status_code == 201
    assert response.get_json()["upload"]["content_type"] == "image/png"
    assert uploads_in_db(app)[0].storage_key.endswith(".png")


def test_a_pdf_renamed_jpg_is_refused(app, client, token, stored):
    pdf = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    response = post_file(client, token, pdf, filename="photo.jpg", content_type="image/jpeg")
    assert response.status_code == 415
    error = response.get_json()["error"]
    assert error["code"] == "unsupported_media_type" and "JPG" in error["message"]
    assert error["details"]["accepted"] == ["image/jpeg", "image/png", "image/webp"]
    assert_nothing_stored(app, stored)


def _broken_png_crc() -> bytes:
    data = bytearray(images.png())
    data[29] ^= 0xFF  # inside the IHDR chunk's CRC
    return bytes(data)


@pytest.mark.parametrize("data", [
    pytest.param(images.noisy_jpeg()[:20_000], id="truncated-jpeg"),
    pytest.param(b"\xff\xd8\xff\xe0" + b"\x00" * 2000, id="jpeg-magic-then-garbage"),
    pytest.param(images.png()[:-30], id="truncated-png"),
    pytest.param(_broken_png_crc(), id="png-bad-crc"),
    pytest.param(images.webp()[:40], id="truncated-webp"),
    pytest.param(images.make_image("GIF"), id="gif"),
    pytest.param(images.make_image("BMP"), id="bmp"),
    pytest.param(b"<svg xmlns='http://www.w3.org/2000/svg'/>", id="svg"),
])
def test_corrupt_truncated_or_other_formats_are_refused(app, client, token, stored, data):
    response = post_file(client, token, data)
    assert response.status_code == 415, response.get_json()
    assert response.get_json()["error"]["code"] == "unsupported_media_type"
    assert_nothing_stored(app, stored)


def test_exactly_the_limit_is_allowed(app, client, token):
    data = images.png_of_size(5 * MIB)
    response = post_file(client, token, data, content_type="image/png")
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["upload"]["size"] == 5 * MIB


def test_one_byte_over_the_limit_is_refused_and_nothing_stored(app, client, token, stored):
    response = post_file(client, token, images.png_of_size(5 * MIB + 1), content_type="image/png")
    assert response.status_code == 413
    error = response.get_json()["error"]
    assert error["code"] == "payload_too_large" and "5MB" in error["message"]
    assert_nothing_stored(app, stored)


def test_a_body_far_over_the_limit_is_refused_before_it_is_read(app, client, token, stored):
    response = post_file(client, token, b"\xff\xd8\xff" + b"\0" * (8 * MIB))
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"
    assert_nothing_stored(app, stored)


def test_json_routes_keep_their_one_mib_limit(client):
    response = client.post("/api/v1/auth/wx-login", json={"code": "x" * (MIB + 10)})
    assert response.status_code == 413


def test_too_many_pixels_is_refused(app, client, token, stored):
    # A few kilobytes of PNG that would decode to 400 million pixels.
    out = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(out, format="PNG")
    response = post_file(client, token, out.getvalue(), content_type="image/png")
    assert response.status_code == 413
    assert "分辨率" in response.get_json()["error"]["message"]
    assert_nothing_stored(app, stored)


def test_exif_rotation_gives_the_displayed_size(client, token):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° on display
    data = images.jpeg((80, 20), exif=exif.tobytes())
    upload = post_file(client, token, data).get_json()["upload"]
    assert (upload["width"], upload["height"]) == (20, 80)


@pytest.mark.parametrize("kwargs", [
    lambda: {"data": {}, "content_type": "multipart/form-data"},
    lambda: {"data": {"file": "not a file"}, "content_type": "multipart/form-data"},
    # Made per run: the test client closes the file it sent.
    lambda: {"data": {"file": (io.BytesIO(b""), "empty.jpg", "image/jpeg")}, "content_type": "multipart/form-data"},
    lambda: {"json": {"file": "aGVsbG8="}},
])
def test_a_missing_or_empty_file_is_invalid_input(app, client, token, stored, kwargs):
    response = client.post("/api/v1/uploads", headers=auth(token), **kwargs())
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_input" and error["details"]["fields"]["file"] == "请选择要上传的图片"
    assert_nothing_stored(app, stored)


def test_unauthenticated_is_401_and_nothing_stored(app, client, stored):
    response = post_file(client, None, images.jpeg())
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"
    assert_nothing_stored(app, stored)


def test_a_staff_account_without_wechat_cannot_upload(app, ctx, client, stored):
    # WeChat's image check needs the sender's openid; staff accounts sign in without WeChat.
    staff = create_staff()
    token = staff_login(client, staff.username)["token"]
    assert post_file(client, token, images.jpeg()).status_code == 403
    assert_nothing_stored(app, stored)


# --- the signed link --------------------------------------------------------------------------

def test_the_owner_link_serves_the_image_privately(client, token):
    data = images.jpeg()
    url = post_file(client, token, data).get_json()["upload"]["url"]
    response = client.get(local(url))
    assert response.status_code == 200 and response.data == data
    assert response.headers["Content-Type"] == "image/jpeg"
    cache = response.headers["Cache-Control"]
    assert cache.startswith("private, max-age=") and "public" not in cache
    assert 3600 <= int(cache.split("=")[1]) <= 3600 + 600
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    # The image never changes under its id: a browser may revalidate with its ETag.
    again = client.get(local(url), headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    assert response.headers["Content-Length"] == str(len(data))
    part = client.get(local(url), headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.data == data[:100]


def test_links_handed_out_close_together_are_the_same_url(app, client, token):
    """Expiries are rounded up to a 10-minute step, so the mini-program's image cache can
    reuse an image it fetched a few minutes before."""
    start = clock.now().replace(second=1, microsecond=0)
    start -= timedelta(minutes=start.minute % 10)
    clock.freeze(start)
    upload = post_file(client, token, images.jpeg()).get_json()["upload"]
    clock.freeze(start + timedelta(minutes=5))
    with app.app_context():
        row = db.session.get(Upload, upload["id"])
        assert uploads.media_url(row, row.owner_id) == upload["url"]


def _flip_first(text: str) -> str:
    return ("B" if text[0] == "A" else "A") + text[1:]


def _with_param(url: str, **changes) -> str:
    parts = urlsplit(local(url))
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return parts.path + "?" + "&".join(f"{k}={v}" for k, v in query.items() if v is not None)


@pytest.mark.parametrize("change", [
    pytest.param(lambda u: _with_param(u, s=_flip_first(parse_qs(urlsplit(u).query)["s"][0])), id="signature"),
    pytest.param(lambda u: _with_param(u, s="not*base64"), id="garbage-signature"),
    pytest.param(lambda u: _with_param(u, e=str(int(parse_qs(urlsplit(u).query)["e"][0]) + 600)), id="expiry"),
    pytest.param(lambda u: _with_param(u, a="v"), id="audience"),
    pytest.param(lambda u: _with_param(u, a="x"), id="unknown-audience"),
    pytest.param(lambda u: _with_param(u, s=None), id="no-signature"),
    pytest.param(lambda u: _with_param(u, e="soon"), id="expiry-not-a-number"),
    pytest.param(lambda u: urlsplit(local(u)).path, id="bare-path"),
    pytest.param(lambda u: local(u).replace("/media/", "/media/9"), id="other-id"),
])
def test_a_tampered_link_is_404(client, token, change):
    url = post_file(client, token, images.jpeg()).get_json()["upload"]["url"]
    response = client.get(change(url))
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_an_expired_link_is_404(client, token):
    url = post_file(client, token, images.jpeg()).get_json()["upload"]["url"]
    expires = int(parse_qs(urlsplit(url).query)["e"][0])
    clock.freeze(datetime.fromtimestamp(expires - 1, UTC))
    assert client.get(local(url)).status_code == 200
    clock.freeze(datetime.fromtimestamp(expires, UTC))
    response = client.get(local(url))
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"


def test_a_link_signed_with_another_secret_is_404(app, client, token, monkeypatch):
    url = post_file(client, token, images.jpeg()).get_json()["upload"]["url"]
    monkeypatch.setitem(app.config, "SECRET_KEY", "another-secret")
    assert client.get(local(url)).status_code == 404


# --- WeChat's image check ---------------------------------------------------------------------

def test_wechat_is_asked_to_check_the_image_at_a_public_link(app, client, token, fake_wechat):
    data = images.jpeg()
    upload = post_file(client, token, data).get_json()["upload"]

    [check] = fake_wechat.media_checks()
    assert check["openid"] == "fake-resident"
    assert check["media_type"] == 2 and check["scene"] == 3
    assert check["media_url"].startswith(f"{PUBLIC}/media/{upload['id']}?")
    [call] = fake_wechat.calls("/wxa/media_check_async")
    assert call["json"]["version"] == 2
    # The link WeChat got lasts a day (WeChat fetches it from outside, within 30 minutes).
    expires = int(parse_qs(urlsplit(check["media_url"]).query)["e"][0])
    assert 24 * 3600 <= expires - clock.now().timestamp() <= 24 * 3600 + 600
    # ... and serves the image to WeChat.
    fetched = client.get(local(check["media_url"]))
    assert fetched.status_code == 200 and fetched.data == data

    [row] = uploads_in_db(app)
    assert row.media_check_trace_id == check["trace_id"]
    assert row.media_check_status.value == "pending"


def test_wechat_gets_a_jpeg_of_a_webp(client, token, fake_wechat):
    """mediaCheckAsync lists jpg, png, bmp and gif: a WebP is checked as a JPEG rendition."""
    post_file(client, token, images.webp((30, 20)), content_type="image/webp")
    fetched = client.get(local(fake_wechat.media_checks()[0]["media_url"]))
    assert fetched.status_code == 200 and fetched.headers["Content-Type"] == "image/jpeg"
    assert Image.open(io.BytesIO(fetched.data)).format == "JPEG"


def test_wechat_busy_leaves_the_upload_pending_without_a_trace_id(app, client, token, fake_wechat):
    fake_wechat.fail("/wxa/media_check_async", errcode=-1)
    response = post_file(client, token, images.jpeg())
    assert response.status_code == 201
    assert response.get_json()["upload"]["media_check"] == "pending"
    [row] = uploads_in_db(app)
    assert row.media_check_trace_id is None and row.media_check_status.value == "pending"
    assert fake_wechat.media_checks() == []


def test_wechat_unreachable_leaves_the_upload_pending(app, client, token, fake_wechat):
    fake_wechat.fail("/wxa/media_check_async", http_status=502, body="<html>bad gateway</html>")
    response = post_file(client, token, images.jpeg())
    assert response.status_code == 201 and response.get_json()["upload"]["media_check"] == "pending"


def test_wechat_refusing_the_check_marks_it_error(app, client, token, fake_wechat):
    # 61010: the user has not opened the mini-program lately. Asking again would not help.
    fake_wechat.fail("/wxa/media_check_async", errcode=61010)
    response = post_file(client, token, images.jpeg())
    assert response.status_code == 201
    assert response.get_json()["upload"]["media_check"] == "error"
    # Still the sender's own image: they see it.
    assert client.get(local(response.get_json()["upload"]["url"])).status_code == 200


def _photo_with_gps(fmt="JPEG") -> bytes:
    image = Image.new("RGB", (40, 30), (10, 200, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # taken with the phone on its side
    exif[0x8825] = {1: "N", 2: (30.0, 37.0, 12.5), 3: "E", 4: (119.0, 40.0, 48.0)}
    out = io.BytesIO()
    image.save(out, fmt, exif=exif)
    return out.getvalue()


@pytest.mark.parametrize("fmt, content_type", [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")])
def test_where_a_photo_was_taken_is_not_kept(client, token, stored, fmt, content_type):
    data = _photo_with_gps(fmt)
    with Image.open(io.BytesIO(data)) as original:
        assert 0x8825 in original.getexif()
    response = post_file(client, token, data, filename="p", content_type=content_type)
    assert response.status_code == 201, response.get_json()
    upload = response.get_json()["upload"]
    assert (upload["width"], upload["height"]) == (30, 40)  # shown upright
    [key] = stored.keys()
    with Image.open(io.BytesIO(stored.read(key))) as kept:
        assert 0x8825 not in kept.getexif() and kept.size == (30, 40)


def test_a_photo_without_location_is_kept_byte_for_byte(client, token, stored):
    data = images.jpeg()
    assert post_file(client, token, data).status_code == 201
    [key] = stored.keys()
    assert stored.read(key) == data
