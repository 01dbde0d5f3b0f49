"""Web helpers: log in through the real /login form, post forms with a valid CSRF token."""

from __future__ import annotations

import hashlib
import os
import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer
from werkzeug.datastructures import MultiDict

_CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def csrf_token(client: FlaskClient, app: Flask) -> str:
    """A token valid for this client's session, made the way Flask-WTF makes it.

    Works for any URL (also POST-only endpoints): the raw token lives in the session,
    the form carries it signed with the app's secret.
    """
    field = app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    with client.session_transaction() as session:
        if field not in session:
            session[field] = hashlib.sha1(os.urandom(64)).hexdigest()
        raw = session[field]
    secret = app.config.get("WTF_CSRF_SECRET_KEY") or app.secret_key
    return URLSafeTimedSerializer(secret, salt="wtf-csrf-token").dumps(raw)


def token_from_html(html: str) -> str | None:
    """The csrf_token hidden input of a rendered form, if any."""
    match = _CSRF_INPUT.search(html)
    return (match.group(1) or match.group(2)) if match else None


def with_token(data: Any, token: str) -> MultiDict:
    """Form data (dict, MultiDict or list of pairs; repeated keys kept) plus csrf_token."""
    if isinstance(data, MultiDict):
        out = MultiDict(data)
    elif isinstance(data, dict):
        out = MultiDict()
        for key, value in data.items():
            if isinstance(value, (list, tuple)) and not (
                len(value) == 2 and hasattr(value[0], "read")  # (file, filename)
            ):
                for item in value:
                    out.add(key, item)
            else:
                out.add(key, value)
    else:
        out = MultiDict(list(data or []))
    out.setdefault("csrf_token", token)
    return out


def post_form(client: FlaskClient, app: Flask, url: str, data: Any = None,
              follow_redirects: bool = False, **kwargs):
    """POST url with a valid csrf_token (CSRF protection stays on)."""
    return client.post(url, data=with_token(data, csrf_token(client, app)),
                       follow_redirects=follow_redirects, **kwargs)


def login(client: FlaskClient, email: str, password: str) -> None:
    """Log in through the real /login page: GET the form, POST it with its own token."""
    page = client.get("/login")
    assert page.status_code == 200, page.status_code
    token = token_from_html(page.get_data(as_text=True))
    assert token, "the /login form has no csrf_token field"
    answer = client.post("/login", data={"email": email, "password": password,
                                         "csrf_token": token})
    assert answer.status_code == 302, (
        f"login as {email} failed: {answer.status_code} {answer.get_data(as_text=True)[:500]}")
