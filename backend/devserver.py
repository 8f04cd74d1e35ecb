"""`python -m backend.devserver`: the whole service on one machine with nothing else installed.

Brings the SQLite schema up to date with the migrations, seeds the demo county on first run
(its sign-ins go to instance/demo.json — for another DATABASE_URL, a file named for that
database, `demo-<name>-<hash>.json`), starts the built-in fake WeChat, a scheduler and a
sender of subscribe messages (child processes, as a deployment runs them; DEVSERVER_JOBS=0 leaves
them out), and serves on http://$HOST:$PORT (127.0.0.1:5000); PUBLIC_BASE_URL, unless set,
is that address, so printed codes and links lead to this server. A county runs gunicorn instead (docs/deploy.md,
a later issue).
"""
from __future__ import annotations

import atexit
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys

import requests
from flask_migrate import upgrade
from sqlalchemy.engine import make_url
from werkzeug.serving import WSGIRequestHandler

from backend import create_app
from config import DEFAULT_DATABASE_URL, PROJECT_ROOT
from models import Station, db


def main() -> None:
    os.environ.setdefault("FAKE_WECHAT_AUTOSTART", "1")
    host, port = os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "5000"))
    # Station codes, posters and signed image links name PUBLIC_BASE_URL: on this server they
    # must lead here, not to the production placeholder (set, it is kept).
    os.environ.setdefault("PUBLIC_BASE_URL", f"http://{_reachable_host(host)}:{port}")
    app = create_app()
    os.makedirs(app.instance_path, exist_ok=True)
    out = demo_file(app.instance_path, app.config["SQLALCHEMY_DATABASE_URI"])
    with app.app_context():
        upgrade(directory=str(app.config["MIGRATIONS_DIR"]))
        if db.session.scalar(db.select(db.func.count(Station.id))) == 0:
            from backend.demo.activity import seed_activity
            from backend.demo.county import seed_demo

            summary = seed_demo()
            db.session.commit()
            seed_activity()  # six months of issues and duty, for the console to show
            with open(out, "w", encoding="utf-8") as handle:
                json.dump(summary, handle, ensure_ascii=False, indent=2)
            print(f"演示数据已生成，登录账号与联络站清单见 {out}")
        elif os.path.exists(out):
            print(f"登录账号与联络站清单见 {out}")
        first = db.session.scalar(db.select(Station).order_by(Station.id).limit(1))
    if os.environ.get("DEVSERVER_JOBS", "1") != "0":
        _start_background(["scheduler", "run"], ["outbox", "send", "--threads", "2"])
    if app.config["WECHAT_FAKE"]:
        _fake_judges_images(app, host, port)
    print(f"API 文档: http://{host}:{port}/api/docs")
    print(f"工作台: http://{host}:{port}/console/")
    print(f"二维码与链接指向: {app.config['PUBLIC_BASE_URL']}")
    if first is not None:
        print(f"扫码示例: http://{host}:{port}/api/v1/stations/scan/{first.scene}")
    app.run(host=host, port=port, threaded=True, use_reloader=False, debug=False, request_handler=_RequestHandler)


def demo_file(instance_path: str, database_url: str) -> str:
    """Where the demo's sign-ins are written: `demo.json` for the default database, else a file
    named for the database, so that a second devserver on another database (another PostgreSQL
    database, another SQLite file) does not overwrite the first one's passwords and codes."""
    if database_url == DEFAULT_DATABASE_URL:
        return os.path.join(instance_path, "demo.json")
    url = make_url(database_url)
    name = os.path.splitext(os.path.basename(url.database or ""))[0] or url.get_backend_name()
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:40]
    # The same name on two servers or in two folders: the whole address (no password) tells them apart.
    digest = hashlib.sha256(url.render_as_string(hide_password=True).encode()).hexdigest()[:6]
    return os.path.join(instance_path, f"demo-{name}-{digest}.json")


def _reachable_host(host: str) -> str:
    """The address a phone or browser uses for a server listening on `host`: itself, unless it
    listens on every interface, then this machine's address on its network."""
    if host not in ("0.0.0.0", "::", ""):
        return f"[{host}]" if ":" in host else host
    # The host's own name resolved locally: no connection to any other address is made.
    try:
        address = socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"
    return address


def _fake_judges_images(app, host: str, port: int) -> None:
    """Have the fake WeChat judge residents' images by itself and push its verdict here, as
    WeChat does: otherwise they stay `pending` and only their senders and staff ever see them.
    Through the fake's control endpoint, so that a fake served by another process is told too."""
    verdict = app.config["FAKE_WECHAT_MEDIA_VERDICT"]
    if verdict == "off":
        judge = {}
    elif verdict in ("pass", "review", "risky"):
        local = "127.0.0.1" if host in ("0.0.0.0", "") else ("[::1]" if host == "::" else host)
        judge = {"callback_url": f"http://{local}:{port}/wechat/callback", "suggest": verdict,
                 "token": app.config["WECHAT_CALLBACK_TOKEN"], "aes_key": app.config["WECHAT_CALLBACK_AES_KEY"],
                 "fmt": app.config["WECHAT_CALLBACK_FORMAT"]}
    else:
        sys.exit("FAKE_WECHAT_MEDIA_VERDICT 只能是 pass、review、risky 或 off")
    try:
        answer = requests.post(app.config["WECHAT_API_BASE"] + "__fake__/config", json={"media_judge": judge},
                               timeout=5)
        answer.raise_for_status()
    except requests.RequestException as exc:
        print(f"未能设置模拟微信的图片审核（{exc}）：新上传的图片将保持待审核")
        return
    if judge:
        print(f"模拟微信将自动审核上传的图片，结论：{verdict}（FAKE_WECHAT_MEDIA_VERDICT）")


class _RequestHandler(WSGIRequestHandler):
    """The app writes each request's access line itself, without the query string (signed media
    links and WeChat's signatures travel there); Werkzeug's own line, with it, is left out."""

    def log_request(self, code="-", size="-") -> None:
        pass


def _start_background(*commands: list[str]) -> None:
    """The scheduler and the sender, as `flask --app wsgi …` children stopped with the server.
    They reach the fake WeChat this process serves."""
    env = {**os.environ, "FAKE_WECHAT_AUTOSTART": "0"}
    children = [subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", *command], env=env, cwd=PROJECT_ROOT)
                for command in commands]

    def stop() -> None:
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()

    atexit.register(stop)
    # atexit runs on Ctrl-C and normal exit, not on a SIGTERM unless it becomes an exit.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("计划任务与订阅消息发送进程已启动（DEVSERVER_JOBS=0 可不启动）")


if __name__ == "__main__":
    main()
