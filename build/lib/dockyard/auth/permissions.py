"""Permissions (an enum of strings), the built-in project roles, and repository patterns.

A role is a named set of permissions granted inside one project; a grant may be narrowed to
the repositories matching a pattern (``team-a/ci-*``). Built-in roles are defined here, in
code, so a new permission reaches them on upgrade; custom roles live in the database.
"""

from __future__ import annotations

import re
from enum import StrEnum
from fnmatch import fnmatchcase


class Permission(StrEnum):
    REPOSITORY_PULL = "repository:pull"
    REPOSITORY_PUSH = "repository:push"
    REPOSITORY_DELETE = "repository:delete"
    TAG_DELETE = "tag:delete"
    PROJECT_READ = "project:read"
    PROJECT_CONFIGURE = "project:configure"
    PROJECT_DELETE = "project:delete"
    MEMBER_MANAGE = "member:manage"
    ROBOT_MANAGE = "robot:manage"
    CATALOG = "registry:catalog"  # list every repository (/v2/_catalog); system-wide only


ALL_PERMISSIONS = frozenset(Permission)
REPOSITORY_PERMISSIONS = frozenset(
    {
        Permission.REPOSITORY_PULL,
        Permission.REPOSITORY_PUSH,
        Permission.REPOSITORY_DELETE,
        Permission.TAG_DELETE,
    }
)
PROJECT_PERMISSIONS = ALL_PERMISSIONS - {Permission.CATALOG}

_PULL = {Permission.REPOSITORY_PULL, Permission.PROJECT_READ}
_PUSH = _PULL | {Permission.REPOSITORY_PUSH}
_MAINTAIN = _PUSH | {Permission.REPOSITORY_DELETE, Permission.TAG_DELETE, Permission.ROBOT_MANAGE}

BUILTIN_ROLES: dict[str, frozenset[str]] = {
    "admin": frozenset(PROJECT_PERMISSIONS),
    "maintainer": frozenset(_MAINTAIN),
    "developer": frozenset(_PUSH),
    "guest": frozenset(_PULL),
}
PUBLIC_PERMISSIONS = frozenset(_PULL)  # what everyone, anonymous too, has in a public project

_NAME = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
_COMPONENT = re.compile(r"^[a-z0-9*]+(?:(?:[._]|__|-+)[a-z0-9*]+)*$")
NAME_MAX = 64


def parse_permissions(values: object) -> frozenset[str]:
    """Known permission strings from a list (ValueError names the first unknown one)."""
    if not isinstance(values, list | tuple | set | frozenset):
        raise ValueError("permissions must be a list of strings")
    result: set[str] = set()
    for value in values:
        if value not in ALL_PERMISSIONS:
            raise ValueError(f"unknown permission {str(value)[:60]!r}")
        result.add(str(value))
    return frozenset(result)


def is_project_name(name: str) -> bool:
    """A project name is one repository path component (lower case, OCI grammar)."""
    return len(name) <= NAME_MAX and _NAME.match(name) is not None


def project_of(repository: str) -> str:
    """The project a repository lives in: its first path component."""
    return repository.split("/", 1)[0]


def normalize_pattern(project: str, pattern: str) -> str:
    """A repository pattern for ``project`` in its stored form (``""`` for every repository).

    Accepts ``ci-*`` or ``team-a/ci-*``; ``*`` matches any characters, ``/`` included.
    ValueError when it is malformed or names another project.
    """
    pattern = pattern.strip()
    if pattern in ("", "*", f"{project}/*"):
        return ""
    if not pattern.startswith(f"{project}/"):
        pattern = f"{project}/{pattern}"
    if len(pattern) > 255 or not all(_COMPONENT.match(c) for c in pattern.split("/")):
        raise ValueError(f"invalid repository pattern {pattern[:80]!r}")
    return pattern


def pattern_matches(pattern: str, repository: str) -> bool:
    return not pattern or fnmatchcase(repository, pattern)
