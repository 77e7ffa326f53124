"""Authorization decisions, pure and in one place.

Today's model is registry:2's: when authentication is configured, every authenticated user may
pull, push and delete everywhere; with no authentication everyone may. Services call
:meth:`AccessPolicy.require` before acting, so API, CLI and jobs share this choke point.

A principal holding a bearer token (``principal.access``) may do no more than its token grants.
With ``token_only`` (``auth.token``: tokens from an external issuer) the token is the whole
answer, and a caller without one may do nothing.
"""

from __future__ import annotations

from enum import Enum

from dockyard.auth.principal import Principal
from dockyard.auth.scopes import resource_for
from dockyard.core.errors import ErrorCode, RegistryError


class Action(Enum):
    PULL = "pull"
    PUSH = "push"
    DELETE = "delete"
    CATALOG = "catalog"


class AccessPolicy:
    def __init__(
        self,
        *,
        authentication_required: bool,
        token_only: bool = False,
        anonymous_actions: frozenset[Action] = frozenset(),
    ) -> None:
        self.authentication_required = authentication_required
        self.token_only = token_only
        self.anonymous_actions = anonymous_actions  # e.g. {PULL}: public pulls, named pushes

    def allows(self, principal: Principal, action: Action, repository: str | None) -> bool:
        if principal.access is not None:
            if not principal.access.permits(*resource_for(action.value, repository)):
                return False
            if self.token_only:
                return True
        elif self.token_only:
            return False
        if self.authentication_required:
            return principal.authenticated or action in self.anonymous_actions
        return True

    def require(self, principal: Principal, action: Action, repository: str | None) -> None:
        if not self.allows(principal, action, repository):
            raise RegistryError(
                ErrorCode.DENIED,
                detail={"action": action.value, "repository": repository or ""},
            )
