"""Composition root, lifecycle part: the lifecycle stores and services (their jobs are
registered by ``bootstrap_jobs.py``).

Kept beside ``bootstrap.py`` (and called only by it) so that the lifecycle wiring does not
crowd the main composition root; like it, this is where concrete stores are built.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.config import Settings, parse_duration
from dockyard.config.lifecycle import parse_age, parse_limit
from dockyard.persistence.sql import Database, SqlMetadata
from dockyard.persistence.sql.integrity import SqlIntegrity
from dockyard.persistence.sql.inventory import SqlInventory
from dockyard.persistence.sql.lifecycle import SqlLifecycleStore
from dockyard.persistence.sql.pulls import SqlPulls
from dockyard.persistence.sql.usage import SqlUsage
from dockyard.services.lifecycle import Lifecycle
from dockyard.services.lifecycle.bulk_delete import BulkDeleteService
from dockyard.services.lifecycle.bulk_delete import log as bulk_log
from dockyard.services.lifecycle.fsck import IntegrityChecker
from dockyard.services.lifecycle.immutability import ImmutabilityService, ImmutableRule
from dockyard.services.lifecycle.pruning import Pruner
from dockyard.services.lifecycle.pulls import PullRecorder
from dockyard.services.lifecycle.quotas import QuotaPolicy, QuotaService
from dockyard.services.lifecycle.readonly import WriteGate
from dockyard.services.lifecycle.retention import RetentionService
from dockyard.services.lifecycle.retention_plan import RetentionPolicy
from dockyard.services.registry.descriptors import BlobDescriptorCache
from dockyard.services.telemetry import NO_TELEMETRY, Telemetry
from dockyard.storage.driver import StorageDriver


@dataclass(frozen=True, slots=True)
class _Stores:
    lifecycle: SqlLifecycleStore
    inventory: SqlInventory
    metadata: SqlMetadata

    @classmethod
    def on(cls, database: Database) -> _Stores:
        return cls(SqlLifecycleStore(database), SqlInventory(database), SqlMetadata(database))


def build_lifecycle(
    settings: Settings,
    database: Database,
    storage: StorageDriver,
    descriptors: BlobDescriptorCache,
    telemetry: Telemetry | None,
) -> Lifecycle:
    stores, telemetry = _Stores.on(database), telemetry or NO_TELEMETRY
    store = stores.lifecycle
    configured = [
        ImmutableRule(r.repositories, r.tags) for r in settings.dockyard.immutability.rules
    ]
    immutability = ImmutabilityService(store, stores.inventory, configured)
    gate = WriteGate(store, configured=settings.storage.maintenance.readonly.enabled)
    return Lifecycle(
        gate=gate,
        immutability=immutability,
        quotas=QuotaService(SqlUsage(database), store, quota_policy(settings), telemetry=telemetry),
        retention=_retention(settings, stores, immutability, gate, telemetry),
        fsck=IntegrityChecker(storage, SqlIntegrity(database), stores.metadata, store, descriptors),
        bulk=_bulk(stores, immutability, gate),
        pulls=PullRecorder(
            SqlPulls(database),
            interval_seconds=settings.dockyard.retention.pullflush_seconds,
            telemetry=telemetry,
            paused=gate.read_only,
        ),
        telemetry=telemetry,
    )


def _retention(
    settings: Settings,
    stores: _Stores,
    immutability: ImmutabilityService,
    gate: WriteGate,
    telemetry: Telemetry,
) -> RetentionService:
    return RetentionService(
        stores.metadata,
        stores.inventory,
        stores.lifecycle,
        immutability,
        retention_policies(settings),
        grace_seconds=settings.dockyard.retention.grace_seconds,
        telemetry=telemetry,
        gate=gate,
        events=stores.lifecycle,
    )


def _bulk(stores: _Stores, immutability: ImmutabilityService, gate: WriteGate) -> BulkDeleteService:
    inventory = stores.inventory
    pruner = Pruner(inventory, stores.lifecycle, immutability, logger=bulk_log, label="delete")
    return BulkDeleteService(stores.metadata, inventory, pruner, gate)


def cache_expiry_policies(settings: Settings) -> list[RetentionPolicy]:
    """The caches' expiry as retention policies, ahead of the configured ones: ``proxy.ttl``
    over every repository (the whole registry is a cache), an upstream's ``ttl`` over its
    prefix. "Not pulled for": every pull of a manifest (a hit too) refreshes it."""
    policies = [
        RetentionPolicy(
            name=f"mirror {upstream.name} ttl",
            repositories=f"{upstream.prefix}/**",
            untagged=True,
            not_pulled_for=parse_duration(upstream.ttl),
        )
        for upstream in settings.dockyard.mirror.upstreams
        if upstream.ttl and parse_duration(upstream.ttl) > 0
    ]
    proxy = settings.proxy
    if proxy.enabled and proxy.ttl and parse_duration(proxy.ttl) > 0:
        ttl = parse_duration(proxy.ttl)
        policies.append(RetentionPolicy(name="proxy.ttl", untagged=True, not_pulled_for=ttl))
    return policies


def retention_policies(settings: Settings) -> list[RetentionPolicy]:
    return cache_expiry_policies(settings) + [
        RetentionPolicy(
            name=policy.name or f"#{index + 1} ({policy.repositories})",
            repositories=policy.repositories,
            keep_last=policy.keeplast,
            keep_tags=tuple(policy.keeptags),
            untagged=policy.untagged,
            older_than=parse_age(policy.olderthan) if policy.olderthan.strip() else None,
            not_pulled_for=parse_age(policy.notpulledfor) if policy.notpulledfor.strip() else None,
        )
        for index, policy in enumerate(settings.dockyard.retention.policies)
    ]


def quota_policy(settings: Settings) -> QuotaPolicy:
    quotas = settings.dockyard.quotas
    return QuotaPolicy(
        default=parse_limit(quotas.default),
        projects={name: parse_limit(text) for name, text in quotas.projects.items()},
        warn_percent=quotas.warn,
        event_percent=quotas.eventwarn,
        recent_seconds=settings.dockyard.gc.grace_seconds,
    )
