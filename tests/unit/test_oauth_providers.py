"""The OAuth provider registry: known endpoints, the server's overrides, unknown names."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from corpmail.oauth.providers import PROVIDERS, UnknownProvider, endpoints_for


def server(provider, **fields):
    values = dict(oauth_provider=provider, oauth_authorize_url=None, oauth_token_url=None,
                  oauth_revoke_url=None, oauth_scopes=None)
    values.update(fields)
    return SimpleNamespace(**values)


def test_registry_names_match_their_keys():
    assert set(PROVIDERS) == {"google", "microsoft", "generic"}
    assert all(p.name == key for key, p in PROVIDERS.items())


def test_google_asks_for_offline_access_and_full_mail_scope():
    ends = endpoints_for(server("google"))
    assert ends.token_url == "https://oauth2.googleapis.com/token"
    assert ends.scopes == "https://mail.google.com/"
    assert ("access_type", "offline") in ends.authorize_params


def test_microsoft_tenant_urls_and_scopes_can_be_overridden():
    ends = endpoints_for(server("microsoft"))
    assert "offline_access" in ends.scopes.split()
    assert "https://outlook.office.com/IMAP.AccessAsUser.All" in ends.scopes.split()
    assert ends.revoke_url is None
    tenant = "https://login.microsoftonline.com/contoso.example/oauth2/v2.0/token"
    assert endpoints_for(server("microsoft", oauth_token_url=tenant)).token_url == tenant


def test_generic_takes_the_servers_values_and_normalises_scopes():
    ends = endpoints_for(server("generic", oauth_authorize_url="https://id.test/auth",
                                oauth_token_url="https://id.test/token",
                                oauth_scopes=" imap\n smtp  offline_access "))
    assert (ends.authorize_url, ends.token_url, ends.revoke_url) == (
        "https://id.test/auth", "https://id.test/token", None)
    assert ends.scopes == "imap smtp offline_access"
    assert PROVIDERS["generic"].needs_urls


def test_unknown_provider_is_refused():
    with pytest.raises(UnknownProvider):
        endpoints_for(server("yahoo"))
