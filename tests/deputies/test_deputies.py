"""Deputy profiles and staff invites."""
from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from models import Deputy, DeputyLevel, StaffRole, db
from tests.factories import (
    auth,
    create_deputy,
    create_region_tree,
    create_staff,
    create_station,
    staff_login,
    wx_login,
)


@pytest.fixture
def setup(app):
    with app.app_context():
        regions = create_region_tree()
        station = create_station(regions["township"], name="递铺街道人大代表联络站")
        other_station = create_station(regions["other_county"], name="德清站")
        deputy = create_deputy(name="李明", levels=[DeputyLevel.county, DeputyLevel.township], stations=[station],
                               groups=["教育文化组"])
        outsider = create_deputy(name="外县代表", stations=[other_station])
        create_staff(username="manager", stations=[station])
        create_staff(username="admin", role=StaffRole.region_admin, region=regions["county"])
        create_staff(username="dq-manager", stations=[other_station])
        return {"deputy": deputy.id, "outsider": outsider.id, "station": station.id}


def test_public_profile_has_seats_and_stations_but_no_phone(client, setup):
    response = client.get(f"/api/v1/deputies/{setup['deputy']}")
    assert response.status_code == 200
    deputy = response.get_json()["deputy"]
    assert deputy["name"] == "李明" and deputy["level"] == "county" and deputy["levels"] == ["county", "township"]
    assert deputy["seats"][0]["term_label"] == "第十八届"
    assert deputy["seats"][0]["level_label"] == "县（区）人大代表"
    assert deputy["stations"] == [{"id": setup["station"], "scene": deputy["stations"][0]["scene"],
                                   "name": "递铺街道人大代表联络站"}]
    assert deputy["groups"] == ["教育文化组"]
    assert "phone" not in deputy and "13800001234" not in response.get_data(as_text=True)


def test_retired_or_unknown_deputy_is_not_found(client, app, setup):
    with app.app_context():
        db.session.get(Deputy, setup["deputy"]).retired_at = datetime.now(UTC)
        db.session.commit()
    for deputy_id in (setup["deputy"], 424242):
        response = client.get(f"/api/v1/deputies/{deputy_id}")
        assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"


def test_deputy_without_a_current_seat_is_not_found(client, app):
    with app.app_context():
        create_region_tree()
        former = create_deputy(started_on=date(2011, 1, 1), ended_on=date(2016, 12, 31))
        former_id = former.id
    assert client.get(f"/api/v1/deputies/{former_id}").status_code == 404


def test_invites_follow_staff_scope(client, setup):
    manager = staff_login(client, "manager")["token"]
    admin = staff_login(client, "admin")["token"]
    other = staff_login(client, "dq-manager")["token"]
    resident = wx_login(client, "r1")["token"]
    url = f"/api/v1/manage/deputies/{setup['deputy']}/invite"

    made = client.post(url, headers=auth(manager))
    assert made.status_code == 201
    invite = made.get_json()["invite"]
    assert len(invite["invite_code"]) == 8 and invite["expires_at"].endswith("+08:00")
    assert client.post(url, headers=auth(admin)).status_code == 201  # county admin: in region
    out_of_scope = client.post(url, headers=auth(other))
    assert out_of_scope.status_code == 404  # not 403: others' deputies cannot be probed
    assert client.post(url, headers=auth(resident)).status_code == 403
    assert client.post(url).status_code == 401
    assert client.post(f"/api/v1/manage/deputies/{setup['outsider']}/invite", headers=auth(admin)).status_code == 404

    # The invite works end to end: the deputy binds with it.
    deputy_login = wx_login(client, "li-ming")["token"]
    bound = client.post("/api/v1/auth/bind-deputy", json={"invite_code": invite["invite_code"]},
                        headers=auth(deputy_login))
    assert bound.status_code == 200 and bound.get_json()["user"]["deputy_id"] == setup["deputy"]


@pytest.mark.parametrize(("path", "code"), [("/api/v1/deputies/{id}", "not_found"),
                                            ("/api/v1/stations/{id}/qrcode.png", "station_not_found")])
def test_an_id_beyond_the_database_range_is_not_found(client, path, code):
    # 2**31 and beyond are no PostgreSQL integer: once a 500 from the database.
    for huge in (2**31, 10**30):
        response = client.get(path.format(id=huge))
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == code
