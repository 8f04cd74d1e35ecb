"""The fake WeChat answers like WeChat's documented API, over plain HTTP."""
from __future__ import annotations

import io
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from PIL import Image

from backend.wechat.fake_server import FakeWeChat

ROOT = Path(__file__).resolve().parents[2]


def stable(fake, force=False, **changes):
    body = {"grant_type": "client_credential", "appid": fake.app_id,
            "secret": fake.app_secret, "force_refresh": force, **changes}
    return requests.post(fake.base_url + "cgi-bin/stable_token", json=body, timeout=5).json()


def callback_ip(fake, token):
    params = {} if token is None else {"access_token": token}
    return requests.get(fake.base_url + "cgi-bin/getcallbackip", params=params, timeout=5).json()


def jscode(fake, code, **changes):
    params = {"appid": fake.app_id, "secret": fake.app_secret, "js_code": code,
              "grant_type": "authorization_code", **changes}
    return requests.get(fake.base_url + "sns/jscode2session", params=params, timeout=5).json()


def test_stable_token_is_the_same_until_it_expires(fake):
    first = stable(fake)
    second = stable(fake)
    assert first["access_token"] == second["access_token"]
    assert first["expires_in"] == 7200 and 7100 < second["expires_in"] <= 7200
    assert callback_ip(fake, first["access_token"]) == {"ip_list": ["127.0.0.1"]}
    assert fake.stable_token_calls == 2

    fake.expire_tokens()
    assert callback_ip(fake, first["access_token"])["errcode"] == 42001
    assert stable(fake)["access_token"] != first["access_token"]


def test_force_refresh_issues_a_new_token_and_the_old_one_lasts_the_handover(fake):
    fake.configure(handover_seconds=0.5)
    old = stable(fake)["access_token"]
    new = stable(fake, force=True)["access_token"]
    assert new != old
    assert "ip_list" in callback_ip(fake, old)
    time.sleep(0.6)
    assert callback_ip(fake, old)["errcode"] == 42001
    assert "ip_list" in callback_ip(fake, new)


def test_a_normal_call_in_the_handover_window_renews_the_token(fake):
    fake.configure(token_ttl_seconds=1, handover_seconds=0.5)
    old = stable(fake)["access_token"]
    time.sleep(0.6)
    renewed = stable(fake)
    assert renewed["access_token"] != old and renewed["expires_in"] == 1
    assert "ip_list" in callback_ip(fake, old)  # still valid until its own expiry


@pytest.mark.parametrize("changes, errcode", [
    ({"secret": "wrong"}, 40125),
    ({"appid": "wx0000000000000000"}, 40013),
    ({"grant_type": "password"}, 40002),
])
def test_stable_token_refuses_bad_credentials(fake, changes, errcode):
    answer = stable(fake, **changes)
    assert answer["errcode"] == errcode and "access_token" not in answer


def test_token_errors(fake):
    assert callback_ip(fake, None)["errcode"] == 41001
    assert callback_ip(fake, "made-up")["errcode"] == 40001


def test_the_legacy_token_endpoint_cuts_off_the_previous_token(fake):
    def legacy():
        params = {"grant_type": "client_credential", "appid": fake.app_id, "secret": fake.app_secret}
        return requests.get(fake.base_url + "cgi-bin/token", params=params, timeout=5).json()["access_token"]

    first = legacy()
    second = legacy()
    assert callback_ip(fake, first)["errcode"] == 40001
    assert "ip_list" in callback_ip(fake, second)
    assert fake.stats()["legacy_token_calls"] == 2 and fake.stable_token_calls == 0


def test_jscode2session(fake):
    first = jscode(fake, "abc")
    assert first["openid"] == "fake-abc" and "unionid" not in first
    assert len(first["session_key"]) == 24  # base64 of 16 bytes, like WeChat's
    # Deliberately lax: a code may be used twice, and the session key is stable per openid.
    assert jscode(fake, "abc") == first
    assert jscode(fake, "xyz")["session_key"] != first["session_key"]
    fake.configure(with_unionid=True)
    assert jscode(fake, "abc")["unionid"] == "fake-union-abc"


@pytest.mark.parametrize("code, changes, errcode", [
    ("invalid", {}, 40029),
    ("used", {}, 40163),
    ("abc", {"secret": "wrong"}, 40125),
    ("abc", {"appid": "wx0000000000000000"}, 40013),
])
def test_jscode2session_errors(fake, code, changes, errcode):
    answer = jscode(fake, code, **changes)
    assert answer["errcode"] == errcode and "openid" not in answer


def test_errors_are_json_with_http_200(fake):
    res = requests.get(fake.base_url + "sns/jscode2session", params={"appid": "x"}, timeout=5)
    assert res.status_code == 200
    assert res.headers["Content-Type"] == "application/json"
    assert res.json()["errcode"] == 40013
    assert requests.get(fake.base_url + "cgi-bin/stable_token", timeout=5).json()["errcode"] == 43002


def test_wxacode_unlimit(fake):
    token = stable(fake)["access_token"]
    url = fake.base_url + "wxa/getwxacodeunlimit"

    def post(body, access_token=token):
        return requests.post(url, params={"access_token": access_token}, json=body, timeout=5)

    res = post({"scene": "s=12&t=ab", "page": "pages/station/detail", "width": 300})
    assert res.headers["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(res.content))
    assert image.size == (300, 300) and image.text["scene"] == "s=12&t=ab"

    assert post({"scene": "x" * 33}).json()["errcode"] == 40169
    assert post({"scene": "站点"}).json()["errcode"] == 40169
    assert post({"scene": "a", "page": "/pages/index/index"}).json()["errcode"] == 41030
    assert post({"scene": "a", "page": "/pages/x", "check_path": False}).status_code == 200
    assert post({"scene": "a", "env_version": "beta"}).json()["errcode"] == 40097
    assert post({"scene": "a"}, access_token="made-up").json()["errcode"] == 40001


def test_control_endpoints_over_http(fake):
    control = fake.base_url + "__fake__/"
    requests.post(control + "fail", json={"path": "/sns/jscode2session", "errcode": -1, "times": 2}, timeout=5)
    assert jscode(fake, "a")["errcode"] == -1
    assert jscode(fake, "a")["errcode"] == -1
    assert jscode(fake, "a")["openid"] == "fake-a"

    requests.post(control + "delay", json={"path": "sns/jscode2session", "seconds": 0.3}, timeout=5)
    started = time.monotonic()
    jscode(fake, "a")
    assert time.monotonic() - started >= 0.3

    requests.post(control + "fail", json={"path": "sns/jscode2session", "http_status": 502,
                                          "body": "<html>bad gateway</html>"}, timeout=5)
    res = requests.get(fake.base_url + "sns/jscode2session", timeout=5)
    assert res.status_code == 502 and res.text.startswith("<html>")

    calls = requests.get(control + "calls", params={"path": "/sns/jscode2session"}, timeout=5).json()
    assert len(calls) == 5 and calls[0]["method"] == "GET" and calls[0]["query"]["js_code"] == "a"

    requests.post(control + "config", json={"token_ttl_seconds": 60}, timeout=5)
    assert stable(fake)["expires_in"] == 60
    assert requests.get(control + "stats", timeout=5).json()["stable_token_calls"] == 1
    requests.post(control + "expire-tokens", timeout=5)
    assert stable(fake)["access_token"]
    assert requests.post(control + "nonsense", timeout=5).status_code == 404

    requests.post(control + "reset", timeout=5)
    assert requests.get(control + "calls", timeout=5).json() == []
    assert fake.stable_token_calls == 0


def test_runs_standalone_as_a_module():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "backend.wechat.fake_server", "--port", str(port)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert f"127.0.0.1:{port}" in proc.stdout.readline()
        from config import FAKE_WECHAT_APP_ID, FAKE_WECHAT_APP_SECRET

        answer = requests.get(f"http://127.0.0.1:{port}/sns/jscode2session", timeout=5, params={
            "appid": FAKE_WECHAT_APP_ID, "secret": FAKE_WECHAT_APP_SECRET,
            "js_code": "zz", "grant_type": "authorization_code",
        }).json()
        assert answer["openid"] == "fake-zz"
    finally:
        proc.terminate()
        assert proc.wait(timeout=5) == 0


def test_stop_frees_the_port():
    fake = FakeWeChat("wxa", "s")
    fake.start()
    port = fake.port
    fake.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/cgi-bin/getcallbackip", timeout=1)
