"""Who may see an uploaded image, and what WeChat's verdict changes: `media_url`,
`record_media_verdict`, `owned_uploads`. Images are uploaded over HTTP, links fetched over HTTP."""
from __future__ import annotations

import io

import pytest

from backend.errors import InvalidInput
from backend.services.content import uploads
from models import MediaCheckStatus, Upload, User, db
from tests import images
from tests.factories import auth, wx_login

PUBLIC = "https://lianluozhan.example.cn"


@pytest.fixture(autouse=True)
def upload_dir(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "UPLOAD_DIR", str(tmp_path / "uploads"))
    return tmp_path / "uploads"


@pytest.fixture
def sender(client):
    return wx_login(client, "sender")


def upload_image(client, token, data=None) -> dict:
    response = client.post("/api/v1/uploads", headers=auth(token), content_type="multipart/form-data",
                           data={"file": (io.BytesIO(data or images.jpeg()), "a.jpg", "image/jpeg")})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["upload"]


def fetch(client, url):
    return client.get(url[len(PUBLIC):])


def trace_id_of(fake_wechat, upload_id) -> str:
    [check] = [c for c in fake_wechat.media_checks() if f"/media/{upload_id}?" in c["media_url"]]
    return check["trace_id"]


def test_others_see_the_image_only_after_wechat_says_pass(app, client, sender, fake_wechat):
    other_id = wx_login(client, "neighbour")["user"]["id"]
    upload = upload_image(client, sender["token"])
    with app.app_context():
        row = db.session.get(Upload, upload["id"])
        assert uploads.media_url(row, other_id) is None
        assert uploads.media_url(row, None) is None
        assert uploads.media_url(row, sender["user"]["id"]) is not None  # the sender always

        assert uploads.record_media_verdict(trace_id_of(fake_wechat, upload["id"]), "pass") is row
        db.session.commit()
        assert row.media_check_status is MediaCheckStatus.pass_ and row.checked_at is not None
        viewer_url = uploads.media_url(row, other_id)
    assert viewer_url.startswith(f"{PUBLIC}/media/{upload['id']}?")
    assert fetch(client, viewer_url).status_code == 200


@pytest.mark.parametrize("suggest, status", [
    ("review", MediaCheckStatus.review), ("risky", MediaCheckStatus.risky), ("nonsense", MediaCheckStatus.error),
])
def test_any_other_verdict_keeps_it_to_the_sender(app, client, sender, fake_wechat, suggest, status):
    upload = upload_image(client, sender["token"])
    with app.app_context():
        row = uploads.record_media_verdict(trace_id_of(fake_wechat, upload["id"]), suggest)
        db.session.commit()
        assert row.media_check_status is status
        assert uploads.media_url(row, sender["user"]["id"] + 1000) is None
        owner_url = uploads.media_url(row, sender["user"]["id"])
    assert fetch(client, owner_url).status_code == 200


def test_a_later_risky_verdict_withdraws_the_links_viewers_hold(app, client, sender, fake_wechat):
    upload = upload_image(client, sender["token"])
    trace_id = trace_id_of(fake_wechat, upload["id"])
    with app.app_context():
        row = uploads.record_media_verdict(trace_id, "pass")
        db.session.commit()
        viewer_url = uploads.media_url(row, None)
        wechat_url = fake_wechat.media_checks()[0]["media_url"]
        uploads.record_media_verdict(trace_id, "risky")
        db.session.commit()
    assert fetch(client, viewer_url).status_code == 404
    assert fetch(client, wechat_url).status_code == 404
    assert fetch(client, upload["url"]).status_code == 200  # the sender's own link


def test_a_moderator_sees_a_pending_image(app, client, sender):
    upload = upload_image(client, sender["token"])
    with app.app_context():
        row = db.session.get(Upload, upload["id"])
        url = uploads.media_url(row, None, moderator=True)
    assert fetch(client, url).status_code == 200


def test_an_unknown_or_missing_trace_id_is_ignored(app, client, sender, fake_wechat):
    fake_wechat.fail("/wxa/media_check_async", errcode=-1)
    upload_image(client, sender["token"])  # pending, without a trace id
    with app.app_context():
        assert uploads.record_media_verdict("00000000-00000000-00000000", "pass") is None
        assert uploads.record_media_verdict(None, "pass") is None
        assert uploads.record_media_verdict("", "pass") is None
        assert db.session.scalar(db.select(Upload)).media_check_status is MediaCheckStatus.pending


def test_asking_wechat_again_after_it_was_busy(app, client, sender, fake_wechat):
    """What the scheduler will do with uploads left pending without a trace id."""
    fake_wechat.fail("/wxa/media_check_async", errcode=-1)
    upload = upload_image(client, sender["token"])
    with app.app_context():
        row = db.session.get(Upload, upload["id"])
        assert row.media_check_trace_id is None
        assert uploads.request_media_check(row) is True
        db.session.commit()
        assert row.media_check_trace_id == fake_wechat.media_checks()[0]["trace_id"]


def test_an_upload_without_an_openid_cannot_be_checked(app, client, sender, fake_wechat):
    upload = upload_image(client, sender["token"])
    with app.app_context():
        row = db.session.get(Upload, upload["id"])
        db.session.get(User, row.owner_id).openid = None
        assert uploads.request_media_check(row) is False
        assert row.media_check_status is MediaCheckStatus.error
        db.session.rollback()


def test_owned_uploads(app, client, sender):
    mine = [upload_image(client, sender["token"])["id"] for _ in range(3)]
    theirs = upload_image(client, wx_login(client, "neighbour")["token"])["id"]
    with app.app_context():
        owner_id = sender["user"]["id"]
        assert [u.id for u in uploads.owned_uploads(owner_id, [mine[2], mine[0]])] == [mine[2], mine[0]]
        assert uploads.owned_uploads(owner_id, []) == []
        for ids in ([mine[0], theirs], [mine[0], 999_999], [mine[1], mine[1]]):
            with pytest.raises(InvalidInput) as refused:
                uploads.owned_uploads(owner_id, ids)
            assert "images" in refused.value.details["fields"]
