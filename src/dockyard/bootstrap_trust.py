"""Composition of signature enforcement: trust policies, the signature check and the pull
gate in the manifest GET/HEAD path (docs/supply-chain.md). Built only with identity
management on: trust policies belong to projects, which are identity's."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dockyard.auth.policy import AccessPolicy
from dockyard.auth.principal import Principal
from dockyard.config.model import Settings
from dockyard.persistence.sql.metadata import SqlMetadata
from dockyard.persistence.sql.session import Database
from dockyard.persistence.sql.trust import SqlTrustStore
from dockyard.services.identity.wiring import IdentityServices
from dockyard.services.trust.evidence import SignatureFinder
from dockyard.services.trust.gate import PullGate
from dockyard.services.trust.policies import TrustPolicies
from dockyard.services.trust.signature_check import SignatureCheck
from dockyard.storage.driver import StorageDriver


def build_trust(
    settings: Settings,
    policy: AccessPolicy,
    identity: IdentityServices | None,
    storage: StorageDriver,
    database: Database,
) -> tuple[TrustPolicies | None, PullGate | None]:
    """The trust policies and the manifest service's pull gate (identity on only; else
    neither), built before the manifest service that holds the gate."""
    if identity is None or not settings.dockyard.identity.enabled:
        return None, None
    store = SqlTrustStore(database)
    policies = TrustPolicies(store, policy, audit=identity.audit)
    finder = SignatureFinder(SqlMetadata(database), storage, lambda: datetime.now(UTC))
    audit_log = identity.audit

    async def audit(principal: Principal, event: str, target: str, detail: dict[str, Any]) -> None:
        await audit_log.record(principal, event, target, detail=detail)

    return policies, PullGate([SignatureCheck(policies, finder, store)], audit=audit)
