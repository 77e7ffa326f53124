"""Authorization decisions, pure and in one place.

Without identity management the model is registry:2's: when authentication is configured,
every authenticated user may pull, push and delete everywhere; with no authentication everyone
may. With identity management (``dockyard.identity``) a principal carries its ``Grants``
(memberships, roles, robot permissions, public projects), resolved by the identity service, and
they alone decide; a principal without them may do nothing. Services call
:meth:`AccessPolicy.require` before acting, so API, CLI and jobs share this choke point.

With identity management anyone may ask for the catalog (``/v2/_catalog``): it lists only what
the caller may pull (:meth:`AccessPolicy.catalog_visibility`), everything for system
administrators and holders of the system-wide ``registry:catalog`` permission.

A principal holding a bearer token (``principal.access``) may do no more than its token grants.
With ``token_only`` (``auth.token``: tokens from an external issuer) the token is the whole
answer, and a caller without one may do nothing.
"""

from __future__ import annotations

from enum import Enum
from typing import Protocol

from dockyard.auth.permissions import Permission
from dockyard.auth.principal import Principal
from dockyard.auth.scopes import resource_for
from dockyard.auth.visibility import EVERYTHING, NOTHING, Visibility, visibility_of
from dockyard.core.errors import ErrorCode, RegistryError


class Action(Enum):
    PULL = "pull"
    PUSH = "push"
    DELETE = "delete"
    CATALOG = "catalog"
    DELETE_TAG = "delete_tag"  # untag only; a token's "delete" action covers it

    @property
    def token_action(self) -> str:
        return "delete" if self is Action.DELETE_TAG else self.value


PERMISSION_FOR = {
    Action.PULL: Permission.REPOSITORY_PULL,
    Action.PUSH: Permission.REPOSITORY_PUSH,
    Action.DELETE: Permission.REPOSITORY_DELETE,
    Action.DELETE_TAG: Permission.TAG_DELETE,
    Action.CATALOG: Permission.CATALOG,
}


class DenialObserver(Protocol):
    """Told of every refused registry action (``AccessPolicy.require``), before the refusal
    is raised: the audit log's record of refusals. Must not block or do I/O."""

    def denied(self, principal: Principal, action: Action, repository: str | None) -> None: ...


class AccessPolicy:
    def __init__(
        self,
        *,
        authentication_required: bool,
        token_only: bool = False,
        anonymous_actions: frozenset[Action] = frozenset(),
        identity: bool = False,
        denials: DenialObserver | None = None,
    ) -> None:
        self.denials = denials
        self.authentication_required = authentication_required
        self.token_only = token_only
        self.anonymous_actions = anonymous_actions  # e.g. {PULL}: public pulls, named pushes
        self.identity = identity  # decisions come from the principal's grants

    def allows(self, principal: Principal, action: Action, repository: str | None) -> bool:
        if principal.access is not None:
            if not principal.access.permits(*resource_for(action.token_action, repository)):
                return False
            if self.token_only:
                return True
        elif self.token_only:
            return False
        if self.identity or principal.identity is not None:
            return self._granted(principal, action, repository)
        if self.authentication_required:
            return principal.authenticated or action in self.anonymous_actions
        return True

    def _granted(self, principal: Principal, action: Action, repository: str | None) -> bool:
        if principal.identity is None:
            return False
        if action is Action.CATALOG:
            return True  # filtered to what the caller may pull: catalog_visibility()
        grants = principal.identity.grants
        if grants.permits(PERMISSION_FOR[action], repository):
            return True
        # Deleting content implies untagging it.
        return action is Action.DELETE_TAG and grants.permits(
            Permission.REPOSITORY_DELETE, repository
        )

    def catalog_visibility(self, principal: Principal) -> Visibility:
        """The repositories the catalog shows ``principal`` (after ``require(CATALOG)``)."""
        if not (self.identity or principal.identity is not None):
            return EVERYTHING  # registry:2 rules: whoever may list the catalog sees all of it
        if principal.identity is None:
            return NOTHING
        return visibility_of(principal.identity.grants)

    def require(self, principal: Principal, action: Action, repository: str | None) -> None:
        """The choke point of registry actions: refused (DENIED), and told to the observer,
        unless ``allows``."""
        if not self.allows(principal, action, repository):
            if self.denials is not None:
                self.denials.denied(principal, action, repository)
            raise RegistryError(
                ErrorCode.DENIED,
                detail={"action": action.token_action, "repository": repository or ""},
            )

    # management (the /api/v1 API, the CLI) -------------------------------------------------

    def allows_project(self, principal: Principal, permission: str, project: str) -> bool:
        """A project-level permission (members, robots, settings) in identity mode."""
        identity = principal.identity
        return identity is not None and identity.grants.permits_project(permission, project)

    def require_project(self, principal: Principal, permission: str, project: str) -> None:
        if not self.allows_project(principal, permission, project):
            raise RegistryError(
                ErrorCode.DENIED, detail={"permission": permission, "project": project}
            )

    def is_admin(self, principal: Principal) -> bool:
        return principal.identity is not None and principal.identity.admin

    def require_admin(self, principal: Principal) -> None:
        if not self.is_admin(principal):
            raise RegistryError(
                ErrorCode.DENIED, "system administrators only", detail={"permission": "admin"}
            )
