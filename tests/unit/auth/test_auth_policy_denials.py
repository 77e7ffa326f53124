"""The access policy tells its observer of every refused registry action, where it refuses
it (the audit log's ``access.denied``), and of nothing it allows."""

from __future__ import annotations

import pytest

from dockyard.auth.policy import AccessPolicy, Action
from dockyard.auth.principal import Principal
from dockyard.core.errors import ErrorCode, RegistryError


class Observer:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Action, str | None]] = []

    def denied(self, principal: Principal, action: Action, repository: str | None) -> None:
        self.calls.append((principal.name, action, repository))


def test_refusals_are_told_and_allowed_actions_are_not() -> None:
    observer = Observer()
    policy = AccessPolicy(
        authentication_required=True, anonymous_actions=frozenset({Action.PULL}), denials=observer
    )
    anonymous = Principal("", authenticated=False)
    policy.require(anonymous, Action.PULL, "team/app")  # allowed: nothing told
    with pytest.raises(RegistryError) as refused:
        policy.require(anonymous, Action.PUSH, "team/app")
    assert refused.value.code is ErrorCode.DENIED
    policy.require(Principal("alice"), Action.DELETE, "team/app")
    assert observer.calls == [("", Action.PUSH, "team/app")]
    assert not policy.allows(anonymous, Action.DELETE, "x") and len(observer.calls) == 1, (
        "allows() is a question, not a refusal"
    )
