"""The web's defences on every answer outside the console (which sets its own, stricter for its
pages: backend/console/security.py).

- JSON, images, files: `Content-Security-Policy: default-src 'none'` — an answer that is data
  runs nothing, loads nothing and is framed nowhere, even if a browser is made to render it.
- Our few HTML pages (Swagger UI at /api/docs, the scan landing page /s/<scene>): scripts,
  styles, images and fetches from this site only, plus the inline `<script>`/`<style>` a
  template marks with `nonce="{{ csp_nonce() }}"` (a new nonce per answer).
- `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`, `Referrer-Policy: no-referrer`
  (signed media links must not leak through a Referer).
- `Strict-Transport-Security` (HSTS_SECONDS) on every answer, console included, wherever the
  console's cookie is Secure (SESSION_COOKIE_SECURE: on with real WeChat credentials, the site
  behind HTTPS); never on the dev server, whose plain HTTP a browser would then refuse for a year.

A header a view set itself is kept (/media sets its own nosniff).
"""
from __future__ import annotations

import secrets

from flask import Flask, current_app, g, request

DATA_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


def page_csp(nonce: str | None) -> str:
    inline = f" 'nonce-{nonce}'" if nonce else ""
    return (f"default-src 'none'; script-src 'self'{inline}; style-src 'self'{inline}; img-src 'self' data:; "
            "font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def csp_nonce() -> str:
    """This answer's nonce, for templates: `<style nonce="{{ csp_nonce() }}">`."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(18)
    return g.csp_nonce


def init_security_headers(app: Flask) -> None:
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.after_request(_headers)


def _headers(response):
    headers = response.headers
    hsts = current_app.config.get("HSTS_SECONDS") or 0
    if hsts and current_app.config.get("SESSION_COOKIE_SECURE"):
        headers.setdefault("Strict-Transport-Security", f"max-age={int(hsts)}")
    if request.path.startswith("/console"):  # the console's own hook answers for these
        return response
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")
    if "Content-Security-Policy" not in headers:
        html = response.mimetype == "text/html"
        headers["Content-Security-Policy"] = page_csp(g.get("csp_nonce")) if html else DATA_CSP
    return response
