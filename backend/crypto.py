"""Personal data at rest: residents' phone numbers are stored encrypted (Fernet: AES-CBC with
an HMAC), and shown masked (138****1234) to everyone but whoever may read them whole.

The key comes from `DATA_ENCRYPTION_KEY`, else is derived from `SECRET_KEY`, so a newcomer's
database is encrypted too; a county sets its own key and keeps it apart from the database dump.
"""
from __future__ import annotations

import base64
import hashlib
import re

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app

MOBILE = re.compile(r"^1[3-9]\d{9}$")


def _fernet() -> Fernet:
    key = current_app.config.get("DATA_ENCRYPTION_KEY")
    if not key:
        digest = hashlib.sha256(("data-at-rest:" + current_app.config["SECRET_KEY"]).encode()).digest()
        key = base64.urlsafe_b64encode(digest)
    return Fernet(key)


def encrypt_text(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt_text(token: str) -> str | None:
    """The plain text, or None when it cannot be decrypted (a rotated or wrong key)."""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        return None


def mask_phone(phone: str) -> str:
    """13812341234 → 138****1234."""
    return phone[:3] + "****" + phone[-4:]
