"""Authorization decisions, pure and in one place.

Today's model is registry:2's: when authentication is configured, every authenticated user may
pull, push and delete everywhere; with no authentication everyone may. Services call
:meth:`AccessPolicy.require` before acting, so API, CLI and jobs share this choke point.
"""

from __future__ import annotations

from enum import Enum

from dockyard.auth.principal import Principal
from dockyard.core.errors import ErrorCode, RegistryError


class Action(Enum):
    PULL = "pull"
    PUSH = "push"
    DELETE = "delete"
    CATALOG = "catalog"


class AccessPolicy:
    def __init__(self, *, authentication_required: bool) -> None:
        self.authentication_required = authentication_required

    def allows(self, principal: Principal, action: Action, repository: str | None) -> bool:
        if self.authentication_required:
            return principal.authenticated
        return True

    def require(self, principal: Principal, action: Action, repository: str | None) -> None:
        if not self.allows(principal, action, repository):
            raise RegistryError(
                ErrorCode.DENIED,
                detail={"action": action.value, "repository": repository or ""},
            )
