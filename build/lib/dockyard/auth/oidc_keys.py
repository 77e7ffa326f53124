"""An OpenID provider's signing keys: discovery, JWKS, and a cache that refreshes carefully.

``<issuer>/.well-known/openid-configuration`` is fetched first; its ``issuer`` must equal the
configured one exactly (OIDC Discovery 4.3), and its ``jwks_uri`` names the key set. Keys are
kept for ``ttl`` seconds, then fetched again (the old ones stay in use if the provider cannot
be reached). A token naming a ``kid`` the cache does not hold triggers a fetch too (the
provider rotated its keys), but at most one fetch per ``min_interval``, so a flood of tokens
with made-up kids cannot hammer the provider. Fetching goes through an httpx client made for
each refresh (refreshes are rare), no redirects followed.

:class:`OidcKeys` is a ``tokens.KeyResolver``: ``resolve`` is synchronous and only looks at the
cache; call :meth:`OidcKeys.prepare` (which may fetch) first.
"""

from __future__ import annotations

import asyncio
import logging
import math
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx

from dockyard.auth.token_jwk import PublicKey, algorithms_for, jwk_thumbprint, key_from_jwk
from dockyard.auth.tokens import TokenError

log = logging.getLogger("dockyard.auth.oidc")
DISCOVERY_PATH = "/.well-known/openid-configuration"
MAX_DOCUMENT = 1024 * 1024
MAX_KEYS = 100


class ProviderUnavailableError(Exception):
    """The provider could not be asked (network, HTTP status, a document that makes no sense)."""


def tls_verify(cacertificate: str, insecure: bool) -> ssl.SSLContext | bool:
    """What httpx should verify the provider's certificate with."""
    if insecure:
        return False
    if cacertificate:
        return ssl.create_default_context(cafile=cacertificate)
    return True


class OidcKeys:
    def __init__(
        self,
        issuer: str,
        *,
        algorithms: Iterable[str],
        ttl: float,
        min_interval: float,
        timeout: float,
        verify: ssl.SSLContext | bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer
        self.algorithms = frozenset(algorithms)
        self.ttl = ttl
        self.min_interval = min_interval
        self.timeout = timeout
        self.verify = verify
        self.clock = clock
        self.keys: dict[str, PublicKey] = {}
        self._generation = 0
        self._fetched = -math.inf  # when the keys were last fetched successfully
        self._attempted = -math.inf  # when a fetch was last tried
        self._failure = ""  # why the last fetch failed ("" when it worked)
        self._lock = asyncio.Lock()

    # KeyResolver ---------------------------------------------------------------------------

    def generation(self) -> int:
        return self._generation

    def resolve(self, header: Mapping[str, Any]) -> tuple[PublicKey, frozenset[str]]:
        kid = header.get("kid")
        if isinstance(kid, str):
            key = self.keys.get(kid)
        else:  # no kid: only unambiguous with a single key
            key = next(iter(self.keys.values())) if len(self.keys) == 1 else None
        if key is None:
            raise TokenError("token signed by a key the identity provider does not publish")
        return key, algorithms_for(key) & self.algorithms

    # fetching ------------------------------------------------------------------------------

    async def prepare(self, kid: object) -> None:
        """Make sure the cache is current enough to judge a token naming ``kid``.

        Raises :class:`ProviderUnavailableError` when the keys are needed but cannot be fetched.
        """
        if not self._wanted(kid):
            return
        async with self._lock:
            if not self._wanted(kid):  # another login fetched meanwhile
                return
            if self.clock() - self._attempted < self.min_interval:
                self._too_soon()
                return
            await self._refresh()

    def _wanted(self, kid: object) -> bool:
        if self.clock() - self._fetched >= self.ttl:
            return True
        return isinstance(kid, str) and kid not in self.keys

    def _too_soon(self) -> None:
        """Within ``min_interval`` of the last try: answer from what is known."""
        if not self.keys:
            raise ProviderUnavailableError(self._failure or "provider keys not fetched yet")

    async def _refresh(self) -> None:
        self._attempted = self.clock()
        try:
            keys = await self._fetch()
        except ProviderUnavailableError as exc:
            self._failure = str(exc)
            log.warning("oidc: cannot refresh keys from %s: %s", self.issuer, exc)
            if not self.keys:
                raise
            return
        self._failure = ""
        self._fetched = self.clock()
        if keys != self.keys:
            self.keys = keys
            self._generation += 1
            log.info("oidc: %d signing keys from %s", len(keys), self.issuer)

    async def _fetch(self) -> dict[str, PublicKey]:
        async with httpx.AsyncClient(
            verify=self.verify, timeout=self.timeout, follow_redirects=False
        ) as client:
            discovery = await _get_json(client, self.issuer.rstrip("/") + DISCOVERY_PATH)
            if discovery.get("issuer") != self.issuer:
                raise ProviderUnavailableError("discovery document names another issuer")
            jwks_uri = discovery.get("jwks_uri")
            if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
                raise ProviderUnavailableError("discovery document has no usable jwks_uri")
            return self._usable(await _get_json(client, jwks_uri))

    def _usable(self, document: Mapping[str, Any]) -> dict[str, PublicKey]:
        entries = document.get("keys")
        if not isinstance(entries, list):
            raise ProviderUnavailableError('JWKS document has no "keys" list')
        keys: dict[str, PublicKey] = {}
        for entry in entries[:MAX_KEYS]:
            if isinstance(entry, dict) and entry.get("use", "sig") != "sig":
                continue
            key = key_from_jwk(entry)
            if key is None or not algorithms_for(key) & self.algorithms:
                continue
            kid = entry.get("kid")
            keys[kid if isinstance(kid, str) and kid else jwk_thumbprint(key)] = key
        if not keys:
            raise ProviderUnavailableError("JWKS document holds no usable signing key")
        return keys


async def _get_json(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    try:
        response = await client.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise ProviderUnavailableError(f"GET {url}: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise ProviderUnavailableError(f"GET {url}: HTTP {response.status_code}")
    if len(response.content) > MAX_DOCUMENT:
        raise ProviderUnavailableError(f"GET {url}: document too large")
    try:
        document = response.json()
    except ValueError:
        raise ProviderUnavailableError(f"GET {url}: not JSON") from None
    if not isinstance(document, dict):
        raise ProviderUnavailableError(f"GET {url}: not a JSON object")
    return document
