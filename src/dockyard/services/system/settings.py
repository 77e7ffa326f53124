"""The registry's effective settings for administrators, and the ones changeable at run time.

``view`` shows what management depends on: identity mode and its options, the credential
backends, the token service, whether deletes are on, the read-only state, the garbage
collection schedule and the default quota. It is built from the configuration once (by
``bootstrap_settings``) and holds nothing secret: no passwords, keys, key paths or client
secrets are ever part of it. The live part (read-only) is read from the database.

``change`` switches what can be switched while serving: today the read-only mode (stored
in the database through :class:`~dockyard.services.lifecycle.readonly.WriteGate`, so every node
and worker follows within seconds). Everything else comes from the configuration and
needs a restart. Both are for system administrators only; every change is audited
(``system.settings``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from dockyard.auth.policy import AccessPolicy
from dockyard.auth.principal import Principal
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.services.identity.audit import AuditLog
from dockyard.services.lifecycle.readonly import WriteGate

REASON_MAX = 500
CHANGEABLE = ("readonly",)


@dataclass(frozen=True, slots=True)
class IdentityView:
    enabled: bool
    createonpush: bool
    auditpulls: bool
    loginattempts: int
    clientattempts: int
    loginwindow: str
    backends: list[str]  # external credential backends, in the order logins try them


@dataclass(frozen=True, slots=True)
class TokenView:
    enabled: bool  # dockyard's own token service (/token)
    issuer: str
    service: str
    realm: str  # empty: this server's /token
    expiry: str
    algorithm: str
    anonymouspull: bool
    external: bool  # auth.token: tokens from an external issuer instead


@dataclass(frozen=True, slots=True)
class ReadOnlyView:
    enabled: bool  # writes are refused (configured or switched)
    configured: bool  # storage.maintenance.readonly.enabled: only a restart changes it
    switched: bool  # switched at run time (this API, dockyard maintenance readonly)
    reason: str = ""


@dataclass(frozen=True, slots=True)
class GcView:
    interval: str  # empty: not scheduled
    grace: str
    deleteuntagged: bool
    dryrun: bool


@dataclass(frozen=True, slots=True)
class QuotaView:
    default: str  # empty: unlimited
    warn: int  # percent
    projects: int  # projects with a limit of their own in the configuration


@dataclass(frozen=True, slots=True)
class SystemSettings:
    identity: IdentityView
    token: TokenView
    authentication: str  # "htpasswd", "token" or "" (none) as configured under auth
    delete_enabled: bool
    readonly: ReadOnlyView
    gc: GcView
    quotas: QuotaView
    changeable: list[str] = field(default_factory=lambda: list(CHANGEABLE))


@dataclass(frozen=True, slots=True)
class ReadOnlyChange:
    enabled: bool
    reason: str = ""


class SystemSettingsService:
    def __init__(
        self, effective: SystemSettings, gate: WriteGate, policy: AccessPolicy, audit: AuditLog
    ) -> None:
        self.effective = effective
        self.gate = gate
        self.policy = policy
        self.audit = audit

    async def view(self, actor: Principal) -> SystemSettings:
        self.policy.require_admin(actor)
        state = await self.gate.state()
        readonly = ReadOnlyView(state.read_only, state.configured, state.switched, state.reason)
        return replace(self.effective, readonly=readonly)

    async def change(self, actor: Principal, readonly: ReadOnlyChange | None) -> SystemSettings:
        self.policy.require_admin(actor)
        if readonly is not None:
            await self._switch_read_only(actor, readonly)
        return await self.view(actor)

    async def _switch_read_only(self, actor: Principal, change: ReadOnlyChange) -> None:
        if len(change.reason) > REASON_MAX:
            raise RegistryError(
                ErrorCode.BAD_REQUEST, f"readonly.reason is longer than {REASON_MAX} characters"
            )
        if self.gate.configured and not change.enabled:
            raise RegistryError(
                ErrorCode.CONFLICT,
                "read-only is set in the configuration (storage.maintenance.readonly.enabled); "
                "change it there and restart",
            )
        await self.gate.switch(change.enabled, reason=change.reason, by=actor.name, actor=actor)
        detail = {"readonly": change.enabled, "reason": change.reason}
        await self.audit.record(actor, "system.settings", "system:readonly", detail=detail)
