"""The OpenID Connect authorization code flow with PKCE (RFC 7636, S256), for browsers.

``begin`` makes a fresh ``state``, ``nonce`` and code verifier and the provider's authorization
URL; the caller keeps the three (the web UI: in a signed, short-lived cookie) and sends the
browser there. ``exchange`` trades the code the browser brings back for the ID token at the
provider's token endpoint (with the verifier, and the client secret when one is configured).
The ID token is then checked like every other one (``OidcBackend``: signature, issuer,
audience, times) by the login service; ``nonce_matches`` ties it to this flow. Endpoints come
from the provider's discovery document, read once and kept.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

from dockyard.auth.oidc import ClaimError, ClaimMapping
from dockyard.auth.oidc_keys import DISCOVERY_PATH, ProviderUnavailableError, _get_json

MAX_TOKEN_RESPONSE = 256 * 1024


class FlowError(Exception):
    """The provider refused the code, or answered with something unusable."""


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    url: str
    state: str
    nonce: str
    verifier: str


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


class OidcCodeFlow:
    def __init__(
        self, issuer: str, client_id: str, *, client_secret: str = "",
        scopes: Sequence[str] = ("openid",), claims: ClaimMapping | None = None,
        verify: ssl.SSLContext | bool = True, timeout: float = 5.0,
    ) -> None:  # fmt: skip
        self.issuer = issuer
        self.client_id = client_id
        self.client_secret = client_secret
        self.scopes = " ".join(dict.fromkeys(["openid", *scopes]))
        self.claims = claims or ClaimMapping()
        self.verify = verify
        self.timeout = timeout
        self._endpoints: tuple[str, str] | None = None

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(verify=self.verify, timeout=self.timeout, follow_redirects=False)

    async def endpoints(self) -> tuple[str, str]:
        """(authorization endpoint, token endpoint) from the discovery document."""
        if self._endpoints is None:
            async with self._client() as client:
                document = await _get_json(client, self.issuer.rstrip("/") + DISCOVERY_PATH)
            found = (document.get("authorization_endpoint"), document.get("token_endpoint"))
            if document.get("issuer") != self.issuer or not all(
                isinstance(url, str) and url.startswith(("https://", "http://")) for url in found
            ):
                raise ProviderUnavailableError("discovery document has no usable endpoints")
            self._endpoints = (str(found[0]), str(found[1]))
        return self._endpoints

    async def begin(self, redirect_uri: str) -> AuthorizationRequest:
        authorize, _ = await self.endpoints()
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(48)
        query = urlencode({
            "response_type": "code", "client_id": self.client_id, "redirect_uri": redirect_uri,
            "scope": self.scopes, "state": state, "nonce": nonce,
            "code_challenge": _challenge(verifier), "code_challenge_method": "S256",
        })  # fmt: skip
        separator = "&" if "?" in authorize else "?"
        return AuthorizationRequest(f"{authorize}{separator}{query}", state, nonce, verifier)

    async def exchange(self, code: str, redirect_uri: str, verifier: str) -> str:
        """The ID token the provider gives for ``code``."""
        _, token_url = await self.endpoints()
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                "client_id": self.client_id, "code_verifier": verifier}  # fmt: skip
        if self.client_secret:
            form["client_secret"] = self.client_secret
        try:
            async with self._client() as client:
                response = await client.post(token_url, data=form,
                                             headers={"Accept": "application/json"})  # fmt: skip
        except httpx.HTTPError as exc:
            raise ProviderUnavailableError(f"POST {token_url}: {type(exc).__name__}") from None
        return _id_token(response)

    def username_of(self, id_token: str) -> str:
        """The user name the (not yet verified) token names; '' when it names none."""
        try:
            return self.claims.username_of(_unverified(id_token))
        except ClaimError:
            return ""

    def nonce_matches(self, id_token: str, nonce: str) -> bool:
        found = _unverified(id_token).get("nonce")
        return isinstance(found, str) and hmac.compare_digest(found, nonce)


def _unverified(id_token: str) -> dict[str, Any]:
    try:
        claims = jwt.decode(id_token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}
    return claims if isinstance(claims, dict) else {}


def _id_token(response: httpx.Response) -> str:
    if response.status_code != 200:
        raise FlowError(f"the provider refused the code (HTTP {response.status_code})")
    if len(response.content) > MAX_TOKEN_RESPONSE:
        raise FlowError("the provider's token response is too large")
    try:
        document = response.json()
    except ValueError:
        raise FlowError("the provider's token response is not JSON") from None
    token = document.get("id_token") if isinstance(document, dict) else None
    if not isinstance(token, str) or not token:
        raise FlowError("the provider's token response has no id_token")
    return token
