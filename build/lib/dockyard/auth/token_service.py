"""The token service (issuer mode): who is asking for a token, and what the token grants.

``GET /token`` (HTTP Basic, or nothing for an anonymous token) and the OAuth2 ``POST /token``
form (``grant_type=password`` or ``refresh_token``) both end here. The granted access is the
intersection of what was asked and what ``auth.policy`` allows the caller: never more, and
unknown or invalid scopes are dropped rather than refused (token.md, "Requesting a Token").

Refresh tokens ("offline tokens") are signed like access tokens but with their own ``typ`` and
audience, so a registry endpoint never accepts one. Both carry a stamp of the caller's credential
entry (with identity management, access tokens too): changing the password or a robot's secret,
disabling, re-enabling or removing the account revokes every token issued before.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from dockyard.auth.identity import STAMP_CLAIM, VIA_CLAIM, IdentityProvider
from dockyard.auth.policy import AccessPolicy, Action
from dockyard.auth.principal import ANONYMOUS, Principal
from dockyard.auth.scopes import (
    CATALOG,
    REGISTRY,
    REPOSITORY,
    REPOSITORY_ACTIONS,
    WILDCARD,
    ResourceActions,
    parse_scopes,
    scope_string,
)
from dockyard.auth.token_keys import KeyRing
from dockyard.auth.tokens import (
    REFRESH_TYPE,
    OwnKeys,
    TokenError,
    TokenIssuer,
    TokenVerifier,
)


class CredentialStore(Protocol):
    """A credential backend (htpasswd today)."""

    async def verify(self, username: str, password: str) -> bool: ...

    def stamp(self, username: str) -> str | None:
        """Changes when the user's credentials change; None once the user is gone."""
        ...


class InvalidCredentialsError(Exception):
    """Wrong username or password, or a refresh token that is no longer good."""


@dataclass(frozen=True, slots=True)
class IssuerSettings:
    issuer: str
    service: str
    lifetime: int
    refresh_lifetime: int


@dataclass(frozen=True, slots=True)
class TokenGrant:
    token: str
    expires_in: int
    issued_at: int
    scope: str
    refresh_token: str | None = None

    def body(self) -> dict[str, Any]:
        """The JSON answer: token.md's fields plus oauth.md's ``access_token`` and ``scope``."""
        issued = datetime.datetime.fromtimestamp(self.issued_at, datetime.UTC)
        body: dict[str, Any] = {
            "token": self.token,
            "access_token": self.token,
            "expires_in": self.expires_in,
            "issued_at": issued.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "scope": self.scope,
        }
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
        return body


def _expand(entry: ResourceActions) -> tuple[str, ...]:
    if entry.type == REPOSITORY and WILDCARD in entry.actions:
        return REPOSITORY_ACTIONS
    return entry.actions


def _policy_actions(entry: ResourceActions, action: str) -> tuple[Action, ...]:
    if entry.type == REGISTRY and entry.name == CATALOG:
        return (Action.CATALOG,)
    if action == "delete":  # a token's delete covers deleting content and untagging
        return (Action.DELETE, Action.DELETE_TAG)
    return (Action(action),)


class TokenService:
    def __init__(
        self,
        ring: KeyRing,
        settings: IssuerSettings,
        policy: AccessPolicy,
        credentials: CredentialStore | None,
        identity: IdentityProvider | None = None,
    ) -> None:
        self.settings = settings
        self.policy = policy
        self.credentials = credentials
        self.identity = identity  # identity management: logins, grants and revocation
        refresh_audience = f"{settings.service}/refresh"
        self.access = TokenIssuer(
            ring, issuer=settings.issuer, audience=settings.service, lifetime=settings.lifetime
        )
        self.refresh = TokenIssuer(
            ring,
            issuer=settings.issuer,
            audience=refresh_audience,
            lifetime=settings.refresh_lifetime,
            token_type=REFRESH_TYPE,
        )
        self.refresh_verifier = TokenVerifier(
            OwnKeys(ring),
            issuer=settings.issuer,
            audience=refresh_audience,
            token_type=REFRESH_TYPE,
        )

    async def login(self, username: str, password: str) -> Principal:
        """The user these credentials prove, or :class:`InvalidCredentialsError`."""
        if self.credentials is None:
            return ANONYMOUS  # nothing to check against: the policy lets everyone in
        if not username or not await self.credentials.verify(username, password):
            raise InvalidCredentialsError("invalid username or password")
        return Principal(username)

    async def authenticate(self, username: str, password: str, client: str = "") -> Principal:
        """:meth:`login`, or the identity service's login (throttled, audited)."""
        if self.identity is not None:
            return await self.identity.login(username, password, client)
        return await self.login(username, password)

    async def anonymous(self, client: str = "") -> Principal:
        if self.identity is not None:
            return await self.identity.anonymous(client)
        return ANONYMOUS

    async def prepare(self, principal: Principal, scopes: Iterable[str]) -> Principal:
        """Before granting: push rights on projects the caller would create by pushing
        (``createonpush``). A token request creates nothing; the first push does."""
        if self.identity is None or not principal.authenticated:
            return principal
        pushes = [
            entry.name
            for entry in parse_scopes(scopes)
            if entry.type == REPOSITORY and {"push", WILDCARD} & set(entry.actions)
        ]
        return await self.identity.plan_push(principal, pushes) if pushes else principal

    async def redeem_refresh(self, refresh_token: str, client: str = "") -> Principal:
        """:meth:`redeem`, checking the credential's current stamp with the identity service."""
        if self.identity is None:
            return self.redeem(refresh_token)
        try:
            verified = self.refresh_verifier.verify(refresh_token)
        except TokenError:
            self.identity.refused("", client, "token.refused", {"reason": "invalid refresh"})
            raise InvalidCredentialsError("invalid refresh token") from None
        via = str(verified.claims.get(VIA_CLAIM) or "")
        principal = await self.identity.resolve(verified.subject, via, client)
        stamp = verified.claims.get(STAMP_CLAIM)
        current = principal.identity.stamp if principal and principal.identity else None
        if not verified.subject or not stamp or current != stamp:
            detail: dict[str, object] = {"reason": "revoked refresh"}
            self.identity.refused(verified.subject, client, "token.refused", detail)
            raise InvalidCredentialsError("refresh token revoked")
        assert principal is not None
        return principal

    def redeem(self, refresh_token: str) -> Principal:
        """The user a refresh token was issued to, if it is still good."""
        try:
            verified = self.refresh_verifier.verify(refresh_token)
        except TokenError:
            raise InvalidCredentialsError("invalid refresh token") from None
        stamp = verified.claims.get(STAMP_CLAIM)
        if self.credentials is None or not verified.subject:
            raise InvalidCredentialsError("invalid refresh token")
        if stamp is None or self.credentials.stamp(verified.subject) != stamp:
            raise InvalidCredentialsError("refresh token revoked")
        return Principal(verified.subject)

    def granted(
        self, principal: Principal, requested: Iterable[ResourceActions]
    ) -> list[ResourceActions]:
        """The intersection of ``requested`` and what the policy allows ``principal``."""
        result = []
        for entry in requested:
            allowed = tuple(
                action
                for action in _expand(entry)
                if any(
                    self.policy.allows(principal, policy_action, entry.name)
                    for policy_action in _policy_actions(entry, action)
                )
            )
            if allowed:
                result.append(ResourceActions(entry.type, entry.name, allowed))
        return result

    def grant(
        self,
        principal: Principal,
        scopes: Iterable[str],
        *,
        offline: bool = False,
        refresh_token: str | None = None,
    ) -> TokenGrant:
        """An access token for the granted part of ``scopes`` (plus a refresh token when
        ``offline`` is asked by a named user, or the one being redeemed)."""
        access = self.granted(principal, parse_scopes(scopes))
        issued = self.access.issue(principal.name, access, extra=_identity_claims(principal))
        if refresh_token is None and offline:
            refresh_token = self._refresh_token(principal)
        return TokenGrant(
            issued.token, issued.expires_in, issued.issued_at, scope_string(access), refresh_token
        )

    def _refresh_token(self, principal: Principal) -> str | None:
        if principal.identity is not None:
            if not principal.identity.stamp or principal.identity.kind == "anonymous":
                return None
            extra = {STAMP_CLAIM: principal.identity.stamp, **_via_claims(principal)}
            return self.refresh.issue(principal.name, extra=extra).token
        if self.credentials is None or not principal.authenticated:
            return None
        stamp = self.credentials.stamp(principal.name)
        if stamp is None:
            return None
        return self.refresh.issue(principal.name, extra={STAMP_CLAIM: stamp}).token


def _identity_claims(principal: Principal) -> dict[str, str]:
    """The credential and its stamp, checked against the database on every request."""
    claims = _via_claims(principal)
    identity = principal.identity
    if identity is not None and identity.stamp and identity.kind != "anonymous":
        claims[STAMP_CLAIM] = identity.stamp
    return claims


def _via_claims(principal: Principal) -> dict[str, str]:
    """The credential behind an identity principal, so revoking it revokes its tokens."""
    if principal.identity is None or not principal.identity.via:
        return {}
    return {VIA_CLAIM: principal.identity.via}
