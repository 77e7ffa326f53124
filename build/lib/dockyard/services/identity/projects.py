"""Projects: the first path component of repository names; public (anonymous pull) or private.

System administrators create projects (and users, when ``createonpush`` lets them: they
become the project's admin). Project members with the right permissions configure them.
"""

from __future__ import annotations

from dockyard.auth.permissions import Permission, is_project_name
from dockyard.auth.policy import Action
from dockyard.auth.principal import Principal
from dockyard.core.events import EventKind
from dockyard.persistence.identity_records import ProjectRecord
from dockyard.persistence.stores import ProjectStore
from dockyard.services.events import change_event
from dockyard.services.identity.audit import AuditLog
from dockyard.services.identity.common import (
    Guard,
    Page,
    bad_request,
    clamp,
    conflict,
    not_found,
    page_of,
    record_change,
)
from dockyard.services.identity.directory import IdentityDirectory

DESCRIPTION_MAX = 1000


class ProjectService:
    def __init__(
        self, projects: ProjectStore, directory: IdentityDirectory, audit: AuditLog, guard: Guard
    ) -> None:
        self.projects = projects
        self.directory = directory
        self.audit = audit
        self.policy = guard.policy
        self.options = guard.options

    async def _changed(self, actor: Principal, event: str, name: str, **detail: object) -> None:
        await record_change(self.directory, self.audit, actor, event, f"project:{name}", **detail)

    async def create(
        self, actor: Principal, name: str, *, public: bool = False, description: str = ""
    ) -> ProjectRecord:
        identity = actor.identity
        is_user = identity is not None and identity.kind == "user"
        if not (self.policy.is_admin(actor) or (is_user and self.options.create_on_push)):
            self.policy.require_admin(actor)
        if not is_project_name(name):
            raise bad_request("invalid project name (lower case letters, digits, . _ -)")
        if len(description) > DESCRIPTION_MAX:
            raise bad_request("description is too long")
        owner = identity.id if identity is not None and not identity.admin else None
        event = change_event(actor, EventKind.PROJECT_CREATED, project=name, public=public)
        project = await self.projects.create_project(
            name, public=public, description=description, created_by=actor.name,
            owner_user_id=owner, event=event,
        )  # fmt: skip
        if project is None:
            raise conflict("a project with this name exists", name=name)
        await self._changed(actor, "project.create", name, public=public)
        return project

    async def list_projects(
        self,
        actor: Principal,
        *,
        cursor: str = "",
        limit: int | None = None,
        query: str = "",
        public: bool | None = None,
    ) -> Page[ProjectRecord]:
        """The projects the caller can see (public ones to everyone)."""
        size = clamp(limit)
        grants = actor.identity.grants if actor.identity is not None else None
        names = grants.projects() if grants is not None else frozenset()
        found = await self.projects.list_projects(
            cursor,
            size + 1,
            query=query,
            public=public,
            names=None if names is None else sorted(names),
        )
        return page_of(found, size, lambda project: project.name)

    async def get(self, actor: Principal, name: str) -> ProjectRecord:
        project = await self.projects.get_project(name)
        if project is None or not self.policy.allows_project(actor, Permission.PROJECT_READ, name):
            raise not_found("project", name)  # never tell a stranger that it exists
        return project

    async def update(
        self,
        actor: Principal,
        name: str,
        *,
        public: bool | None = None,
        description: str | None = None,
    ) -> ProjectRecord:
        await self.get(actor, name)
        self.policy.require_project(actor, Permission.PROJECT_CONFIGURE, name)
        if description is not None and len(description) > DESCRIPTION_MAX:
            raise bad_request("description is too long")
        event = change_event(actor, EventKind.PROJECT_UPDATED, project=name, public=public,
                             description_changed=description is not None)  # fmt: skip
        project = await self.projects.update_project(
            name, public=public, description=description, event=event
        )
        if project is None:
            raise not_found("project", name)
        await self._changed(actor, "project.update", name, public=public)
        return project

    async def delete(self, actor: Principal, name: str) -> None:
        await self.get(actor, name)
        self.policy.require_project(actor, Permission.PROJECT_DELETE, name)
        if await self.projects.project_repositories(name, "", 1):
            raise conflict("the project still has repositories; delete them first", name=name)
        event = change_event(actor, EventKind.PROJECT_DELETED, project=name)
        if not await self.projects.delete_project(name, event=event):
            raise not_found("project", name)
        await self._changed(actor, "project.delete", name)

    async def repositories(
        self, actor: Principal, name: str, *, cursor: str = "", limit: int | None = None
    ) -> Page[str]:
        """Repositories of the project the caller may pull."""
        await self.get(actor, name)
        size = clamp(limit)
        visible: list[str] = []
        after = cursor
        while len(visible) <= size:
            batch = await self.projects.project_repositories(name, after, 500)
            visible += [r for r in batch if self.policy.allows(actor, Action.PULL, r)]
            if len(batch) < 500:
                break
            after = batch[-1]
        return page_of(visible[: size + 1], size, lambda repository: repository)
