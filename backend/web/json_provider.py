"""Flask's JSON provider, with bodies nested too deeply for the parser refused as bad JSON.

Python's json module parses recursively: a body of a few thousand `[` (10 KB, well inside
MAX_CONTENT_LENGTH) raises RecursionError, which is no ValueError, so `request.get_json` let it
through as a 500 with a traceback. Here it is a ValueError like any other malformed body: the
API answers 400 invalid_input, `get_json(silent=True)` returns None.
"""
from __future__ import annotations

from typing import Any

from flask.json.provider import DefaultJSONProvider


class TooDeep(ValueError):
    pass


class SafeJSONProvider(DefaultJSONProvider):
    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise TooDeep("JSON nested too deeply") from None
