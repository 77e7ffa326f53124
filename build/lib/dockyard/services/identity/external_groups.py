"""Keep external users' groups, mapped project roles and administrator flag in step with the
source that vouches for them, at every login (OIDC today; any ``CredentialBackend`` can use it).

:class:`GroupSyncBackend` wraps a credential backend. When the wrapped backend accepts a login,
:class:`ExternalGroupSync` records the user with the groups the source reported (dockyard
groups whose ``source`` is the backend's name; memberships the source no longer reports are
dropped, so a removal takes effect at the next login), then applies the configured rules:

- ``GroupRole(group, project, role)``: the group is a member of ``project`` with ``role``
  (added when missing, its role corrected when it differs; a mapping removed from the rules
  leaves the membership for an administrator to delete);
- ``admin_groups``: users in one of them are system administrators, others are not (when the
  set is empty the flag is left alone; the last administrator is never demoted).

Written defensively: a rule naming a missing project or role, or a group name that a local
group already holds, is skipped with a warning and never fails the login. Changes bump the
identity generation (other processes notice) and are written to the audit log.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from dockyard.auth.identity import CredentialBackend, ExternalIdentity
from dockyard.auth.principal import Principal
from dockyard.auth.secrets import new_stamp
from dockyard.persistence.identity_records import NewUser, UserRecord
from dockyard.persistence.stores import AccountStore, ProjectStore
from dockyard.services.identity.audit import AuditLog

log = logging.getLogger("dockyard.auth")


@dataclass(frozen=True, slots=True)
class GroupRole:
    group: str
    project: str
    role: str


@dataclass(frozen=True, slots=True)
class GroupRules:
    roles: tuple[GroupRole, ...] = ()
    admin_groups: frozenset[str] = field(default_factory=frozenset)

    def roles_for(self, groups: Iterable[str]) -> list[GroupRole]:
        held = set(groups)
        return [rule for rule in self.roles if rule.group in held]


class ExternalGroupSync:
    def __init__(
        self,
        accounts: AccountStore,
        projects: ProjectStore,
        rules: GroupRules,
        audit: AuditLog | None = None,
    ) -> None:
        self.accounts = accounts
        self.projects = projects
        self.rules = rules
        self.audit = audit

    async def apply(self, external: ExternalIdentity) -> UserRecord | None:
        """Record the user and apply the rules; None when another source holds the name."""
        new = NewUser(name=external.username, source=external.source, email=external.email,
                      stamp=new_stamp())  # fmt: skip
        user = await self.accounts.upsert_external_user(new, external.groups)
        if user is None:
            return None  # a local user holds the name: the login service refuses it
        if self.rules.admin_groups:
            await self._admin_flag(user, external)
        for rule in self.rules.roles_for(external.groups):
            await self._ensure_role(rule, external)
        return user

    async def _admin_flag(self, user: UserRecord, external: ExternalIdentity) -> None:
        wanted = not self.rules.admin_groups.isdisjoint(external.groups)
        if user.admin == wanted:
            return
        if not wanted and await self.accounts.count_admins() <= 1:
            log.warning("%s: %r left the admin groups but is the last administrator; kept",
                        external.source, user.name)  # fmt: skip
            return
        await self.accounts.update_user(user.name, is_admin=wanted)
        await self._audit(external, "user.update", f"user:{user.name}", admin=wanted)

    async def _ensure_role(self, rule: GroupRole, external: ExternalIdentity) -> None:
        group = await self.accounts.get_group(rule.group)
        if group is None or group.source != external.source:
            log.warning("%s: group %r is not a %s group; mapping to %s skipped",
                        external.source, rule.group, external.source, rule.project)  # fmt: skip
            return
        members = await self.projects.list_members(rule.project)
        current = next((m for m in members if m.kind == "group" and m.name == rule.group), None)
        if current is None:
            outcome = await self.projects.add_member(rule.project, "group", rule.group,
                                                     rule.role, "")  # fmt: skip
        elif current.role != rule.role:
            outcome = await self.projects.update_member(rule.project, current.id, rule.role)
        else:
            return
        if isinstance(outcome, str):
            if outcome != "exists":  # "exists": another login added it meanwhile
                log.warning("%s: mapping of group %r to %s as %s skipped: %s", external.source,
                            rule.group, rule.project, rule.role, outcome)  # fmt: skip
            return
        await self._audit(external, "member.add" if current is None else "member.update",
                          f"project:{rule.project}", group=rule.group, role=rule.role)  # fmt: skip

    async def _audit(self, external: ExternalIdentity, event: str, target: str,
                     **detail: object) -> None:  # fmt: skip
        if self.audit is not None:
            details = {"source": external.source, "mapped": True, **detail}
            await self.audit.record(Principal(external.username), event, target, detail=details)


class GroupSyncBackend:
    """A credential backend whose accepted users are synced by :class:`ExternalGroupSync`."""

    def __init__(self, backend: CredentialBackend, sync: ExternalGroupSync) -> None:
        self.backend = backend
        self.sync = sync
        self.name = backend.name

    async def authenticate(self, username: str, password: str) -> ExternalIdentity | None:
        external = await self.backend.authenticate(username, password)
        if external is None or await self.sync.apply(external) is None:
            return external  # not recorded: the login service writes (or refuses) it
        return replace(external, recorded=True)  # so the login service does not write it again
