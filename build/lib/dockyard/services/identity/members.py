"""Project members (users or groups with a role, optionally narrowed to a repository pattern)
and roles (built in, or custom sets of permissions made by system administrators)."""

from __future__ import annotations

import re

from dockyard.auth.permissions import (
    BUILTIN_ROLES,
    PROJECT_PERMISSIONS,
    Permission,
    normalize_pattern,
    parse_permissions,
)
from dockyard.auth.principal import Principal
from dockyard.core.events import EventKind
from dockyard.persistence.identity_records import MemberRecord, RoleRecord
from dockyard.persistence.stores import ProjectStore
from dockyard.services.events import change_event
from dockyard.services.identity.audit import AuditLog
from dockyard.services.identity.common import Guard, bad_request, conflict, not_found, record_change
from dockyard.services.identity.directory import IdentityDirectory
from dockyard.services.identity.projects import ProjectService

_ROLE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_WHY = {
    "no_project": ("project", "project"),
    "no_member": ("member", "name"),
    "no_role": ("role", "role"),
}


def role_permissions(role: RoleRecord) -> frozenset[str]:
    return (
        BUILTIN_ROLES.get(role.name, frozenset()) if role.builtin else frozenset(role.permissions)
    )


class MemberService:
    def __init__(
        self,
        projects: ProjectStore,
        project_service: ProjectService,
        directory: IdentityDirectory,
        audit: AuditLog,
        guard: Guard,
    ) -> None:
        self.projects = projects
        self.project_service = project_service
        self.directory = directory
        self.audit = audit
        self.policy = guard.policy

    async def _changed(self, actor: Principal, event: str, target: str, **detail: object) -> None:
        await record_change(self.directory, self.audit, actor, event, target, **detail)

    # members --------------------------------------------------------------------------------

    async def list_members(self, actor: Principal, project: str) -> list[MemberRecord]:
        await self.project_service.get(actor, project)
        return await self.projects.list_members(project)

    async def add(
        self, actor: Principal, project: str, *, kind: str, name: str, role: str,
        repositories: str = "",
    ) -> MemberRecord:  # fmt: skip
        await self.project_service.get(actor, project)
        self.policy.require_project(actor, Permission.MEMBER_MANAGE, project)
        if kind not in ("user", "group"):
            raise bad_request("kind must be user or group")
        try:
            pattern = normalize_pattern(project, repositories)
        except ValueError as exc:
            raise bad_request(str(exc)) from None
        event = change_event(actor, EventKind.MEMBER_ADDED, project=project, name=name,
                             kind=kind, role=role, repositories=pattern)  # fmt: skip
        result = await self.projects.add_member(project, kind, name, role, pattern, event=event)
        if result == "exists":
            raise conflict(f"{name} already has a role here for these repositories")
        if isinstance(result, str):
            what, key = _WHY[result]
            raise not_found(what if what != "member" else kind, {"project": project,
                            "name": name, "role": role}[key])  # fmt: skip
        await self._changed(actor, "member.add", f"project:{project}", kind=kind, name=name,
                            role=role, repositories=pattern)  # fmt: skip
        return result

    async def update(
        self, actor: Principal, project: str, member_id: int, role: str
    ) -> MemberRecord:
        await self.project_service.get(actor, project)
        self.policy.require_project(actor, Permission.MEMBER_MANAGE, project)
        event = change_event(actor, EventKind.MEMBER_UPDATED, project=project, id=member_id,
                             role=role)  # fmt: skip
        result = await self.projects.update_member(project, member_id, role, event=event)
        if result == "no_role":
            raise not_found("role", role)
        if isinstance(result, str):
            raise not_found("member", member_id)
        await self._changed(actor, "member.update", f"project:{project}", id=member_id, role=role)
        return result

    async def remove(self, actor: Principal, project: str, member_id: int) -> None:
        await self.project_service.get(actor, project)
        self.policy.require_project(actor, Permission.MEMBER_MANAGE, project)
        event = change_event(actor, EventKind.MEMBER_REMOVED, project=project, id=member_id)
        if not await self.projects.delete_member(project, member_id, event=event):
            raise not_found("member", member_id)
        await self._changed(actor, "member.remove", f"project:{project}", id=member_id)

    # roles ----------------------------------------------------------------------------------

    async def roles(self, actor: Principal) -> list[RoleRecord]:
        if actor.identity is None or actor.identity.kind == "anonymous":
            self.policy.require_admin(actor)
        return await self.projects.list_roles()

    async def save_role(
        self, actor: Principal, name: str, *, permissions: list[str], description: str = "",
        create: bool,
    ) -> RoleRecord:  # fmt: skip
        self.policy.require_admin(actor)
        if not _ROLE_NAME.match(name):
            raise bad_request("invalid role name")
        try:
            perms = parse_permissions(permissions)
        except ValueError as exc:
            raise bad_request(str(exc)) from None
        if not perms or not perms <= PROJECT_PERMISSIONS:
            raise bad_request("a role needs project permissions (registry:catalog is not one)")
        role = await self.projects.save_role(name, description, sorted(perms), create=create)
        if role is None and create:
            raise conflict("a role with this name exists", name=name)
        if role is None:
            raise not_found("custom role", name)
        await self._changed(actor, "role.create" if create else "role.update", f"role:{name}",
                            permissions=sorted(perms))  # fmt: skip
        return role

    async def delete_role(self, actor: Principal, name: str) -> None:
        self.policy.require_admin(actor)
        outcome = await self.projects.delete_role(name)
        if outcome == "missing":
            raise not_found("role", name)
        if outcome == "builtin":
            raise conflict("built-in roles cannot be deleted", name=name)
        if outcome == "in_use":
            raise conflict("the role is still granted; remove those members first", name=name)
        await self._changed(actor, "role.delete", f"role:{name}")
