"""Capturing what the app logs, as a deployment's handler would write it."""
from __future__ import annotations

import io
import json
import logging

import pytest

from backend.observability import logs


class Captured:
    def __init__(self, stream: io.StringIO):
        self.stream = stream

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict]:
        """Every line as the JSON object it must be."""
        return [json.loads(line) for line in self.text.splitlines()]


@pytest.fixture
def json_log():
    """Everything logged at INFO and above (SQLAlchemy's statements included) while the test
    runs, written by the JSON formatter as in production."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    root = logging.getLogger()
    engine = logging.getLogger("sqlalchemy.engine")
    saved = root.level, engine.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    engine.setLevel(logging.INFO)  # the statements, as `echo` would show them
    try:
        yield Captured(stream)
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])
        engine.setLevel(saved[1])
