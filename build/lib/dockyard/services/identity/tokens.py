"""Personal access tokens: expiring, revocable passwords for scripts and clients.

A token is ``dyp_<id>_<secret>``, shown once; only a SHA-256 of the secret is stored. It may be
restricted to some permissions (a read-only token: ``repository:pull``). A token cannot make
tokens, so a leaked one cannot extend itself.
"""

from __future__ import annotations

import time

from dockyard.auth.permissions import parse_permissions
from dockyard.auth.principal import Principal
from dockyard.auth.secrets import format_token, new_secret, new_token_id, secret_digest
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.persistence.identity_records import AccessTokenRecord
from dockyard.persistence.stores import AccountStore
from dockyard.services.identity.audit import AuditLog
from dockyard.services.identity.common import Guard, bad_request, not_found
from dockyard.services.identity.directory import IdentityDirectory

DAY = 86400.0
DEFAULT_LIFETIME = 90 * DAY
MAX_LIFETIME = 366 * DAY
NAME_MAX = 100


class AccessTokenService:
    def __init__(
        self, accounts: AccountStore, directory: IdentityDirectory, audit: AuditLog, guard: Guard
    ) -> None:
        self.accounts = accounts
        self.directory = directory
        self.audit = audit
        self.policy = guard.policy

    def _owner(self, actor: Principal) -> str:
        identity = actor.identity
        if identity is None or identity.kind != "user":
            raise RegistryError(ErrorCode.DENIED, "only users have personal access tokens")
        return actor.name

    async def create(
        self,
        actor: Principal,
        name: str,
        *,
        expires_in: float | None = None,
        permissions: list[str] | None = None,
        user: str | None = None,
    ) -> tuple[AccessTokenRecord, str]:
        """The new token and its secret text (shown once). ``user``: whose token, when not the
        caller's own (system administrators only, e.g. ``dockyard access-token create``)."""
        if actor.identity is not None and actor.identity.via:
            raise RegistryError(ErrorCode.DENIED, "a personal access token cannot make tokens")
        if user is None or user == actor.name:
            user = self._owner(actor)
        else:
            self.policy.require_admin(actor)
        if not 0 < len(name) <= NAME_MAX:
            raise bad_request(f"name must have 1 to {NAME_MAX} characters")
        lifetime = DEFAULT_LIFETIME if expires_in is None else expires_in
        if not 0 < lifetime <= MAX_LIFETIME:
            raise bad_request("expires_in must be above 0 and at most 366 days")
        try:
            perms = tuple(sorted(parse_permissions(permissions or [])))
        except ValueError as exc:
            raise bad_request(str(exc)) from None
        now = time.time()
        token_id, secret = new_token_id(), new_secret()
        record = AccessTokenRecord(
            token_id, user, name, secret_digest(secret), perms, now + lifetime, now
        )
        if await self.accounts.create_token(record) is None:
            raise not_found("user", user)
        self.directory.invalidate()
        detail = {"name": name, **({"user": user} if user != actor.name else {})}
        await self.audit.record(actor, "token.create", f"token:{token_id}", detail=detail)
        return record, format_token(token_id, secret)

    async def owner_of(self, token_id: str) -> str:
        """Whose token this id names ("" when none: the login then fails as any other)."""
        token = await self.accounts.get_token(token_id)
        return token.user if token is not None else ""

    async def list_tokens(
        self, actor: Principal, user: str | None = None
    ) -> list[AccessTokenRecord]:
        """The caller's tokens (an administrator may name another user)."""
        owner = user or self._owner(actor)
        if owner != actor.name:
            self.policy.require_admin(actor)
            if await self.accounts.get_user(owner) is None:
                raise not_found("user", owner)
        return await self.accounts.list_tokens(owner)

    async def revoke(self, actor: Principal, token_id: str) -> None:
        token = await self.accounts.get_token(token_id)
        if token is None or (token.user != actor.name and not self.policy.is_admin(actor)):
            raise not_found("token", token_id)
        await self.accounts.delete_token(token_id)
        self.directory.invalidate()
        await self.audit.record(
            actor, "token.revoke", f"token:{token_id}", detail={"user": token.user}
        )
