"""WeChat for the app: one gateway per app, reached with `get_gateway()`.

Importing this package starts nothing; `init_wechat(app)` builds the gateway (after
`init_extensions(app)`, whose Redis client it may use).
"""
from __future__ import annotations

import logging
import socket

from flask import Flask, current_app

from backend.wechat.errors import WeChatCodeInvalid, WeChatError, WeChatUnavailable
from backend.wechat.gateway import WeChatGateway, WeChatSession

log = logging.getLogger(__name__)

__all__ = [
    "WeChatCodeInvalid",
    "WeChatError",
    "WeChatGateway",
    "WeChatSession",
    "WeChatUnavailable",
    "get_gateway",
    "init_wechat",
]


def init_wechat(app: Flask) -> WeChatGateway:
    """Build the app's gateway; with the fake WeChat on autostart, also start the fake."""
    if app.config.get("WECHAT_FAKE") and app.config.get("FAKE_WECHAT_AUTOSTART"):
        _autostart_fake(app)
    gateway = WeChatGateway.from_app(app)
    app.extensions["wechat"] = gateway
    return gateway


def get_gateway() -> WeChatGateway:
    return current_app.extensions["wechat"]


def _autostart_fake(app: Flask) -> None:
    port = int(app.config["FAKE_WECHAT_PORT"])
    if _listening("127.0.0.1", port):
        return  # another process (or a standalone fake) serves it already
    from backend.wechat.fake_server import FakeWeChat

    fake = FakeWeChat(app.config["WECHAT_APP_ID"], app.config["WECHAT_APP_SECRET"], port=port)
    try:
        fake.start()
    except OSError:
        return  # lost the race for the port to a sibling process; theirs serves us too
    app.extensions["wechat_fake"] = fake
    log.info("fake WeChat started on %s", fake.base_url)


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False
