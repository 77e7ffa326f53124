"""Scope parsing, the access claim, and the policy's view of token-bound principals."""

from __future__ import annotations

import pytest

from dockyard.auth.policy import AccessPolicy, Action
from dockyard.auth.principal import ANONYMOUS, Principal
from dockyard.auth.scopes import (
    MAX_SCOPES,
    AccessSet,
    ResourceActions,
    parse_scope,
    parse_scopes,
    resource_for,
    scope_string,
)
from dockyard.core.errors import ErrorCode, RegistryError


def test_parse_repository_scope() -> None:
    assert parse_scope("repository:foo/bar:pull,push") == ResourceActions(
        "repository", "foo/bar", ("pull", "push")
    )


def test_catalog_scope_keeps_only_the_wildcard() -> None:
    assert parse_scope("registry:catalog:*") == ResourceActions("registry", "catalog", ("*",))
    assert parse_scope("registry:catalog:pull") is None
    assert parse_scope("registry:other:*") is None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "repository",
        "repository:foo",
        "repository::pull",
        "repository:Foo/UPPER:pull",  # not a valid repository name
        "repository:foo:frobnicate",
        "repository(plugin):foo:pull",
        "image:foo:pull",
        "repository:" + "a" * 600 + ":pull",
    ],
)
def test_unknown_or_invalid_scopes_are_dropped(text: str) -> None:
    assert parse_scope(text) is None


def test_unknown_actions_are_dropped_known_ones_kept() -> None:
    assert parse_scope("repository:foo:pull,frob,,delete,pull") == ResourceActions(
        "repository", "foo", ("pull", "delete")
    )


def test_parse_scopes_splits_spaces_and_merges_resources() -> None:
    parsed = parse_scopes(
        ["repository:a:pull repository:b:push", "repository:a:push", "junk", "registry:catalog:*"]
    )
    assert parsed == [
        ResourceActions("repository", "a", ("pull", "push")),
        ResourceActions("repository", "b", ("push",)),
        ResourceActions("registry", "catalog", ("*",)),
    ]
    assert scope_string(parsed) == "repository:a:pull,push repository:b:push registry:catalog:*"


def test_parse_scopes_is_bounded() -> None:
    many = [f"repository:r{i}:pull" for i in range(MAX_SCOPES + 10)]
    assert len(parse_scopes(many)) == MAX_SCOPES


def test_access_set_permits_listed_actions_and_wildcard() -> None:
    access = AccessSet(
        [
            ResourceActions("repository", "a", ("pull",)),
            ResourceActions("repository", "a", ("push",)),
            ResourceActions("repository", "all", ("*",)),
        ]
    )
    assert access.permits("repository", "a", "pull")
    assert access.permits("repository", "a", "push")
    assert not access.permits("repository", "a", "delete")
    assert access.permits("repository", "all", "delete")
    assert not access.permits("repository", "b", "pull")
    assert len(access) == 2


def test_access_claim_parsing_ignores_malformed_entries() -> None:
    claim = [
        {"type": "repository", "name": "ok", "actions": ["pull", 7]},
        {"type": "repository", "name": 5, "actions": ["pull"]},
        "nonsense",
        {"type": "repository", "name": "x", "actions": "pull"},
    ]
    access = AccessSet.from_claim(claim)
    assert access.permits("repository", "ok", "pull")
    assert not access.permits("repository", "x", "pull")
    assert len(AccessSet.from_claim({"not": "a list"})) == 0


def test_resource_for_catalog_and_repository() -> None:
    assert resource_for("catalog", None) == ("registry", "catalog", "*")
    assert resource_for("push", "foo") == ("repository", "foo", "push")


def _token_principal(*entries: ResourceActions, name: str = "alice") -> Principal:
    return Principal(name, authenticated=bool(name), access=AccessSet(entries))


def test_policy_bounds_a_token_principal_by_its_access() -> None:
    policy = AccessPolicy(authentication_required=True)
    alice = _token_principal(ResourceActions("repository", "a", ("pull",)))
    assert policy.allows(alice, Action.PULL, "a")
    assert not policy.allows(alice, Action.PUSH, "a")
    assert not policy.allows(alice, Action.PULL, "b")
    assert not policy.allows(alice, Action.CATALOG, None)
    with pytest.raises(RegistryError) as caught:
        policy.require(alice, Action.DELETE, "a")
    assert caught.value.code is ErrorCode.DENIED


def test_policy_still_requires_authentication_beside_the_token() -> None:
    policy = AccessPolicy(authentication_required=True)
    anonymous = _token_principal(ResourceActions("repository", "a", ("pull",)), name="")
    assert not policy.allows(anonymous, Action.PULL, "a")
    public = AccessPolicy(authentication_required=True, anonymous_actions=frozenset({Action.PULL}))
    assert public.allows(anonymous, Action.PULL, "a")
    assert not public.allows(anonymous, Action.PUSH, "a")


def test_token_only_policy_trusts_the_token_alone() -> None:
    policy = AccessPolicy(authentication_required=False, token_only=True)
    anonymous = _token_principal(ResourceActions("registry", "catalog", ("*",)), name="")
    assert policy.allows(anonymous, Action.CATALOG, None)
    assert not policy.allows(anonymous, Action.PULL, "a")
    assert not policy.allows(ANONYMOUS, Action.PULL, "a")
    assert not policy.allows(Principal("bob"), Action.PULL, "a")


def test_policy_without_tokens_is_unchanged() -> None:
    assert AccessPolicy(authentication_required=False).allows(ANONYMOUS, Action.PUSH, "a")
    assert not AccessPolicy(authentication_required=True).allows(ANONYMOUS, Action.PULL, "a")
    assert AccessPolicy(authentication_required=True).allows(Principal("u"), Action.DELETE, "a")
