"""Robot accounts: non-human logins for CI and automation, per project or system-wide.

A robot has a permission set (``access``: per project, optionally narrowed to a repository
pattern), an optional expiry and a secret shown once (stored as a SHA-256). Project robots are
named ``robot$<project>+<name>`` and managed by members with ``robot:manage``, who cannot give
a robot more than they have; system robots (``robot$<name>``) only by system administrators.
Disabling or deleting a robot refuses its next request.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from dockyard.auth.grants import ANY_PROJECT
from dockyard.auth.permissions import (
    PROJECT_PERMISSIONS,
    Permission,
    normalize_pattern,
    parse_permissions,
)
from dockyard.auth.principal import Principal
from dockyard.auth.secrets import ROBOT_PREFIX, new_secret, secret_digest
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.core.events import EventKind
from dockyard.persistence.identity_records import NewRobot, RobotRecord
from dockyard.persistence.stores import RobotStore
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
    to_json,
)
from dockyard.services.identity.directory import IdentityDirectory
from dockyard.services.identity.projects import ProjectService

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MAX_ACCESS = 100


@dataclass(frozen=True, slots=True)
class RobotAccess:
    """One entry of a robot's permission set."""

    project: str  # a project name, or "*" (system robots only)
    permissions: tuple[str, ...]
    repositories: str = ""

    def json(self) -> dict[str, object]:
        return {"project": self.project, "repositories": self.repositories,
                "permissions": list(self.permissions)}  # fmt: skip


def robot_name(project: str | None, name: str) -> str:
    return f"{ROBOT_PREFIX}{project}+{name}" if project else f"{ROBOT_PREFIX}{name}"


class RobotService:
    def __init__(
        self,
        robots: RobotStore,
        project_service: ProjectService,
        directory: IdentityDirectory,
        audit: AuditLog,
        guard: Guard,
    ) -> None:
        self.robots = robots
        self.project_service = project_service
        self.directory = directory
        self.audit = audit
        self.policy = guard.policy

    async def _changed(self, actor: Principal, event: str, robot: str, **detail: object) -> None:
        await record_change(self.directory, self.audit, actor, event, f"robot:{robot}", **detail)

    async def _require_manage(self, actor: Principal, project: str | None) -> None:
        if project is None:
            self.policy.require_admin(actor)
            return
        await self.project_service.get(actor, project)
        self.policy.require_project(actor, Permission.ROBOT_MANAGE, project)

    def _checked_access(
        self, actor: Principal, project: str | None, access: Sequence[RobotAccess]
    ) -> list[RobotAccess]:
        if not access or len(access) > MAX_ACCESS:
            raise bad_request(f"access needs 1 to {MAX_ACCESS} entries")
        return [self._checked_entry(actor, project, entry) for entry in access]

    def _checked_entry(
        self, actor: Principal, project: str | None, entry: RobotAccess
    ) -> RobotAccess:
        target = project or entry.project
        if project is not None and entry.project not in ("", project):
            raise bad_request("a project robot's access stays in its project")
        try:
            perms = parse_permissions(list(entry.permissions))
            pattern = "" if target == ANY_PROJECT else normalize_pattern(target, entry.repositories)
        except ValueError as exc:
            raise bad_request(str(exc)) from None
        if not perms or not perms <= PROJECT_PERMISSIONS | {Permission.CATALOG}:
            raise bad_request("access entries need permissions")
        if project is not None:  # never more than the manager has
            for permission in perms:
                self.policy.require_project(actor, permission, project)
        return RobotAccess(target, tuple(sorted(perms)), pattern)

    async def create(
        self,
        actor: Principal,
        name: str,
        *,
        project: str | None,
        access: Sequence[RobotAccess],
        description: str = "",
        expires_in: float | None = None,
    ) -> tuple[RobotRecord, str]:
        """The new robot and its secret (shown this once)."""
        await self._require_manage(actor, project)
        if not _NAME.match(name):
            raise bad_request("invalid robot name (lower case letters, digits, . _ -)")
        if expires_in is not None and expires_in <= 0:
            raise bad_request("expires_in must be above 0")
        entries = self._checked_access(actor, project, access)
        secret = new_secret()
        full = robot_name(project, name)
        expires_at = None if expires_in is None else time.time() + expires_in
        event = change_event(actor, EventKind.ROBOT_CREATED, project=project or "", name=full)
        result = await self.robots.create_robot(
            NewRobot(full, project, description[:1000], secret_digest(secret),
                     to_json([e.json() for e in entries]), expires_at, actor.name),
            event=event,
        )  # fmt: skip
        if result == "exists":
            raise conflict("a robot with this name exists", name=full)
        if isinstance(result, str):
            raise not_found("project", project)
        await self._changed(actor, "robot.create", full, access=[e.json() for e in entries])
        return result, secret

    async def list_robots(
        self,
        actor: Principal,
        project: str | None,
        *,
        cursor: str = "",
        limit: int | None = None,
        query: str = "",
    ) -> Page[RobotRecord]:
        """A page of the project's (or the system's) robots whose name contains ``query``."""
        await self._require_manage(actor, project)
        size = clamp(limit)
        after = int(cursor) if cursor.isdigit() else 0
        found = await self.robots.list_robots(project, after, size + 1, query)
        return page_of(found, size, lambda robot: str(robot.id))

    async def get(self, actor: Principal, robot_id: int) -> RobotRecord:
        robot = await self.robots.get_robot_by_id(robot_id)
        if robot is None:
            raise not_found("robot", robot_id)
        try:
            await self._require_manage(actor, robot.project)
        except RegistryError as error:
            if error.code not in (ErrorCode.DENIED, ErrorCode.NOT_FOUND):
                raise  # an outage must not read as "no such robot"
            raise not_found("robot", robot_id) from None
        return robot

    async def update(
        self,
        actor: Principal,
        robot_id: int,
        *,
        disabled: bool | None = None,
        description: str | None = None,
    ) -> RobotRecord:
        robot = await self.get(actor, robot_id)
        changes: dict[str, object] = {}
        if disabled is not None:
            changes["disabled"] = disabled
        if description is not None:
            changes["description"] = description[:1000]
        event = change_event(actor, EventKind.ROBOT_UPDATED, project=robot.project or "",
                             name=robot.name, disabled=disabled)  # fmt: skip
        updated = (
            await self.robots.update_robot(robot.id, event=event, **changes) if changes else robot
        )
        if updated is None:
            raise not_found("robot", robot_id)
        await self._changed(actor, "robot.update", robot.name, disabled=disabled)
        return updated

    async def regenerate(self, actor: Principal, robot_id: int) -> tuple[RobotRecord, str]:
        """A new secret (the old one stops working at once)."""
        robot = await self.get(actor, robot_id)
        secret = new_secret()
        event = change_event(actor, EventKind.ROBOT_UPDATED, project=robot.project or "",
                             name=robot.name, secret=True)  # fmt: skip
        updated = await self.robots.update_robot(
            robot.id, event=event, secret_hash=secret_digest(secret)
        )
        if updated is None:
            raise not_found("robot", robot_id)
        await self._changed(actor, "robot.secret", robot.name)
        return updated, secret

    async def delete(self, actor: Principal, robot_id: int) -> None:
        robot = await self.get(actor, robot_id)
        event = change_event(actor, EventKind.ROBOT_DELETED, project=robot.project or "",
                             name=robot.name)  # fmt: skip
        if not await self.robots.delete_robot(robot.id, event=event):
            raise not_found("robot", robot_id)
        await self._changed(actor, "robot.delete", robot.name)

    async def name_of(self, robot_id: int) -> str | None:
        """The full name of robot ``robot_id`` (None: no such robot), unchecked: only for
        naming a refused change in the audit log, which administrators alone read."""
        robot = await self.robots.get_robot_by_id(robot_id)
        return None if robot is None else robot.name

    async def find(self, actor: Principal, name: str) -> RobotRecord:
        """A robot by its full name (the CLI)."""
        robot = await self.robots.get_robot(name)
        if robot is None:
            raise not_found("robot", name)
        return await self.get(actor, robot.id)
