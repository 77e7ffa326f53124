"""Grants and the policy in identity mode (pure)."""

from __future__ import annotations

import pytest

from dockyard.auth.grants import SYSTEM, Grant, Grants, Identity
from dockyard.auth.permissions import (
    BUILTIN_ROLES,
    normalize_pattern,
    parse_permissions,
)
from dockyard.auth.policy import AccessPolicy, Action
from dockyard.auth.principal import Principal
from dockyard.auth.scopes import AccessSet, ResourceActions
from dockyard.core.errors import RegistryError

POLICY = AccessPolicy(authentication_required=True, identity=True)


def principal(
    *grants: Grant, admin: bool = False, ceiling: frozenset[str] | None = None
) -> Principal:
    return Principal("u", identity=Identity("user", 1, Grants(admin, grants, ceiling)))


def test_roles_map_to_registry_actions() -> None:
    dev = principal(Grant("team", BUILTIN_ROLES["developer"]))
    assert POLICY.allows(dev, Action.PULL, "team/app")
    assert POLICY.allows(dev, Action.PUSH, "team/app/sub")
    assert not POLICY.allows(dev, Action.DELETE, "team/app")
    assert not POLICY.allows(dev, Action.DELETE_TAG, "team/app")
    assert not POLICY.allows(dev, Action.PULL, "other/app")
    assert not POLICY.allows(dev, Action.PULL, "teamx/app")
    assert POLICY.allows(dev, Action.CATALOG, None)  # listing only what it may pull
    maintainer = principal(Grant("team", BUILTIN_ROLES["maintainer"]))
    assert POLICY.allows(maintainer, Action.DELETE, "team/app")
    untagger = principal(Grant("team", frozenset({"tag:delete"})))
    assert POLICY.allows(untagger, Action.DELETE_TAG, "team/app")
    assert not POLICY.allows(untagger, Action.DELETE, "team/app")


def test_patterns_narrow_a_grant() -> None:
    ci = principal(Grant("team", BUILTIN_ROLES["developer"], "team/ci-*"))
    assert POLICY.allows(ci, Action.PUSH, "team/ci-build")
    assert not POLICY.allows(ci, Action.PUSH, "team/app")
    assert POLICY.allows_project(ci, "project:read", "team")
    assert not POLICY.allows_project(principal(Grant("team", BUILTIN_ROLES["admin"], "team/x")),
                                     "member:manage", "team")  # fmt: skip


def test_admin_ceiling_and_anonymous() -> None:
    assert POLICY.allows(principal(admin=True), Action.CATALOG, None)
    assert POLICY.is_admin(Principal("cli", identity=SYSTEM))
    read_only = principal(admin=True, ceiling=frozenset({"repository:pull"}))
    assert POLICY.allows(read_only, Action.PULL, "x/y")
    assert not POLICY.allows(read_only, Action.PUSH, "x/y")
    assert not POLICY.is_admin(read_only)
    assert not POLICY.allows(Principal("no-identity"), Action.PULL, "x/y")  # fails closed
    with pytest.raises(RegistryError):
        POLICY.require_admin(principal())


def test_a_bearer_token_still_bounds_the_grants() -> None:
    admin = principal(admin=True)
    bounded = Principal("u", access=AccessSet([ResourceActions("repository", "a/b", ("pull",))]),
                        identity=admin.identity)  # fmt: skip
    assert POLICY.allows(bounded, Action.PULL, "a/b")
    assert not POLICY.allows(bounded, Action.PUSH, "a/b")
    assert not POLICY.allows(bounded, Action.PULL, "a/c")


def test_patterns_and_permissions_parse() -> None:
    assert normalize_pattern("team", "ci-*") == "team/ci-*"
    assert normalize_pattern("team", "team/ci-*") == "team/ci-*"
    assert normalize_pattern("team", "*") == ""
    assert normalize_pattern("team", "other/x") == "team/other/x"
    for bad in ("team/../x", "team//x", "team/A", "team/x y"):
        with pytest.raises(ValueError):
            normalize_pattern("team", bad)
    assert parse_permissions(["repository:pull"]) == {"repository:pull"}
    with pytest.raises(ValueError):
        parse_permissions(["repository:fly"])
