"""Composition of identity management: stores on the metadata database, backends, services.

Kept beside ``bootstrap.py`` (the composition root) so that module stays small.
"""

from __future__ import annotations

from dockyard.auth.backends import HtpasswdBackend
from dockyard.auth.htpasswd import HtpasswdFile
from dockyard.auth.identity import CredentialBackend
from dockyard.auth.policy import AccessPolicy
from dockyard.config import Settings, parse_duration
from dockyard.persistence.sql.accounts import SqlAccountStore
from dockyard.persistence.sql.audit import SqlAuditStore
from dockyard.persistence.sql.projects import SqlProjectStore
from dockyard.persistence.sql.robots import SqlRobotStore
from dockyard.persistence.sql.session import Database
from dockyard.services.identity.common import IdentityOptions
from dockyard.services.identity.wiring import IdentityServices, build_identity


def identity_options(settings: Settings) -> IdentityOptions:
    raw = settings.dockyard.identity
    return IdentityOptions(
        password_cost=raw.passwordcost,
        create_on_push=raw.createonpush,
        login_attempts=raw.loginattempts,
        client_attempts=raw.clientattempts,
        login_window=parse_duration(raw.loginwindow),
    )


def build_identity_services(
    settings: Settings, database: Database, policy: AccessPolicy, htpasswd: HtpasswdFile | None
) -> IdentityServices:
    """Always built (the CLI manages users before identity is switched on)."""
    options = identity_options(settings)
    backends: list[CredentialBackend] = []
    if htpasswd is not None:
        backends.append(HtpasswdBackend(htpasswd, options.password_cost))
    return build_identity(
        accounts=SqlAccountStore(database),
        projects=SqlProjectStore(database),
        robots=SqlRobotStore(database),
        audit=SqlAuditStore(database),
        policy=policy,
        options=options,
        backends=backends,
        enabled=settings.dockyard.identity.enabled,
    )
