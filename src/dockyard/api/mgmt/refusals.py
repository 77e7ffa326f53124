"""Refused changes go to the audit log too: the event a success would have written, with the
outcome ``failure`` and why (HTTP status, error code, message).

Only callers who logged in are recorded (a wrong password is already a ``login`` failure; an
anonymous caller is only asked to log in). The target is named as a success names it: a robot
by its full name (``robot:robot$team+ci``), or by the id asked for when no robot has it.
Lifecycle changes (bulk deletion, quotas) and webhook changes are here too; previews and
reads change nothing and are not recorded.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from dockyard.auth.principal import Principal
from dockyard.core.errors import RegistryError
from dockyard.services.identity.audit import FAILURE, AuditLog

_MEMBER, _GROUP_MEMBERS = "/projects/{project}/members", "/groups/{group}/members"
_QUOTA = "/projects/{project}/quota"
_HOOKS = "/projects/{project}/webhooks"
RobotNamer = Callable[[int], Awaitable[str | None]]
EVENTS = {
    ("POST", "/users"): "user.create",
    ("PATCH", "/users/{user}"): "user.update",
    ("DELETE", "/users/{user}"): "user.delete",
    ("POST", "/groups"): "group.create",
    ("DELETE", "/groups/{group}"): "group.delete",
    ("POST", _GROUP_MEMBERS): "group.member.add",
    ("DELETE", _GROUP_MEMBERS + "/{user}"): "group.member.remove",
    ("POST", "/tokens"): "token.create",
    ("DELETE", "/tokens/{token}"): "token.revoke",
    ("POST", "/projects"): "project.create",
    ("PATCH", "/projects/{project}"): "project.update",
    ("DELETE", "/projects/{project}"): "project.delete",
    ("POST", _MEMBER): "member.add",
    ("PATCH", _MEMBER + "/{id}"): "member.update",
    ("DELETE", _MEMBER + "/{id}"): "member.remove",
    ("POST", "/roles"): "role.create",
    ("PUT", "/roles/{role}"): "role.update",
    ("DELETE", "/roles/{role}"): "role.delete",
    ("POST", "/robots"): "robot.create",
    ("PATCH", "/robots/{id}"): "robot.update",
    ("POST", "/robots/{id}/secret"): "robot.secret",
    ("DELETE", "/robots/{id}"): "robot.delete",
    ("PATCH", "/system/settings"): "system.settings",
    ("PUT", "/system/settings"): "system.settings",
    ("POST", "/projects/{project}/deletions"): "images.delete",
    ("PUT", _QUOTA): "quota.set",
    ("DELETE", _QUOTA): "quota.unset",
    ("POST", _HOOKS): "webhook.create",
    ("PATCH", _HOOKS + "/{id}"): "webhook.update",
    ("DELETE", _HOOKS + "/{id}"): "webhook.delete",
    ("POST", _HOOKS + "/{id}/secret"): "webhook.secret",
    ("POST", _HOOKS + "/{id}/test"): "webhook.test",
    ("POST", _HOOKS + "/{id}/deliveries/{delivery}/replay"): "webhook.replay",
    ("POST", _HOOKS + "/{id}/deliveries/replay"): "webhook.replay",
}
_TARGETS = (("project", "project"), ("group", "group"), ("user", "user"), ("role", "role"),
            ("token", "token"))  # fmt: skip


async def _target(path: str, params: dict[str, str], name_robot: RobotNamer) -> str:
    for param, kind in _TARGETS:
        if param in params:
            return f"{kind}:{params[param][:200]}"
    if "id" in params:  # only robot routes have an id without a project
        robot_id = params["id"]
        name = await name_robot(int(robot_id)) if robot_id.isdigit() else None
        return f"robot:{name or robot_id[:200]}"
    return "system:settings" if path.startswith("/system") else ""


async def record_refusal(
    audit: AuditLog,
    principal: Principal,
    route: tuple[str, str],
    params: dict[str, str],
    error: RegistryError,
    *,
    name_robot: RobotNamer,
) -> None:
    """Write the refused change ``route`` (method, path template) by a logged-in caller;
    ``name_robot`` names a robot by its id (None when there is none)."""
    event = EVENTS.get(route)
    if event is None or not principal.authenticated:
        return
    why = {"status": error.status, "code": error.code.value_name, "message": error.message[:200]}
    target = await _target(route[1], params, name_robot)
    await audit.record(principal, event, target, outcome=FAILURE, detail=why)
