"""CRM sessions: cookie flags (HttpOnly, SameSite=Lax, Secure behind HTTPS) and a logout that
ends the session server-side, so a copied cookie stops working."""

from __future__ import annotations

import pytest

from corpmail.extensions import db
from corpmail.models import User
from tests.support.web import token_from_html

HTTPS_PROXY = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}


def form_login(test_client, user, remember: bool = False, https: bool = False):
    """The real /login form; returns the POST's response (its Set-Cookie headers)."""
    where = {"base_url": "https://localhost", "headers": {"Referer": "https://localhost/login"}
             } if https else {}  # Flask-WTF checks the Referer of a POST over HTTPS
    token = token_from_html(test_client.get("/login", **where).get_data(as_text=True))
    data = {"email": user.email, "password": user.plain_password, "csrf_token": token}
    if remember:
        data["remember"] = "y"
    resp = test_client.post("/login", data=data, **where)
    assert resp.status_code == 302, resp.status_code
    return resp


def set_cookies(resp) -> dict[str, str]:
    """name -> the whole Set-Cookie header, attributes lower-cased."""
    out = {}
    for header in resp.headers.getlist("Set-Cookie"):
        out[header.split("=", 1)[0]] = header.lower()
    return out


def attributes(header: str) -> set[str]:
    return {part.strip().split("=")[0] for part in header.split(";")[1:]}


def logged_in(test_client) -> bool:
    return test_client.get("/").status_code == 200


# --------------------------------------------------------------------------- cookie flags
def test_session_and_remember_cookies_are_httponly_and_samesite_lax(app, client, plain_user):
    cookies = set_cookies(form_login(client, plain_user, remember=True))
    for name in ("session", "remember_token"):
        assert name in cookies, cookies
        assert "httponly" in attributes(cookies[name]), cookies[name]
        assert "samesite=lax" in cookies[name], cookies[name]
        assert "secure" not in attributes(cookies[name])  # plain http here: no Secure


class TestHttpsInstallation:
    @pytest.fixture
    def app_config(self):
        return {"HTTPS": "true"}  # as CORPMAIL_HTTPS=true gives it: text

    def test_cookies_are_secure(self, app, client, plain_user):
        # Secure even when the proxy in front talks plain http to the app.
        assert "secure" in attributes(set_cookies(client.get("/login"))["session"])
        cookies = set_cookies(form_login(client, plain_user, remember=True, https=True))
        for name in ("session", "remember_token"):
            assert {"secure", "httponly"} <= attributes(cookies[name]), cookies[name]


class TestBehindATrustedProxy:
    @pytest.fixture
    def app_config(self):
        return {"PROXY_COUNT": 1}

    def test_https_seen_by_the_proxy_makes_the_session_cookie_secure(self, app, client):
        cookie = set_cookies(client.get("/login", headers=HTTPS_PROXY))["session"]
        assert {"secure", "httponly", "samesite"} <= attributes(cookie)
        assert "secure" not in attributes(set_cookies(client.get("/login"))["session"])


def test_forwarded_headers_are_ignored_without_a_configured_proxy(app, client):
    """A client cannot claim HTTPS (or another IP) by sending the proxy's headers itself."""
    cookie = set_cookies(client.get("/login", headers=HTTPS_PROXY))["session"]
    assert "secure" not in attributes(cookie)


# --------------------------------------------------------------------------- logout
def test_a_copied_session_cookie_stops_working_after_logout(app, client, plain_user, post_form):
    form_login(client, plain_user)
    stolen = client.get_cookie("session").value
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    assert logged_in(thief)  # the copy works while the login lives

    assert post_form(client, "/logout").status_code == 302
    assert not logged_in(client)
    resp = thief.get("/")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert thief.get("/emails").status_code == 302


def test_a_copied_remember_cookie_stops_working_after_logout(app, client, plain_user,
                                                             post_form):
    form_login(client, plain_user, remember=True)
    remembered = client.get_cookie("remember_token").value
    post_form(client, "/logout")
    thief = app.test_client()  # no session cookie: Flask-Login would restore from this one
    thief.set_cookie("remember_token", remembered)
    assert not logged_in(thief)


def test_logging_in_again_after_logout_works(app, client, plain_user, post_form):
    form_login(client, plain_user)
    post_form(client, "/logout")
    form_login(client, plain_user)
    assert logged_in(client)
    db.session.expire_all()
    assert db.session.get(User, plain_user.id).session_version == 1


def test_a_session_naming_a_user_without_its_version_is_refused(app, client, plain_user):
    """Cookies made before session versions (or forged with a bare id) name nobody."""
    with client.session_transaction() as session:
        session["_user_id"] = str(plain_user.id)
        session["_fresh"] = True
    assert not logged_in(client)


def test_a_deactivated_user_is_logged_out_at_the_next_request(app, client, plain_user):
    form_login(client, plain_user)
    plain_user.active = False
    db.session.commit()
    assert not logged_in(client)
