"""Two app machines created with S3_* settings share residents' images: one stores the upload,
the other serves its /media links (to the sender and to WeChat's image check) from the bucket."""
from __future__ import annotations

import io
from datetime import timedelta

import pytest
from PIL import Image

from backend import clock, create_app
from backend.services.content.uploads import purge_unattached_uploads
from backend.storage.s3 import S3Storage
from models import db
from tests import images
from tests.content.test_uploads import PUBLIC, local, post_file
from tests.factories import wx_login


@pytest.fixture
def machines(app, fake_wechat, s3_config):
    """Two apps on the session's database, Redis and secret, storing in `s3_config`'s bucket."""
    settings = {name: value for name, value in s3_config.items() if name.startswith(("STORAGE_", "S3_"))}
    made = [create_app(TESTING=True, SECRET_KEY=app.config["SECRET_KEY"],
                       SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"], REDIS_URL=app.config["REDIS_URL"],
                       WECHAT_FAKE=True, WECHAT_API_BASE=fake_wechat.base_url, WECHAT_TIMEOUT_SECONDS=2.0,
                       PUBLIC_BASE_URL=PUBLIC, **settings) for _ in range(2)]
    yield made
    for machine in made:
        with machine.app_context():
            db.session.remove()
            db.engine.dispose()


def bucket_keys(s3_client, s3_config) -> list[str]:
    return sorted(item["Key"] for item in s3_client.list_objects_v2(Bucket=s3_config["S3_BUCKET"]).get("Contents", []))


def test_one_machine_stores_the_other_serves(machines, s3_client, s3_config, fake_wechat):
    first, second = machines
    assert all(isinstance(machine.extensions["storage"], S3Storage) for machine in machines)
    data = images.jpeg((64, 48))
    token = wx_login(first.test_client(), "s3-resident")["token"]
    response = post_file(first.test_client(), token, data)
    assert response.status_code == 201, response.get_json()
    upload = response.get_json()["upload"]

    [key] = bucket_keys(s3_client, s3_config)
    assert key.startswith("llz/test/images/") and key.endswith(".jpg")
    head = s3_client.head_object(Bucket=s3_config["S3_BUCKET"], Key=key)
    assert head["ContentType"] == "image/jpeg" and head["ContentLength"] == len(data)

    viewer = second.test_client()
    served = viewer.get(local(upload["url"]))
    assert served.status_code == 200 and served.data == data
    assert served.headers["Content-Type"] == "image/jpeg" and served.headers["Content-Length"] == str(len(data))
    part = viewer.get(local(upload["url"]), headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.data == data[100:200]
    assert viewer.get(local(upload["url"]), headers={"If-None-Match": served.headers["ETag"]}).status_code == 304

    # WeChat's image check fetches the app's public link, whichever machine answers it.
    [check] = fake_wechat.media_checks()
    fetched = viewer.get(local(check["media_url"]))
    assert fetched.status_code == 200 and fetched.data == data


def test_wechat_gets_a_jpeg_of_a_webp_read_from_the_bucket(machines, fake_wechat):
    first, second = machines
    token = wx_login(first.test_client(), "s3-resident")["token"]
    assert post_file(first.test_client(), token, images.webp((30, 20)), content_type="image/webp").status_code == 201
    fetched = second.test_client().get(local(fake_wechat.media_checks()[0]["media_url"]))
    assert fetched.status_code == 200 and fetched.headers["Content-Type"] == "image/jpeg"
    assert Image.open(io.BytesIO(fetched.data)).size == (30, 20)


def test_a_missing_object_is_404_but_a_missing_bucket_is_not(machines, s3_client, s3_config):
    first, second = machines
    token = wx_login(first.test_client(), "s3-resident")["token"]
    url = post_file(first.test_client(), token, images.jpeg()).get_json()["upload"]["url"]
    [key] = bucket_keys(s3_client, s3_config)

    s3_client.delete_object(Bucket=s3_config["S3_BUCKET"], Key=key)
    gone = second.test_client().get(local(url))
    assert gone.status_code == 404 and gone.get_json()["error"]["code"] == "not_found"

    # The store itself broken: an outage to retry, never "this image does not exist".
    s3_client.delete_bucket(Bucket=s3_config["S3_BUCKET"])
    broken = second.test_client().get(local(url))
    assert broken.status_code == 503 and broken.get_json()["error"]["code"] == "service_unavailable"


def test_the_purge_deletes_unattached_images_from_the_bucket(machines, s3_client, s3_config):
    first, second = machines
    token = wx_login(first.test_client(), "s3-resident")["token"]
    assert post_file(first.test_client(), token, images.jpeg()).status_code == 201
    assert len(bucket_keys(s3_client, s3_config)) == 1
    clock.freeze(clock.now() + timedelta(hours=25))
    with second.app_context():
        assert purge_unattached_uploads() == 1
    assert bucket_keys(s3_client, s3_config) == []
