"""What Schemathesis found against the served document (tests/fuzz/run_schemathesis.py), one
regression test each: answers a 500 or a status, body or input the document does not describe."""
from __future__ import annotations

from datetime import datetime

import pytest
from jsonschema import Draft202012Validator

from backend import clock
from models import Category, Issue, IssueStatus, StaffRole, User, db
from tests.factories import (
    auth,
    bind_deputy_user,
    create_categories,
    create_deputy,
    create_issue,
    create_region_tree,
    create_staff,
    create_station,
    staff_login,
    wx_login,
)


def conforms(client, method: str, template: str, response) -> None:
    """The answer's status is documented for the operation, and its JSON body fits the schema
    the document gives that status."""
    doc = client.get("/api/openapi.json").get_json()
    answers = doc["paths"][template][method.lower()]["responses"]
    assert str(response.status_code) in answers, (response.status_code, sorted(answers), response.get_json())
    schema = answers[str(response.status_code)]["content"]["application/json"]["schema"]
    # The components travel with the schema, so that its "#/components/..." references resolve.
    Draft202012Validator({**schema, "components": doc["components"]}).validate(response.get_json())


@pytest.fixture
def world(app, client):
    clock.freeze(datetime(2027, 1, 6, 10, 0, tzinfo=clock.BEIJING))  # a 逢六 day
    with app.app_context():
        regions = create_region_tree()
        create_categories()
        station = create_station(regions["township"], scene="fz01")
        deputy = create_deputy(stations=[station])
        issue = create_issue(station, status=IssueStatus.accepted, assigned_deputy=deputy)
        create_staff(username="fz-admin", role=StaffRole.region_admin, region=regions["county"])
        ids = {"station": station.id, "deputy": deputy.id, "issue_no": issue.no}
    ids["deputy_token"] = bind_deputy_user(client, app, ids["deputy"], "fz-deputy")
    ids["admin_token"] = staff_login(client, "fz-admin")["token"]
    return ids


def test_a_wx_login_code_longer_than_wechat_gives_is_refused_not_a_500(client, app):
    # The fake WeChat answered any code with the openid `fake-<code>`, which for a code of the
    # 128 characters the API lets through overflowed the 64 characters of User.openid: a 500 on
    # PostgreSQL. WeChat itself refuses a code it never issued (40029), and so does the fake now.
    response = client.post("/api/v1/auth/wx-login", json={"code": "0" * 128})
    assert response.status_code == 400, response.get_json()
    assert "code" in response.get_json()["error"]["details"]["fields"]
    conforms(client, "POST", "/api/v1/auth/wx-login", response)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(User.id))) == 0
    assert wx_login(client, "c" * 48)["user"]["roles"] == ["resident"]


def test_text_holding_a_nul_character_is_bad_input_not_a_500(client, app, world):
    # PostgreSQL cannot store NUL in text: a reply holding one was a 500 there.
    headers = auth(world["deputy_token"])
    response = client.post(f"/api/v1/deputy/issues/{world['issue_no']}/reply", headers=headers,
                           json={"content": "已联系住建局\u0000处理"})
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"]["details"]["fields"] == {"content": "不能包含空字符"}
    conforms(client, "POST", "/api/v1/deputy/issues/{no}/reply", response)
    with app.app_context():
        issue = db.session.scalar(db.select(Issue).filter_by(no=world["issue_no"]))
        assert issue.status == IssueStatus.accepted and issue.replies == []
    # In a list, a key, a query string: refused the same way, naming where.
    response = client.get("/api/v1/manage/issues?q=a%00b", headers=auth(world["admin_token"]))
    assert response.status_code == 400 and response.get_json()["error"]["details"]["fields"] == {"q": "不能包含空字符"}
    response = client.post("/api/v1/subscriptions", headers=headers, json={"results": {"fake\u0000": "accept"}})
    assert response.status_code == 400, response.get_json()


@pytest.mark.parametrize("path", [
    "/api/v1/stations/scan/fz%00", "/api/v1/issues/2027%00", "/api/v1/manage/regions/3305%00/reception-rule",
])
def test_a_nul_character_in_the_path_names_nothing(client, world, path):
    response = client.get(path, headers=auth(world["admin_token"]))
    assert response.status_code == 404, response.get_json()


def test_a_repeated_check_in_answers_a_documented_200(client, world):
    headers = auth(world["deputy_token"])
    first = client.post("/api/v1/deputy/check-ins", json={"scene": "fz01"}, headers=headers)
    again = client.post("/api/v1/deputy/check-ins", json={"scene": "fz01"}, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    conforms(client, "POST", "/api/v1/deputy/check-ins", first)
    conforms(client, "POST", "/api/v1/deputy/check-ins", again)


def test_an_empty_filter_is_documented_as_allowed(client, world):
    # A filter form sends `?to=` for "any"; the document said `to` must be a date.
    response = client.get("/api/v1/manage/issues?to=&station=", headers=auth(world["admin_token"]))
    assert response.status_code == 200
    conforms(client, "GET", "/api/v1/manage/issues", response)
    paths = client.get("/api/openapi.json").get_json()["paths"]
    queue = {p["name"]: p.get("allowEmptyValue") for p in paths["/api/v1/manage/issues"]["get"]["parameters"]}
    assert queue["to"] is queue["station"] is queue["page"] is True
    # Elsewhere an empty value is a value, and refused where it does not fit.
    mine = {p["name"]: p.get("allowEmptyValue") for p in paths["/api/v1/issues/mine"]["get"]["parameters"]}
    assert mine == {"page": None, "per_page": None}


@pytest.mark.parametrize("method,path,template", [
    ("GET", "/api/v1/manage/calendar/0", "/api/v1/manage/calendar/{year}"),
    ("DELETE", "/api/v1/manage/calendar/overrides/0", "/api/v1/manage/calendar/overrides/{day}"),
])
def test_a_malformed_date_in_the_path_is_a_documented_400(client, world, method, path, template):
    response = client.open(path, method=method, headers=auth(world["admin_token"]))
    assert response.status_code == 400
    conforms(client, method, template, response)


@pytest.mark.parametrize("body,field", [
    ({"is_active": 0}, "is_active"), ({"sort_order": "3"}, "sort_order"), ({"sort_order": 3.0}, "sort_order"),
])
def test_json_values_of_another_type_are_refused_not_coerced(client, app, world, body, field):
    # The document says boolean and integer; pydantic's lax mode took 0 for false and "3" for 3.
    with app.app_context():
        category_id = db.session.scalar(db.select(Category.id).limit(1))
    response = client.put(f"/api/v1/manage/categories/{category_id}", json=body, headers=auth(world["admin_token"]))
    assert response.status_code == 400, response.get_json()
    assert set(response.get_json()["error"]["details"]["fields"]) == {field}
    with app.app_context():
        assert db.session.get(Category, category_id).is_active is True
