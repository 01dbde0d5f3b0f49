"""A local OAuth 2.0 authorization server for the tests, on Authlib's server components.

Authorization code with PKCE (S256 required) and ``state``, refresh tokens (rotated on
every refresh, as Microsoft does), short-lived access tokens, introspection (RFC 7662)
for Dovecot's ``oauth2`` passdb and revocation (RFC 7009). A small Flask app served by
werkzeug in a thread; everything is kept in memory.

The consent page signs the user in by name (``login_hint`` pre-filled): it is the
"provider" a mailbox's owner would see. ``revoke_consent(username)`` is the user
removing the app's access at the provider: every token of theirs stops working.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from html import escape

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin, grants
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from flask import Flask, request
from werkzeug.serving import WSGIRequestHandler, make_server

from corpmail.devstack.dovecot import free_port


@dataclass
class User:
    username: str

    def get_user_id(self) -> str:
        return self.username


@dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...] = ()
    scope: str = ""
    may_introspect: bool = False  # a resource server (Dovecot), not an app

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return self.redirect_uris[0] if self.redirect_uris else None

    def get_allowed_scope(self, scope):
        allowed = set(self.scope.split())
        return " ".join(s for s in (scope or "").split() if s in allowed)

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret):
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method, endpoint):
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type):
        return response_type == "code" and bool(self.redirect_uris)

    def check_grant_type(self, grant_type):
        return grant_type in ("authorization_code", "refresh_token") and bool(self.redirect_uris)


@dataclass
class AuthorizationCode:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    username: str
    code_challenge: str | None
    code_challenge_method: str | None
    created: float = field(default_factory=time.time)

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    def is_expired(self):
        return time.time() - self.created > 60


@dataclass
class Token(TokenMixin):
    client_id: str
    username: str
    scope: str
    access_token: str
    refresh_token: str | None
    expires_in: int
    issued_at: float = field(default_factory=time.time)
    access_revoked: bool = False
    refresh_revoked: bool = False

    def check_client(self, client):
        return client.client_id == self.client_id or getattr(client, "may_introspect", False)

    def get_scope(self):
        return self.scope

    def get_expires_in(self):
        return self.expires_in

    def is_expired(self):
        return time.time() >= self.issued_at + self.expires_in

    def is_revoked(self):
        return self.access_revoked

    def get_user(self):
        return User(self.username)

    def get_client(self):
        return None


class OAuthTestServer:
    """``start()`` / ``stop()``; URLs ``authorize_url``, ``token_url``,
    ``introspection_url``, ``revocation_url``. ``register_client(...)`` adds an app;
    ``resource_client`` (id, secret) may introspect (Dovecot's credentials).
    ``access_token_seconds`` is read at each issue (change it between tests).
    ``grants`` counts issued tokens per grant type; ``tokens`` holds them all."""

    def __init__(self, host: str = "127.0.0.1", access_token_seconds: int = 3600) -> None:
        self.host = host
        self.port = free_port(host)
        self.url = f"http://{host}:{self.port}"
        self.authorize_url = self.url + "/authorize"
        self.token_url = self.url + "/token"
        self.introspection_url = self.url + "/introspect"
        self.revocation_url = self.url + "/revoke"
        self.access_token_seconds = access_token_seconds
        self.clients: dict[str, Client] = {}
        self.codes: dict[str, AuthorizationCode] = {}
        self.tokens: list[Token] = []
        self.grants: dict[str, int] = {"authorization_code": 0, "refresh_token": 0}
        self.introspections = 0
        self.lock = threading.RLock()
        self.resource_client = ("dovecot", secrets.token_urlsafe(16))
        self.clients["dovecot"] = Client("dovecot", self.resource_client[1], may_introspect=True)
        self.app = self._make_app()
        self._http = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ tests' API
    def register_client(self, client_id: str, client_secret: str, redirect_uris, scope: str
                        ) -> Client:
        client = Client(client_id, client_secret, tuple(redirect_uris), scope)
        with self.lock:
            self.clients[client_id] = client
        return client

    def revoke_consent(self, username: str) -> int:
        """The user withdraws the app's access: every token of theirs stops working."""
        count = 0
        with self.lock:
            for token in self.tokens:
                if token.username == username and not token.refresh_revoked:
                    token.access_revoked = token.refresh_revoked = True
                    count += 1
        return count

    def live_tokens(self, username: str) -> list[Token]:
        with self.lock:
            return [t for t in self.tokens if t.username == username and not t.is_revoked()
                    and not t.is_expired()]

    def start(self) -> OAuthTestServer:
        self._http = make_server(self.host, self.port, self.app, threaded=True,
                                 request_handler=_QuietHandler)
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True,
                                        name="oauth-test-server")
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None

    # ------------------------------------------------------------------ the server
    def _find_token(self, value: str, hint: str | None) -> Token | None:
        with self.lock:
            for token in reversed(self.tokens):
                if hint != "refresh_token" and token.access_token == value:
                    return token
                if hint != "access_token" and token.refresh_token == value:
                    return token
        return None

    def _make_app(self) -> Flask:
        owner = self
        app = Flask("oauth-test-server")

        def query_client(client_id):
            return owner.clients.get(client_id)

        def save_token(token_data, req):
            with owner.lock:
                owner.tokens.append(Token(
                    client_id=req.client.client_id, username=req.user.username,
                    scope=token_data.get("scope", ""), access_token=token_data["access_token"],
                    refresh_token=token_data.get("refresh_token"),
                    expires_in=int(token_data["expires_in"])))

        server = AuthorizationServer(app, query_client=query_client, save_token=save_token)
        # Read at every issue, so a test can shorten the life of the next token.
        server.register_token_generator(
            "default", _token_generator(lambda: owner.access_token_seconds))

        class CodeGrant(grants.AuthorizationCodeGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

            def save_authorization_code(self, code, req):
                with owner.lock:
                    owner.codes[code] = AuthorizationCode(
                        code=code, client_id=req.client.client_id,
                        redirect_uri=req.payload.redirect_uri, scope=req.scope or "",
                        username=req.user.username,
                        code_challenge=req.payload.data.get("code_challenge"),
                        code_challenge_method=req.payload.data.get("code_challenge_method"))

            def query_authorization_code(self, code, client):
                item = owner.codes.get(code)
                if item and item.client_id == client.client_id and not item.is_expired():
                    return item
                return None

            def delete_authorization_code(self, authorization_code):
                with owner.lock:  # single use: a replayed code is unknown
                    owner.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code):
                return User(authorization_code.username)

            def create_token_response(self):
                owner.grants["authorization_code"] += 1
                return super().create_token_response()

        class RefreshGrant(grants.RefreshTokenGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
            INCLUDE_NEW_REFRESH_TOKEN = True  # rotation: the old refresh token dies

            def authenticate_refresh_token(self, refresh_token):
                token = owner._find_token(refresh_token, "refresh_token")
                if token and not token.refresh_revoked:
                    return token
                return None

            def authenticate_user(self, credential):
                return User(credential.username)

            def revoke_old_credential(self, credential):
                with owner.lock:
                    credential.refresh_revoked = True

            def create_token_response(self):
                owner.grants["refresh_token"] += 1
                return super().create_token_response()

        class Introspection(IntrospectionEndpoint):
            CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

            def query_token(self, token_string, token_type_hint):
                owner.introspections += 1
                return owner._find_token(token_string, token_type_hint)

            def check_permission(self, token, client, req):
                return client.may_introspect or client.client_id == token.client_id

            def introspect_token(self, token):
                return {"active": True, "client_id": token.client_id, "token_type": "Bearer",
                        "username": token.username, "scope": token.scope,
                        "sub": token.username, "iss": owner.url,
                        "exp": int(token.issued_at + token.expires_in),
                        "iat": int(token.issued_at)}

        class Revocation(RevocationEndpoint):
            CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

            def query_token(self, token_string, token_type_hint):
                return owner._find_token(token_string, token_type_hint)

            def revoke_token(self, token, req):
                with owner.lock:
                    token.access_revoked = token.refresh_revoked = True

        server.register_grant(CodeGrant, [CodeChallenge(required=True)])
        server.register_grant(RefreshGrant)
        server.register_endpoint(Introspection)
        server.register_endpoint(Revocation)

        @app.route("/authorize", methods=["GET", "POST"])
        def authorize():
            if request.method == "GET":
                try:
                    grant = server.get_consent_grant(end_user=None)
                except Exception as exc:  # noqa: BLE001 - shown to the tester, as a provider does
                    return f"<h1>Authorization request refused</h1><p>{escape(str(exc))}</p>", 400
                return _consent_page(grant.client.client_id, grant.request.payload.scope or "",
                                     request.args.get("login_hint", ""))
            username = request.form.get("username", "").strip().lower()
            user = User(username) if request.form.get("confirm") == "allow" and username else None
            grant = server.get_consent_grant(end_user=user)
            return server.create_authorization_response(grant=grant, grant_user=user)

        @app.route("/token", methods=["POST"])
        def token():
            return server.create_token_response()

        @app.route("/introspect", methods=["POST"])
        def introspect():
            return server.create_endpoint_response("introspection")

        @app.route("/revoke", methods=["POST"])
        def revoke():
            return server.create_endpoint_response("revocation")

        return app


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:  # no access log in the test output
        pass


def _token_generator(lifetime):
    """Bearer tokens whose access life is ``lifetime()`` seconds at the time of issue."""
    from authlib.oauth2.rfc6750 import BearerTokenGenerator

    def make(*_args, **_kwargs):
        return secrets.token_urlsafe(32)

    return BearerTokenGenerator(make, make, lambda client, grant_type: int(lifetime()))


def _consent_page(client_id: str, scope: str, login_hint: str) -> str:
    return f"""<!doctype html><html><head><title>Test provider: consent</title></head><body>
<h1>Sign in to the test provider</h1>
<p><strong id="client">{escape(client_id)}</strong> asks for access to your mail
(<code id="scope">{escape(scope)}</code>).</p>
<form method="post">
  <label>Account <input name="username" value="{escape(login_hint)}"></label>
  <button name="confirm" value="allow" id="allow">Allow</button>
  <button name="confirm" value="deny" id="deny">Deny</button>
</form></body></html>"""
