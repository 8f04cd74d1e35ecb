"""Files the app hands out for saving (the Excel ledger, the roster template)."""
from __future__ import annotations

from urllib.parse import quote


def attachment(filename: str, fallback: str) -> str:
    """A Content-Disposition for a download named `filename` (Chinese): RFC 6266's ASCII
    `fallback` for old clients, the real name as RFC 5987 UTF-8 for the rest."""
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"
