"""Declared API operations: one decorator validates the request, resolves the caller, serialises
the answer, and records what it did so `backend.web.openapi` can describe it.

A route written with it stays thin: `@api.post("/x", body=XIn, response=XOut)` and a function
that loads, checks access, calls one service and returns the response model.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel

from backend.auth import current_caller
from backend.errors import ApiError, Forbidden
from backend.services.privacy import audit
from backend.validation import parse_json_body, parse_query
from backend.web import idempotency
from models import Role, db


@dataclass(frozen=True)
class FilePart:
    """A file in a `multipart/form-data` body. Only described here: the view reads it itself,
    because how much it may read, and what the bytes must be, is the service's business."""

    description: str = ""
    # What the file may be; empty: anything.
    media_types: tuple[str, ...] = ()
    required: bool = True


@dataclass
class Operation:
    method: str
    summary: str
    description: str
    tags: list[str]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    # Other statuses the view answers with the same response (status → when), returned as
    # `(response, status)`: e.g. 200 for a repeated create that returns the first one.
    other_statuses: dict[int, str] = field(default_factory=dict)
    # None: public; a set: the caller must hold one of these roles (empty set: any signed-in user).
    roles: frozenset[Role] | None = None
    errors: list[str] = field(default_factory=list)
    # Non-JSON answers (PNG, SVG, PDF, HTML): media type → description
    produces: dict[str, str] | None = None
    # Honours an `Idempotency-Key` header (creating writes; needs a signed-in caller).
    idempotent: bool = False
    # A `multipart/form-data` body instead of JSON: part name → file part.
    multipart: dict[str, FilePart] | None = None
    # user id → the Redis key of a cached answer to read together with the caller's identity,
    # in the same round trip (see backend/caches/identity_cache.py).
    prefetch: Callable[[int], str] | None = None


class ApiBlueprint(Blueprint):
    """A Blueprint whose routes declare their schemas."""

    def __init__(self, name: str, import_name: str, *, tag: str, **kwargs: Any):
        super().__init__(name, import_name, **kwargs)
        self.tag = tag

    def operation(self, method: str, rule: str, *, body=None, query=None, response=None,
                  status: int = 200, other_statuses: dict[int, str] | None = None, roles=None,
                  auth: bool = False, errors=(), produces=None,
                  idempotent: bool = False, multipart: dict[str, FilePart] | None = None,
                  prefetch: Callable[[int], str] | None = None):
        if body is not None and multipart is not None:
            raise ValueError("an operation takes a JSON body or a multipart one, not both")
        if (auth or idempotent) and roles is None:
            roles = frozenset()
        role_set = frozenset(roles) if roles is not None else None

        def decorator(view: Callable):
            doc = (view.__doc__ or "").strip()
            summary, _, description = doc.partition("\n")
            op = Operation(
                method=method, summary=summary.strip(), description=description.strip(),
                tags=[self.tag], body=body, query=query, response=response, status=status,
                other_statuses=dict(other_statuses or {}),
                roles=role_set, errors=list(errors), produces=produces, idempotent=idempotent,
                multipart=dict(multipart) if multipart is not None else None, prefetch=prefetch,
            )

            @functools.wraps(view)
            def wrapper(**path_args):
                kwargs = dict(path_args)
                if op.roles is not None:
                    caller = current_caller(required=True, prefetch=op.prefetch)
                    if op.roles and not caller.has(*op.roles):
                        raise Forbidden()
                    kwargs["caller"] = caller
                claim = None
                if op.idempotent:
                    outcome = idempotency.begin(kwargs["caller"].user_id, request)
                    if isinstance(outcome, Response):
                        return outcome  # a replay: the first answer, as it was
                    claim = outcome
                try:
                    if op.query is not None:
                        kwargs["query"] = parse_query(request, op.query)
                    if op.body is not None:
                        kwargs["body"] = parse_json_body(request, op.body)
                    response = _render(view(**kwargs), op.status)
                    if claim is not None:
                        idempotency.finish(claim, response)
                    if op.method != "GET":
                        # One transaction per request: services flush, the request commits once;
                        # on an error the session is rolled back when the app context ends. A
                        # staff member's change commits together with its audit entry.
                        audit.staff_write(kwargs.get("caller"), response.status_code)
                        db.session.commit()
                except BaseException as error:
                    if claim is not None:
                        db.session.rollback()  # SQLite: free the write lock before releasing
                        idempotency.release(claim)
                    if isinstance(error, ApiError) and op.method != "GET":
                        audit.refused_staff_write(kwargs.get("caller"), error.status)
                    raise
                return response

            wrapper.api_operation = op  # read by backend.web.openapi
            self.add_url_rule(rule, view_func=wrapper, methods=[method])
            return wrapper

        return decorator

    def get(self, rule: str, **kw):
        return self.operation("GET", rule, **kw)

    def post(self, rule: str, **kw):
        return self.operation("POST", rule, **kw)

    def put(self, rule: str, **kw):
        return self.operation("PUT", rule, **kw)

    def delete(self, rule: str, **kw):
        return self.operation("DELETE", rule, **kw)


def _render(result: Any, status: int) -> Response:
    if isinstance(result, Response):
        return result
    if isinstance(result, tuple):
        result, status = result
    if isinstance(result, BaseModel):
        payload = result.model_dump(mode="json")
    else:
        payload = result
    response = jsonify(payload)
    response.status_code = status
    return response
