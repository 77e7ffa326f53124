"""Who a name is, and what the database grants them, cached per process.

Identities (users with their memberships and groups, robots with their access lists, public
projects for everyone) are resolved from the stores and kept until the identity generation
changes: a change made by this process clears the cache at once (``invalidate``); one made
elsewhere (another worker or node, the CLI) is noticed within ``check_interval`` seconds.
Expiry times (robots, personal access tokens) are checked on every use.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from dockyard.auth.grants import Grant, Grants, Identity
from dockyard.auth.permissions import BUILTIN_ROLES
from dockyard.auth.secrets import ROBOT_PREFIX
from dockyard.persistence.identity_records import (
    AccessTokenRecord,
    GrantRow,
    RobotRecord,
    UserRecord,
)
from dockyard.persistence.stores import AccountStore, ProjectStore, RobotStore
from dockyard.services.identity.remembered import RememberedLogins

MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class _Entry:
    identity: Identity | None
    expires: float  # wall clock; math.inf when the credential does not expire


def grant_of(row: GrantRow) -> Grant:
    permissions = BUILTIN_ROLES.get(row.role, frozenset()) if row.builtin else row.permissions
    return Grant(row.project, frozenset(permissions), row.repositories)


def robot_grants(robot: RobotRecord) -> tuple[Grant, ...]:
    """A robot's access list (stored as JSON); a project robot never reaches beyond it."""
    try:
        entries = json.loads(robot.access_json)
    except ValueError:
        return ()
    grants = []
    for entry in entries if isinstance(entries, list) else []:
        project = str(entry.get("project", ""))
        if robot.project is not None and project != robot.project:
            continue
        permissions = frozenset(str(p) for p in entry.get("permissions", []))
        grants.append(Grant(project, permissions, str(entry.get("repositories", ""))))
    return tuple(grants)


def robot_stamp(robot: RobotRecord) -> str:
    """Changes with every change to the robot (a new secret, disabled, enabled, described):
    tokens issued before carry the old one and are refused."""
    text = f"{robot.secret_hash}:{robot.updated_at!r}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class IdentityDirectory:
    def __init__(
        self,
        accounts: AccountStore,
        projects: ProjectStore,
        robots: RobotStore,
        *,
        check_interval: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.accounts = accounts
        self.projects = projects
        self.robots = robots
        self.check_interval = check_interval
        self.clock = clock
        self._generation: int | None = None
        self._checked = -math.inf
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._public: tuple[str, ...] | None = None
        self.logins = RememberedLogins()  # verified credentials; each lives its own minute

    # cache ---------------------------------------------------------------------------------

    def invalidate(self) -> None:
        """Forget every identity (after a change made here); the next use re-reads. Remembered
        logins stay: each is checked against its account's stamp when used."""
        self._entries.clear()
        self._public = None
        self._checked = -math.inf

    def forget(self, subject: str) -> None:
        """Forget one subject (after recording it here)."""
        for key in [key for key in self._entries if key[0] == subject]:
            del self._entries[key]

    async def _fresh(self) -> None:
        now = self.clock()
        if now - self._checked < self.check_interval:
            return
        current = await self.projects.generation()
        if current != self._generation:
            self.invalidate()
            self._generation = current
        self._checked = now

    async def public_projects(self) -> tuple[str, ...]:
        await self._fresh()
        if self._public is None:
            self._public = tuple(sorted(await self.projects.public_projects()))
        return self._public

    # resolving -----------------------------------------------------------------------------

    async def anonymous(self) -> Identity:
        return Identity("anonymous", grants=Grants().with_public(await self.public_projects()))

    async def resolve(self, subject: str, via: str = "") -> Identity | None:
        """The identity of a token subject or verified login; None when gone or revoked."""
        await self._fresh()
        key = (subject, via)
        entry = self._entries.get(key)
        if entry is None:
            entry = await self._load(subject, via)
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[key] = entry
        if entry.identity is None or entry.expires <= self.clock():
            return None
        return entry.identity

    async def _load(self, subject: str, via: str) -> _Entry:
        if subject.startswith(ROBOT_PREFIX):
            robot = await self.robots.get_robot(subject)
            return await self.robot_entry(robot)
        user = await self.accounts.get_user(subject)
        if user is None or user.disabled:
            return _Entry(None, math.inf)
        token = None
        if via.startswith("pat:"):
            token = await self.accounts.get_token(via[4:])
            if token is None or token.user != user.name:
                return _Entry(None, math.inf)
        return await self.user_entry(user, token)

    async def user_entry(self, user: UserRecord, token: AccessTokenRecord | None) -> _Entry:
        rows = await self.projects.grants_for_user(user.id)
        grants = Grants(admin=user.admin, entries=tuple(grant_of(row) for row in rows))
        grants = grants.with_public(await self.public_projects())
        expires = math.inf
        via = ""
        if token is not None:
            via = f"pat:{token.id}"
            ceiling = frozenset(token.permissions) if token.permissions else None
            grants = Grants(grants.admin, grants.entries, ceiling)
            expires = token.expires_at if token.expires_at is not None else math.inf
        return _Entry(Identity("user", user.id, grants, via, user.stamp), expires)

    async def robot_entry(self, robot: RobotRecord | None) -> _Entry:
        if robot is None or robot.disabled:
            return _Entry(None, math.inf)
        grants = Grants(entries=robot_grants(robot)).with_public(await self.public_projects())
        identity = Identity("robot", robot.id, grants, stamp=robot_stamp(robot))
        expires = robot.expires_at if robot.expires_at is not None else math.inf
        return _Entry(identity, expires)
