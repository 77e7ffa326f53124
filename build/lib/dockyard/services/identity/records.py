"""The identity records adapters see (re-exported so they need not import persistence)."""

from dockyard.persistence.identity_records import (
    AccessTokenRecord,
    AuditEvent,
    AuditQuery,
    GroupRecord,
    MemberRecord,
    ProjectRecord,
    RobotRecord,
    RoleRecord,
    UserRecord,
)

__all__ = [
    "AccessTokenRecord",
    "AuditEvent",
    "AuditQuery",
    "GroupRecord",
    "MemberRecord",
    "ProjectRecord",
    "RobotRecord",
    "RoleRecord",
    "UserRecord",
]
