"""Endpoints: robot accounts."""

from __future__ import annotations

from dockyard.api.mgmt.paging import SEARCH_QUERY, paged
from dockyard.api.mgmt.router import Call, Endpoint, Reply
from dockyard.api.mgmt.schemas import (
    Items,
    NewRobot,
    Robot,
    RobotChange,
    RobotSecret,
)
from dockyard.services.identity.robots import RobotAccess
from dockyard.services.identity.wiring import IdentityServices

ROBOT_QUERY = (*SEARCH_QUERY, ("project", "string", "a project's robots (default: system)"))


class Handlers:
    def __init__(self, services: IdentityServices) -> None:
        self.robots = services.robots

    async def list_robots(self, call: Call) -> Reply:
        page = await self.robots.list_robots(
            call.principal,
            call.query("project") or None,
            cursor=call.query("cursor"),
            limit=call.int_query("limit"),
            query=call.query("q"),
        )
        return paged(call, page, Robot.of)

    async def create_robot(self, call: Call) -> Reply:
        body = call.body(NewRobot)
        access = [RobotAccess(a.project, tuple(a.permissions), a.repositories) for a in body.access]
        record, secret = await self.robots.create(
            call.principal,
            body.name,
            project=body.project,
            access=access,
            description=body.description,
            expires_in=None if body.expires_in is None else float(body.expires_in),
        )
        return Reply(201, RobotSecret(Robot.of(record), secret))

    async def get_robot(self, call: Call) -> Reply:
        return Reply(200, Robot.of(await self.robots.get(call.principal, call.int_param("id"))))

    async def update_robot(self, call: Call) -> Reply:
        body = call.body(RobotChange)
        record = await self.robots.update(
            call.principal,
            call.int_param("id"),
            disabled=body.disabled,
            description=body.description,
        )
        return Reply(200, Robot.of(record))

    async def regenerate(self, call: Call) -> Reply:
        record, secret = await self.robots.regenerate(call.principal, call.int_param("id"))
        return Reply(200, RobotSecret(Robot.of(record), secret))

    async def delete_robot(self, call: Call) -> Reply:
        await self.robots.delete(call.principal, call.int_param("id"))
        return Reply(204)

    def endpoints(self) -> list[Endpoint]:
        r = "robots"
        return [
            Endpoint(
                "GET",
                "/robots",
                self.list_robots,
                "Robots of a project (robot:manage) or system-wide (administrators)",
                r,
                response=Items[Robot],
                query=ROBOT_QUERY,
            ),
            Endpoint(
                "POST",
                "/robots",
                self.create_robot,
                "Create a robot; its secret is shown once",
                r,
                request=NewRobot,
                response=RobotSecret,
                status=201,
            ),
            Endpoint("GET", "/robots/{id}", self.get_robot, "A robot", r, response=Robot),
            Endpoint(
                "PATCH",
                "/robots/{id}",
                self.update_robot,
                "Disable, enable or describe a robot",
                r,
                request=RobotChange,
                response=Robot,
            ),
            Endpoint(
                "POST",
                "/robots/{id}/secret",
                self.regenerate,
                "A new secret (the old one stops working at once)",
                r,
                response=RobotSecret,
            ),
            Endpoint(
                "DELETE",
                "/robots/{id}",
                self.delete_robot,
                "Delete (revoke) a robot at once",
                r,
                status=204,
            ),
        ]


def endpoints(services: IdentityServices) -> list[Endpoint]:
    return Handlers(services).endpoints()
