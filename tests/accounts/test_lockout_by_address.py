"""The sign-in lockout counts by username and client address, so wrong passwords from one
place never keep the owner out from another; one address failing on many usernames
(spraying) is stopped; successes never count; the client address is the socket's, or what a
trusted proxy reports. For the API and the console alike."""
from __future__ import annotations

import re

import pytest

from backend import clock
from models import AuditEntry, db
from tests.factories import create_region_tree, create_staff

PASSWORD = "Secret-pass-1"
ATTACKER, OWNER, OFFICE = "203.0.113.66", "198.51.100.7", "192.0.2.10"


def login(client, username, password=PASSWORD, addr="127.0.0.1", headers=None):
    return client.post("/api/v1/manage/login", json={"username": username, "password": password},
                       environ_base={"REMOTE_ADDR": addr}, headers=headers or {})


@pytest.fixture
def staff(app):
    with app.app_context():
        regions = create_region_tree()
        create_staff(username="dipu", region=regions["township"])
        for n in range(25):
            create_staff(username=f"office{n:02d}", region=regions["township"])


def test_wrong_passwords_from_one_address_do_not_lock_the_owner_out_elsewhere(client, staff):
    for _ in range(5):
        login(client, "dipu", "guess-123456", addr=ATTACKER)
    # The guesser is stopped, right password or not.
    assert login(client, "dipu", addr=ATTACKER).status_code == 423
    assert login(client, "dipu", "guess-999999", addr=ATTACKER).get_json()["error"]["code"] == "account_locked"
    # The owner, elsewhere, signs in.
    answer = login(client, "dipu", addr=OWNER)
    assert answer.status_code == 200, answer.get_json()
    # And the owner's success does not give the guesser new tries.
    assert login(client, "dipu", addr=ATTACKER).status_code == 423


def test_one_address_failing_on_many_usernames_is_stopped(client, staff):
    for n in range(20):  # 20 usernames, one wrong password each: under every username's lock
        assert login(client, f"office{n:02d}", "Spring2026!", addr=ATTACKER).status_code == 401
    refused = login(client, "office21", addr=ATTACKER)  # even a right password is not checked
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) > 0
    # Nobody else is stopped.
    assert login(client, "office21", addr=OWNER).status_code == 200


def test_an_office_signing_everyone_in_from_one_address_is_never_stopped(client, staff):
    for n in range(25):
        if n % 5 == 0:  # the odd typo
            assert login(client, f"office{n:02d}", "typo-pass-1", addr=OFFICE).status_code == 401
        assert login(client, f"office{n:02d}", addr=OFFICE).status_code == 200, n
    for n in range(25):  # and again after lunch
        assert login(client, f"office{n:02d}", addr=OFFICE).status_code == 200, n


def test_forwarded_for_is_believed_only_from_a_trusted_proxy(app, client, staff):
    # No trusted proxy: the header is the client's own word, and changes nothing.
    for n in range(5):
        login(client, "dipu", "guess-123456", addr=ATTACKER, headers={"X-Forwarded-For": f"10.9.9.{n}"})
    assert login(client, "dipu", addr=ATTACKER, headers={"X-Forwarded-For": OWNER}).status_code == 423

    app.config["TRUSTED_PROXIES"] = ("127.0.0.1", "10.0.0.0/8")
    try:
        nginx = "127.0.0.1"
        for _ in range(5):
            login(client, "office00", "guess-123456", addr=nginx, headers={"X-Forwarded-For": f"1.2.3.4, {ATTACKER}"})
        # The attacker, behind the proxy, is locked; the owner behind the same proxy is not.
        assert login(client, "office00", addr=nginx, headers={"X-Forwarded-For": ATTACKER}).status_code == 423
        assert login(client, "office00", addr=nginx, headers={"X-Forwarded-For": OWNER}).status_code == 200
        # A client naming an address on its own (before the proxy's hop) cannot escape: the
        # proxy appends the address it saw, and that is the one taken.
        spoofed = {"X-Forwarded-For": f"{OWNER}, {ATTACKER}"}
        assert login(client, "office00", addr=nginx, headers=spoofed).status_code == 423
        # An inner proxy (10.x) in the chain is skipped.
        assert login(client, "office00", addr=nginx,
                     headers={"X-Forwarded-For": f"{ATTACKER}, 10.1.2.3"}).status_code == 423
    finally:
        app.config["TRUSTED_PROXIES"] = ()


def test_a_bad_trusted_proxies_setting_stops_the_start(monkeypatch):
    from config import ConfigError, load_config

    monkeypatch.setenv("TRUSTED_PROXIES", "127.0.0.1, nginx.local")
    with pytest.raises(ConfigError, match="TRUSTED_PROXIES"):
        load_config()
    monkeypatch.setenv("TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8 ,::1")
    assert load_config()["TRUSTED_PROXIES"] == ("127.0.0.1", "10.0.0.0/8", "::1")


# --- the console --------------------------------------------------------------------------------

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def console_sign_in(client, username, password=PASSWORD, addr="127.0.0.1"):
    token = CSRF.search(client.get("/console/login", environ_base={"REMOTE_ADDR": addr}).get_data(as_text=True))
    return client.post("/console/login", data={"username": username, "password": password,
                                               "csrf_token": token.group(1)}, environ_base={"REMOTE_ADDR": addr})


def test_the_console_locks_by_address_shows_the_lock_and_an_admin_lifts_it(app, staff):
    from models import StaffAccount, StaffRole

    with app.app_context():
        township = db.session.scalar(db.select(StaffAccount).filter_by(username="dipu")).region
        create_staff(username="county-admin", role=StaffRole.region_admin, region=township)
    attacker, owner, admin = app.test_client(), app.test_client(), app.test_client()
    for _ in range(5):
        console_sign_in(attacker, "dipu", "guess-123456", addr=ATTACKER)
    locked = console_sign_in(attacker, "dipu", addr=ATTACKER)
    assert locked.status_code == 423 and "锁定" in locked.get_data(as_text=True)
    assert console_sign_in(owner, "dipu", addr=OWNER).status_code == 302

    assert console_sign_in(admin, "county-admin", addr=OFFICE).status_code == 302
    listing = admin.get("/console/staff").get_data(as_text=True)
    row = re.search(r'<tr data-account="dipu">.*?</tr>', listing, re.S).group(0)
    assert 'data-state="locked"' in row and "已锁定" in row and "正常" not in row
    other = re.search(r'<tr data-account="office01">.*?</tr>', listing, re.S).group(0)
    assert 'data-state="active"' in other and "正常" in other
    account_id = re.search(r'href="/console/staff/(\d+)">dipu<', listing).group(1)
    page = admin.get(f"/console/staff/{account_id}").get_data(as_text=True)
    assert 'data-form="unlock"' in page and ATTACKER in page
    token = CSRF.search(page).group(1)

    clock.freeze(clock.now())  # the unlock's boundary after the failures
    response = admin.post(f"/console/staff/{account_id}/unlock", data={"csrf_token": token},
                          environ_base={"REMOTE_ADDR": OFFICE})
    assert "已解除锁定" in admin.get(response.headers["Location"]).get_data(as_text=True)
    listing = admin.get("/console/staff").get_data(as_text=True)
    assert 'data-state="active"' in re.search(r'<tr data-account="dipu">.*?</tr>', listing, re.S).group(0)
    # Unlocked from the guesser's address too (the admin decided so); the owner's session lives on.
    assert login(app.test_client(), "dipu", addr=ATTACKER).status_code == 200
    assert owner.get("/console/issues", environ_base={"REMOTE_ADDR": OWNER}).status_code == 200
    with app.app_context():
        entries = db.session.scalars(db.select(AuditEntry).where(AuditEntry.target_type == "staff_account",
                                                                 AuditEntry.target_id == account_id)).all()
        unlocks = [e for e in entries if (e.detail or {}).get("args", {}).get("action") == "unlock"]
        assert len(unlocks) == 1 and unlocks[0].outcome == 200 and unlocks[0].remote_addr == OFFICE
    # Unlocking an account that is not locked is refused, and says so.
    again = admin.post(f"/console/staff/{account_id}/unlock", data={"csrf_token": token},
                       environ_base={"REMOTE_ADDR": OFFICE})
    assert "未被锁定" in admin.get(again.headers["Location"]).get_data(as_text=True)
