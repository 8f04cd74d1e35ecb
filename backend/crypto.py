"""Personal data at rest: residents' and deputies' phone numbers are stored encrypted (Fernet:
AES-CBC with an HMAC), and shown masked (138****1234) to everyone but whoever may read them whole.

The key comes from `DATA_ENCRYPTION_KEY`, else is derived from `SECRET_KEY`, so a newcomer's
database is encrypted too; a county sets its own key and keeps it apart from the database dump.
"""
from __future__ import annotations

import base64
import hashlib
import re

from cryptography.fernet import Fernet, InvalidToken
from flask import Flask, current_app

MOBILE = re.compile(r"^1[3-9]\d{9}$")


class DataCipher:
    """Encrypts and decrypts personal data with one key; what `EncryptedString` columns use."""

    def __init__(self, key: str | bytes | None, secret_key: str):
        if not key:
            key = base64.urlsafe_b64encode(hashlib.sha256(("data-at-rest:" + secret_key).encode()).digest())
        self._fernet = Fernet(key)

    def encrypt(self, value: str) -> str:
        return self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, token: str) -> str | None:
        """The plain text, or None when it cannot be decrypted (a rotated or wrong key)."""
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            return None


def init_app(app: Flask) -> None:
    app.extensions["data_cipher"] = DataCipher(app.config.get("DATA_ENCRYPTION_KEY"), app.config["SECRET_KEY"])


def encrypt_text(value: str) -> str:
    return current_app.extensions["data_cipher"].encrypt(value)


def decrypt_text(token: str) -> str | None:
    return current_app.extensions["data_cipher"].decrypt(token)


def mask_phone(phone: str) -> str:
    """13812341234 → 138****1234."""
    return phone[:3] + "****" + phone[-4:]
