"""Region admins run staff accounts (backend/services/accounts/staff_accounts.py): who may, every
refusal, and what signing in and old tokens do after."""
from __future__ import annotations

import pytest

from backend.auth import Caller, caller_for
from backend.errors import Conflict, Forbidden, InvalidInput, NotFound
from backend.services.accounts import staff_accounts
from models import LoginAttempt, StaffAccount, StaffRole, Station, User, db
from tests.factories import auth, create_region_tree, create_staff, create_station, staff_login

API = "/api/v1"
PASSWORD = "Secret-pass-1"  # the factories' password
NEW = {"username": "zhang.san", "display_name": "张三", "password": "Anji2026secure"}


@pytest.fixture
def world(app):
    """安吉县 with a community and a township station, 德清县 with one. Admins of the county
    (two), its township, the city, 德清 and one with no region; managers of 古城 (安吉), of
    德清, and of both."""
    with app.app_context():
        regions = create_region_tree()
        local = create_station(regions["community"], name="古城社区联络站", scene="acc01")
        township = create_station(regions["township"], name="递铺街道联络站", scene="acc02")
        elsewhere = create_station(regions["other_county"], name="德清联络站", scene="acc03")
        create_staff(username="admin", role=StaffRole.region_admin, region=regions["county"])
        create_staff(username="peer-admin", role=StaffRole.region_admin, region=regions["county"])
        create_staff(username="township-admin", role=StaffRole.region_admin, region=regions["township"])
        create_staff(username="city-admin", role=StaffRole.region_admin, region=regions["city"])
        create_staff(username="other-admin", role=StaffRole.region_admin, region=regions["other_county"])
        create_staff(username="adrift", role=StaffRole.region_admin)
        create_staff(username="manager", stations=[local])
        create_staff(username="far-manager", stations=[elsewhere])
        create_staff(username="mixed-manager", stations=[local, elsewhere])
        db.session.add(User(openid="fake-acc-resident"))
        db.session.commit()
        return {"local": local.id, "township": township.id, "elsewhere": elsewhere.id}


def as_(who: str) -> Caller:
    if who == "resident":
        return caller_for(db.session.scalar(db.select(User).filter_by(openid="fake-acc-resident")))
    return caller_for(account(who).user)


def account(username: str) -> StaffAccount:
    return db.session.scalar(db.select(StaffAccount).filter_by(username=username))


def chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def fields_of(excinfo) -> dict[str, str]:
    error = excinfo.value
    assert isinstance(error, InvalidInput) and error.status == 400 and chinese(error.message)
    fields = error.details["fields"]
    assert fields and all(chinese(message) for message in fields.values()), fields
    return fields


def login(client, username: str, password: str):
    return client.post(f"{API}/manage/login", json={"username": username, "password": password})


def me(client, token: str):
    return client.get(f"{API}/auth/me", headers=auth(token))


# --- create ---------------------------------------------------------------------------------------

def test_an_admin_creates_a_station_manager_who_signs_in(app, client, world):
    with app.app_context():
        created = staff_accounts.create_station_manager(as_("admin"), **NEW,
                                                        station_ids=[world["township"], world["local"]])
        db.session.commit()
        assert created.role == StaffRole.station_manager and created.is_active
        assert created.region.code == "330523000000"  # the admin's: stays within reach
        assert [s.id for s in created.stations] == sorted([world["local"], world["township"]])
        assert created.password_hash != NEW["password"]
    token = staff_login(client, "zhang.san", NEW["password"])["token"]
    body = me(client, token).get_json()["user"]
    assert body["roles"] == ["station_manager"] and body["display_name"] == "张三"
    assert body["station_ids"] == sorted([world["local"], world["township"]])


@pytest.mark.parametrize("who", ["manager", "resident", "adrift"])
def test_only_region_admins_with_a_region_manage_accounts(app, world, who):
    with app.app_context():
        caller, target = as_(who), account("manager")
        for call in (lambda: staff_accounts.create_station_manager(caller, **NEW, station_ids=[world["local"]]),
                     lambda: staff_accounts.create_region_admin(caller, **NEW, region_code="330523001000"),
                     lambda: staff_accounts.list_accounts(caller),
                     lambda: staff_accounts.access_managed_account(caller, target.id),
                     lambda: staff_accounts.set_stations(caller, target, [world["local"]]),
                     lambda: staff_accounts.reset_password(caller, target, "Another2026pass"),
                     lambda: staff_accounts.disable_account(caller, target),
                     lambda: staff_accounts.enable_account(caller, target)):
            with pytest.raises(Forbidden) as excinfo:
                call()
            assert excinfo.value.status == 403 and chinese(excinfo.value.message)


@pytest.mark.parametrize("username", ["ab", "a" * 33, "Zhang", "zhang san", "张三", "zhang@anji", "", None, 7])
def test_usernames_are_3_to_32_of_lowercase_digits_and_three_signs(app, world, username):
    with app.app_context(), pytest.raises(InvalidInput) as excinfo:
        staff_accounts.create_station_manager(as_("admin"), **{**NEW, "username": username},
                                              station_ids=[world["local"]])
    assert set(fields_of(excinfo)) == {"username"}


@pytest.mark.parametrize("username", ["manager", "  manager ", "far-manager"])
def test_a_taken_username_is_a_conflict(app, world, username):
    with app.app_context(), pytest.raises(Conflict) as excinfo:
        staff_accounts.create_station_manager(as_("admin"), **{**NEW, "username": username},
                                              station_ids=[world["local"]])
    assert excinfo.value.status == 409 and username.strip() in excinfo.value.message


@pytest.mark.parametrize(("password", "message"), [
    ("Short1", "密码至少10位"),
    ("onlyletters-here", "密码须同时包含英文字母和数字"),
    ("1234567890123", "密码须同时包含英文字母和数字"),
    ("密码密码密码密码密码2026", "密码须同时包含英文字母和数字"),
    ("ZHANG.SAN-2026x", "密码不能包含用户名"),
    ("Anji2026\tsecure", "密码不能包含控制字符或不可见字符"),
    ("a1" * 65, "密码最多128位"),
    ("", "必填"),
    (None, "必填"),
])
def test_weak_passwords_are_refused(app, world, password, message):
    with app.app_context(), pytest.raises(InvalidInput) as excinfo:
        staff_accounts.create_station_manager(as_("admin"), **{**NEW, "password": password},
                                              station_ids=[world["local"]])
    assert fields_of(excinfo) == {"password": message}


@pytest.mark.parametrize(("station_ids", "message"), [
    ("elsewhere", "未找到联络站，或不在您的管辖范围内："),
    ([999_999], "未找到联络站，或不在您的管辖范围内：999999"),
    ([], "请至少选择一个联络站"),
    (None, "请至少选择一个联络站"),
    (["1"], "应为联络站编号的列表"),
])
def test_stations_must_lie_within_the_admins_region(app, world, station_ids, message):
    if station_ids == "elsewhere":
        station_ids = [world["local"], world["elsewhere"]]
        message += str(world["elsewhere"])
    with app.app_context(), pytest.raises(InvalidInput) as excinfo:
        staff_accounts.create_station_manager(as_("admin"), **NEW, station_ids=station_ids)
    assert fields_of(excinfo) == {"station_ids": message}


def test_every_bad_field_is_named_at_once(app, world):
    with app.app_context(), pytest.raises(InvalidInput) as excinfo:
        staff_accounts.create_station_manager(as_("township-admin"), username="x", display_name=" ",
                                              password="short", station_ids=[world["elsewhere"]])
    assert set(fields_of(excinfo)) == {"username", "display_name", "password", "station_ids"}


def test_an_admin_creates_a_region_admin_below_theirs_only(app, client, world):
    with app.app_context():
        admin = as_("admin")
        created = staff_accounts.create_region_admin(admin, **NEW, region_code="330523001000")
        db.session.commit()
        assert created.role == StaffRole.region_admin and created.region.code == "330523001000"
        assert created.stations == []
        for code, message in (("330523000000", "只能为下级行政区划设置区域管理员"),
                              ("330500000000", "未找到该行政区划，或不在您的管辖范围内"),
                              ("330521000000", "未找到该行政区划，或不在您的管辖范围内"),
                              ("nonsense", "未找到该行政区划，或不在您的管辖范围内")):
            with pytest.raises(InvalidInput) as excinfo:
                staff_accounts.create_region_admin(admin, **{**NEW, "username": "li.si"}, region_code=code)
            assert fields_of(excinfo) == {"region_code": message}
    token = staff_login(client, "zhang.san", NEW["password"])["token"]
    assert me(client, token).get_json()["user"]["roles"] == ["region_admin"]


# --- reach ------------------------------------------------------------------------------------------

def test_list_accounts_shows_the_admins_reach_with_stations(app, world):
    with app.app_context():
        listed = staff_accounts.list_accounts(as_("admin"))
        assert [a.username for a in listed] == ["admin", "township-admin", "manager", "mixed-manager"]
        mixed = listed[-1]
        assert {s.id for s in mixed.stations} == {world["local"], world["elsewhere"]}
        assert [a.username for a in staff_accounts.list_accounts(as_("township-admin"))] == [
            "township-admin", "manager", "mixed-manager"]
        assert [a.username for a in staff_accounts.list_accounts(as_("other-admin"))] == [
            "other-admin", "far-manager", "mixed-manager"]
        assert [a.username for a in staff_accounts.list_accounts(as_("city-admin"))] == [
            "admin", "city-admin", "other-admin", "peer-admin", "township-admin", "far-manager", "manager",
            "mixed-manager"]


@pytest.mark.parametrize(("who", "target"), [
    ("admin", "peer-admin"), ("admin", "city-admin"), ("admin", "other-admin"), ("admin", "far-manager"),
    ("admin", "adrift"), ("township-admin", "admin"), ("other-admin", "manager"),
])
def test_accounts_out_of_reach_are_not_found(app, world, who, target):
    with app.app_context():
        caller, target_account = as_(who), account(target)
        for call in (lambda: staff_accounts.access_managed_account(caller, target_account.id),
                     lambda: staff_accounts.reset_password(caller, target_account, "Another2026pass"),
                     lambda: staff_accounts.disable_account(caller, target_account)):
            with pytest.raises(NotFound) as excinfo:
                call()
            assert excinfo.value.status == 404 and excinfo.value.code == "not_found"
        assert target_account.is_active


@pytest.mark.parametrize("account_id", [0, -1, 2**40, 999_999])
def test_ids_that_name_no_account_are_not_found(app, world, account_id):
    with app.app_context(), pytest.raises(NotFound):
        staff_accounts.access_managed_account(as_("admin"), account_id)


# --- stations ---------------------------------------------------------------------------------------

def test_set_stations_replaces_those_within_reach_and_callers_see_it_at_once(app, client, world):
    token = staff_login(client, "mixed-manager")["token"]
    assert me(client, token).get_json()["user"]["station_ids"] == [world["local"], world["elsewhere"]]  # cached
    with app.app_context():
        mixed = staff_accounts.set_stations(as_("admin"), account("mixed-manager"), [world["township"]])
        db.session.commit()
        assert [s.id for s in mixed.stations] == [world["township"], world["elsewhere"]]
    # The same token still works, and its caller manages the new stations.
    assert me(client, token).get_json()["user"]["station_ids"] == [world["township"], world["elsewhere"]]
    rule = f"{API}/manage/stations/{{}}/reception-rule"
    assert client.get(rule.format(world["township"]), headers=auth(token)).status_code == 200
    assert client.get(rule.format(world["local"]), headers=auth(token)).status_code == 404


def test_set_stations_is_refused_for_admins_and_outside_stations(app, world):
    with app.app_context():
        admin = as_("admin")
        with pytest.raises(Conflict):
            staff_accounts.set_stations(admin, account("township-admin"), [world["local"]])
        with pytest.raises(InvalidInput) as excinfo:
            staff_accounts.set_stations(admin, account("manager"), [world["elsewhere"]])
        assert set(fields_of(excinfo)) == {"station_ids"}
        with pytest.raises(InvalidInput):
            staff_accounts.set_stations(admin, account("manager"), [])
        assert [s.id for s in account("manager").stations] == [world["local"]]


# --- passwords --------------------------------------------------------------------------------------

def test_a_reset_revokes_old_tokens_and_lifts_the_lockout(app, client, world):
    old_token = staff_login(client, "manager")["token"]
    for _ in range(4):
        assert login(client, "manager", "wrong-password-1").status_code == 401
    assert login(client, "manager", "wrong-password-1").status_code == 423
    assert login(client, "manager", PASSWORD).status_code == 423  # locked: not even checked

    with app.app_context():
        with pytest.raises(InvalidInput) as excinfo:
            staff_accounts.reset_password(as_("admin"), account("manager"), "manager2026x")
        assert fields_of(excinfo) == {"password": "密码不能包含用户名"}
        staff_accounts.reset_password(as_("admin"), account("manager"), "Fresh-start-2026")
        db.session.commit()
        marker = db.session.scalar(db.select(LoginAttempt).filter_by(username="manager", succeeded=True)
                                   .order_by(LoginAttempt.id.desc()).limit(1))
        assert marker.remote_addr == f"password-reset:{account('admin').user_id}"

    response = me(client, old_token)
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthorized"
    assert login(client, "manager", PASSWORD).status_code == 401
    new_token = staff_login(client, "manager", "Fresh-start-2026")["token"]
    assert me(client, new_token).status_code == 200


def test_an_admin_may_reset_their_own_password(app, client, world):
    old_token = staff_login(client, "admin")["token"]
    with app.app_context():
        staff_accounts.reset_password(as_("admin"), account("admin"), "My-own-2026-pass")
        db.session.commit()
    assert me(client, old_token).status_code == 401
    assert staff_login(client, "admin", "My-own-2026-pass")


# --- disable and enable -----------------------------------------------------------------------------

def test_a_disabled_account_loses_its_tokens_and_cannot_sign_in_until_enabled(app, client, world):
    old_token = staff_login(client, "manager")["token"]
    assert me(client, old_token).status_code == 200  # cached, with Redis
    with app.app_context():
        staff_accounts.disable_account(as_("township-admin"), account("manager"))
        db.session.commit()
    response = me(client, old_token)
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthorized"
    assert login(client, "manager", PASSWORD).status_code == 401

    with app.app_context():
        with pytest.raises(Conflict):
            staff_accounts.disable_account(as_("admin"), account("manager"))
        staff_accounts.enable_account(as_("admin"), account("manager"))
        db.session.commit()
        with pytest.raises(Conflict):
            staff_accounts.enable_account(as_("admin"), account("manager"))
    assert me(client, old_token).status_code == 401  # revoked for good
    assert me(client, staff_login(client, "manager")["token"]).status_code == 200


def test_an_admin_cannot_disable_themself(app, client, world):
    with app.app_context():
        with pytest.raises(Forbidden) as excinfo:
            staff_accounts.disable_account(as_("admin"), account("admin"))
        assert "自己" in excinfo.value.message
        assert account("admin").is_active
    # A superior can.
    with app.app_context():
        staff_accounts.disable_account(as_("city-admin"), account("admin"))
        db.session.commit()
    assert login(client, "admin", PASSWORD).status_code == 401


def test_services_flush_and_leave_the_commit_to_the_request(app, world):
    with app.app_context():
        created = staff_accounts.create_station_manager(as_("admin"), **NEW, station_ids=[world["local"]])
        assert created.id is not None and created.user.id is not None
        db.session.rollback()
        assert account("zhang.san") is None
        assert db.session.scalar(db.select(db.func.count()).select_from(Station)) == 3
