"""Composition root, system settings part: the effective settings administrators may read
(``GET /api/v1/system/settings``) taken from the configuration, without any secret.

Kept beside ``bootstrap.py`` (and called only by it), like ``bootstrap_lifecycle``.
"""

from __future__ import annotations

from dockyard.auth.policy import AccessPolicy
from dockyard.config import Settings
from dockyard.services.identity.wiring import IdentityServices
from dockyard.services.lifecycle import Lifecycle
from dockyard.services.system.settings import (
    GcView,
    IdentityView,
    QuotaView,
    ReadOnlyView,
    SystemSettings,
    SystemSettingsService,
    TokenView,
)


def effective_settings(settings: Settings, backends: list[str]) -> SystemSettings:
    identity, token = settings.dockyard.identity, settings.dockyard.token
    gc, quotas = settings.dockyard.gc, settings.dockyard.quotas
    readonly = settings.storage.maintenance.readonly.enabled
    return SystemSettings(
        identity=IdentityView(
            enabled=identity.enabled,
            createonpush=identity.createonpush,
            auditpulls=identity.auditpulls,
            loginattempts=identity.loginattempts,
            clientattempts=identity.clientattempts,
            loginwindow=identity.loginwindow,
            backends=backends,
        ),
        token=TokenView(
            enabled=token.enabled,
            issuer=token.issuer,
            service=token.service,
            realm=token.realm,
            expiry=token.expiry,
            algorithm=token.algorithm,
            anonymouspull=token.anonymouspull,
            external=settings.auth.token is not None,
        ),
        authentication=settings.auth.kind,
        delete_enabled=settings.storage.delete.enabled,
        readonly=ReadOnlyView(enabled=readonly, configured=readonly, switched=False),
        gc=GcView(gc.interval, gc.grace, gc.deleteuntagged, gc.dryrun),
        quotas=QuotaView(quotas.default, quotas.warn, len(quotas.projects)),
    )


def build_system_settings(
    settings: Settings,
    identity: IdentityServices | None,
    lifecycle: Lifecycle,
    policy: AccessPolicy,
) -> SystemSettingsService | None:
    """The service behind ``/api/v1/system/settings`` (None without identity services)."""
    if identity is None:
        return None
    backends = [backend.name for backend in identity.login.backends]
    return SystemSettingsService(
        effective_settings(settings, backends), lifecycle.gate, policy, identity.audit
    )
