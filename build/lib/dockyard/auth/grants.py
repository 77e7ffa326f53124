"""What the identity database grants one caller, resolved once and checked many times.

``Grants`` is built by the identity service (from memberships, groups, robot access lists and
public projects) and carried by the :class:`~dockyard.auth.principal.Principal`; ``auth.policy``
asks it. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from dockyard.auth.permissions import (
    PUBLIC_PERMISSIONS,
    Permission,
    pattern_matches,
    project_of,
)

ANY_PROJECT = "*"


@dataclass(frozen=True, slots=True)
class Grant:
    """``permissions`` in ``project`` (``*``: every project), narrowed to ``pattern`` if set."""

    project: str
    permissions: frozenset[str]
    pattern: str = ""

    def covers(self, project: str, repository: str | None) -> bool:
        if self.project not in (project, ANY_PROJECT):
            return False
        return repository is None or pattern_matches(self.pattern, repository)


@dataclass(frozen=True, slots=True)
class Grants:
    """A caller's rights. ``admin``: everything. ``ceiling``: at most these permissions
    whatever else is granted (a personal access token restricted to some permissions)."""

    admin: bool = False
    entries: tuple[Grant, ...] = ()
    ceiling: frozenset[str] | None = None

    def permits(self, permission: str, repository: str | None) -> bool:
        """``permission`` on ``repository`` (None: registry-wide, e.g. the catalog)."""
        if self.ceiling is not None and permission not in self.ceiling:
            return False
        if self.admin:
            return True
        entries = [g for g in self.entries if permission in g.permissions]
        if repository is None:
            return any(g.project == ANY_PROJECT for g in entries)
        project = project_of(repository)
        return any(g.covers(project, repository) for g in entries)

    def permits_project(self, permission: str, project: str) -> bool:
        """A project-level ``permission`` (members, settings, robots); grants narrowed to a
        pattern give only ``project:read`` at project level."""
        if self.ceiling is not None and permission not in self.ceiling:
            return False
        if self.admin:
            return True
        return any(
            permission in g.permissions
            and g.covers(project, None)
            and (not g.pattern or permission == Permission.PROJECT_READ)
            for g in self.entries
        )

    def projects(self) -> frozenset[str] | None:
        """Names of the projects these grants reach; None when every project."""
        if self.admin or any(g.project == ANY_PROJECT for g in self.entries):
            return None
        return frozenset(g.project for g in self.entries)

    def with_public(self, public_projects: Iterable[str]) -> Grants:
        extra = tuple(Grant(name, PUBLIC_PERMISSIONS) for name in public_projects)
        return Grants(self.admin, self.entries + extra, self.ceiling)


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a principal is in the identity database.

    ``kind``: ``user``, ``robot``, ``anonymous`` or ``system`` (the CLI). ``via`` names the
    credential used when it was not the password (``pat:<id>`` for a personal access token),
    so tokens issued from it stop working when it is revoked. ``stamp`` changes whenever the
    credential does (refresh tokens carry it).
    """

    kind: str
    id: int = 0
    grants: Grants = field(default_factory=Grants)
    via: str = ""
    stamp: str = ""

    @property
    def admin(self) -> bool:
        return self.grants.admin and self.grants.ceiling is None


SYSTEM = Identity("system", grants=Grants(admin=True))
