"""The token service: scope intersection with the policy, logins, refresh tokens."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import jwt
import pytest

from dockyard.auth.policy import AccessPolicy, Action
from dockyard.auth.principal import ANONYMOUS, Principal
from dockyard.auth.token_keys import KeyRing
from dockyard.auth.token_service import (
    InvalidCredentialsError,
    IssuerSettings,
    TokenService,
)
from dockyard.auth.tokens import OwnKeys, TokenError, TokenVerifier

SETTINGS = IssuerSettings(
    issuer="dockyard", service="dockyard", lifetime=300, refresh_lifetime=3600
)


class Users:
    """An in-memory credential store."""

    def __init__(self, **passwords: str) -> None:
        self.passwords = passwords

    async def verify(self, username: str, password: str) -> bool:
        return self.passwords.get(username) == password

    def stamp(self, username: str) -> str | None:
        password = self.passwords.get(username)
        return None if password is None else hashlib.sha256(password.encode()).hexdigest()


class PullOnlyForBob(AccessPolicy):
    """Bob may only pull ``shared/*``; everyone else authenticated may do anything."""

    def allows(self, principal: Principal, action: Action, repository: str | None) -> bool:
        if principal.name == "bob":
            return action is Action.PULL and (repository or "").startswith("shared/")
        return super().allows(principal, action, repository)


@pytest.fixture
def ring(tmp_path: Path) -> KeyRing:
    keys = KeyRing(str(tmp_path))
    keys.ensure()
    return keys


@pytest.fixture
def users() -> Users:
    return Users(alice="a-pass", bob="b-pass")


@pytest.fixture
def service(ring: KeyRing, users: Users) -> TokenService:
    return TokenService(ring, SETTINGS, PullOnlyForBob(authentication_required=True), users)


def _access(token: str) -> list[dict[str, object]]:
    access: list[dict[str, object]] = jwt.decode(token, options={"verify_signature": False})[
        "access"
    ]
    return access


def test_granted_scope_is_the_intersection(service: TokenService) -> None:
    bob = Principal("bob")
    grant = service.grant(
        bob,
        [
            "repository:shared/app:pull,push,delete",
            "repository:private/app:pull",
            "registry:catalog:*",
        ],
    )
    assert _access(grant.token) == [
        {"type": "repository", "name": "shared/app", "actions": ["pull"]}
    ]
    assert grant.scope == "repository:shared/app:pull"


def test_wildcard_asks_expand_to_the_allowed_actions(service: TokenService) -> None:
    bob_grant = service.grant(Principal("bob"), ["repository:shared/x:*"])
    assert _access(bob_grant.token) == [
        {"type": "repository", "name": "shared/x", "actions": ["pull"]}
    ]
    alice_grant = service.grant(Principal("alice"), ["repository:x:*", "registry:catalog:*"])
    assert _access(alice_grant.token) == [
        {"type": "repository", "name": "x", "actions": ["pull", "push", "delete"]},
        {"type": "registry", "name": "catalog", "actions": ["*"]},
    ]


def test_invalid_scopes_are_dropped_not_errors(service: TokenService) -> None:
    grant = service.grant(
        Principal("alice"), ["repository:BAD NAME:pull", "foo:bar:baz", "repository:ok:frob,pull"]
    )
    assert _access(grant.token) == [{"type": "repository", "name": "ok", "actions": ["pull"]}]


def test_anonymous_gets_an_empty_token_when_authentication_is_required(
    service: TokenService,
) -> None:
    grant = service.grant(ANONYMOUS, ["repository:shared/app:pull"])
    assert _access(grant.token) == []
    assert grant.refresh_token is None
    body = grant.body()
    assert body["token"] == body["access_token"]
    assert body["issued_at"].endswith("Z") and body["expires_in"] == 300


def test_login(service: TokenService) -> None:
    assert asyncio.run(service.login("alice", "a-pass")) == Principal("alice")
    for user, password in (("alice", "wrong"), ("nobody", "x"), ("", "")):
        with pytest.raises(InvalidCredentialsError):
            asyncio.run(service.login(user, password))


def test_without_a_credential_backend_everyone_is_anonymous(ring: KeyRing) -> None:
    open_service = TokenService(ring, SETTINGS, AccessPolicy(authentication_required=False), None)
    assert asyncio.run(open_service.login("anyone", "anything")) is ANONYMOUS
    grant = open_service.grant(ANONYMOUS, ["repository:a:pull,push"], offline=True)
    assert _access(grant.token) == [
        {"type": "repository", "name": "a", "actions": ["pull", "push"]}
    ]
    assert grant.refresh_token is None


def test_refresh_token_round_trip_and_revocation(service: TokenService, users: Users) -> None:
    grant = service.grant(Principal("alice"), [], offline=True)
    assert grant.refresh_token is not None
    assert service.redeem(grant.refresh_token) == Principal("alice")
    again = service.grant(
        Principal("alice"), ["repository:a:push"], refresh_token=grant.refresh_token
    )
    assert again.refresh_token == grant.refresh_token
    users.passwords["alice"] = "new password"
    with pytest.raises(InvalidCredentialsError, match="revoked"):
        service.redeem(grant.refresh_token)
    del users.passwords["alice"]
    with pytest.raises(InvalidCredentialsError):
        service.redeem(grant.refresh_token)


def test_refresh_and_access_tokens_are_not_interchangeable(
    service: TokenService, ring: KeyRing
) -> None:
    grant = service.grant(Principal("alice"), ["repository:a:pull"], offline=True)
    assert grant.refresh_token is not None
    with pytest.raises(InvalidCredentialsError):
        service.redeem(grant.token)
    access_verifier = TokenVerifier(OwnKeys(ring), issuer="dockyard", audience="dockyard")
    with pytest.raises(TokenError):
        access_verifier.verify(grant.refresh_token)
    assert access_verifier.verify(grant.token).subject == "alice"
