"""The OIDC credential backend: an ID token from the configured provider as the password.

``podman login -u alice -p <ID token>`` (or HTTP Basic, or ``/token``) logs ``alice`` in when
the token was issued by the provider (``iss`` equal to ``issuer``), for dockyard (``aud``
holds ``clientid``; with several audiences ``azp`` must be ``clientid`` if present), signed by a
key the provider publishes (:mod:`auth.oidc_keys`) with an allowed algorithm (never ``none``
or ``HS*``), and is current (``exp``, ``nbf``, ``iat`` with the 60 s leeway). The user name
given must equal the token's username claim exactly: a token for someone else is a wrong
password. Verification itself is :class:`auth.tokens.TokenVerifier`, shared with the token
service, so the header rules (no embedded keys, no ``crit``) are the same.

Every refusal looks like a wrong password; only a provider that cannot be reached when its
keys are needed gives 503 UNAVAILABLE. With ``guard_timing`` (OIDC the only backend) a refusal
also costs a bcrypt check, as a local user's wrong password does, so timing never tells which
local users exist; next to another backend that pays for unknown names it would only add cost.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from dockyard.auth.identity import ExternalIdentity
from dockyard.auth.oidc_keys import OidcKeys, ProviderUnavailableError, tls_verify
from dockyard.auth.secrets import verify_password
from dockyard.auth.tokens import MAX_TOKEN_LENGTH, TokenError, TokenVerifier
from dockyard.config.oidc import OidcSettings
from dockyard.core.errors import ErrorCode, RegistryError

log = logging.getLogger("dockyard.auth.oidc")
SOURCE = "oidc"
# The grammars of services.identity.users: names a login may create.
USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
GROUP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,127}$")
MAX_GROUPS = 500
_JWT_SHAPE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")


class ClaimError(Exception):
    """An ID token whose claims cannot name a dockyard user."""


@dataclass(frozen=True, slots=True)
class ClaimMapping:
    """Which claims name the user, their groups and their e-mail address."""

    username: str = ""  # "" : preferred_username, else sub
    groups: str = "groups"  # "" : groups are not read
    email: str = "email"

    def identity(self, claims: Mapping[str, Any]) -> ExternalIdentity:
        return ExternalIdentity(
            self.username_of(claims), SOURCE, self.groups_of(claims), self.email_of(claims)
        )

    def username_of(self, claims: Mapping[str, Any]) -> str:
        names = (self.username,) if self.username else ("preferred_username", "sub")
        value = next((claims[n] for n in names if isinstance(claims.get(n), str) and claims[n]), "")
        if not value:
            raise ClaimError(f"ID token has no {' or '.join(names)} claim")
        if not USER_NAME.fullmatch(value):
            raise ClaimError("ID token's user name is not a valid dockyard user name")
        return str(value)

    def groups_of(self, claims: Mapping[str, Any]) -> tuple[str, ...]:
        """The groups claim as names (a list of strings, or one string); names dockyard
        cannot hold (``/a/b`` paths, too long) are left out."""
        raw = claims.get(self.groups) if self.groups else None
        values = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
        groups = {v.strip() for v in values[:MAX_GROUPS] if isinstance(v, str)}
        kept = tuple(sorted(g for g in groups if GROUP_NAME.fullmatch(g)))
        if len(kept) != len(groups):
            log.info("oidc: left out %d group names dockyard cannot hold", len(groups) - len(kept))
        return kept

    def email_of(self, claims: Mapping[str, Any]) -> str:
        value = claims.get(self.email) if self.email else None
        return value if isinstance(value, str) and len(value) <= 254 else ""


def looks_like_jwt(password: str) -> bool:
    return len(password) <= MAX_TOKEN_LENGTH and _JWT_SHAPE.fullmatch(password) is not None


class OidcBackend:
    """``auth.identity.CredentialBackend`` for one OpenID provider."""

    name = SOURCE

    def __init__(
        self,
        keys: OidcKeys,
        *,
        client_id: str,
        claims: ClaimMapping | None = None,
        dummy_cost: int = 12,
        guard_timing: bool = True,
    ) -> None:
        self.keys = keys
        self.client_id = client_id
        self.claims = claims or ClaimMapping()
        self.dummy_cost = dummy_cost
        self.guard_timing = guard_timing
        self.verifier = TokenVerifier(keys, issuer=keys.issuer, audience=client_id)

    async def authenticate(self, username: str, password: str) -> ExternalIdentity | None:
        identity = await self._identity(username, password) if looks_like_jwt(password) else None
        if identity is None and self.guard_timing:
            await verify_password(password, None, self.dummy_cost)  # as a wrong password costs
        return identity

    async def _identity(self, username: str, token: str) -> ExternalIdentity | None:
        try:
            identity = self.claims.identity(await self.verify(token))
        except (TokenError, ClaimError) as exc:
            log.info("oidc: login as %r refused: %s", username[:64], exc)
            return None
        if identity.username != username:
            log.info("oidc: login as %r refused: the token names %r", username[:64],
                     identity.username)  # fmt: skip
            return None
        return identity

    async def verify(self, token: str) -> Mapping[str, Any]:
        """The claims of a valid ID token; TokenError (or ClaimError) otherwise, and
        RegistryError UNAVAILABLE when the provider's keys are needed but out of reach."""
        header = _header(token)
        if header.get("alg") not in self.keys.algorithms:
            raise TokenError("token algorithm is not accepted")
        try:
            await self.keys.prepare(header.get("kid"))
        except ProviderUnavailableError as exc:
            log.warning("oidc: identity provider unavailable: %s", exc)
            raise RegistryError(
                ErrorCode.UNAVAILABLE,
                "the identity provider cannot be reached; try again later",
                headers={"Retry-After": "30"},
            ) from None
        claims = self.verifier.verify(token).claims
        self._check_claims(claims)
        return claims

    def _check_claims(self, claims: Mapping[str, Any]) -> None:
        if not isinstance(claims.get("iat"), int | float):
            raise TokenError("ID token has no iat claim")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise TokenError("ID token has no sub claim")
        audience, azp = claims.get("aud"), claims.get("azp")
        if isinstance(audience, list) and len(audience) > 1 and azp not in (None, self.client_id):
            raise TokenError("ID token was issued to another client (azp)")


def _header(token: str) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise TokenError("malformed token") from None
    return header


def build_oidc_backend(
    settings: OidcSettings, *, dummy_cost: int = 12, guard_timing: bool = True
) -> OidcBackend:
    """The backend ``dockyard.identity.oidc`` describes (nothing is fetched yet)."""
    keys = OidcKeys(
        settings.issuer,
        algorithms=settings.algorithms,
        ttl=settings.jwksttl_seconds,
        min_interval=settings.refreshinterval_seconds,
        timeout=settings.timeout_seconds,
        verify=tls_verify(settings.cacertificate, settings.insecureskipverify),
    )
    claims = ClaimMapping(settings.usernameclaim, settings.groupsclaim, settings.emailclaim)
    return OidcBackend(keys, client_id=settings.clientid, claims=claims, dummy_cost=dummy_cost,
                       guard_timing=guard_timing)  # fmt: skip
