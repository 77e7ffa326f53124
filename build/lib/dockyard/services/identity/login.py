"""Logins: passwords, robot secrets and personal access tokens, throttled and audited.

Implements ``auth.identity.IdentityProvider``. A login is tried, in order, as a robot
(``robot$...`` names), a personal access token (``dyp_...`` passwords), a local user, then
each external credential backend (htpasswd; LDAP and OIDC later), whose users are recorded on
first login. Every outcome gives the same error, and a name nobody knows still costs a bcrypt
check, so neither message nor timing tells whether a user exists. A verified credential is
remembered for a minute (by a SHA-256 of the password) so HTTP Basic on every request does
not pay bcrypt each time (``remembered.py``: each for its own minute, dropped when the account's
stamp changes); only checks that really ran are audited. An external backend may answer with
the account's own spelling of the name (LDAP: ``Alice`` typed, ``alice`` in the directory):
the principal, the account and the audited success carry that name.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TypeGuard

from dockyard.auth.grants import Grant, Grants, Identity
from dockyard.auth.identity import CredentialBackend, ExternalIdentity
from dockyard.auth.permissions import BUILTIN_ROLES, project_of
from dockyard.auth.policy import AccessPolicy, Action
from dockyard.auth.principal import Principal
from dockyard.auth.secrets import (
    ROBOT_PREFIX,
    new_stamp,
    parse_token,
    secret_matches,
    verify_password,
)
from dockyard.auth.token_service import InvalidCredentialsError
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.core.events import EventKind
from dockyard.persistence.identity_records import NewUser
from dockyard.persistence.stores import AccountStore, ProjectStore, RobotStore
from dockyard.services.events import change_event
from dockyard.services.identity.audit import AuditLog
from dockyard.services.identity.common import IdentityOptions
from dockyard.services.identity.directory import IdentityDirectory
from dockyard.services.identity.refusals import Refusal, RefusalAudit
from dockyard.services.identity.throttle import SharedLoginThrottle, build_throttle

log = logging.getLogger("dockyard.auth")
INVALID = "invalid username or password"


class LoginService:
    def __init__(
        self,
        directory: IdentityDirectory,
        audit: AuditLog,
        policy: AccessPolicy,
        options: IdentityOptions,
        backends: Sequence[CredentialBackend] = (),
        *,
        throttle: SharedLoginThrottle | None = None,
        refusals: RefusalAudit | None = None,
    ) -> None:
        self.directory = directory
        self.accounts: AccountStore = directory.accounts
        self.projects: ProjectStore = directory.projects
        self.robots: RobotStore = directory.robots
        self.audit = audit
        self.policy = policy
        self.options = options
        self.backends = tuple(backends)
        self.throttle = throttle or build_throttle(options)
        self.refusals = refusals

    # IdentityProvider -----------------------------------------------------------------------

    async def login(self, username: str, password: str, client: str) -> Principal:
        counted = username.casefold()  # "ALICE" may be alice (LDAP): one count for every case
        try:
            await self.throttle.check(counted, client)
        except RegistryError:
            self.refused(username, client, "login.throttled", {"status": 429})
            raise
        remembered = await self._remembered(username, password, client)
        if remembered is not None:
            return remembered
        try:
            name, identity, detail = await self._verify(username, password)
        except RegistryError as exc:  # a backend that cannot answer (LDAP down): 503, audited
            if exc.code is ErrorCode.UNAVAILABLE:
                why = {"method": "password", "error": "unavailable"}
                await self.audit.login(username, client, ok=False, detail=why)
            raise
        if identity is None:
            await self.throttle.failed(counted, client)
            await self.audit.login(username, client, ok=False, detail=detail)
            raise InvalidCredentialsError(INVALID)
        await self.throttle.succeeded(counted, client)
        self.directory.logins.remember(username, password, name, identity.via, identity.stamp)
        await self.audit.login(name, client, ok=True, kind=identity.kind, detail=detail)
        return Principal(name, identity=identity, client=client)

    async def _remembered(self, username: str, password: str, client: str) -> Principal | None:
        """The principal of a login verified within the minute, if its account is unchanged."""
        remembered = self.directory.logins.get(username, password)
        if remembered is None:
            return None
        identity = await self.directory.resolve(remembered.subject, remembered.via)
        if identity is None or identity.stamp != remembered.stamp:
            self.directory.logins.forget(username, password)
            return None
        return Principal(remembered.subject, identity=identity, client=client)

    def refused(
        self, name: str, client: str, event: str, detail: dict[str, object] | None = None
    ) -> None:
        """Note a refusal for the audit log (sampled per address, written in batches)."""
        if self.refusals is not None:
            kind = "robot" if name.startswith(ROBOT_PREFIX) else "user" if name else "anonymous"
            self.refusals.note(Refusal(event, name, client, kind, detail))

    async def resolve(self, subject: str, via: str, client: str) -> Principal | None:
        identity = await self.directory.resolve(subject, via)
        return None if identity is None else Principal(subject, identity=identity, client=client)

    async def anonymous(self, client: str) -> Principal:
        identity = await self.directory.anonymous()
        return Principal("", authenticated=False, identity=identity, client=client)

    async def plan_push(self, principal: Principal, repositories: Iterable[str]) -> Principal:
        """For a token request: the principal with the rights of a project's owner on the
        projects of ``repositories`` that do not exist yet and that it would create by pushing
        (``createonpush``). Nothing is created: that waits for the push itself
        (:meth:`prepare_push`). System administrators need no such grants."""
        identity = principal.identity
        if not self._may_create(identity) or identity.admin or not self.options.create_on_push:
            return principal
        missing = [
            project
            for project in sorted(self._unpushable(principal, repositories))
            if await self.projects.get_project(project) is None
        ]
        if not missing:
            return principal
        owner = BUILTIN_ROLES["admin"]
        grants = identity.grants
        planned = grants.entries + tuple(Grant(project, owner) for project in missing)
        extended = Grants(grants.admin, planned, grants.ceiling)
        return replace(principal, identity=replace(identity, grants=extended))

    def _may_create(self, identity: Identity | None) -> TypeGuard[Identity]:
        """Users (not robots, not restricted personal access tokens) may create projects."""
        return identity is not None and identity.kind == "user" and identity.grants.ceiling is None

    def _unpushable(self, principal: Principal, repositories: Iterable[str]) -> set[str]:
        """Projects of ``repositories`` the principal may not push to today."""
        return {
            project_of(name)
            for name in repositories
            if not self.policy.allows(principal, Action.PUSH, name)
        }

    async def prepare_push(self, principal: Principal, repositories: Iterable[str]) -> Principal:
        """At a push that writes (an upload start, a manifest PUT): create the missing projects
        of ``repositories`` when the principal may: system administrators always, other users
        with ``createonpush`` (they become its admin)."""
        identity = principal.identity
        if not self._may_create(identity):
            return principal
        if identity.admin:
            wanted = {project_of(name) for name in repositories}
        elif self.options.create_on_push:
            wanted = self._unpushable(principal, repositories)
        else:
            return principal
        created = [p for p in sorted(wanted) if await self._create_on_push(principal, identity, p)]
        if not created:
            return principal
        self.directory.invalidate()
        refreshed = await self.resolve(principal.name, identity.via, principal.client)
        return refreshed or principal

    async def _create_on_push(self, principal: Principal, identity: Identity, project: str) -> bool:
        if await self.projects.get_project(project) is not None:
            return False
        owner = None if identity.admin else identity.id
        event = change_event(principal, EventKind.PROJECT_CREATED, project=project,
                             public=False, on_push=True)  # fmt: skip
        made = await self.projects.create_project(
            project, public=False, description="", created_by=principal.name,
            owner_user_id=owner, event=event,
        )  # fmt: skip
        if made is not None:
            await self.audit.record(principal, "project.create", f"project:{project}",
                                    detail={"on_push": True})  # fmt: skip
        return made is not None

    # verification ---------------------------------------------------------------------------

    async def _verify(
        self, username: str, password: str
    ) -> tuple[str, Identity | None, dict[str, str]]:
        """(the account's name, its identity or None, what to audit)."""
        if not username:
            await verify_password(password, None, self.options.password_cost)
            return username, None, {"method": "password"}
        if username.startswith(ROBOT_PREFIX):
            return username, await self._robot(username, password), {"method": "robot"}
        token = parse_token(password)
        if token is not None:
            identity = await self._token(username, *token)
            return username, identity, {"method": "token", "token": token[0]}
        name, identity = await self._password(username, password)
        return name, identity, {"method": "password"}

    async def _robot(self, name: str, secret: str) -> Identity | None:
        robot = await self.robots.get_robot(name)
        if robot is None or not secret_matches(secret, robot.secret_hash):
            return None
        return await self.directory.resolve(name)

    async def _token(self, username: str, token_id: str, secret: str) -> Identity | None:
        token = await self.accounts.get_token(token_id)
        if token is None or token.user != username:
            return None
        if not secret_matches(secret, token.secret_hash):
            return None
        return await self.directory.resolve(username, f"pat:{token_id}")

    async def _password(self, username: str, password: str) -> tuple[str, Identity | None]:
        user = await self.accounts.get_user(username)
        cost = self.options.password_cost
        if user is not None and user.source == "local":
            if not await verify_password(password, user.password_hash, cost):
                return username, None
            return username, await self.directory.resolve(username)
        for backend in self.backends:
            external = await backend.authenticate(username, password)
            if external is not None:
                return external.username, await self._onboard(external)
        if not self.backends:
            await verify_password(password, None, cost)  # the time a real check takes
        return username, None

    async def _onboard(self, external: ExternalIdentity) -> Identity | None:
        name, source = external.username, external.source
        if not external.recorded:  # a backend with group sync has written it already
            new = NewUser(name=name, source=source, email=external.email, stamp=new_stamp())
            if await self.accounts.upsert_external_user(new, external.groups) is None:
                log.warning("login: %s user %r shadowed by a user of that name", source, name)
                return None
        self.directory.forget(name)
        return await self.directory.resolve(name)
