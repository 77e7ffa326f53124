"""Endpoints: projects, their repositories and members, and roles."""

from __future__ import annotations

from dockyard.api.mgmt.paging import PAGING_QUERY, SEARCH_QUERY, by_id, paged, paged_list
from dockyard.api.mgmt.router import Call, Endpoint, Reply
from dockyard.api.mgmt.schemas import (
    Items,
    Member,
    MemberChange,
    NewMember,
    NewProject,
    NewRole,
    Project,
    ProjectChange,
    Role,
    RoleChange,
)
from dockyard.services.identity.members import role_permissions
from dockyard.services.identity.records import RoleRecord
from dockyard.services.identity.wiring import IdentityServices

PROJECT_QUERY = (
    *PAGING_QUERY,
    ("q", "string", "only names containing this text"),
    ("public", "boolean", "only public (true) or private (false) projects"),
)


def _role(record: RoleRecord) -> Role:
    return Role.of(record, role_permissions(record))


class Handlers:
    def __init__(self, services: IdentityServices) -> None:
        self.projects, self.members = services.projects, services.members

    async def list_projects(self, call: Call) -> Reply:
        page = await self.projects.list_projects(
            call.principal,
            cursor=call.query("cursor"),
            limit=call.int_query("limit"),
            query=call.query("q"),
            public=call.bool_query("public"),
        )
        return paged(call, page, Project.of)

    async def create_project(self, call: Call) -> Reply:
        body = call.body(NewProject)
        made = await self.projects.create(
            call.principal, body.name, public=body.public, description=body.description
        )
        return Reply(201, Project.of(made))

    async def get_project(self, call: Call) -> Reply:
        return Reply(
            200, Project.of(await self.projects.get(call.principal, call.params["project"]))
        )

    async def update_project(self, call: Call) -> Reply:
        body = call.body(ProjectChange)
        changed = await self.projects.update(
            call.principal, call.params["project"], public=body.public, description=body.description
        )
        return Reply(200, Project.of(changed))

    async def delete_project(self, call: Call) -> Reply:
        await self.projects.delete(call.principal, call.params["project"])
        return Reply(204)

    async def repositories(self, call: Call) -> Reply:
        page = await self.projects.repositories(
            call.principal,
            call.params["project"],
            cursor=call.query("cursor"),
            limit=call.int_query("limit"),
        )
        return paged(call, page, str)

    async def list_members(self, call: Call) -> Reply:
        found = await self.members.list_members(call.principal, call.params["project"])
        return paged_list(call, found, Member.of, name=lambda m: m.name, order=by_id)

    async def add_member(self, call: Call) -> Reply:
        body = call.body(NewMember)
        added = await self.members.add(
            call.principal,
            call.params["project"],
            kind=body.kind,
            name=body.name,
            role=body.role,
            repositories=body.repositories,
        )
        return Reply(201, Member.of(added))

    async def update_member(self, call: Call) -> Reply:
        body = call.body(MemberChange)
        changed = await self.members.update(
            call.principal, call.params["project"], call.int_param("id"), body.role
        )
        return Reply(200, Member.of(changed))

    async def remove_member(self, call: Call) -> Reply:
        await self.members.remove(call.principal, call.params["project"], call.int_param("id"))
        return Reply(204)

    async def list_roles(self, call: Call) -> Reply:
        found = await self.members.roles(call.principal)
        return paged_list(call, found, _role, name=lambda r: r.name, order=by_id)

    async def create_role(self, call: Call) -> Reply:
        body = call.body(NewRole)
        role = await self.members.save_role(
            call.principal,
            body.name,
            permissions=body.permissions,
            description=body.description,
            create=True,
        )
        return Reply(201, _role(role))

    async def update_role(self, call: Call) -> Reply:
        body = call.body(RoleChange)
        role = await self.members.save_role(
            call.principal,
            call.params["role"],
            permissions=body.permissions,
            description=body.description,
            create=False,
        )
        return Reply(200, _role(role))

    async def delete_role(self, call: Call) -> Reply:
        await self.members.delete_role(call.principal, call.params["role"])
        return Reply(204)

    def endpoints(self) -> list[Endpoint]:
        p, m, r = "projects", "members", "roles"
        one = "/projects/{project}"
        return [
            Endpoint(
                "GET",
                "/projects",
                self.list_projects,
                "Projects the caller can see",
                p,
                response=Items[Project],
                query=PROJECT_QUERY,
                public=True,
            ),
            Endpoint(
                "POST",
                "/projects",
                self.create_project,
                "Create a project (administrators; users with createonpush)",
                p,
                request=NewProject,
                response=Project,
                status=201,
            ),
            Endpoint("GET", one, self.get_project, "A project", p, response=Project, public=True),
            Endpoint(
                "PATCH",
                one,
                self.update_project,
                "Change a project (project:configure)",
                p,
                request=ProjectChange,
                response=Project,
            ),
            Endpoint(
                "DELETE",
                one,
                self.delete_project,
                "Delete an empty project (project:delete)",
                p,
                status=204,
            ),
            Endpoint(
                "GET",
                one + "/repositories",
                self.repositories,
                "Repositories of the project the caller may pull",
                p,
                response=Items[str],
                query=PAGING_QUERY,
                public=True,
            ),
            Endpoint(
                "GET",
                one + "/members",
                self.list_members,
                "Members and their roles",
                m,
                response=Items[Member],
                query=SEARCH_QUERY,
            ),
            Endpoint(
                "POST",
                one + "/members",
                self.add_member,
                "Give a user or group a role, optionally for matching repositories only "
                "(member:manage)",
                m,
                request=NewMember,
                response=Member,
                status=201,
            ),
            Endpoint(
                "PATCH",
                one + "/members/{id}",
                self.update_member,
                "Change a member's role",
                m,
                request=MemberChange,
                response=Member,
            ),
            Endpoint(
                "DELETE",
                one + "/members/{id}",
                self.remove_member,
                "Remove a membership",
                m,
                status=204,
            ),
            Endpoint(
                "GET",
                "/roles",
                self.list_roles,
                "Roles and their permissions",
                r,
                response=Items[Role],
                query=SEARCH_QUERY,
            ),
            Endpoint(
                "POST",
                "/roles",
                self.create_role,
                "Create a custom role (administrators)",
                r,
                request=NewRole,
                response=Role,
                status=201,
            ),
            Endpoint(
                "PUT",
                "/roles/{role}",
                self.update_role,
                "Change a custom role",
                r,
                request=RoleChange,
                response=Role,
            ),
            Endpoint(
                "DELETE",
                "/roles/{role}",
                self.delete_role,
                "Delete an unused custom role",
                r,
                status=204,
            ),
        ]


def endpoints(services: IdentityServices) -> list[Endpoint]:
    return Handlers(services).endpoints()
