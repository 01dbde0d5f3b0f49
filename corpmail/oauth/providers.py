"""OAuth 2.0 providers: a name stored on the MailServer, a class here (a key in the DB,
a class in the code). Adding a provider is adding a class to PROVIDERS."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l


@dataclass(frozen=True)
class Endpoints:
    """What the client needs to talk to one provider for one mail server."""

    authorize_url: str
    token_url: str
    revoke_url: str | None
    scopes: str  # space-separated
    # Extra query parameters of the authorization request (beside PKCE, state, login_hint).
    authorize_params: tuple[tuple[str, str], ...] = ()


class Provider:
    """A provider's known endpoints and scopes; a server's own values override them."""

    name = ""
    label = ""
    authorize_url = ""
    token_url = ""
    revoke_url: str | None = None
    scopes = ""
    authorize_params: tuple[tuple[str, str], ...] = ()
    # The generic provider has no defaults: the admin gives the URLs and scopes.
    needs_urls = False

    def endpoints(self, server) -> Endpoints:
        return Endpoints(
            authorize_url=(server.oauth_authorize_url or self.authorize_url),
            token_url=(server.oauth_token_url or self.token_url),
            revoke_url=(server.oauth_revoke_url or self.revoke_url),
            scopes=" ".join((server.oauth_scopes or self.scopes).split()),
            authorize_params=self.authorize_params,
        )


class Google(Provider):
    name = "google"
    label = _l("Google (Gmail, Google Workspace)")
    authorize_url = "https://accounts.google.com/o/oauth2/v2/auth"
    token_url = "https://oauth2.googleapis.com/token"
    revoke_url = "https://oauth2.googleapis.com/revoke"
    scopes = "https://mail.google.com/"
    # Google hands out a refresh token only for offline access, and again only on consent.
    authorize_params = (("access_type", "offline"), ("prompt", "consent"))


class Microsoft(Provider):
    name = "microsoft"
    label = _l("Microsoft 365 (Entra ID)")
    # "common": any tenant and personal accounts (a multi-tenant app); a single-tenant app
    # overrides the URLs with its tenant id instead of "common".
    authorize_url = "https://login.microsoftonline.com/common/oauth2/v2.0/authorize"
    token_url = "https://login.microsoftonline.com/common/oauth2/v2.0/token"
    revoke_url = None  # Entra has no RFC 7009 endpoint; consent is removed in the portal
    scopes = ("https://outlook.office.com/IMAP.AccessAsUser.All "
              "https://outlook.office.com/SMTP.Send offline_access")


class Generic(Provider):
    name = "generic"
    label = _l("Other (standard OAuth 2.0 server)")
    needs_urls = True


PROVIDERS: dict[str, Provider] = {p.name: p for p in (Google(), Microsoft(), Generic())}


class UnknownProvider(ValueError):
    """The server names a provider this version does not know."""


def provider_for(server) -> Provider:
    try:
        return PROVIDERS[server.oauth_provider or ""]
    except KeyError:
        raise UnknownProvider(server.oauth_provider) from None


def endpoints_for(server) -> Endpoints:
    return provider_for(server).endpoints(server)
