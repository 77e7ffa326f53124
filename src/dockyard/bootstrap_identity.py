"""Composition of identity management: stores on the metadata database, backends, services.

Kept beside ``bootstrap.py`` (the composition root) so that module stays small.
"""

from __future__ import annotations

from collections.abc import Iterable

from dockyard.auth.backends import HtpasswdBackend
from dockyard.auth.htpasswd import HtpasswdFile
from dockyard.auth.identity import CredentialBackend
from dockyard.auth.policy import AccessPolicy
from dockyard.bootstrap_events import database_is_sqlite
from dockyard.bootstrap_extras import require_extra
from dockyard.cache.base import SharedWindows
from dockyard.config import Settings, parse_duration
from dockyard.config.ldap import LdapGroupMapping
from dockyard.config.oidc import OidcGroupMapping
from dockyard.persistence.sql.accounts import SqlAccountStore
from dockyard.persistence.sql.audit import SqlAuditStore
from dockyard.persistence.sql.outbox import SqlOutbox
from dockyard.persistence.sql.projects import SqlProjectStore
from dockyard.persistence.sql.robots import SqlRobotStore
from dockyard.persistence.sql.session import Database
from dockyard.services.identity.audit import AuditLog
from dockyard.services.identity.audit_buffer import AuditBuffer
from dockyard.services.identity.audit_retention import AuditPruner
from dockyard.services.identity.common import IdentityOptions
from dockyard.services.identity.denials import DeniedAccess
from dockyard.services.identity.external_groups import (
    ExternalGroupSync,
    GroupRole,
    GroupRules,
    GroupSyncBackend,
)
from dockyard.services.identity.htpasswd_watch import HtpasswdWatch
from dockyard.services.identity.throttle import build_throttle
from dockyard.services.identity.wiring import IdentityServices, build_identity
from dockyard.services.telemetry import NO_TELEMETRY, Telemetry


def identity_options(settings: Settings) -> IdentityOptions:
    raw = settings.dockyard.identity
    return IdentityOptions(
        password_cost=raw.passwordcost,
        create_on_push=raw.createonpush,
        login_attempts=raw.loginattempts,
        client_attempts=raw.clientattempts,
        login_window=parse_duration(raw.loginwindow),
        audit_pulls=raw.auditpulls,
    )


def build_identity_services(
    settings: Settings,
    database: Database,
    policy: AccessPolicy,
    htpasswd: HtpasswdFile | None,
    *,
    shared: SharedWindows | None = None,
    telemetry: Telemetry = NO_TELEMETRY,
    buffer: AuditBuffer | None = None,
) -> IdentityServices:
    """Always built (the CLI manages users before identity is switched on). ``shared``: the
    failed-login counts every node sees (Redis), else each process counts its own.
    ``buffer``: the audit buffer the access policy's denials go to (``refusal_audit``)."""
    options = identity_options(settings)
    backends: list[CredentialBackend] = []
    if htpasswd is not None:
        backends.append(HtpasswdBackend(htpasswd, options.password_cost))
    if settings.dockyard.identity.oidc.enabled:
        backends.append(oidc_backend(settings, database, policy, options))
    if settings.dockyard.identity.ldap.enabled:  # last: a network round trip per login
        backends.append(ldap_backend(settings, database, policy))
    return build_identity(
        accounts=SqlAccountStore(database),
        projects=SqlProjectStore(database),
        robots=SqlRobotStore(database),
        audit=SqlAuditStore(database),
        outbox=SqlOutbox(database, snapshot_bound=not database_is_sqlite(settings)),
        policy=policy,
        options=options,
        buffer=buffer,
        backends=backends,
        enabled=settings.dockyard.identity.enabled,
        throttle=build_throttle(options, shared, telemetry),
        telemetry=telemetry,
    )


def refusal_audit(
    settings: Settings, database: Database
) -> tuple[AuditBuffer, DeniedAccess | None]:
    """The audit buffer, and the access policy's observer that queues refused actions in it
    (only when identity management, and with it the audit log, is on)."""
    buffer = AuditBuffer(SqlAuditStore(database))
    return buffer, DeniedAccess(buffer) if settings.dockyard.identity.enabled else None


def oidc_backend(
    settings: Settings, database: Database, policy: AccessPolicy, options: IdentityOptions
) -> CredentialBackend:
    """ID tokens as passwords; groups and their mapped roles synced at each login."""
    from dockyard.auth.oidc import build_oidc_backend  # httpx loads only when OIDC is on

    oidc = settings.dockyard.identity.oidc
    alone = settings.auth.htpasswd is None and not settings.dockyard.identity.ldap.enabled
    backend = build_oidc_backend(oidc, dummy_cost=options.password_cost, guard_timing=alone)
    return _with_group_sync(backend, oidc.groupmappings, oidc.admingroups, database, policy)


def ldap_backend(settings: Settings, database: Database, policy: AccessPolicy) -> CredentialBackend:
    """LDAP / AD passwords; groups and their mapped roles synced at each login."""
    require_extra("ldap", "dockyard.identity.ldap")
    from dockyard.auth.ldap import LdapBackend  # ldap3 loads only when LDAP is on

    ldap = settings.dockyard.identity.ldap
    return _with_group_sync(
        LdapBackend(ldap), ldap.groupmappings, ldap.admingroups, database, policy
    )


_GroupMapping = LdapGroupMapping | OidcGroupMapping


def _with_group_sync(
    backend: CredentialBackend,
    mappings: Iterable[_GroupMapping],
    admin_groups: Iterable[str],
    database: Database,
    policy: AccessPolicy,
) -> CredentialBackend:
    """``backend`` whose users' external groups (and the roles mapped to them) are synced
    into dockyard at each login."""
    rules = GroupRules(
        tuple(GroupRole(m.group, m.project, m.role) for m in mappings), frozenset(admin_groups)
    )
    audit = AuditLog(SqlAuditStore(database), policy)
    sync = ExternalGroupSync(SqlAccountStore(database), SqlProjectStore(database), rules, audit)
    return GroupSyncBackend(backend, sync)


def htpasswd_watch(
    htpasswd: HtpasswdFile | None, identity: IdentityServices | None
) -> HtpasswdWatch | None:
    """With htpasswd users and identity management: the watch that revokes the tokens of
    users the file drops (``services/identity/htpasswd_watch.py``), a loop of each process."""
    if htpasswd is None or identity is None or not identity.enabled:
        return None
    return HtpasswdWatch(htpasswd, identity.directory, identity.audit)


def audit_pruner(settings: Settings, database: Database) -> AuditPruner | None:
    """With ``dockyard.identity.auditretention`` set: the hourly deletion of older events."""
    retention = settings.dockyard.identity.auditretention
    seconds = parse_duration(retention) if retention else 0.0
    if seconds <= 0:
        return None
    return AuditPruner(SqlAuditStore(database), seconds)
