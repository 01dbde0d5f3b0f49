"""Rate limits: failed logins per account and per client address; refused calls of the
Roundcube plugin's endpoints (bad secret, forged token) per client address. Small limits
here so the tests stay fast; the defaults are in corpmail/config.py."""

from __future__ import annotations

import re
import time

import pytest

from corpmail.extensions import db
from corpmail.models import AutologinGrant
from tests.support.web import token_from_html

LIMITS = {
    "LOGIN_LIMIT_PER_ACCOUNT": "3 per minute",
    "LOGIN_LIMIT_PER_IP": "5 per minute",
    "AUTOLOGIN_INTERNAL_LIMIT": "4 per minute",
}
TOKEN_INPUT = re.compile(r'name="_corpmail_token" value="([^"]+)"')


@pytest.fixture
def app_config():
    return dict(LIMITS)


def attempt(app, email: str, password: str, ip: str = "198.51.100.1", headers=None):
    """One login through the form, from a new browser at this address."""
    test_client = app.test_client()
    env = {"REMOTE_ADDR": ip}
    page = test_client.get("/login", environ_base=env)
    data = {"email": email, "password": password,
            "csrf_token": token_from_html(page.get_data(as_text=True))}
    return test_client.post("/login", data=data, environ_base=env, headers=headers)


def assert_limited(resp) -> None:
    assert resp.status_code == 429, resp.status_code
    page = resp.get_data(as_text=True)
    assert "Too many attempts" in page and "Wait a few minutes" in page
    assert int(resp.headers["Retry-After"]) > 0


# --------------------------------------------------------------------------- login
def test_failed_logins_for_one_account_are_limited_from_any_address(app, plain_user):
    for n in range(3):
        assert attempt(app, plain_user.email, "wrong", ip=f"198.51.100.{n + 1}").status_code == 200
    # From a fourth address, even with the right password: the account is resting.
    assert_limited(attempt(app, plain_user.email, plain_user.plain_password, ip="198.51.100.9"))
    assert_limited(attempt(app, plain_user.email.upper(), "wrong", ip="198.51.100.10"))


def test_another_account_is_not_locked_by_the_first(app, plain_user, admin_user):
    for n in range(3):
        attempt(app, plain_user.email, "wrong", ip=f"198.51.100.{n + 1}")
    assert attempt(app, admin_user.email, admin_user.plain_password,
                   ip="198.51.100.1").status_code == 302


def test_failed_logins_from_one_address_are_limited_across_accounts(app, plain_user):
    for n in range(5):
        assert attempt(app, f"nobody{n}@example.test", "guess").status_code == 200
    assert_limited(attempt(app, plain_user.email, plain_user.plain_password))
    # Another address is not affected.
    assert attempt(app, plain_user.email, plain_user.plain_password,
                   ip="192.0.2.44").status_code == 302


def test_successful_logins_never_count(app, plain_user):
    for _ in range(8):  # more than both limits
        assert attempt(app, plain_user.email, plain_user.plain_password).status_code == 302


class TestLockOutEnds:
    @pytest.fixture
    def app_config(self):
        return {"LOGIN_LIMIT_PER_ACCOUNT": "2 per 1 second"}

    def test_the_account_opens_again_when_the_window_has_passed(self, app, plain_user):
        for _ in range(2):
            attempt(app, plain_user.email, "wrong")
        assert attempt(app, plain_user.email, plain_user.plain_password).status_code == 429
        time.sleep(1.1)
        assert attempt(app, plain_user.email, plain_user.plain_password).status_code == 302


class TestBehindNginx:
    @pytest.fixture
    def app_config(self):
        return {**LIMITS, "PROXY_COUNT": 1}

    def test_the_limit_is_per_real_client_not_per_proxy(self, app, plain_user):
        """Behind nginx every request comes from 127.0.0.1: the forwarded address counts."""
        for n in range(5):
            resp = attempt(app, f"nobody{n}@example.test", "guess", ip="127.0.0.1",
                           headers={"X-Forwarded-For": "203.0.113.50"})
            assert resp.status_code == 200
        assert attempt(app, plain_user.email, "x", ip="127.0.0.1",
                       headers={"X-Forwarded-For": "203.0.113.50"}).status_code == 429
        assert attempt(app, plain_user.email, plain_user.plain_password, ip="127.0.0.1",
                       headers={"X-Forwarded-For": "203.0.113.51"}).status_code == 302


def test_a_forged_forwarded_address_does_not_escape_the_limit(app, plain_user):
    """Without a configured proxy, X-Forwarded-For is the client's own word: ignored."""
    for n in range(5):
        attempt(app, f"nobody{n}@example.test", "guess",
                headers={"X-Forwarded-For": f"203.0.113.{n}"})
    assert attempt(app, plain_user.email, plain_user.plain_password,
                   headers={"X-Forwarded-For": "203.0.113.99"}).status_code == 429


# --------------------------------------------------------------------------- plugin endpoints
def plugin_call(app, path: str, data: dict, secret: str | None, ip: str = "10.1.1.1"):
    headers = {"X-Corpmail-Secret": secret} if secret is not None else {}
    return app.test_client().post(path, data=data, headers=headers,
                                  environ_base={"REMOTE_ADDR": ip})


@pytest.fixture
def granted_client(client_as, plain_user, scanner_account):
    db.session.add(AutologinGrant(account=scanner_account, user_id=plain_user.id))
    db.session.commit()
    return client_as(plain_user)


def new_token(granted_client, account_id: int) -> str:
    page = granted_client.get(f"/mail/open/{account_id}").get_data(as_text=True)
    return TOKEN_INPUT.search(page).group(1)


def redeem_data(granted_client, account_id: int) -> dict:
    return {"token": new_token(granted_client, account_id),
            "crm_session": granted_client.get_cookie("session").value}


def test_the_redeem_endpoint_refuses_a_missing_or_wrong_secret(app, granted_client,
                                                               scanner_account):
    data = redeem_data(granted_client, scanner_account.id)
    for n, secret in enumerate((None, "", "wrong", app.config["AUTOLOGIN_SECRET"][:-1])):
        resp = plugin_call(app, "/internal/autologin/redeem", data, secret, ip=f"10.2.0.{n}")
        assert resp.status_code == 403 and resp.get_json() == {"ok": False, "reason": "forbidden"}
        assert "password" not in resp.get_data(as_text=True)
    ok = plugin_call(app, "/internal/autologin/redeem", data, app.config["AUTOLOGIN_SECRET"])
    assert ok.status_code == 200 and ok.get_json()["password"] == scanner_account.password


def test_guessing_the_secret_is_rate_limited_per_address(app, granted_client, scanner_account):
    data = redeem_data(granted_client, scanner_account.id)
    secret = app.config["AUTOLOGIN_SECRET"]
    for n in range(4):  # both endpoints share one budget: they check the same secret
        path = "/internal/autologin/redeem" if n % 2 else "/internal/autologin/check"
        assert plugin_call(app, path, data, f"guess-{n}").status_code == 403
    limited = plugin_call(app, "/internal/autologin/redeem", data, secret)
    assert limited.status_code == 429
    assert limited.get_json() == {"ok": False, "reason": "rate_limited"}
    assert int(limited.headers["Retry-After"]) > 0
    # The same valid call from another address (the real Roundcube) goes through.
    ok = plugin_call(app, "/internal/autologin/redeem", data, secret, ip="10.9.9.9")
    assert ok.status_code == 200 and ok.get_json()["ok"] is True


def test_forged_tokens_count_but_honest_refusals_do_not(app, granted_client, scanner_account):
    secret = app.config["AUTOLOGIN_SECRET"]
    data = redeem_data(granted_client, scanner_account.id)
    assert plugin_call(app, "/internal/autologin/redeem", data, secret).status_code == 200
    for _ in range(6):  # a replayed link (back button, double click): 409 each time, no limit
        assert plugin_call(app, "/internal/autologin/redeem", data, secret).status_code == 409
    for n in range(4):
        forged = dict(data, token=data["token"][:-2] + f"{n:02d}")
        assert plugin_call(app, "/internal/autologin/redeem", forged, secret).status_code == 400
    fresh = redeem_data(granted_client, scanner_account.id)
    assert plugin_call(app, "/internal/autologin/redeem", fresh, secret).status_code == 429


def test_the_refusal_page_explains_a_rate_limit(app, client):
    page = client.get("/mail/refused?reason=rate_limited").get_data(as_text=True)
    assert "too many refused attempts" in page
