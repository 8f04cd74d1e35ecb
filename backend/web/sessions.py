"""Flask's cookie session, opened without cost when the request carries no session cookie.

The mini-program's API never sets one (it authenticates with bearer tokens); only the staff
console will. Flask's own interface builds its signing serializer on every request before
looking for the cookie — a few percent of a cached inbox call.
"""
from __future__ import annotations

from flask.sessions import SecureCookieSession, SecureCookieSessionInterface


class LazyCookieSessionInterface(SecureCookieSessionInterface):
    def open_session(self, app, request) -> SecureCookieSession | None:
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)
