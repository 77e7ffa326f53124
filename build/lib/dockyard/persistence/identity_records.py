"""Plain records of the identity stores: projects, users, groups, roles, members, robots,
personal access tokens, audit events."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProjectRecord:
    id: int
    name: str
    public: bool
    description: str
    created_by: str
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    name: str
    source: str  # "local", or the external backend that vouched for the user
    password_hash: str | None
    email: str
    admin: bool
    disabled: bool
    stamp: str  # changes with the credentials (password, disabling)
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class NewUser:
    name: str
    source: str = "local"
    password_hash: str | None = None
    email: str = ""
    admin: bool = False
    stamp: str = ""


@dataclass(frozen=True, slots=True)
class GroupRecord:
    id: int
    name: str
    source: str
    description: str
    created_at: float


@dataclass(frozen=True, slots=True)
class RoleRecord:
    id: int
    name: str
    description: str
    permissions: tuple[str, ...]
    builtin: bool


@dataclass(frozen=True, slots=True)
class MemberRecord:
    id: int
    project: str
    kind: str  # "user" or "group"
    name: str
    role: str
    repositories: str  # "" for every repository of the project
    created_at: float


@dataclass(frozen=True, slots=True)
class GrantRow:
    """One membership as the policy needs it: the role's name and permissions."""

    project: str
    repositories: str
    role: str
    permissions: tuple[str, ...]
    builtin: bool


@dataclass(frozen=True, slots=True)
class RobotRecord:
    id: int
    name: str
    project: str | None  # None: a system-wide robot
    description: str
    secret_hash: str
    access_json: str
    expires_at: float | None
    disabled: bool
    created_by: str
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class NewRobot:
    name: str
    project: str | None
    description: str
    secret_hash: str
    access_json: str
    expires_at: float | None
    created_by: str


@dataclass(frozen=True, slots=True)
class AccessTokenRecord:
    id: str
    user: str
    name: str
    secret_hash: str
    permissions: tuple[str, ...]  # empty: whatever the user may do
    expires_at: float | None
    created_at: float


@dataclass(frozen=True, slots=True)
class AuditEvent:
    actor: str
    actor_kind: str
    event: str
    outcome: str
    target: str = ""
    client: str = ""
    detail_json: str = "{}"
    created_at: float = 0.0
    id: int = 0


@dataclass(frozen=True, slots=True)
class AuditQuery:
    actor: str = ""
    event: str = ""  # exact, or a prefix ending in "." ("user.")
    target: str = ""
    outcome: str = ""
    since: float | None = None
    until: float | None = None
    before_id: int | None = None  # newest first: the page after this id
    after_id: int | None = None  # oldest first (export)
    limit: int = 100
