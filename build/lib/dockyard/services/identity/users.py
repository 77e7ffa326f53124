"""Users and groups: system administrators manage them; users may see and change themselves."""

from __future__ import annotations

import asyncio
import re

from dockyard.auth.principal import Principal
from dockyard.auth.secrets import check_password_rules, hash_password, new_stamp, verify_password
from dockyard.core.events import EventKind
from dockyard.persistence.identity_records import GroupRecord, NewUser, UserRecord
from dockyard.persistence.stores import AccountStore
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
)
from dockyard.services.identity.directory import IdentityDirectory

_USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_GROUP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,127}$")


def check_name(kind: str, name: str) -> None:
    grammar = _USER_NAME if kind == "user" else _GROUP_NAME
    if not grammar.match(name):
        raise bad_request(f"invalid {kind} name", name=name[:100])


class UserService:
    def __init__(
        self, accounts: AccountStore, directory: IdentityDirectory, audit: AuditLog, guard: Guard
    ) -> None:
        self.accounts = accounts
        self.directory = directory
        self.audit = audit
        self.policy = guard.policy
        self.options = guard.options

    async def _hash(self, password: str) -> str:
        try:
            check_password_rules(password)
        except ValueError as exc:
            raise bad_request(str(exc)) from None
        return await asyncio.to_thread(hash_password, password, self.options.password_cost)

    async def _changed(self, actor: Principal, event: str, target: str, **detail: object) -> None:
        await record_change(self.directory, self.audit, actor, event, target, **detail)

    # users ----------------------------------------------------------------------------------

    async def create(
        self, actor: Principal, name: str, password: str, *, email: str = "", admin: bool = False
    ) -> UserRecord:
        self.policy.require_admin(actor)
        check_name("user", name)
        new = NewUser(name, "local", await self._hash(password), email, admin, new_stamp())
        event = change_event(actor, EventKind.USER_CREATED, name=name, admin=admin)
        user = await self.accounts.create_user(new, event=event)
        if user is None:
            raise conflict("a user with this name exists", name=name)
        await self._changed(actor, "user.create", f"user:{name}", admin=admin)
        return user

    async def list_users(
        self, actor: Principal, *, cursor: str = "", limit: int | None = None, query: str = ""
    ) -> Page[UserRecord]:
        self.policy.require_admin(actor)
        size = clamp(limit)
        users = await self.accounts.list_users(cursor, size + 1, query)
        return page_of(users, size, lambda user: user.name)

    async def get(self, actor: Principal, name: str) -> UserRecord:
        if actor.name != name or actor.identity is None or actor.identity.kind != "user":
            self.policy.require_admin(actor)
        user = await self.accounts.get_user(name)
        if user is None:
            raise not_found("user", name)
        return user

    async def update(
        self,
        actor: Principal,
        name: str,
        *,
        password: str | None = None,
        current_password: str | None = None,
        email: str | None = None,
        admin: bool | None = None,
        disabled: bool | None = None,
    ) -> UserRecord:
        is_admin = self.policy.is_admin(actor)
        user = await self.get(actor, name)
        if not is_admin and (admin is not None or disabled is not None):
            self.policy.require_admin(actor)
        changes: dict[str, object] = {}
        if password is not None:
            if user.source != "local":
                raise bad_request(f"the password of a {user.source} user is not kept here")
            if not is_admin:
                await self._check_current(user, current_password)
            changes.update(password_hash=await self._hash(password), stamp=new_stamp())
        if email is not None:
            changes["email"] = email
        if admin is not None:
            changes["is_admin"] = admin
        if disabled is not None:
            changes.update(disabled=disabled, stamp=new_stamp())
        if (admin is False or disabled) and user.admin:
            await self._keep_an_admin()
        fields = sorted(k for k in changes if k not in ("password_hash", "stamp"))
        fields += ["password"] if password is not None else []
        event = change_event(actor, EventKind.USER_UPDATED, name=name, fields=",".join(fields))
        updated = await self.accounts.update_user(name, event=event, **changes) if changes else user
        if updated is None:
            raise not_found("user", name)
        await self._changed(actor, "user.update", f"user:{name}", fields=fields)
        return updated

    async def _check_current(self, user: UserRecord, current: str | None) -> None:
        ok = await verify_password(current or "", user.password_hash, self.options.password_cost)
        if not ok:
            raise bad_request("current_password is wrong")

    async def _keep_an_admin(self) -> None:
        if await self.accounts.count_admins() <= 1:
            raise conflict("the last system administrator cannot be removed or disabled")

    async def delete(self, actor: Principal, name: str) -> None:
        self.policy.require_admin(actor)
        user = await self.accounts.get_user(name)
        if user is None:
            raise not_found("user", name)
        if user.admin and not user.disabled:
            await self._keep_an_admin()
        event = change_event(actor, EventKind.USER_DELETED, name=name)
        if not await self.accounts.delete_user(name, event=event):
            raise not_found("user", name)
        await self._changed(actor, "user.delete", f"user:{name}")

    # groups ---------------------------------------------------------------------------------

    async def create_group(self, actor: Principal, name: str, description: str = "") -> GroupRecord:
        self.policy.require_admin(actor)
        check_name("group", name)
        group = await self.accounts.create_group(name, description)
        if group is None:
            raise conflict("a group with this name exists", name=name)
        await self._changed(actor, "group.create", f"group:{name}")
        return group

    async def list_groups(
        self, actor: Principal, *, cursor: str = "", limit: int | None = None, query: str = ""
    ) -> Page[GroupRecord]:
        self.policy.require_admin(actor)
        size = clamp(limit)
        groups = await self.accounts.list_groups(cursor, size + 1, query)
        return page_of(groups, size, lambda group: group.name)

    async def get_group(self, actor: Principal, name: str) -> tuple[GroupRecord, list[str]]:
        self.policy.require_admin(actor)
        group = await self.accounts.get_group(name)
        if group is None:
            raise not_found("group", name)
        return group, await self.accounts.group_members(name)

    async def delete_group(self, actor: Principal, name: str) -> None:
        self.policy.require_admin(actor)
        if not await self.accounts.delete_group(name):
            raise not_found("group", name)
        await self._changed(actor, "group.delete", f"group:{name}")

    async def set_group_member(
        self, actor: Principal, group: str, user: str, *, member: bool
    ) -> None:
        self.policy.require_admin(actor)
        if await self.accounts.get_group(group) is None:
            raise not_found("group", group)
        if await self.accounts.get_user(user) is None:
            raise not_found("user", user)
        if await self.accounts.set_group_member(group, user, member=member):
            event = "group.member.add" if member else "group.member.remove"
            await self._changed(actor, event, f"group:{group}", user=user)
        elif not member:
            raise not_found("group member", user)
