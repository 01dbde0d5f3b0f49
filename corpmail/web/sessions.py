"""Login sessions: which user a session cookie names, and its cookie's Secure flag.

A session stores ``"<user id>:<session version>"`` (``User.get_id``). Logout raises the
user's version, so every copy of an earlier cookie (the session's or "Remember me") stops
naming anyone: a stolen or copied cookie dies with the logout, server-side.
"""

from __future__ import annotations

from flask import Flask, has_request_context, request
from flask.sessions import SecureCookieSessionInterface

from corpmail.extensions import db
from corpmail.models import User


def user_for_session_id(session_id: object):
    """The active user this session id names, or None (unknown, ended or malformed)."""
    user_id, sep, version = str(session_id or "").partition(":")
    if not sep or not user_id.isdigit() or not version.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or user.session_version != int(version):
        return None
    return user


class CookieSessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session; Secure also when this request came over HTTPS
    (directly, or through a trusted proxy's X-Forwarded-Proto), not only with HTTPS set."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return super().get_cookie_secure(app) or (has_request_context() and request.is_secure)
