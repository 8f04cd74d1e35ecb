"""Request bodies past their limit are refused with 413 `payload_too_large`, however they come.

Werkzeug already refuses a Content-Length over MAX_CONTENT_LENGTH (or the route's own limit,
`request.max_content_length`), multipart fields over MAX_FORM_MEMORY_SIZE and forms of more than
MAX_FORM_PARTS parts. Two gaps are closed here:

- A body without Content-Length (chunked, which gunicorn and the dev server decode) is cut at the
  limit, and reading it whole (`get_data`, hence JSON) silently returned the first megabyte: the
  caller got 400 "not JSON" — or worse, a truncated body that parses. Here reading it whole
  answers 413 when anything follows the limit.
- A urlencoded form is read whole by Werkzeug with no memory limit of its own: here it is held
  to MAX_FORM_MEMORY_SIZE like a multipart field.
"""
from __future__ import annotations

from typing import IO

from flask import Request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream, get_input_stream

URLENCODED = "application/x-www-form-urlencoded"


class LimitedRequest(Request):
    @cached_property
    def stream(self) -> IO[bytes]:
        if self.shallow:
            raise RuntimeError("This request was created with 'shallow=True', reading from the input stream is disabled.")
        limit = self.max_content_length
        if self.mimetype == URLENCODED and self.max_form_memory_size is not None:
            limit = self.max_form_memory_size if limit is None else min(limit, self.max_form_memory_size)
        if limit is not None and self.content_length is not None and self.content_length > limit:
            raise RequestEntityTooLarge()
        if limit is not None and self.content_length is None and "wsgi.input_terminated" in self.environ:
            return _MaxStream(self.environ["wsgi.input"], limit)
        return get_input_stream(self.environ, max_content_length=limit)


class _MaxStream(LimitedStream):
    """A body of unknown length, `limit` at most: reading past it raises 413, reading it whole too."""

    def __init__(self, source: IO[bytes], limit: int):
        super().__init__(source, limit, is_max=True)
        self._source = source

    def readall(self) -> bytes:
        data = super().readall()
        # At the limit: one byte more means the body was longer (the server knows where a
        # chunked body ends, so this does not wait for a client that has finished).
        if self.is_exhausted and self._source.read(1):
            raise RequestEntityTooLarge()
        return data
