"""The served OpenAPI document, kept in docs/openapi.json, so that every change to the contract
shows in a diff — and a change that was not meant (a moved module, a renamed model) fails here.

After a deliberate change: `UPDATE_OPENAPI_SNAPSHOT=1 .venv/bin/python -m pytest tests/web/test_openapi_snapshot.py`,
then read the diff of docs/openapi.json before committing it."""
from __future__ import annotations

import json
import os
from pathlib import Path

SNAPSHOT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def as_text(document: dict) -> str:
    # Key order kept as served: a reordering is a change to the document too.
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def test_the_served_document_is_the_one_in_docs(client):
    served = as_text(json.loads(client.get("/api/openapi.json").data))
    if os.environ.get("UPDATE_OPENAPI_SNAPSHOT"):
        SNAPSHOT.write_text(served, encoding="utf-8")
    assert SNAPSHOT.read_text(encoding="utf-8") == served, (
        "the OpenAPI document changed: if that was meant, run this test with UPDATE_OPENAPI_SNAPSHOT=1 "
        "and commit docs/openapi.json")
