"""Composition of signature enforcement: trust policies, the signature check and the pull
gate in the manifest GET/HEAD path (docs/supply-chain.md). Built only with identity
management on: trust policies belong to projects, which are identity's."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dockyard.auth.principal import Principal
from dockyard.config.model import Settings
from dockyard.persistence.sql.metadata import SqlMetadata
from dockyard.persistence.sql.session import Database
from dockyard.persistence.sql.trust import SqlTrustStore
from dockyard.services.registry import Registry
from dockyard.services.trust.evidence import SignatureFinder
from dockyard.services.trust.gate import PullGate
from dockyard.services.trust.policies import TrustPolicies
from dockyard.services.trust.signature_check import SignatureCheck
from dockyard.storage.driver import StorageDriver


def build_trust(
    settings: Settings, registry: Registry, storage: StorageDriver, database: Database
) -> None:
    """Set ``registry.trust`` and the manifest service's gate (identity on only)."""
    identity = registry.identity
    if identity is None or not settings.dockyard.identity.enabled:
        return
    store = SqlTrustStore(database)
    policies = TrustPolicies(store, registry.policy, audit=identity.audit)
    finder = SignatureFinder(SqlMetadata(database), storage, lambda: datetime.now(UTC))
    audit_log = identity.audit

    async def audit(principal: Principal, event: str, target: str, detail: dict[str, Any]) -> None:
        await audit_log.record(principal, event, target, detail=detail)

    registry.trust = policies
    registry.manifests.gate = PullGate([SignatureCheck(policies, finder, store)], audit=audit)
