"""Refused changes go to the audit log too: the event a success would have written, with the
outcome ``failure`` and why (HTTP status, error code, message).

Only callers who logged in are recorded (a wrong password is already a ``login`` failure; an
anonymous caller is only asked to log in). Lifecycle endpoints audit on their own.
"""

from __future__ import annotations

from dockyard.auth.principal import Principal
from dockyard.core.errors import RegistryError
from dockyard.services.identity.audit import FAILURE, AuditLog

_MEMBER, _GROUP_MEMBERS = "/projects/{project}/members", "/groups/{group}/members"
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
}
_TARGETS = (("project", "project"), ("group", "group"), ("user", "user"), ("role", "role"),
            ("token", "token"), ("id", "robot"))  # fmt: skip


def _target(path: str, params: dict[str, str]) -> str:
    for param, kind in _TARGETS:
        if param in params:
            return f"{kind}:{params[param][:200]}"
    return "system:settings" if path.startswith("/system") else ""


async def record_refusal(
    audit: AuditLog,
    principal: Principal,
    route: tuple[str, str],
    params: dict[str, str],
    error: RegistryError,
) -> None:
    """Write the refused change ``route`` (method, path template) by a logged-in caller."""
    event = EVENTS.get(route)
    if event is None or not principal.authenticated:
        return
    why = {"status": error.status, "code": error.code.value_name, "message": error.message[:200]}
    await audit.record(principal, event, _target(route[1], params), outcome=FAILURE, detail=why)
