"""A tiny OpenID provider for tests, served on 127.0.0.1 from a thread.

It has its own signing keys (RSA and EC, each with a ``kid``), publishes
``/.well-known/openid-configuration`` and ``/jwks``, and mints ID tokens with any claims. Tests
can rotate keys, sign with keys it does not publish, make it name another issuer, count the
fetches dockyard makes, and stop it and start it again on the same port (an outage).
Optionally served over TLS (``tls=(certificate, key)``). It also plays the browser sign-in
(authorization code with PKCE): ``/authorize`` signs in ``authorize_as`` at once and redirects
back with a code; ``/token`` gives the ID token for a code only with the matching verifier.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from dockyard.auth.token_jwk import PrivateKey, public_jwk
from support.server import free_port

CLIENT_ID = "dockyard-test"


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: PrivateKey
    algorithm: str

    def jwk(self) -> dict[str, Any]:
        return {**public_jwk(self.private_key.public_key()), "kid": self.kid,
                "alg": self.algorithm, "use": "sig"}  # fmt: skip


def rsa_key(kid: str = "") -> SigningKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return SigningKey(kid or f"rsa-{secrets.token_hex(4)}", private, "RS256")


def ec_key(kid: str = "") -> SigningKey:
    return SigningKey(kid or f"ec-{secrets.token_hex(4)}", ec.generate_private_key(ec.SECP256R1()),
                      "ES256")  # fmt: skip


class TestProvider:
    """The provider's state; the HTTP handler reads it on every request."""

    __test__ = False  # not a pytest test class

    def __init__(self, tls: tuple[str, str] | None = None) -> None:
        self.port = free_port()
        self.tls = tls
        scheme = "https" if tls else "http"
        self.issuer = f"{scheme}://127.0.0.1:{self.port}"
        self.published: list[SigningKey] = [rsa_key(), ec_key()]
        self.signer = self.published[0]
        self.discovery_issuer: str | None = None  # set to name another issuer
        self.fetches = {"discovery": 0, "jwks": 0}
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()
        self.authorize_as = "alice"  # who /authorize signs in
        self.codes: dict[str, dict[str, str]] = {}  # code -> what /authorize was asked
        self.token_requests = 0

    # keys and tokens -----------------------------------------------------------------------

    def rotate(self) -> SigningKey:
        """A new RSA key, published and used from now on (old keys are withdrawn)."""
        self.signer = rsa_key()
        self.published = [self.signer]
        return self.signer

    def claims(self, username: str = "alice", **extra: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer, "aud": CLIENT_ID, "sub": f"id-{username}",
            "preferred_username": username, "email": f"{username}@example.test",
            "groups": [], "iat": now, "nbf": now, "exp": now + 600,
        }  # fmt: skip
        claims.update(extra)
        return {k: v for k, v in claims.items() if v is not None}

    def mint(
        self,
        username: str = "alice",
        *,
        key: SigningKey | None = None,
        headers: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """An ID token; ``claims`` override the defaults (None removes one)."""
        signer = key or self.signer
        header = {"kid": signer.kid, **(headers or {})}
        return jwt.encode(self.claims(username, **claims), signer.private_key,
                          algorithm=signer.algorithm, headers=header)  # fmt: skip

    # documents -----------------------------------------------------------------------------

    def document(self, path: str) -> dict[str, Any] | None:
        with self._lock:
            if path == "/.well-known/openid-configuration":
                self.fetches["discovery"] += 1
                return {
                    "issuer": self.discovery_issuer or self.issuer,
                    "jwks_uri": f"{self.issuer}/jwks",
                    "authorization_endpoint": f"{self.issuer}/authorize",
                    "token_endpoint": f"{self.issuer}/token",
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                }
            if path == "/jwks":
                self.fetches["jwks"] += 1
                return {"keys": [key.jwk() for key in self.published]}
        return None

    # the browser flow ----------------------------------------------------------------------

    def authorize(self, query: dict[str, str]) -> tuple[int, str]:
        """(status, Location) for ``/authorize``: the user is signed in at once."""
        if query.get("client_id") != CLIENT_ID or query.get("code_challenge_method") != "S256":
            return 400, ""
        code = secrets.token_urlsafe(16)
        with self._lock:
            self.codes[code] = {**query, "username": self.authorize_as}
        back = urlencode({"code": code, "state": query.get("state", "")})
        return 302, f"{query['redirect_uri']}?{back}"

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """``/token``: the ID token for a code, once, with the verifier of its challenge."""
        with self._lock:
            self.token_requests += 1
            asked = self.codes.pop(form.get("code", ""), None)
        if asked is None or form.get("redirect_uri") != asked["redirect_uri"]:
            return 400, {"error": "invalid_grant"}
        digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        if base64.urlsafe_b64encode(digest).decode().rstrip("=") != asked["code_challenge"]:
            return 400, {"error": "invalid_grant", "error_description": "PKCE"}
        token = self.mint(asked["username"], nonce=asked.get("nonce"))
        return 200, {"id_token": token, "access_token": "unused", "token_type": "Bearer"}

    # serving -------------------------------------------------------------------------------

    def start(self) -> None:
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        server.daemon_threads = True
        if self.tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*self.tls)
            server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _handler(provider: TestProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/authorize":
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                status, location = provider.authorize(query)
                self.send_response(status)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            document = provider.document(self.path)
            self._json(200 if document is not None else 404, document or {"error": "not found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            if urlsplit(self.path).path != "/token":
                self._json(404, {"error": "not found"})
                return
            self._json(*provider.token(form))

        def _json(self, status: int, document: dict[str, Any]) -> None:
            body = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    return Handler


@contextmanager
def oidc_provider(tls: tuple[str, str] | None = None) -> Iterator[TestProvider]:
    provider = TestProvider(tls)
    provider.start()
    try:
        yield provider
    finally:
        provider.stop()


def oidc_env(provider: TestProvider, **extra: str) -> dict[str, str]:
    """``REGISTRY_*`` settings that trust ``provider`` (refreshes allowed every second)."""
    prefix = "REGISTRY_DOCKYARD_IDENTITY_OIDC_"
    return {
        prefix + "ISSUER": provider.issuer,
        prefix + "CLIENTID": CLIENT_ID,
        prefix + "REFRESHINTERVAL": "1s",
        prefix + "TIMEOUT": "2s",
        **{prefix + key.upper(): value for key, value in extra.items()},
    }
