"""The identity services, assembled from their stores (called by ``bootstrap``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dockyard.auth.identity import CredentialBackend
from dockyard.auth.policy import AccessPolicy
from dockyard.persistence.stores import (
    AccountStore,
    AuditStore,
    OutboxStore,
    ProjectStore,
    RobotStore,
)
from dockyard.services.identity.audit import AuditLog
from dockyard.services.identity.audit_buffer import AuditBuffer
from dockyard.services.identity.common import Guard, IdentityOptions
from dockyard.services.identity.directory import IdentityDirectory
from dockyard.services.identity.event_audit import EventAudit
from dockyard.services.identity.login import LoginService
from dockyard.services.identity.members import MemberService
from dockyard.services.identity.projects import ProjectService
from dockyard.services.identity.refusals import RefusalAudit
from dockyard.services.identity.robots import RobotService
from dockyard.services.identity.throttle import SharedLoginThrottle
from dockyard.services.identity.tokens import AccessTokenService
from dockyard.services.identity.users import UserService
from dockyard.services.telemetry import NO_TELEMETRY, Telemetry


@dataclass(frozen=True, slots=True)
class IdentityServices:
    """Everything identity management offers to the API, the token service and the CLI.

    ``enabled`` is ``dockyard.identity.enabled``: when off, requests follow registry:2's rules
    and the management API answers 404, but the CLI can still prepare users and projects.
    """

    enabled: bool
    directory: IdentityDirectory
    login: LoginService
    audit: AuditLog
    users: UserService
    projects: ProjectService
    members: MemberService
    robots: RobotService
    tokens: AccessTokenService
    audit_buffer: AuditBuffer  # refusals, written in batches; the server runs it
    event_audit: EventAudit  # pushes, pulls, deletes from the outbox; the server runs it


def build_identity(
    *,
    accounts: AccountStore,
    projects: ProjectStore,
    robots: RobotStore,
    audit: AuditStore,
    outbox: OutboxStore,
    policy: AccessPolicy,
    options: IdentityOptions,
    buffer: AuditBuffer | None = None,
    backends: Sequence[CredentialBackend] = (),
    enabled: bool = True,
    throttle: SharedLoginThrottle | None = None,
    telemetry: Telemetry = NO_TELEMETRY,
) -> IdentityServices:
    directory = IdentityDirectory(accounts, projects, robots)
    log = AuditLog(audit, policy)
    guard = Guard(policy, options)
    project_service = ProjectService(projects, directory, log, guard)
    buffer = buffer or AuditBuffer(audit)  # refusals, written in batches
    refusals = RefusalAudit(buffer, telemetry=telemetry)
    return IdentityServices(
        enabled=enabled,
        directory=directory,
        login=LoginService(
            directory, log, policy, options, backends, throttle=throttle, refusals=refusals
        ),
        audit=log,
        users=UserService(accounts, directory, log, guard),
        projects=project_service,
        members=MemberService(projects, project_service, directory, log, guard),
        robots=RobotService(robots, project_service, directory, log, guard),
        tokens=AccessTokenService(accounts, directory, log, guard),
        audit_buffer=buffer,
        event_audit=EventAudit(outbox, audit, pulls=options.audit_pulls),
    )
