"""The OAuth 2.0 client (Authlib's OAuth2Session): the Authorize flow with PKCE S256 and
`state`, the code exchange and refreshes, with provider errors mapped to our own."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session

from corpmail.oauth.providers import endpoints_for

TIMEOUT_S = 15.0  # a provider's token endpoint; the admin's page or a scan waits for it


class ProviderError(Exception):
    """The provider answered with an OAuth error (``error`` is its code, e.g. invalid_grant)."""

    def __init__(self, error: str, description: str = "") -> None:
        super().__init__(f"{error}: {description}" if description else error)
        self.error = error
        self.description = description


class ProviderUnreachable(Exception):
    """The provider's endpoint could not be reached or did not answer in time."""


@dataclass(frozen=True)
class PendingAuthorization:
    """What the callback needs to finish one Authorize: kept in the admin's session."""

    account_id: int
    state: str
    code_verifier: str
    redirect_uri: str

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> PendingAuthorization:
        return cls(int(data["account_id"]), str(data["state"]), str(data["code_verifier"]),
                   str(data["redirect_uri"]))


def oauth_session(server, redirect_uri: str | None = None) -> OAuth2Session:
    """A client for this server's provider; the secret goes in the POST body, which
    Google, Microsoft and standard servers all accept."""
    return OAuth2Session(
        server.oauth_client_id, server.oauth_client_secret, scope=endpoints_for(server).scopes,
        redirect_uri=redirect_uri, code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_post", timeout=TIMEOUT_S,
    )


def start_authorization(account, redirect_uri: str) -> tuple[str, PendingAuthorization]:
    """The provider URL to send the admin to, and what to remember until the callback."""
    server = account.server
    ends = endpoints_for(server)
    verifier = generate_token(64)  # PKCE: 64 characters of [A-Za-z0-9]
    url, state = oauth_session(server, redirect_uri).create_authorization_url(
        ends.authorize_url, code_verifier=verifier, login_hint=account.login,
        **dict(ends.authorize_params),
    )
    return url, PendingAuthorization(account.id, state, verifier, redirect_uri)


def exchange_code(account, pending: PendingAuthorization, code: str) -> dict:
    """The token response for an authorization code (the caller has checked `state`)."""
    server = account.server
    session = oauth_session(server, pending.redirect_uri)
    return _call(lambda: session.fetch_token(
        endpoints_for(server).token_url, grant_type="authorization_code", code=code,
        code_verifier=pending.code_verifier))


def refresh(server, refresh_token: str) -> dict:
    """A new token response (access token, perhaps a rotated refresh token)."""
    session = oauth_session(server)
    return _call(lambda: session.refresh_token(endpoints_for(server).token_url,
                                               refresh_token=refresh_token))


def revoke(server, token: str) -> None:
    """RFC 7009 revocation when the provider has an endpoint; errors are ignored by callers."""
    url = endpoints_for(server).revoke_url
    if url:
        _call(lambda: oauth_session(server).revoke_token(url, token=token))


def _call(request):
    try:
        return request()
    except OAuthError as exc:
        raise ProviderError(exc.error or "error", exc.description or "") from exc
    except requests.RequestException as exc:
        raise ProviderUnreachable(str(exc)) from exc
