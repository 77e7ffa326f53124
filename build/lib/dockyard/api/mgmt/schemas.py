"""Request and response bodies of the management API (msgspec types; the OpenAPI schemas)."""

from __future__ import annotations

import datetime
import json
from typing import Any, Generic, TypeVar

import msgspec

from dockyard.services.identity.records import (
    AccessTokenRecord,
    AuditEvent,
    GroupRecord,
    MemberRecord,
    ProjectRecord,
    RobotRecord,
    RoleRecord,
    UserRecord,
)

T = TypeVar("T")


class Body(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=False):
    """Base of request bodies: unknown fields are an error."""


def iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Items(msgspec.Struct, Generic[T]):
    """A page of results; ``next`` is the ``cursor`` of the following page (null: last)."""

    items: list[T]
    next: str | None = None


# users and groups ---------------------------------------------------------------------------


class User(msgspec.Struct):
    name: str
    source: str
    email: str
    admin: bool
    disabled: bool
    created_at: str | None
    updated_at: str | None

    @classmethod
    def of(cls, r: UserRecord) -> User:
        return cls(
            r.name, r.source, r.email, r.admin, r.disabled, iso(r.created_at), iso(r.updated_at)
        )


class NewUser(Body):
    name: str
    password: str
    email: str = ""
    admin: bool = False


class UserChange(Body):
    password: str | None = None
    current_password: str | None = None
    email: str | None = None
    admin: bool | None = None
    disabled: bool | None = None


class Group(msgspec.Struct):
    name: str
    source: str
    description: str
    created_at: str | None
    members: list[str] | None = None

    @classmethod
    def of(cls, r: GroupRecord, members: list[str] | None = None) -> Group:
        return cls(r.name, r.source, r.description, iso(r.created_at), members)


class NewGroup(Body):
    name: str
    description: str = ""


class GroupMember(Body):
    user: str


# projects, members, roles ---------------------------------------------------------------------


class Project(msgspec.Struct):
    name: str
    public: bool
    description: str
    created_by: str
    created_at: str | None
    updated_at: str | None

    @classmethod
    def of(cls, r: ProjectRecord) -> Project:
        return cls(
            r.name, r.public, r.description, r.created_by, iso(r.created_at), iso(r.updated_at)
        )


class NewProject(Body):
    name: str
    public: bool = False
    description: str = ""


class ProjectChange(Body):
    public: bool | None = None
    description: str | None = None


class Member(msgspec.Struct):
    id: int
    kind: str
    name: str
    role: str
    repositories: str
    created_at: str | None

    @classmethod
    def of(cls, r: MemberRecord) -> Member:
        return cls(r.id, r.kind, r.name, r.role, r.repositories, iso(r.created_at))


class NewMember(Body):
    name: str
    role: str
    kind: str = "user"
    repositories: str = ""  # a pattern inside the project, e.g. "ci-*"; empty: all


class MemberChange(Body):
    role: str


class Role(msgspec.Struct):
    name: str
    description: str
    permissions: list[str]
    builtin: bool

    @classmethod
    def of(cls, r: RoleRecord, permissions: frozenset[str]) -> Role:
        return cls(r.name, r.description, sorted(permissions), r.builtin)


class NewRole(Body):
    name: str
    permissions: list[str]
    description: str = ""


class RoleChange(Body):
    permissions: list[str]
    description: str = ""


# robots and tokens -----------------------------------------------------------------------------


class Access(Body):
    permissions: list[str]
    project: str = ""  # system robots: a project name or "*"; project robots: their project
    repositories: str = ""


class Robot(msgspec.Struct):
    id: int
    name: str
    project: str | None
    description: str
    access: list[dict[str, Any]]
    expires_at: str | None
    disabled: bool
    created_by: str
    created_at: str | None

    @classmethod
    def of(cls, r: RobotRecord) -> Robot:
        return cls(
            r.id,
            r.name,
            r.project,
            r.description,
            json.loads(r.access_json),
            iso(r.expires_at),
            r.disabled,
            r.created_by,
            iso(r.created_at),
        )


class NewRobot(Body):
    name: str
    access: list[Access]
    project: str | None = None  # None: a system-wide robot (administrators only)
    description: str = ""
    expires_in: int | None = None  # seconds; null: never


class RobotChange(Body):
    disabled: bool | None = None
    description: str | None = None


class RobotSecret(msgspec.Struct):
    """The robot and its secret: shown this once, never again."""

    robot: Robot
    secret: str


class Token(msgspec.Struct):
    id: str
    name: str
    user: str
    permissions: list[str]
    expires_at: str | None
    created_at: str | None

    @classmethod
    def of(cls, r: AccessTokenRecord) -> Token:
        return cls(r.id, r.name, r.user, list(r.permissions), iso(r.expires_at), iso(r.created_at))


class NewToken(Body):
    name: str
    expires_in: int | None = None  # seconds; default 90 days, at most 366 days
    permissions: list[str] = []  # empty: whatever the user may do


class TokenSecret(msgspec.Struct):
    """The token and its secret (use it as the password): shown this once, never again."""

    token: Token
    secret: str


# the caller and the audit log ---------------------------------------------------------------------


class Me(msgspec.Struct):
    name: str
    kind: str
    admin: bool
    projects: list[str] | None  # null: every project


class AuditEntry(msgspec.Struct):
    id: int
    time: str | None
    actor: str
    actor_kind: str
    event: str
    target: str
    client: str
    outcome: str
    detail: dict[str, Any]

    @classmethod
    def of(cls, e: AuditEvent) -> AuditEntry:
        return cls(
            e.id,
            iso(e.created_at),
            e.actor,
            e.actor_kind,
            e.event,
            e.target,
            e.client,
            e.outcome,
            json.loads(e.detail_json or "{}"),
        )


class ErrorEntry(msgspec.Struct):
    code: str
    message: str
    detail: Any = None


class Errors(msgspec.Struct):
    """The error envelope every endpoint answers with on failure."""

    errors: list[ErrorEntry]
